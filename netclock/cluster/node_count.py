"""A cluster of any size from a few ``[[node]]`` tables: ``nodes = 32`` (or ``--nodes 32``).

A class runs the same exercise with 4 processes and with 32; writing 32 ``[[node]]``
tables by hand is where a typo hides. With ``nodes = N`` the cluster has ``N`` nodes:

* without ``[[node]]`` tables, ``n1`` .. ``nN`` (zero-padded to the width of ``N``, so
  that names sort in order: ``n01`` .. ``n32``), each running the top-level program;
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

__all__ = ["MAX_NODES", "counted_nodes", "natural_order"]

MAX_NODES = 1024
"""The most nodes ``nodes = N`` makes: more processes than one launcher can start."""

_NUMBERED = re.compile(r"(.*?)(\d+)")
_DIGITS = re.compile(r"(\d+)")


def natural_order(name: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key for node ids that puts ``n9`` before ``n10``."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(name))


def counted_nodes(tables: list[Any], count: object) -> list[Any]:
    """``tables`` (the file's ``[[node]]`` list) made ``count`` long, as the module says."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_NODES:
        raise ConfigError(f"nodes must be a whole number from 1 to {MAX_NODES}, not {count!r}")
    if not tables:
        width = len(str(count))
        return [{"id": f"n{i:0{width}d}"} for i in range(1, count + 1)]
    if count <= len(tables):
        return tables[:count]
    last = tables[-1]
    name = last.get("id") if isinstance(last, dict) else None
    numbered = _NUMBERED.fullmatch(name) if isinstance(name, str) else None
    if numbered is None:
        raise ConfigError(
            f"nodes = {count} continues the numbering of the last [[node]] id, and {name!r} "
            "does not end in a number; name it like n1 (or p01), or list every node"
        )
    prefix, digits = numbered.groups()
    copy = {key: value for key, value in last.items() if key not in ("id", "address")}
    if "address" in last:
        try:
            host = parse_address(last["address"])[0]
        except (UsageError, TypeError):
            host = None  # the table's own check names the mistake
        if host is not None:
            copy["address"] = f"[{host}]:0" if ":" in host else f"{host}:0"
    first = int(digits) + 1
    more = [
        {**copy, "id": f"{prefix}{i:0{len(digits)}d}"}
        for i in range(first, first + count - len(tables))
    ]
    return [*tables, *more]
