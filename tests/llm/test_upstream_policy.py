"""Which addresses upstreams (model connections, the embeddings server) may reach: the policy
shared with web fetches (retrieval/ssrf.py), at save time and on every connection."""

import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from rest_framework.test import APIClient

from llm.models import Connection
from llm.upstream import (
    AddressRefused,
    GuardedConnector,
    Upstream,
    catalogue,
    catalogue_forget,
    http_sessions_close,
)
from retrieval.embedders import OpenAIEmbedder
from retrieval.errors import EmbeddingUnavailable
from retrieval.ssrf import own_service_ports
from tests.retrieval.servers import PageServer
from tests.upstream import StandIn
from users.models import User

BAD_UPSTREAMS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[fe80::1]:11434",
    "http://[fd00:ec2::254]/",
    "http://0.0.0.0:11434",
    "http://example.com@127.0.0.1:11434",
    "http://10.0.0.7:11434",  # private: off by default
]


@pytest.fixture(scope="module")
def upstream() -> Iterator[StandIn]:
    server = StandIn("openai").start()
    yield server
    server.stop()


@pytest.mark.django_db
@pytest.mark.parametrize("url", BAD_UPSTREAMS)
def test_admin_cannot_save_a_connection_to_metadata_link_local_or_private_addresses(
    admin_user: User, client_of: Callable[[User], APIClient], url: str
) -> None:
    response = client_of(admin_user).post(
        "/api/connections/", {"name": "x", "base_url": url}, format="json"
    )

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert "base_url" in response.json()["fields"]
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_our_own_database_and_redis_ports_are_refused(
    admin_user: User, client_of: Callable[[User], APIClient]
) -> None:
    ports = sorted(own_service_ports())
    if not ports:
        pytest.skip("the embedded default runs no database or Redis server")

    responses = [
        client_of(admin_user).post(
            "/api/connections/",
            {"name": f"x{port}", "base_url": f"http://127.0.0.1:{port}"},
            format="json",
        )
        for port in ports
    ]

    assert [r.status_code for r in responses] == [400] * len(ports)
    assert all("own services" in r.json()["detail"] for r in responses)


@pytest.mark.django_db
def test_loopback_is_allowed_by_default_and_the_setting_decides_the_rest(
    admin_user: User, client_of: Callable[[User], APIClient], settings: Any
) -> None:
    api = client_of(admin_user)

    loopback = api.post(
        "/api/connections/", {"name": "a", "base_url": "http://127.0.0.1:11434"}, format="json"
    )
    settings.UPSTREAM_ALLOW_PRIVATE_NETWORKS = ["private"]
    private = api.post(
        "/api/connections/", {"name": "b", "base_url": "http://10.0.0.7:11434"}, format="json"
    )
    settings.UPSTREAM_ALLOW_PRIVATE_NETWORKS = ["none"]
    off = api.post(
        "/api/connections/", {"name": "c", "base_url": "http://[::1]:11434"}, format="json"
    )
    metadata = api.post(  # never, whatever the setting says
        "/api/connections/",
        {"name": "d", "base_url": "http://169.254.169.254/"},
        format="json",
    )

    assert loopback.status_code == 201
    assert private.status_code == 201
    assert off.status_code == 400
    assert "UPSTREAM_ALLOW_PRIVATE_NETWORKS" in off.json()["detail"]
    assert metadata.status_code == 400


@pytest.mark.django_db
def test_the_embeddings_url_follows_the_same_policy(
    admin_user: User, client_of: Callable[[User], APIClient]
) -> None:
    response = client_of(admin_user).post(
        "/api/retrieval/embedding",
        {"engine": "openai", "model": "m", "openai_base_url": "http://169.254.169.254/v1"},
        format="json",
    )

    assert response.status_code == 400
    assert "openai_base_url" in response.json()["fields"]


def test_the_embedder_refuses_to_connect_to_a_refused_address() -> None:
    embedder = OpenAIEmbedder(
        base_url="http://169.254.169.254/v1",
        api_key="",
        model="m",
        batch_size=8,
        timeout=2,
        retries=2,
    )

    with pytest.raises(EmbeddingUnavailable, match="refused"):
        embedder.embed(["hello"])


# --- at connect time: configured from the environment, redirects, DNS rebinding ---------------


class Rebinding(AbstractResolver):
    """A resolver stub: each lookup of any name answers the next address in ``answers``."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self.answers.pop(0)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


async def test_every_connection_checks_the_address_again(upstream: StandIn) -> None:
    """A name that resolves first to an allowed address (the stand-in on loopback) and then
    to cloud metadata: the first connection is made, the second is refused before it is."""
    answers = ["127.0.0.1", "169.254.169.254"]
    connector = GuardedConnector(resolver=Rebinding(answers), use_dns_cache=False, force_close=True)
    url = f"http://upstream.test:{upstream.port}/v1/models"
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(url) as first:
            assert first.status == 200
        with pytest.raises(AddressRefused, match="never reached"):
            await session.get(url)

    assert answers == []


@pytest.mark.django_db(transaction=True)
async def test_a_connection_redirecting_to_metadata_or_named_by_address_is_refused(
    upstream: StandIn,
) -> None:
    pages = PageServer().start()
    try:
        catalogue_forget()
        redirecting = Upstream(
            key="env:openai:0",
            name="redirecting",
            kind=Connection.Kind.OPENAI,
            base_url=f"{pages.root}/redirect?to=http://169.254.169.254/latest",
            api_key="",
            timeout=2,
        )
        metadata = Upstream(
            key="env:openai:1",
            name="metadata",
            kind=Connection.Kind.OPENAI,
            base_url="http://[::ffff:169.254.169.254]/v1",
            api_key="",
            timeout=2,
        )
        fine = Upstream(
            key="env:openai:2",
            name="fine",
            kind=Connection.Kind.OPENAI,
            base_url=upstream.url,
            api_key="",
            timeout=2,
        )

        models, errors = await catalogue([redirecting, metadata, fine])
    finally:
        await http_sessions_close()
        pages.stop()
        catalogue_forget()

    assert {m.id for m in models} == {"mock", "mock-large"}
    assert {e["connection"] for e in errors} == {"redirecting", "metadata"}
    assert all("AddressRefused" in e["detail"] for e in errors), errors


def test_policy_judges_ipv4_mapped_addresses_as_ipv4() -> None:
    from retrieval.ssrf import Policy

    policy = Policy("upstream", ())
    mapped = ipaddress.ip_address("::ffff:169.254.169.254")

    assert policy.refusal(mapped, 80) is not None
    assert urlsplit("http://[::ffff:127.0.0.1]:1").hostname == "::ffff:127.0.0.1"
