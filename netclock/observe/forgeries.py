"""The adversary's own record of what it forged: ground truth for the checker.

A Byzantine program that sends an envelope claiming someone else's identity, or replays one
it captured, writes a line here first (``<run folder>/<adversary>.forged.jsonl``), as the
launcher records every kill before it kills; a program that lies in what it says (a wrong
value, silence) may record a ``lie`` too, so the checker marks it Byzantine. The checker
judges authenticity against this record and the honest senders' logs, never against what
the receivers believed.

One JSON object a line: ``{"t": wall time, "by": adversary, "attack": "impersonation" |
"replay" | "lie", "as": claimed sender, "to": receiver, "id": [claimed sender, incarnation,
seq], "what": free text}`` (``id`` is null for an envelope that carries no message id the
receiver could log, and for a lie).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from netclock.errors import ConfigError

__all__ = ["FORGED_SUFFIX", "ATTACKS", "Forgery", "ForgeryRecorder", "read_forgeries"]

FORGED_SUFFIX = ".forged.jsonl"
"""An adversary's record is ``<node>`` followed by this, in the run folder."""
ATTACKS = ("impersonation", "replay", "lie")
"""Every value of a line's ``attack`` field."""


@dataclass(frozen=True, slots=True)
class Forgery:
    """One forged envelope: who forged it, what it claimed, whom it went to."""

    by: str
    attack: str
    claimed: str
    to: str
    id: tuple[str, int, int] | None
    t: float
    what: str = ""


class ForgeryRecorder:
    """Appends forgeries to one file; each line reaches the kernel before :meth:`record`
    returns (so it is written before the forged bytes leave)."""

    def __init__(self, path: str | os.PathLike[str] | None, by: str) -> None:
        self.by = by
        self.path = None if path is None else Path(path)
        self._file: IO[bytes] | None = None
        if self.path is not None:
            try:
                self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the forgery record {self.path}: {exc.strerror}; "
                    "choose a writable folder"
                ) from exc
        self.count = 0

    def record(
        self,
        attack: str,
        claimed: str,
        to: str,
        msg_id: tuple[str, int, int] | None,
        what: str = "",
    ) -> None:
        """Note one forged envelope (``attack`` is one of :data:`ATTACKS`)."""
        if attack not in ATTACKS:
            raise ValueError(f"attack {attack!r} is not one of {', '.join(ATTACKS)}")
        self.count += 1
        if self._file is None:
            return
        line = {
            "t": time.time(),
            "by": self.by,
            "attack": attack,
            "as": claimed,
            "to": to,
            "id": None if msg_id is None else list(msg_id),
            "what": what,
        }
        self._file.write((json.dumps(line) + "\n").encode())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_forgeries(run_dir: str | os.PathLike[str]) -> list[Forgery]:
    """Every forgery recorded in ``run_dir``; unparsable lines (a cut last line) are skipped."""
    out: list[Forgery] = []
    for path in sorted(Path(run_dir).glob(f"*{FORGED_SUFFIX}")):
        for text in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(text)
                raw_id = entry["id"]
                msg_id = (
                    None if raw_id is None else (str(raw_id[0]), int(raw_id[1]), int(raw_id[2]))
                )
                out.append(
                    Forgery(
                        str(entry["by"]),
                        str(entry["attack"]),
                        str(entry["as"]),
                        str(entry["to"]),
                        msg_id,
                        float(entry["t"]),
                        str(entry.get("what", "")),
                    )
                )
            except (ValueError, KeyError, TypeError, IndexError, RecursionError):
                continue
    return out
