"""The OpenAPI description: a valid 3.1 document, served by the app, listing exactly the routes
under ``/api/v1`` in ``app.url_map`` (a new or removed route fails here), and its examples are
what the real API accepts."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from surveyapp.api.openapi import document

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _documented(doc: dict) -> set[tuple[str, str]]:
    base = doc["servers"][0]["url"]
    return {(method.upper(), base + path) for path, item in doc["paths"].items()
            for method in item if method in HTTP_METHODS}


def _routes(app: Flask) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        out |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def _schema(doc: dict, ref: str) -> dict:
    """A component schema with the document's components reachable for ``$ref``."""
    return {"$ref": ref, "components": doc["components"]}


def test_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


def test_every_api_route_is_described_and_nothing_else(app: Flask) -> None:
    routes, documented = _routes(app), _documented(document())
    assert routes, "no /api/v1 routes found"
    assert routes - documented == set(), "routes missing from surveyapp/api/openapi.json"
    assert documented - routes == set(), "operations in openapi.json that the app lacks"


def test_every_operation_declares_its_auth_and_json_errors() -> None:
    doc = document()
    schemes = set(doc["components"]["securitySchemes"])
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert "security" in op, (method, path)
            assert {k for req in op["security"] for k in req} <= schemes
            if op["security"]:  # authenticated: a 401 in the error schema
                assert op["responses"]["401"] == {"$ref": "#/components/responses/"
                                                          "Unauthenticated"}


def test_served_at_api_v1_openapi_json(client) -> None:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    assert r.get_json() == document()
    assert "Content-Security-Policy" in r.headers


def test_request_examples_match_their_schemas_and_are_accepted(client, kiosk) -> None:
    doc = document()
    for path, ref, status in [("/responses", "#/components/schemas/Submission", 201),
                              ("/kiosks/{kiosk_id}/heartbeat", "#/components/schemas/Heartbeat",
                               200)]:
        body = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        Draft202012Validator(_schema(doc, ref)).validate(body["example"])
        url = "/api/v1" + path.replace("{kiosk_id}", kiosk.id)
        r = client.post(url, data=json.dumps(body["example"]), headers=kiosk.auth,
                        content_type="application/json")
        assert r.status_code == status, r.get_data(as_text=True)


@pytest.mark.parametrize(("body", "code"), [
    (b"{", "invalid_json"), (b"[]", "invalid_body"), (b'{"x": 1}', "unknown_field")])
def test_error_bodies_match_the_error_schema(client, kiosk, body, code) -> None:
    doc = document()
    r = client.post("/api/v1/responses", data=body, headers=kiosk.auth,
                    content_type="application/json")
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == code
    Draft202012Validator(_schema(doc, "#/components/schemas/Error")).validate(r.get_json())
