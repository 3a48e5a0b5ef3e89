"""The package's layers: imports run one way, and the sans-IO cores import no IO.

Read from the source (no module is imported), so a function-level import counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "netclock"

LAYERS = {
    "errors": 0,
    "clock": 1,
    "wire": 2,
    "voting": 2,
    "faults": 3,
    "durable": 3,
    "observe": 3,
    "links": 4,
    "detectors": 4.5,
    "broadcast": 4,
    "node": 5,
    "sampling": 4.8,
    "cluster": 6,
    "adversary": 6,
    "tools": 7,
    "testing": 8,
    "cli": 8,
}
"""Each part of the package and its height: a part imports only parts below it (or itself)."""

SANS_IO_CORES = (
    "clock.py",
    "errors.py",
    "wire",
    "voting.py",
    "adversary/forge.py",
    "faults",
    "durable/records.py",
    "durable/linklog.py",
    "links/session.py",
    "links/rtt.py",
    "links/segments.py",
    "links/inflight.py",
    "links/budget.py",
    "links/seal.py",
    "links/base.py",
    "links/tls/handshake.py",
    "cluster/slurm.py",
    "cluster/output.py",
    "cluster/narrate.py",
    "detectors/core.py",
    "broadcast/frame.py",
    "broadcast/core.py",
    "broadcast/bracha.py",
    "observe/compact.py",
    "observe/textlog.py",
)
"""Protocol state machines and pure values: no asyncio, no sockets, no TLS."""

IO_MODULES = frozenset({"asyncio", "socket", "ssl", "selectors", "uvloop"})


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _part(path: Path) -> str | None:
    """The layer a source file belongs to (None for the package root's own files)."""
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) == 1:
        name = rel.stem
        return name if name in LAYERS else None
    return rel.parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            if node.module == "netclock":
                found += [(node.lineno, f"netclock.{alias.name}") for alias in node.names]
    return found


def test_every_source_file_belongs_to_a_layer() -> None:
    orphans = [
        str(path.relative_to(PACKAGE))
        for path in _modules()
        if _part(path) is None and path.name not in ("__init__.py", "__main__.py")
    ]
    assert orphans == [], f"give these a layer in LAYERS: {orphans}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_down_the_layers(path: Path) -> None:
    part = _part(path)
    if part is None:
        return
    upward = []
    for line, module in _imports(path):
        if not module.startswith("netclock."):
            continue
        target = module.split(".")[1]
        if target != part and LAYERS.get(target, -1) >= LAYERS[part]:
            upward.append(f"line {line}: {module}")
    assert upward == [], f"{part} may only import layers below it: {upward}"


def _cores() -> list[Path]:
    out: list[Path] = []
    for entry in SANS_IO_CORES:
        target = PACKAGE / entry
        out += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return out


@pytest.mark.parametrize("path", _cores(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_sans_io_cores_import_no_io(path: Path) -> None:
    io = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[0] in IO_MODULES
    ]
    assert io == [], f"a sans-IO core must not import asyncio, socket or ssl: {io}"
