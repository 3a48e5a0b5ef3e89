"""The eavesdrop demo as a user runs it: a real capture on lo reads UDP payloads in clear
and TLS as ciphertext only. It needs a raw packet socket (root, as CI runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import explain, netclock

from netclock.adversary import capture_unavailable

pytestmark = [
    pytest.mark.system,
    pytest.mark.slow,
    pytest.mark.timeout(80),
    pytest.mark.skipif(sys.platform == "win32", reason="netclock runs on POSIX systems"),
]

WHY = capture_unavailable()


@pytest.mark.skipif(WHY is not None, reason=WHY or "")
def test_eavesdrop_reads_udp_in_clear_and_tls_as_ciphertext(tmp_path: Path) -> None:
    proc = netclock("demo", "eavesdrop", "--out", str(tmp_path / "run"), cwd=tmp_path, timeout=70)
    assert proc.returncode == 0, explain(proc)
    udp, _, tls = proc.stdout.partition("=== over tls ===")
    udp, _, sealed = udp.partition("=== over sealed ===")
    for secret in ("my PIN is 4321", "the vault code is 7-7-9", "meet at the old mill at noon"):
        assert f"[eve]   alice -> bob: {secret!r}" in udp, explain(proc)
        assert secret not in tls, explain(proc)
        assert secret not in sealed, explain(proc)
    assert "eve read 3 of 3 secrets in clear: UDP carries plaintext" in udp
    assert "sealed by 'alice'" in sealed
    assert "eve read 0 of 3 secrets in" in sealed
    assert "TLS record type application data" in tls
    assert "eve read 0 of 3 secrets in" in tls
    assert "TLS carries ciphertext only" in tls
