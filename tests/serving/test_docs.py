"""The API docs over real HTTP: Swagger UI and ReDoc load only assets the app serves itself (no
CDN), and the OpenAPI document declares the API key, the error bodies and request examples."""

from __future__ import annotations

import re

import httpx
import pytest
from pydantic import TypeAdapter

from scamguard.events import RECORDED_ONLY_EVENTS, SCORED_EVENTS, RecordedEvent, ScoreEvent

SECURED = ["/v1/score", "/v1/events", "/v1/investigate"]
OPEN = ["/healthz", "/readyz", "/metrics"]


def _event_types(classes: tuple) -> set[str]:
    return {cls.model_fields["event_type"].annotation.__args__[0] for cls in classes}


@pytest.fixture(scope="module")
def openapi(base_url: str) -> dict:
    response = httpx.get(f"{base_url}/openapi.json")
    assert response.status_code == 200
    return response.json()


def _post(openapi: dict, path: str) -> dict:
    return openapi["paths"][path]["post"]


def _resolve(openapi: dict, schema: dict) -> dict:
    ref = schema["$ref"]
    assert ref.startswith("#/components/schemas/")
    return openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]


# ---------------------------------------------------------------------------------- pages
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_assets_the_app_serves(base_url: str, page: str) -> None:
    response = httpx.get(f"{base_url}{page}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html and "cdn" not in html.lower()
    urls = re.findall(r'(?:src|href|spec-url)="([^"]+)"', html) + re.findall(
        r"url: '([^']+)'", html
    )
    assets = [u for u in urls if u != "/openapi.json"]
    assert "/openapi.json" in urls
    assert assets and all(u.startswith("/") and not u.startswith("//") for u in assets), urls
    expected = {
        "/docs": ("swagger-ui-bundle.js", "swagger-ui.css"),
        "/redoc": ("redoc.standalone.js",),
    }
    for name in expected[page]:
        assert any(u.endswith(name) for u in assets), (name, assets)
    for url in assets:
        asset = httpx.get(f"{base_url}{url}")
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url


def test_swagger_ui_has_no_validator_badge(base_url: str) -> None:
    assert '"validatorUrl": null' in httpx.get(f"{base_url}/docs").text


# ---------------------------------------------------------------------------------- security
def test_openapi_declares_the_api_key_header_scheme(openapi: dict) -> None:
    schemes = openapi["components"]["securitySchemes"]
    assert list(schemes) == ["ApiKey"]
    assert schemes["ApiKey"] | {"description": ""} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "",
    }
    for path in SECURED:
        assert _post(openapi, path)["security"] == [{"ApiKey": []}], path
    for path in OPEN:
        assert "security" not in openapi["paths"][path]["get"], path


# ---------------------------------------------------------------------------------- responses
@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/v1/score", ("401", "409", "422", "503")),
        ("/v1/events", ("401", "409", "422", "503")),
        ("/v1/investigate", ("401", "404", "422")),
    ],
)
def test_error_responses_have_body_schemas(openapi: dict, path: str, statuses: tuple) -> None:
    responses = _post(openapi, path)["responses"]
    for status in statuses:
        schema = _resolve(openapi, responses[status]["content"]["application/json"]["schema"])
        assert responses[status]["description"]
        if status == "422":
            assert schema["title"] == "HTTPValidationError"
            item = _resolve(openapi, schema["properties"]["detail"]["items"])
            assert {"loc", "msg", "type"} <= set(item["required"])
        else:
            assert schema["properties"]["detail"]["type"] == "string"
            assert schema["required"] == ["detail"]


def test_a_401_body_is_the_documented_error_body(base_url: str) -> None:
    response = httpx.post(f"{base_url}/v1/score", json={}, headers={"X-API-Key": "wrong"})
    assert response.status_code == 401 and response.json() == {"detail": "invalid API key"}


# ---------------------------------------------------------------------------------- examples
@pytest.mark.parametrize(
    ("path", "adapter", "types"),
    [
        ("/v1/score", TypeAdapter(ScoreEvent), _event_types(SCORED_EVENTS)),
        (
            "/v1/events",
            TypeAdapter(RecordedEvent),
            _event_types(SCORED_EVENTS + RECORDED_ONLY_EVENTS),
        ),
    ],
)
def test_requests_have_one_valid_example_per_event_type(
    openapi: dict, path: str, adapter: TypeAdapter, types: set[str]
) -> None:
    examples = _post(openapi, path)["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == types
    for event_type, example in examples.items():
        assert example["summary"]
        assert adapter.validate_python(example["value"]).event_type == event_type


def test_the_documented_examples_are_accepted_in_order(client: httpx.Client, openapi: dict) -> None:
    examples = _post(openapi, "/v1/events")["requestBody"]["content"]["application/json"][
        "examples"
    ]
    values = [e["value"] for e in examples.values()]
    signup = examples["signup"]["value"]
    other = signup | {"user_id": "u9000002", "role": "freelancer", "device_id": "dev-9000002"}
    for body in [values[0], other, *values[1:]]:  # the examples' freelancer signs up too
        response = client.post("/v1/events", json=body)
        assert response.status_code == 200, (body, response.text)
