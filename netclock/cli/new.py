"""``netclock new NAME [--from DEMO]``: a starter project that runs as created."""

from __future__ import annotations

import argparse
import re
import shutil
import tomllib
from pathlib import Path

from netclock.cli.demo import demos_dir
from netclock.errors import ConfigError, NetclockError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_TEMPLATE_TOML = """\
# {name}: three processes greet each other over the perfect link.
# Run it with `netclock run {name}.toml` (add --link fairloss|stubborn|tls to compare);
# every key a cluster file takes is in netclock's docs/cluster.md.
name = "{name}"
link = "reliable"
duration = 30
program = "{name}.py:main"
args = {{ rounds = 3 }}

[[node]]
id = "a"

[[node]]
id = "b"

[[node]]
id = "c"
"""

_TEMPLATE_PROGRAM = '''\
"""{name}: each node sends ``rounds`` greetings to every peer and receives theirs."""

from __future__ import annotations

from netclock import Node


async def main(node: Node, rounds: int = 1) -> int:
    """Greet every peer ``rounds`` times; return how many greetings arrived."""
    for r in range(rounds):
        for peer in node.peers:
            await node.send(peer, f"hello {{r}} from {{node.id}}")
    for _ in range(rounds * len(node.peers)):
        msg = await node.receive(timeout=10)
        print(f"got {{msg.payload!r}} from {{msg.sender}}  clock {{msg.receive_clock}}")
    await node.flush()
    return rounds * len(node.peers)
'''


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``netclock new``."""
    new = sub.add_parser("new", help="make a starter project: netclock new myalgo [--from ring]")
    new.add_argument("name", help="project folder and cluster name (letters, digits, - _ .)")
    new.add_argument("--from", dest="demo", help="start from this demo (netclock demo lists them)")
    new.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Create the project folder and say how to run it."""
    folder = create_project(Path.cwd(), args.name, args.demo)
    cluster = folder / f"{args.name}.toml"
    print(f"created {folder}: run it with  netclock run {cluster.relative_to(Path.cwd())}")
    return 0


def create_project(parent: Path, name: str, demo: str | None = None) -> Path:
    """Write ``parent/name/`` with ``name.toml`` and its program file(s); return the folder.

    From a demo: its cluster file (renamed, with ``name`` set) and the program files it
    names; otherwise a three-node template. Refuses a folder that exists.
    """
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"project name {name!r} must be 1-64 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    folder = parent / name
    if folder.exists():
        raise ConfigError(f"{folder} already exists; choose another name or remove it")
    if demo is None:
        folder.mkdir(parents=True)
        (folder / f"{name}.toml").write_text(_TEMPLATE_TOML.format(name=name), encoding="utf-8")
        (folder / f"{name}.py").write_text(_TEMPLATE_PROGRAM.format(name=name), encoding="utf-8")
        return folder
    source = demos_dir() / f"{demo}.toml"
    if not source.is_file():
        names = ", ".join(sorted(p.stem for p in demos_dir().glob("*.toml")))
        raise NetclockError(f"no demo named {demo!r}; the demos are {names}")
    text = source.read_text(encoding="utf-8")
    files = _program_files(tomllib.loads(text))
    folder.mkdir(parents=True)
    for file in files:
        shutil.copyfile(source.parent / file, folder / file)
    renamed = re.sub(r'(?m)^name = ".*"$', f'name = "{name}"', text, count=1)
    renamed = renamed.replace(f"netclock demo {demo}", f"netclock run {name}.toml")
    (folder / f"{name}.toml").write_text(renamed, encoding="utf-8")
    return folder


def _program_files(cluster: dict[str, object]) -> list[str]:
    """The ``.py`` files a cluster file's programs name (top level and per node)."""
    specs = [cluster.get("program")]
    nodes = cluster.get("node", [])
    if isinstance(nodes, list):
        specs += [n.get("program") for n in nodes if isinstance(n, dict)]
    files = {s.partition(":")[0] for s in specs if isinstance(s, str)}
    return sorted(f for f in files if f.endswith(".py") and "/" not in f)
