"""Where the relay may send: public http(s) hosts, and what ``OUTBOUND_ALLOW`` lists.

Every destination is checked twice. When it is configured (an sGTM URL, a credential's
``base_url``, every catalog field of kind ``url`` or ``host``), so the admin API answers 422
naming the field and the reason. And when the worker connects: its HTTP client
(:class:`GuardedTransport`) resolves the host itself, checks every address the name resolves
to, and connects to the address it checked, never resolving again. A name that resolved to a
public address when it was configured and resolves to a private one later (DNS rebinding), a
row written into the database without the API, or a redirect: each is refused at connection
time. A refusal is :class:`DestinationNotAllowed`, a permanent outcome of that request.

Refused: loopback, private networks, link-local, multicast, unspecified, reserved and other
addresses that are not publicly routable, and the cloud metadata service (its addresses and
its names). A numeric host is read the way a resolver reads it (``0x7f000001``,
``2130706433``, ``127.1`` and ``0177.0.0.1`` are all 127.0.0.1), and an IPv6 address that
carries an IPv4 one (``::ffff:127.0.0.1``, 6to4, NAT64) is judged by the IPv4 address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import typing
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# How long a configuration check waits for DNS; a name that does not answer in time is
# accepted and judged when the worker connects.
CONFIG_RESOLVE_TIMEOUT = 3.0

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data"}
)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48"))
_NUMERIC = re.compile(r"[0-9a-fA-FxX.]+")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


class DestinationNotAllowed(Exception):
    """A destination the guard refuses; sending it again cannot succeed."""


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: Address) -> str | None:
    """Why an address may not be a destination (None: it is publicly routable)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_problem(embedded)
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if any(address in net for net in _PRIVATE_NETWORKS if net.version == address.version):
        return "private network"
    if address in _SHARED:
        return "shared address space"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not publicly routable"
    return None


def numeric_host(host: str) -> Address | None:
    """The address a resolver reads in a numeric host, or None for a name.

    Besides the usual literals (``10.0.0.1``, ``[::1]``), ``inet_aton`` reads ``0x7f000001``,
    ``2130706433``, ``127.1`` and octal parts as IPv4 addresses, and so does every resolver
    that falls back on it."""
    text = host.strip().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _NUMERIC.fullmatch(text) and any(c.isdigit() for c in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _name(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _name_problem(name: str) -> str | None:
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return "loopback"
    if name in METADATA_NAMES:
        return "cloud metadata"
    return None


async def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to, in the resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[Address] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def parse_allow(text: str) -> tuple[frozenset[str], tuple[Network, ...]]:
    """``OUTBOUND_ALLOW``: comma-separated host names and addresses or networks (CIDR)."""
    names: set[str] = set()
    networks: list[Network] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        name = _name(entry)
        if not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
            raise ValueError(f"{entry!r} is neither a host name nor an address or network")
        names.add(name)
    return frozenset(names), tuple(networks)


class OutboundGuard:
    """The destinations the relay may reach: public addresses, and what ``allow`` lists
    (host names, reached whatever they resolve to; addresses and networks)."""

    def __init__(self, allow: str = "") -> None:
        self.allowed_names, self.allowed_networks = parse_allow(allow)

    def _allows_address(self, address: Address) -> bool:
        candidates = [address, _embedded_ipv4(address)]
        return any(
            candidate in network
            for candidate in candidates
            if candidate is not None
            for network in self.allowed_networks
            if network.version == candidate.version
        )

    def address_refusal(self, address: Address) -> str | None:
        if self._allows_address(address):
            return None
        problem = address_problem(address)
        return f"destination address {address} is not allowed ({problem})" if problem else None

    def host_refusal(self, host: str) -> str | None:
        """What can be said of a host without asking DNS."""
        name = _name(host)
        if name in self.allowed_names:
            return None
        address = numeric_host(host)
        if address is not None:
            return self.address_refusal(address)
        problem = _name_problem(name)
        return f"destination host {name!r} is not allowed ({problem})" if problem else None

    async def checked_addresses(self, host: str, port: int) -> list[Address]:
        """The addresses to connect to for ``host``: every one it resolves to, each
        checked. Raises DestinationNotAllowed (any address refused refuses the host) or
        OSError (the name does not resolve)."""
        refusal = self.host_refusal(host)
        if refusal:
            raise DestinationNotAllowed(refusal)
        address = numeric_host(host)
        if address is not None:
            return [address]
        addresses = await resolve(host, port)
        if _name(host) not in self.allowed_names:
            for address in addresses:
                refusal = self.address_refusal(address)
                if refusal:
                    raise DestinationNotAllowed(f"{refusal}; {host} resolves to it")
        return addresses

    async def _resolved_refusal(self, host: str, port: int) -> str | None:
        try:
            await asyncio.wait_for(self.checked_addresses(host, port), CONFIG_RESOLVE_TIMEOUT)
        except DestinationNotAllowed as exc:
            return str(exc)
        except (OSError, TimeoutError):
            return None  # not resolvable now: judged again when the worker connects
        return None

    async def url_problem(self, value: Any) -> str | None:
        """Why a configured URL may not be a destination (None: it may)."""
        try:
            url = httpx.URL(str(value))
        except httpx.InvalidURL as exc:
            return f"not a valid URL: {exc}"
        if url.scheme not in ("http", "https"):
            return "must be an http or https URL"
        if url.userinfo:
            return "must not contain user info"
        if not url.host:
            return "must have a host"
        return self.host_refusal(url.host) or await self._resolved_refusal(
            url.host, url.port or (443 if url.scheme == "https" else 80)
        )

    async def host_problem(self, value: Any) -> str | None:
        """Why a configured host name (no scheme, port or path) may not be a destination."""
        text = str(value).strip()
        try:
            url = httpx.URL(f"https://{text}/")
        except httpx.InvalidURL:
            url = None
        bare = text.lower().removeprefix("[").removesuffix("]").rstrip(".")
        if (
            url is None
            or not url.host
            or url.userinfo
            or url.port is not None
            or url.raw_path != b"/"
            or url.host.rstrip(".") != bare
        ):
            return "must be a host name (no scheme, port or path)"
        return self.host_refusal(url.host) or await self._resolved_refusal(url.host, 443)

    async def problems(self, destinations: Iterable[tuple[str, str, Any]]) -> list[dict[str, str]]:
        """``{"field", "reason"}`` for every ``(field, kind, value)`` that may not be a
        destination; ``kind`` is ``"url"`` or ``"host"``."""
        found = []
        for field, kind, value in destinations:
            check = self.url_problem if kind == "url" else self.host_problem
            problem = await check(value)
            if problem:
                found.append({"field": field, "reason": problem})
        return found


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard has checked: the host is resolved here, each
    address checked, and the connection opened to the address itself (never re-resolved)."""

    def __init__(
        self, guard: OutboundGuard, backend: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.guard = guard
        self.backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(self.guard.checked_addresses(host, port), timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} could not be resolved: {exc}") from exc
        failure: Exception = httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            try:
                return await self.backend.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationNotAllowed("unix sockets are not a destination")

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, connecting through :class:`GuardedNetworkBackend`."""

    def __init__(
        self,
        guard: OutboundGuard,
        *,
        limits: httpx.Limits | None = None,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(guard, backend),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise DestinationNotAllowed(f"scheme {request.url.scheme!r} is not a destination")
        if request.url.userinfo:
            raise DestinationNotAllowed("destination URL must not contain user info")
        return await super().handle_async_request(request)
