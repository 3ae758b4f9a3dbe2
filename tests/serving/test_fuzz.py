"""Schemathesis against the app's own OpenAPI schema, over the real server: no 5xx, and every 4xx
names the problem (a non-empty ``detail``).

Schemathesis 4 generates valid and invalid requests (wrong types, missing and extra fields,
out-of-range values) for every operation from the schema the server publishes. The number of
examples is bounded (``MAX_EXAMPLES`` per operation, fewer for the slow investigation), so the
run stays under a minute; the seed is fixed, so a failure reproduces.

The schema is the app's own (``create_app(...).openapi()``, no I/O), read at collection: the
lazy ``schemathesis.pytest.from_fixture`` loader fails under pytest 9 (it sets a private node
attribute pytest 9 no longer has). The first test checks that the live server publishes the same
schema.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from serving.app import create_app
from tests.conftest import make_settings
from tests.serving.conftest import API_KEY

OPENAPI = create_app(make_settings(Path("unused"))).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)

MAX_EXAMPLES = 40
SLOW_OPERATIONS = {"/v1/investigate": 8}  # reads the clean tables per call


def test_the_server_publishes_the_schema_fuzzed(base_url: str) -> None:
    assert httpx.get(f"{base_url}/openapi.json").json() == OPENAPI


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_client_error_names_the_problem(
    case, base_url: str, counterpart: str
) -> None:  # type: ignore[no-untyped-def]
    if case.operation.path in SLOW_OPERATIONS and _over_budget(case.operation.path):
        return
    response = case.call(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=60)
    _seen.setdefault(case.operation.path, set()).add(response.status_code)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, response.text
    if 400 <= response.status_code < 500:
        detail = response.json().get("detail")
        assert detail, f"{response.status_code} without a detail: {response.text}"
        if isinstance(detail, list):
            assert all(item.get("msg") and item.get("loc") for item in detail), response.text


_calls: dict[str, int] = {}
_seen: dict[str, set[int]] = {}  # statuses each operation answered during the fuzzing


def test_the_fuzzing_reached_valid_and_invalid_requests() -> None:
    """Runs after the fuzzing (pytest keeps the file's order): both kinds were generated."""
    assert {"/v1/score", "/v1/events", "/v1/investigate"} <= set(_seen), _seen
    assert 422 in _seen["/v1/score"] and 422 in _seen["/v1/events"], _seen


def _over_budget(path: str) -> bool:
    _calls[path] = _calls.get(path, 0) + 1
    return _calls[path] > SLOW_OPERATIONS[path]
