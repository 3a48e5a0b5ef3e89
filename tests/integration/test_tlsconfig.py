"""Mutual TLS 1.3 between cluster nodes over real TCP on 127.0.0.1, and who gets refused.

The gate server accepts plain TCP and upgrades each connection itself, so the test sees
every server-side outcome: the peer's node id after a good handshake, or the error that
refused it. It reads application data only from authenticated peers and answers each
line with the id it authenticated, so a refused client can never get an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netclock.errors import AuthenticationError, ConfigError
from netclock.links.tls import certs
from netclock.links.tls.contexts import (
    ClusterContext,
    client_context,
    peer_identity,
    server_context,
)

pytestmark = pytest.mark.timeout(20)

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
STEP = 5.0
"""Longest any single network step may take before the test fails."""


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cluster "lab" with good nodes a and b, and certificates no server should accept.

    ``expired`` and ``future`` come from the cluster CA but are outside their validity
    period, ``foreign`` names cluster "lab" but comes from another CA, and ``stranger`` comes
    from the cluster CA but names another cluster.
    """
    directory = tmp_path_factory.mktemp("tls") / "certs"
    certs.init_cluster(directory, ["a", "b"], cluster="lab")
    ca_cert, ca_key = certs.load_ca(directory)
    other_ca, other_key = certs.make_ca("lab", not_before=NOW - DAY, not_after=NOW + 9 * DAY)
    bad = {
        "expired": (ca_cert, ca_key, NOW - 9 * DAY, NOW - DAY, None),
        "future": (ca_cert, ca_key, NOW + DAY, NOW + 9 * DAY, None),
        "foreign": (other_ca, other_key, NOW - DAY, NOW + 9 * DAY, None),
        "stranger": (ca_cert, ca_key, NOW - DAY, NOW + 9 * DAY, "other"),
    }
    for node, (issuer, issuer_key, start, end, cluster) in bad.items():
        cert, key = certs.make_node_cert(
            issuer, issuer_key, node, not_before=start, not_after=end, cluster=cluster
        )
        certs.write_node_files(directory, node, cert, key)
    return directory


def raw_client(
    cert_dir: Path, node: str | None, *, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A client context that trusts the cluster CA but skips netclock's own checks."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cert_dir / "ca.pem")
    if node is not None:
        ctx.load_cert_chain(cert_dir / f"{node}.pem", cert_dir / f"{node}.key")
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


@dataclass
class Outcome:
    peer: str | None = None
    error: BaseException | None = None
    received: bytes = b""


class Gate:
    """A TCP server on 127.0.0.1 port 0 that upgrades to TLS and reports each outcome."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.outcomes: asyncio.Queue[Outcome] = asyncio.Queue()
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        outcome = Outcome()
        try:
            await writer.start_tls(self.ctx, ssl_handshake_timeout=STEP)
            outcome.peer = peer_identity(writer.get_extra_info("ssl_object"))
            outcome.received = await reader.readline()
            writer.write(f"you are {outcome.peer}\n".encode())
            await writer.drain()
        except (OSError, AuthenticationError, TimeoutError) as exc:
            outcome.error = exc
        finally:
            writer.close()
            self.outcomes.put_nowait(outcome)

    async def next_outcome(self) -> Outcome:
        async with asyncio.timeout(STEP):
            return await self.outcomes.get()


@contextlib.asynccontextmanager
async def gate(ctx: ssl.SSLContext) -> AsyncIterator[Gate]:
    g = Gate(ctx)
    server = await asyncio.start_server(g.handle, "127.0.0.1", 0)
    g.port = server.sockets[0].getsockname()[1]
    async with server:
        yield g


async def talk(port: int, ctx: ssl.SSLContext) -> tuple[bytes | BaseException, str | None]:
    """Connect, send one line, read the answer: (answer or error, server id seen by us)."""
    try:
        async with asyncio.timeout(STEP):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    except (OSError, TimeoutError) as exc:
        return exc, None
    server_id: str | None = None
    try:
        async with asyncio.timeout(STEP):
            if isinstance(ctx, ClusterContext):
                server_id = peer_identity(writer.get_extra_info("ssl_object"))
            writer.write(b"hello\n")
            await writer.drain()
            return await reader.readline(), server_id
    except (OSError, TimeoutError) as exc:
        return exc, server_id
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# -- mutual authentication ------------------------------------------------------------------
async def test_mutual_tls_handshake_gives_each_side_the_others_node_id(cert_dir: Path) -> None:
    async with gate(server_context(cert_dir, "a")) as g:
        answer, server_id = await talk(g.port, client_context(cert_dir, "b"))
        outcome = await g.next_outcome()
    assert outcome.error is None
    assert outcome.peer == "b"
    assert outcome.received == b"hello\n"
    assert server_id == "a"
    assert answer == b"you are b\n"


async def test_contexts_work_with_asyncio_start_server_over_tls_1_3(cert_dir: Path) -> None:
    seen: asyncio.Future[tuple[str, str | None]] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        seen.set_result((peer_identity(ssl_object, expected="a"), ssl_object.version()))
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context(cert_dir, "b"))
    port = server.sockets[0].getsockname()[1]
    async with server:
        answer, server_id = await talk(port, client_context(cert_dir, "a"))
        async with asyncio.timeout(STEP):
            assert await seen == ("a", "TLSv1.3")
    assert server_id == "b"
    assert answer == b"hello\n"


def test_contexts_are_tls13_only_mutual_strict_and_trust_only_the_cluster_ca(
    cert_dir: Path,
) -> None:
    ca_serial = certs.load_ca(cert_dir)[0].serial_number
    for ctx in (server_context(cert_dir, "a"), client_context(cert_dir, "a")):
        assert ctx.minimum_version == ctx.maximum_version == ssl.TLSVersion.TLSv1_3
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        assert ctx.verify_flags & ssl.VERIFY_X509_STRICT
        assert not ctx.check_hostname
        anchors = ctx.get_ca_certs()
        assert len(anchors) == 1
        assert int(str(anchors[0]["serialNumber"]), 16) == ca_serial


# -- refusals -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("client", "why", "reason"),
    [
        (None, "no certificate", "did not return a certificate"),
        ("foreign", "a certificate from another CA", "unable to get local issuer"),
        ("expired", "an expired certificate", "certificate has expired"),
        ("future", "a certificate that is not yet valid", "certificate is not yet valid"),
    ],
)
async def test_server_refuses_a_client_with(
    cert_dir: Path, client: str | None, why: str, reason: str
) -> None:
    async with gate(server_context(cert_dir, "a")) as g:
        answer, _ = await talk(g.port, raw_client(cert_dir, client))
        outcome = await g.next_outcome()
    assert isinstance(outcome.error, ssl.SSLError), f"client with {why}: {outcome}"
    assert reason in str(outcome.error), f"client with {why}: {outcome.error}"
    assert outcome.peer is None
    assert outcome.received == b""
    assert not isinstance(answer, bytes) or answer == b"", f"client with {why} got {answer!r}"


async def test_server_refuses_a_client_from_the_cluster_ca_that_names_another_cluster(
    cert_dir: Path,
) -> None:
    async with gate(server_context(cert_dir, "a")) as g:
        answer, _ = await talk(g.port, raw_client(cert_dir, "stranger"))
        outcome = await g.next_outcome()
    assert isinstance(outcome.error, AuthenticationError)
    assert "cluster 'other'" in str(outcome.error)
    assert outcome.received == b""
    assert not isinstance(answer, bytes) or answer == b""


async def test_server_refuses_a_tls_1_2_only_client(cert_dir: Path) -> None:
    ctx = raw_client(cert_dir, "b", max_version=ssl.TLSVersion.TLSv1_2)
    async with gate(server_context(cert_dir, "a")) as g:
        answer, _ = await talk(g.port, ctx)
        outcome = await g.next_outcome()
    assert isinstance(outcome.error, ssl.SSLError)
    assert outcome.received == b""
    assert isinstance(answer, OSError), f"a TLS 1.2 client completed a handshake: {answer!r}"


async def test_client_refuses_a_server_with_a_certificate_from_another_ca(cert_dir: Path) -> None:
    impostor = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    impostor.load_cert_chain(cert_dir / "foreign.pem", cert_dir / "foreign.key")
    async with gate(impostor) as g:
        answer, server_id = await talk(g.port, client_context(cert_dir, "b"))
        outcome = await g.next_outcome()
    assert isinstance(answer, ssl.SSLCertVerificationError)
    assert server_id is None
    assert outcome.received == b""


async def test_peer_identity_refuses_a_node_other_than_the_expected_one(cert_dir: Path) -> None:
    async with gate(server_context(cert_dir, "a")) as g:
        async with asyncio.timeout(STEP):
            _, writer = await asyncio.open_connection(
                "127.0.0.1", g.port, ssl=client_context(cert_dir, "b")
            )
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            assert peer_identity(ssl_object, expected="a") == "a"
            with pytest.raises(AuthenticationError, match="not the expected 'c'"):
                peer_identity(ssl_object, expected="c")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await g.next_outcome()


# -- configuration mistakes -------------------------------------------------------------------
def test_missing_folder_names_the_ca_file_and_the_init_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        server_context(tmp_path / "nowhere", "a")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "ca.pem") in message
    assert "netclock certs init --nodes a," in message


def test_missing_node_files_name_the_add_command(cert_dir: Path, tmp_path: Path) -> None:
    shutil.copy(cert_dir / "ca.pem", tmp_path / "ca.pem")
    with pytest.raises(
        ConfigError, match=r"z\.pem is missing; create it with `netclock certs add z"
    ):
        client_context(tmp_path, "z")
    shutil.copy(cert_dir / "a.pem", tmp_path / "a.pem")
    with pytest.raises(ConfigError, match=r"a\.key is missing"):
        client_context(tmp_path, "a")


@pytest.mark.parametrize("node", ["expired", "future"])
def test_own_certificate_outside_its_validity_is_a_config_error(cert_dir: Path, node: str) -> None:
    with pytest.raises(ConfigError, match=f"netclock certs add {node}"):
        server_context(cert_dir, node)


def test_own_certificate_naming_another_node_is_a_config_error(
    cert_dir: Path, tmp_path: Path
) -> None:
    for name in ("ca.pem", "ca.key"):
        shutil.copy(cert_dir / name, tmp_path / name)
    shutil.copy(cert_dir / "b.pem", tmp_path / "c.pem")
    shutil.copy(cert_dir / "b.key", tmp_path / "c.key")
    with pytest.raises(ConfigError, match="names node 'b'"):
        client_context(tmp_path, "c")
