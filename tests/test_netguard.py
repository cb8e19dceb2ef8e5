"""The outbound guard on its own: which addresses, hosts and URLs may be destinations, and
the HTTP transport that connects only to checked addresses (DNS comes from the ``dns``
fixture; nothing here leaves the machine)."""

from __future__ import annotations

from typing import Any

import httpcore
import httpx
import pytest
from pydantic import ValidationError

from omnirelay.config import Settings
from omnirelay.delivery.transports import HttpTransport
from omnirelay.destinations.base import Outcome, PreparedRequest
from omnirelay.destinations.webhook import GenericWebhook
from omnirelay.netguard import (
    DestinationNotAllowed,
    GuardedTransport,
    OutboundGuard,
    numeric_host,
    parse_allow,
)

PUBLIC = "93.184.216.34"
GUARD = OutboundGuard()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "http://127.0.0.1:8099/internal/admin",
            "destination address 127.0.0.1 is not allowed (loopback)",
        ),
        ("http://[::1]/", "destination address ::1 is not allowed (loopback)"),
        ("http://10.0.0.1/", "destination address 10.0.0.1 is not allowed (private network)"),
        ("http://172.16.5.4/", "(private network)"),
        ("http://192.168.1.1/", "(private network)"),
        ("http://[fd12::1]/", "(private network)"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is not allowed (cloud metadata)",
        ),
        ("http://[fd00:ec2::254]/", "(cloud metadata)"),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            "'metadata.google.internal' is not allowed (cloud metadata)",
        ),
        ("http://METADATA.google.internal./", "(cloud metadata)"),
        ("http://0x7f000001/", "destination address 127.0.0.1 is not allowed (loopback)"),
        ("http://2130706433/", "destination address 127.0.0.1 is not allowed (loopback)"),
        ("http://127.1/", "destination address 127.0.0.1 is not allowed (loopback)"),
        ("http://0177.0.0.1/", "Invalid IPv4 address"),  # httpx would not send it either
        ("http://[::ffff:127.0.0.1]/", "is not allowed (loopback)"),
        ("http://[::ffff:10.0.0.1]/", "is not allowed (private network)"),
        ("http://[2002:7f00:1::]/", "is not allowed (loopback)"),  # 6to4 of 127.0.0.1
        ("http://[64:ff9b::a00:1]/", "is not allowed (private network)"),  # NAT64 of 10.0.0.1
        ("http://0.0.0.0/", "destination address 0.0.0.0 is not allowed (unspecified address)"),
        ("http://[::]/", "(unspecified address)"),
        ("http://localhost:8000/", "'localhost' is not allowed (loopback)"),
        ("http://api.localhost/", "(loopback)"),
        ("http://169.254.1.1/", "(link-local)"),
        ("http://[fe80::1]/", "(link-local)"),
        ("http://224.0.0.1/", "(multicast)"),
        ("http://[ff02::1]/", "(multicast)"),
        ("http://100.64.0.1/", "(shared address space)"),
        ("http://240.0.0.1/", "(reserved)"),
        ("http://192.0.2.1/", "(not publicly routable)"),  # documentation range
        ("file:///etc/passwd", "must be an http or https URL"),
        ("gopher://example.com:70/_GET", "must be an http or https URL"),
        ("http://admin:secret@example.com/", "must not contain user info"),
        ("http://user@example.com/", "must not contain user info"),
    ],
)
async def test_urls_that_may_not_be_destinations(url: str, reason: str) -> None:
    problem = await GUARD.url_problem(url)
    assert problem is not None and reason in problem, problem


@pytest.mark.parametrize(
    "url",
    [
        f"https://{PUBLIC}/collect",
        "https://[2606:4700:4700::1111]/",
        "https://hooks.example.com/in",  # does not resolve here: judged when connecting
        "http://deadbeef/",  # a name, not a number (inet_aton refuses it)
    ],
)
async def test_public_destinations_are_accepted(url: str) -> None:
    assert await GUARD.url_problem(url) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("track.example.com", None),
        ("Track.Example.COM.", None),
        ("file:///etc/passwd", "must be a host name (no scheme, port or path)"),
        ("gopher://evil.example", "must be a host name (no scheme, port or path)"),
        ("https://track.example.com", "must be a host name (no scheme, port or path)"),
        ("track.example.com/path", "must be a host name (no scheme, port or path)"),
        ("track.example.com:8443", "must be a host name (no scheme, port or path)"),
        ("user@track.example.com", "must be a host name (no scheme, port or path)"),
        ("127.0.0.1", "destination address 127.0.0.1 is not allowed (loopback)"),
        ("0x7f000001", "destination address 127.0.0.1 is not allowed (loopback)"),
        ("[::1]", "destination address ::1 is not allowed (loopback)"),
        ("metadata.google.internal", "(cloud metadata)"),
    ],
)
async def test_host_fields(value: str, problem: str | None) -> None:
    found = await GUARD.host_problem(value)
    assert found == problem or (problem is not None and found and problem in found), found


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("10", "0.0.0.10"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("deadbeef", None),
        ("cafe.be", None),
        ("1.2.3.4 x", None),
    ],
)
def test_numeric_hosts_are_read_as_a_resolver_reads_them(host: str, address: str | None) -> None:
    found = numeric_host(host)
    assert (str(found) if found is not None else None) == (
        str(numeric_host(address)) if address else None
    )


async def test_a_name_is_judged_by_every_address_it_resolves_to(dns: dict[str, list[str]]) -> None:
    dns["internal.example"] = ["10.0.0.1"]
    dns["mixed.example"] = [PUBLIC, "192.168.0.10"]
    dns["public.example"] = [PUBLIC, "2606:4700:4700::1111"]
    assert await GUARD.url_problem("https://internal.example/hook") == (
        "destination address 10.0.0.1 is not allowed (private network); "
        "internal.example resolves to it"
    )
    assert "192.168.0.10 is not allowed (private network)" in str(
        await GUARD.url_problem("https://mixed.example/")
    )
    assert await GUARD.url_problem("https://public.example/") is None


async def test_the_allow_list_names_hosts_and_networks(dns: dict[str, list[str]]) -> None:
    dns["proxy.internal"] = ["10.1.2.3"]
    guard = OutboundGuard("127.0.0.1, sandbox, 192.168.0.0/16, proxy.internal")
    assert await guard.url_problem("http://127.0.0.1:8090/meta") is None
    assert await guard.url_problem("http://[::ffff:127.0.0.1]:8090/meta") is None
    assert await guard.url_problem("http://127.0.0.2:8090/meta") is not None
    assert await guard.url_problem("http://sandbox/meta") is None
    assert await guard.url_problem("http://192.168.4.4/") is None
    assert await guard.url_problem("http://proxy.internal:3128/") is None
    assert await guard.url_problem("http://10.1.2.3/") is not None  # the name, not its address
    assert await guard.url_problem("http://169.254.169.254/") is not None


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "not a host", "http://proxy.example", "a/b"])
def test_a_bad_allow_entry_is_a_configuration_error(entry: str) -> None:
    with pytest.raises(ValueError, match="neither a host name nor an address"):
        parse_allow(entry)
    with pytest.raises(ValidationError, match="outbound_allow"):
        Settings(outbound_allow=f"127.0.0.1,{entry}")


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Records where it is asked to connect, and connects nowhere."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.connects.append((host, port))
        raise httpcore.ConnectError("the recording backend connects nowhere")

    async def sleep(self, seconds: float) -> None:
        return None


def guarded_client(allow: str = "") -> tuple[httpx.AsyncClient, RecordingBackend]:
    backend = RecordingBackend()
    transport = GuardedTransport(OutboundGuard(allow), backend=backend)
    return httpx.AsyncClient(transport=transport), backend


async def test_the_transport_connects_to_the_address_it_checked(dns: dict[str, list[str]]) -> None:
    dns["public.example"] = [PUBLIC]
    client, backend = guarded_client()
    async with client:
        with pytest.raises(httpx.ConnectError):
            await client.get("https://public.example:8443/in")
    assert backend.connects == [(PUBLIC, 8443)]  # the checked address, not the name again


@pytest.mark.parametrize(
    ("url", "answers", "reason"),
    [
        # a name that resolved to a public address when configured, private now
        (
            "http://hooks.example.com/in",
            ["10.0.0.1"],
            "destination address 10.0.0.1 is not allowed (private network); hooks.example.com resolves to it",
        ),
        (
            "http://hooks.example.com/in",
            [PUBLIC, "169.254.169.254"],
            "169.254.169.254 is not allowed (cloud metadata)",
        ),
        (
            "http://2130706433:8099/internal/admin",
            [],
            "destination address 127.0.0.1 is not allowed (loopback)",
        ),
        ("http://[::ffff:127.0.0.1]/", [], "is not allowed (loopback)"),
        ("http://metadata.google.internal/", ["169.254.169.254"], "(cloud metadata)"),
        ("http://user:pw@hooks.example.com/", [PUBLIC], "must not contain user info"),
    ],
)
async def test_the_transport_refuses_before_connecting(
    dns: dict[str, list[str]], url: str, answers: list[str], reason: str
) -> None:
    dns["hooks.example.com"] = answers
    dns["metadata.google.internal"] = answers
    client, backend = guarded_client()
    async with client:
        with pytest.raises(DestinationNotAllowed) as refused:
            await client.get(url)
    assert reason in str(refused.value)
    assert backend.connects == []


async def test_a_refused_destination_is_a_permanent_outcome(dns: dict[str, list[str]]) -> None:
    dns["hooks.example.com"] = ["10.0.0.1"]
    client, backend = guarded_client()
    async with client:
        transport = HttpTransport(client)
        request = PreparedRequest("POST", "http://hooks.example.com/in", [7], json_body={})
        result = await transport.send(transport.build(request, b"{}"))
    assert result.status_code is None and result.permanent
    assert result.error == (
        "destination address 10.0.0.1 is not allowed (private network); "
        "hooks.example.com resolves to it"
    )
    [outcome] = GenericWebhook().classify(request, result)
    assert outcome.outcome == Outcome.PERMANENT and outcome.error == result.error
    assert backend.connects == []


async def test_an_unreachable_name_is_still_retried(dns: dict[str, list[str]]) -> None:
    client, backend = guarded_client()
    async with client:
        transport = HttpTransport(client)
        request = PreparedRequest("POST", "http://does-not-resolve.example/", [7], json_body={})
        result = await transport.send(transport.build(request, b"{}"))
    assert not result.permanent and "could not be resolved" in str(result.error)
    [outcome] = GenericWebhook().classify(request, result)
    assert outcome.outcome == Outcome.RETRY


async def test_an_allowed_name_is_reached_whatever_it_resolves_to(
    dns: dict[str, list[str]],
) -> None:
    dns["proxy.internal"] = ["10.1.2.3"]
    client, backend = guarded_client("proxy.internal")
    async with client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://proxy.internal:3128/")
    assert backend.connects == [("10.1.2.3", 3128)]
