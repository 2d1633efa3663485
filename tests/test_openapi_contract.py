"""The OpenAPI document says what the server does: schemathesis, in process, finds nothing.

schemathesis reads /schema/openapi.json from the app that ``create_app`` builds (a
migrated SQLite database with the demo event) and calls every operation over ASGI, as an
admin and as a workshop (bearer tokens), through all its phases (examples, coverage,
fuzzing, stateful) with every check on: an undocumented status or content type, a
response or header off its schema, a request the schema allows but the server refuses
(or the other way round), a 405 without ``Allow``, a 5xx. Any one fails the test.

It runs the same rules as the CLI run in docs/api.md ("The contract"): schemathesis.toml
and its hooks. Bounded: a fixed seed, deterministic generation, few examples per
operation. SQLite only: the contract is the app's, not the database's.
"""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from schemathesis.engine import events
from schemathesis.engine import from_schema as engine_for

from oflocal.auth import service as auth_service
from oflocal.auth.service import actor_from_token, create_staff_user, issue_api_token
from oflocal.db.engine import Database
from oflocal.demo import add_activity, build_event, describe_demo_committee
from oflocal.errors import MESSAGES
from oflocal.settings import Jobs, Settings
from oflocal.vouchers.codes import CodeSigner
from oflocal.web.app import create_app

pytestmark = pytest.mark.slow  # subprocesses: scheduled first (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "schemathesis.toml"
MAX_EXAMPLES = 2  # per operation and phase (≈200 operations): the suite's 10-minute budget
SEED = 8


@dataclass
class Contract:
    app: Litestar
    db: Database
    holders: dict[str, dict[str, int]]  # role → the holder of its token

    def token(self, role: str) -> str:
        """A new token for one run: the admin run may revoke any other token (DELETE
        /tokens/{token_id}) but not its own (``token.own``)."""
        return issue_api_token(self.db, name=f"contract {role}", **self.holders[role])


@pytest.fixture(scope="module")
def contract(templates: Any, signer: CodeSigner, secret: bytes,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Contract]:
    db = Database(templates.sqlite_url())
    with db.write() as session:
        scenario = build_event(session, signer, workshops=4, booklets=12)
    add_activity(db, signer, scenario, sold=6)
    with db.write() as session:
        describe_demo_committee(session, scenario.event_id)
    admin = create_staff_user(db, username="admin", display_name="Admin", role="admin",
                              password="admin-pass-2026")
    holders = {"admin": {"staff_user_id": admin},
               "workshop": {"workshop_id": scenario.workshop_ids[0]}}
    for n in range(1, 4):  # for DELETE /tokens/{token_id}; the run's own may not be revoked
        issue_api_token(db, name=f"spare {n}", workshop_id=scenario.workshop_ids[1])
    data_dir = tmp_path_factory.mktemp("contract")
    # Print jobs are queued but not rendered (no worker in this app): rendering 20,000
    # booklets is the printing tests' business, and here it would only eat the time budget.
    app = create_app(Settings(data_dir=data_dir, database_url=db.url, secret_key=secret,
                              jobs=Jobs(in_process=False)), db)
    with pytest.MonkeyPatch.context() as patch:
        # Hundreds of logins, PINs and staff passwords: argon2 at its cheapest here (the
        # answers are the same; the time budget is not spent on hashing).
        patch.setattr(auth_service, "_hasher",
                      PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        yield Contract(app=app, db=db, holders=holders)
    db.dispose()


def operations_for(app: Litestar, role: str) -> list[str]:
    """``METHOD /path`` of every API operation ``role`` may call (public ones too)."""
    names = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/"):
            for method, (handler, _) in route.route_handler_map.items():
                roles = handler.opt.get("roles")
                if method not in ("HEAD", "OPTIONS") and (roles is None or role in roles):
                    names.append(f"{method} {route.path_format}")
    return names


def config_for(token: str, own: list[str] | None = None) -> schemathesis.Config:
    """schemathesis.toml (and its hooks), with the token, the seed and the bounds. With
    ``own``, the coverage phase (its thousands of boundary cases) runs only on those
    operations; the others, all refused with 403, are still called in the other phases."""
    data = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    data.update({
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {token}"},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True,
                       "database": "none"},
    })
    data["hooks"] = str(ROOT / data["hooks"])  # loaded (once) by the config
    if own is not None:
        data["operations"].append({"exclude-name": own,
                                   "phases": {"coverage": {"enabled": False}}})
    return schemathesis.Config.from_dict(data, base_dir=str(ROOT))


def failures_of(stream: Iterator[events.EngineEvent]) -> tuple[list[str], int]:
    """Every distinct failure and error of a run, as readable lines, and the number of
    test cases."""
    found: dict[tuple[str, ...], str] = {}
    cases = 0
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    message = failure.message.splitlines()[0] if failure.message else ""
                    key = (failure.operation, failure.title, message)
                    interaction = event.recorder.interactions.get(case_id)
                    sent = ""
                    if interaction is not None:
                        request = interaction.request
                        status = interaction.response.status_code if interaction.response else ""
                        sent = f" ← {request.method} {request.uri} {request.body!r:.300} → {status}"
                    found.setdefault(key, f"{failure.code} {failure.operation}: "
                                          f"{failure.title}: {message}{sent}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            error = event.value if isinstance(event, events.NonFatalError) else event.exception
            found.setdefault(("error", repr(error)), f"error: {error!r}")
    return sorted(found.values()), cases


@pytest.mark.parametrize("role", ["admin", "workshop"])
def test_the_server_does_what_the_document_says(contract: Contract, role: str) -> None:
    started = time.monotonic()
    own = operations_for(contract.app, role)  # the others answer 403 to every case
    token = contract.token(role)
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", contract.app,
                                            config=config_for(token, own))
    failures, cases = failures_of(iter(engine_for(schema).execute()))
    elapsed = time.monotonic() - started
    assert cases > 300, f"only {cases} test cases: did schemathesis reach the API?"
    assert not failures, (f"{len(failures)} contract failure(s) as {role} in {elapsed:.0f} s:\n"
                          + "\n".join(failures))
    # The run stayed logged in to the end (else its later calls were 401 and tested nothing).
    assert actor_from_token(contract.db, token) is not None


# --- the document itself, checked directly (fast, and says which rule broke) ----------


@pytest.fixture(scope="module")
def document(contract: Contract) -> dict[str, Any]:
    with TestClient(contract.app) as client:
        answer = client.get("/schema/openapi.json")
    assert answer.status_code == 200
    doc: dict[str, Any] = answer.json()
    return doc


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        if path.startswith("/api/"):
            for method, operation in item.items():
                yield method.upper(), path, operation


def test_every_error_answer_is_documented_with_the_one_error_body(
    document: dict[str, Any],
) -> None:
    for method, path, operation in _operations(document):
        statuses = {s for s in operation["responses"] if s[0] in "45"}
        assert {"401", "500", "503"} <= statuses, (method, path, statuses)
        if method in ("POST", "PUT", "PATCH"):
            assert {"409", "413", "415", "422"} <= statuses, (method, path, statuses)
        for status in statuses:
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema["required"] == ["code", "message", "message_ja", "message_en",
                                          "detail"], (method, path, status)
            codes = schema["properties"]["code"]["enum"]
            assert codes and all(MESSAGES[c].status == int(status) for c in codes)


def test_downloads_are_declared_with_their_media_types(document: dict[str, Any]) -> None:
    def content(method: str, path: str, status: str = "200") -> set[str]:
        return set(document["paths"][path][method]["responses"][status]["content"])

    statements = {"application/pdf", "text/csv; charset=utf-8", "text/csv; charset=Shift_JIS"}
    assert content("get", "/api/v1/settlement/periods/{period_id}/statements") == statements
    assert content("get", "/api/v1/workshop/statements/{period_id}") == statements
    assert content("get", "/api/v1/settlement/periods/{period_id}/zengin") == {
        "text/plain; charset=Shift_JIS"}
    assert "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in content(
        "get", "/api/v1/events/{event_id}/exports/journal")
    assert content("get", "/api/v1/programmes/{programme_id}/summary.pdf") == {"application/pdf"}
    assert content("get", "/api/v1/programmes/{programme_id}/charts/{chart}") == {
        "image/svg+xml"}
    assert content("get", "/api/v1/events/{event_id}/trial-balance") == {
        "application/json", "text/csv; charset=utf-8", "text/csv; charset=Shift_JIS"}
    pdf = document["paths"]["/api/v1/print-jobs/{job_id}/pdf"]["get"]["responses"]["200"]
    assert pdf["content"]["application/pdf"]["schema"]["type"] == "string"
    assert "format" not in pdf["headers"]["last-modified"]["schema"]  # an HTTP-date


def test_request_bodies_refuse_unknown_fields_and_say_their_rules(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for method, path, operation in _operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        ref = json.dumps(body["content"]["application/json"]["schema"])
        name = ref.split("#/components/schemas/")[1].split('"')[0]
        assert schemas[name]["additionalProperties"] is False, (method, path, name)
    denominations = schemas["ProgrammeIn"]["properties"]["denominations"]["items"]
    assert denominations["exclusiveMinimum"] == 0
    assert schemas["RequesterIn"]["properties"]["code"]["pattern"] == "^[0-9]{10}$"
    assert "oneOf" in schemas["TokenRequest"]
    close = document["paths"]["/api/v1/events/{event_id}/settlement/periods"]["post"]
    assert close["requestBody"]["required"] is False  # no body: the cut-off is now
    sale = document["paths"]["/api/v1/programmes/{programme_id}/sales"]["post"]
    key = next(p for p in sale["parameters"] if p["name"] == "Idempotency-Key")
    assert key["in"] == "header" and key["required"] is True


def test_405_and_options_name_every_method_of_the_path(contract: Contract) -> None:
    headers = {"Authorization": f"Bearer {contract.token('admin')}"}
    with TestClient(contract.app) as client:
        refused = client.request("TRACE", "/api/v1/events", headers=headers)
        assert refused.status_code == 405
        assert refused.json()["code"] == "request.method_not_allowed"
        assert set(refused.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
        for path in ("/api/v1/events", "/api/v1/events/1/settlement/periods"):
            options = client.options(path, headers=headers)
            assert set(options.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
