"""The one guard against SSRF: which addresses the server may connect to, for whom.

One policy, two audiences (``Policy``):

- **web fetches** (web search results, URL fetches: addresses users influence) reach public
  addresses only, plus WEB_FETCH_ALLOWED_NETWORKS;
- **upstreams** (model connections and the embeddings server, which admins configure) may also
  reach the networks UPSTREAM_ALLOW_PRIVATE_NETWORKS names (default: loopback, for an Ollama on
  the same host, as Open WebUI users expect).

For both, link-local addresses (cloud metadata at 169.254.169.254 and its IPv6 forms
included), unspecified (0.0.0.0), multicast and reserved addresses are always refused, and so
are our own services' ports (the database's, Redis's) on any non-public address. IPv4-mapped
IPv6 addresses are judged as the IPv4 address they carry. The address is checked after the
name is resolved, on every connection (so a name that resolves first to a public and then to
a private address, DNS rebinding, is caught) and on every redirect: ``guarded_get`` here for
web fetches, ``GuardedResolverConnector`` (llm/upstream.py) and ``guarded_transport`` for
upstreams.

``guarded_get``, the web fetches' client:

- http and https only;
- the host name is resolved here and every address it resolves to must pass the web policy
  (or the caller names the origin as one the operator configured, like SearxNG's);
- the connection goes to the address that was checked (no second lookup an attacker's DNS could
  answer differently), with the original Host header and TLS server name;
- redirects are followed by hand, each hop checked again, at most ``MAX_REDIRECTS``;
- the whole fetch has WEB_FETCH_TIMEOUT seconds and WEB_FETCH_MAX_BYTES of body.
"""

import functools
import ipaddress
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

from retrieval.errors import FetchFailed, FetchRefused

MAX_REDIRECTS = 5
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    content_type: str
    body: bytes


Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names UPSTREAM_ALLOW_PRIVATE_NETWORKS (and WEB_FETCH_ALLOWED_NETWORKS) accept for ranges.
NETWORK_WORDS: dict[str, tuple[str, ...]] = {
    "loopback": ("127.0.0.0/8", "::1/128"),
    "private": (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ),
    "none": (),
}
# Cloud metadata services outside the link-local range (which is refused as a whole).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254", "192.0.0.192")
)


def networks_of(values: Iterable[str]) -> list[Network]:
    """CIDRs and the words of NETWORK_WORDS (``private`` is ``true``) as networks."""
    out: list[Network] = []
    for raw in values:
        value = raw.strip().lower()
        value = {"true": "private", "all": "private", "false": "none"}.get(value, value)
        for cidr in NETWORK_WORDS.get(value, (value,) if value else ()):
            try:
                out.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                continue  # a malformed entry allows nothing (settings.py refuses them)
    return out


@dataclass(frozen=True)
class Policy:
    name: str
    allowed: tuple[Network, ...]

    @classmethod
    def web(cls) -> "Policy":
        return cls("web", tuple(networks_of(settings.WEB_FETCH_ALLOWED_NETWORKS)))

    @classmethod
    def upstream(cls) -> "Policy":
        return cls("upstream", tuple(networks_of(settings.UPSTREAM_ALLOW_PRIVATE_NETWORKS)))

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why ``address:port`` may not be reached under this policy (None: it may)."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if (
            address.is_link_local
            or address in METADATA_ADDRESSES
            or address.is_unspecified
            or address.is_multicast
            or (address.is_reserved and not address.is_loopback)
        ):
            return "link-local, metadata, unspecified and reserved addresses are never reached"
        if not address.is_global and port in own_service_ports():
            return "the port of one of this server's own services"
        if address.is_global or any(address in network for network in self.allowed):
            return None
        if self.name == "upstream":
            return "private and loopback networks are off (UPSTREAM_ALLOW_PRIVATE_NETWORKS)"
        return "not allow-listed (WEB_FETCH_ALLOWED_NETWORKS)"

    def check(self, address: IPAddress, port: int) -> None:
        """Raise FetchRefused, naming the reason, if ``address:port`` may not be reached."""
        reason = self.refusal(address, port)
        if reason is None:
            return
        if self.name == "web":
            raise FetchRefused(
                f"This address may not be fetched: it is not a public address ({reason})."
            )
        raise FetchRefused(f"This address may not be reached: {reason}.")


@functools.cache
def _own_service_ports(database: str, redis: str) -> frozenset[int]:
    ports = set()
    for url in (database, redis):
        try:
            port = urlsplit(url).port if url else None
        except ValueError:
            port = None
        if port:
            ports.add(port)
    return frozenset(ports)


def own_service_ports() -> frozenset[int]:
    """The ports of our database and Redis (when they are servers), refused on non-public
    addresses: an upstream or a fetched URL must never talk to them."""
    db = settings.DATABASES["default"]
    database = ""
    if db.get("PORT") or not db["ENGINE"].endswith("sqlite3"):
        database = f"//{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return _own_service_ports(database, settings.REDIS_URL)


def address_refused(address: IPAddress, port: int = 443) -> bool:
    """True for addresses a user-influenced fetch must not reach (unless allow-listed)."""
    return Policy.web().refusal(address, port) is not None


def url_checked(url: str, *, policy: Policy) -> None:
    """Refuse at once what ``policy`` would refuse at connect time, for a URL an admin is
    saving: not http(s), credentials in it (``http://example.com@127.0.0.1`` names 127.0.0.1),
    or a host that is, or now resolves to, a refused address. A name that does not resolve
    yet is let through: every connection checks it again."""
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise FetchRefused("The address is not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise FetchRefused("Only http and https addresses may be used.")
    if parts.userinfo:
        raise FetchRefused("The address may not carry a user name or password.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = _resolve(parts.host, port)
    except FetchFailed:
        return
    for address in addresses:
        policy.check(address, port)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchFailed(f"The host {host!r} could not be resolved.") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def origin_of(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of ``url``, the port spelled out: what ``trusted_origins``
    of ``guarded_get`` take."""
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)


def _checked(
    url: httpx.URL, trusted_origins: Iterable[tuple[str, str, int]]
) -> tuple[httpx.URL, str]:
    """The URL to connect to (host replaced by a checked address) and the Host header."""
    if url.scheme not in ("http", "https"):
        raise FetchRefused("Only http and https addresses may be fetched.")
    if not url.host:
        raise FetchRefused("The address has no host.")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = _resolve(url.host, port)
    # Trust is for the configured origin (scheme, host and port), not for every port of its
    # host: a redirect from SearxNG on 127.0.0.1:8888 to 127.0.0.1:6379 is checked.
    if (url.scheme, url.host, port) not in set(trusted_origins):
        policy = Policy.web()
        for address in addresses:
            policy.check(address, port)
    address = addresses[0]
    host_header = url.host if url.port is None else f"{url.host}:{url.port}"
    ip_host = f"[{address}]" if address.version == 6 else str(address)
    return url.copy_with(host=ip_host.strip("[]")), host_header


def guarded_get(
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    trusted_origins: Iterable[tuple[str, str, int]] = (),
    timeout: float | None = None,
    max_bytes: int | None = None,
) -> Fetched:
    """GET ``url`` within the guard's rules. Raises FetchRefused (the address or redirect is
    not allowed) or FetchFailed (unreachable, an error status is returned as is, too slow, too
    big, too many redirects)."""
    timeout = float(timeout or settings.WEB_FETCH_TIMEOUT)
    max_bytes = int(max_bytes or settings.WEB_FETCH_MAX_BYTES)
    trusted = list(trusted_origins)
    deadline = time.monotonic() + timeout
    try:
        current = httpx.URL(url)
        if params:
            current = current.copy_merge_params(params)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise FetchRefused("The address is not a valid URL.") from None
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            target, host_header = _checked(current, trusted)
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchFailed("The address took too long to answer.")
            extensions = {"sni_hostname": current.host} if current.scheme == "https" else {}
            request = client.build_request(
                "GET",
                target,
                # identity: the body is read raw (counted against max_bytes as it arrives), so
                # a compressed answer would reach the caller still compressed.
                headers={**(headers or {}), "Host": host_header, "Accept-Encoding": "identity"},
                timeout=httpx.Timeout(left),
                extensions=extensions,
            )
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException:
                raise FetchFailed("The address took too long to answer.") from None
            except httpx.HTTPError:
                raise FetchFailed("The address could not be reached.") from None
            try:
                if response.is_redirect and "location" in response.headers:
                    try:
                        current = current.join(response.headers["location"])
                    except (httpx.InvalidURL, ValueError):
                        raise FetchRefused("The address redirected to an invalid URL.") from None
                    continue
                body = bytearray()
                try:
                    for part in response.iter_raw():
                        body.extend(part)
                        if len(body) > max_bytes:
                            raise FetchFailed(f"The answer is larger than {max_bytes} bytes.")
                        if time.monotonic() > deadline:
                            raise FetchFailed("The address took too long to answer.")
                except httpx.TimeoutException:
                    raise FetchFailed("The address took too long to answer.") from None
                except httpx.HTTPError:
                    raise FetchFailed("The connection broke while reading the answer.") from None
                return Fetched(
                    url=str(current),
                    status=response.status_code,
                    content_type=response.headers.get("content-type", ""),
                    body=bytes(body),
                )
            finally:
                response.close()
    raise FetchFailed(f"The address redirected more than {MAX_REDIRECTS} times.")


# --- upstreams over httpx (the embeddings server) -------------------------------------------


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, resolving each host itself and connecting only to an
    address the upstream policy allows (the same address it checked: no second lookup)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple[int, int, int | bytes]] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = _resolve(host, port)
        except FetchFailed as exc:
            raise httpcore.ConnectError(str(exc.detail)) from None
        policy = Policy.upstream()
        for address in addresses:
            reason = policy.refusal(address, port)
            if reason is not None:
                raise UpstreamAddressRefused(f"This address may not be reached: {reason}.")
        return super().connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)


class UpstreamAddressRefused(httpx.ConnectError):
    """An upstream connection the policy refused (an httpx error: callers' handling applies)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def guarded_transport(**kwargs: object) -> httpx.HTTPTransport:
    """An httpx transport whose every connection (redirects too) passes the upstream policy;
    TLS still verifies the host name, as the connection is made for the original URL."""
    transport = httpx.HTTPTransport(**kwargs)  # type: ignore[arg-type]
    # httpx takes no network backend; its pool (httpcore's) makes every connection with this.
    transport._pool._network_backend = _GuardedBackend()
    return transport
