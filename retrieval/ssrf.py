"""Every outbound fetch of retrieval goes through ``guarded_get``: the guard against SSRF.

- http and https only;
- the host name is resolved here and every address it resolves to must be public: private,
  loopback, link-local (cloud metadata at 169.254.169.254 included), shared, reserved, multicast
  and unspecified addresses are refused unless they lie in WEB_FETCH_ALLOWED_NETWORKS (or the
  caller names the host as one the operator configured, like SearxNG's);
- the connection goes to the address that was checked (no second lookup an attacker's DNS could
  answer differently), with the original Host header and TLS server name;
- redirects are followed by hand, each hop checked again, at most ``MAX_REDIRECTS``;
- the whole fetch has WEB_FETCH_TIMEOUT seconds and WEB_FETCH_MAX_BYTES of body.
"""

import ipaddress
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

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


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for value in settings.WEB_FETCH_ALLOWED_NETWORKS:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            continue  # a malformed entry allows nothing
    return out


def address_refused(address: IPAddress) -> bool:
    """True for addresses a user-influenced fetch must not reach (unless allow-listed)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _allowed_networks()):
        return False
    return not address.is_global or address.is_multicast


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


def _checked(url: httpx.URL, trusted_hosts: Iterable[str]) -> tuple[httpx.URL, str]:
    """The URL to connect to (host replaced by a checked address) and the Host header."""
    if url.scheme not in ("http", "https"):
        raise FetchRefused("Only http and https addresses may be fetched.")
    if not url.host:
        raise FetchRefused("The address has no host.")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = _resolve(url.host, port)
    if url.host not in set(trusted_hosts) and any(address_refused(a) for a in addresses):
        raise FetchRefused("This address may not be fetched: it is not a public address.")
    address = addresses[0]
    host_header = url.host if url.port is None else f"{url.host}:{url.port}"
    ip_host = f"[{address}]" if address.version == 6 else str(address)
    return url.copy_with(host=ip_host.strip("[]")), host_header


def guarded_get(
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    trusted_hosts: Iterable[str] = (),
    timeout: float | None = None,
    max_bytes: int | None = None,
) -> Fetched:
    """GET ``url`` within the guard's rules. Raises FetchRefused (the address or redirect is
    not allowed) or FetchFailed (unreachable, an error status is returned as is, too slow, too
    big, too many redirects)."""
    timeout = float(timeout or settings.WEB_FETCH_TIMEOUT)
    max_bytes = int(max_bytes or settings.WEB_FETCH_MAX_BYTES)
    trusted = list(trusted_hosts)
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
