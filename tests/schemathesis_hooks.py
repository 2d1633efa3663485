"""schemathesis hooks for this API (loaded by schemathesis.toml and by
tests/test_openapi_contract.py).

JSON Schema counts ``100.0`` as an integer (a number without a fraction), so a generator
may send it for ``"type": "integer"``. This API takes integers only as written without a
fraction (docs/api.md, "The contract"; ``web.api.common.RequestBody``): ``100.0`` for a
yen amount or a count is refused with 422. No JSON Schema can tell the two apart, so the
generated bodies write such numbers as integers, the way the API documents them.
"""

from __future__ import annotations

from typing import Any

import schemathesis


def as_json_integers(value: Any) -> Any:
    """``100.0`` → ``100`` anywhere in a body; other values as they are."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [as_json_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json_integers(v) for k, v in value.items()}
    return value


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    return as_json_integers(body)
