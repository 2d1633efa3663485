"""Staff logins over the API: an admin creates one (admin, desk or treasurer).

The handler parses and calls ``auth.service.create_staff_user``, which hashes the
password and turns a taken login name into 409 ``staff.username_taken``. The password
is never answered nor kept in the stored request hash of an ``Idempotency-Key``.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, Response, Router, post
from pydantic import BaseModel, Field

from oflocal.auth.models import ROLES
from oflocal.auth.service import create_staff_user
from oflocal.web.api.common import ADMIN, KEY_OPTIONAL, NOT_BLANK, RequestBody, once
from oflocal.web.errors import require_json_body
from oflocal.web.state import services


class StaffUserIn(RequestBody):
    username: str = Field(min_length=3, max_length=60, pattern=r"^[A-Za-z0-9._@-]+$")
    display_name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    role: Literal["admin", "desk", "treasurer"]
    password: str = Field(min_length=10, max_length=200)


class StaffUserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str


@post("/staff-users", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL}, sync_to_thread=True,
      status_code=201)
def new_staff_user(request: Request[Any, Any, Any], data: StaffUserIn) -> Response[StaffUserOut]:
    """Create a staff login. A taken login name answers 409 `staff.username_taken`."""
    assert data.role in ROLES

    def work() -> StaffUserOut:
        user_id = create_staff_user(services(request.app.state).db, username=data.username,
                                    display_name=data.display_name, role=data.role,
                                    password=data.password)
        return StaffUserOut(id=user_id, username=data.username,
                            display_name=data.display_name, role=data.role)

    # The password stays out of the stored request hash.
    return once(request, work, data.model_dump(exclude={"password"}))


router = Router(
    path="/",
    route_handlers=[new_staff_user],
    tags=["setup"],
    before_request=require_json_body,
)
