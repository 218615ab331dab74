"""The schema and both documentation pages work offline, with every route in them."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def api_routes() -> set[str]:
    """Every /api/ route the project serves, in OpenAPI's path spelling."""
    found: set[str] = set()

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                found.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))

    walk(get_resolver().url_patterns, "")
    return {r for r in found if r.startswith("/api/") and r != "/api/openapi.json"}


def test_schema_lists_every_api_route_with_shapes() -> None:
    schema = Client().get("/api/openapi.json").json()

    assert api_routes() <= set(schema["paths"])
    signup = schema["paths"]["/api/auths/signup"]["post"]
    assert "requestBody" in signup
    assert "200" in signup["responses"]
    assert "bearerAuth" in schema["components"]["securitySchemes"]


def test_schema_is_a_valid_openapi_document() -> None:
    """openapi-spec-validator is what client generators and gateways hold the document to."""
    schema = Client().get("/api/openapi.json").json()

    validate(schema)  # raises, naming the first invalid part


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_load_their_assets_from_this_server(page: str) -> None:
    client = Client()

    html = client.get(page).content.decode()
    scripts = re.findall(r'src="([^"]+\.js)"', html)

    assert scripts
    for src in scripts:
        assert src.startswith("/static/"), src
        asset = client.get(src)
        assert asset.status_code == 200, src
        assert b"".join(asset.streaming_content)
