"""A cluster of any size from a few ``[[node]]`` tables: ``nodes = 32`` (or ``--nodes 32``).

A class runs the same exercise with 4 processes and with 32; writing 32 ``[[node]]``
tables by hand is where a typo hides. With ``nodes = N`` the cluster has ``N`` nodes:

* without ``[[node]]`` tables, ``n1`` .. ``nN``, each running the top-level program (the
  names the demos use, so ``origin = "n1"`` means the same at 4 and at 40);
* with fewer tables, the numbering of the last table's id goes on (``n6`` is followed by
  ``n7``, ``p04`` by ``p05``), each new node a copy of that table on the same host with a
  port the kernel picks (port 0);
* with more tables, the first ``N`` (an action or fault naming one left out is then an
  error, as for any unknown node).
"""

from __future__ import annotations

import re
from typing import Any

from netclock.errors import ConfigError, UsageError
from netclock.links.base import parse_address

__all__ = ["MAX_NODES", "counted_nodes", "natural_order", "node_range"]

MAX_NODES = 256
"""The most nodes ``nodes = N`` makes (256 processes start on two cores; list tables for
more)."""

_NUMBERED = re.compile(r"(.*?)(\d+)")
_DIGITS = re.compile(r"(\d+)")


def natural_order(name: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key for node ids that puts ``n9`` before ``n10``."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(name))


def counted_nodes(tables: list[Any], count: object) -> list[Any]:
    """``tables`` (the file's ``[[node]]`` list) made ``count`` long, as the module says."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_NODES:
        raise ConfigError(
            f"nodes (or --nodes) must be a whole number from 1 to {MAX_NODES}, not {count!r}"
        )
    if not tables:
        return [{"id": f"n{i}"} for i in range(1, count + 1)]
    last = tables[-1]
    if count <= len(tables) or not isinstance(last, dict) or not isinstance(last.get("id"), str):
        return tables[:count]  # a malformed last table: the tables' own check names it
    name = last["id"]
    numbered = _NUMBERED.fullmatch(name)
    if numbered is None:
        raise ConfigError(
            f"nodes = {count} (or --nodes {count}) numbers on from the last [[node]] id, and "
            f"{name!r} does not end in a number: this cluster names its nodes, so run it "
            "with the nodes it lists (or name them like n1)"
        )
    prefix, digits = numbered.groups()
    copy = {key: value for key, value in last.items() if key not in ("id", "address")}
    if isinstance(last.get("address"), str):
        try:
            host = parse_address(last["address"])[0]
        except UsageError:
            host = None  # the table's own check names the mistake
        if host is not None:
            copy["address"] = f"[{host}]:0" if ":" in host else f"{host}:0"
    first = int(digits) + 1
    more = [
        {**copy, "id": f"{prefix}{i:0{len(digits)}d}"}
        for i in range(first, first + count - len(tables))
    ]
    listed = {t.get("id") for t in tables if isinstance(t, dict)}
    taken = [t["id"] for t in more if t["id"] in listed]
    if taken:
        raise ConfigError(
            f"nodes = {count} numbers on from the last [[node]] id {name!r} and reaches "
            f"{taken[0]!r}, which a [[node]] table already has; list the tables in numbering "
            "order"
        )
    return [*tables, *more]


def node_range(names: list[str]) -> str:
    """``n1 .. n32`` for numbered names of one prefix, else the first two and the last."""
    ordered = sorted(names, key=natural_order)
    prefixes = {m.group(1) if (m := _NUMBERED.fullmatch(n)) else None for n in ordered}
    if len(ordered) <= 3 or (len(prefixes) == 1 and None not in prefixes):
        return f"{ordered[0]} .. {ordered[-1]}" if len(ordered) > 3 else ", ".join(ordered)
    return f"{ordered[0]}, {ordered[1]}, ..., {ordered[-1]}"
