"""Event recording: the GoVector log for ShiViz and the JSON-lines event log.

Both are optional and buffered; see ``docs/eventlog.md`` for the JSON-lines format.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from netclock.clock import VectorClock
from netclock.errors import ConfigError
from netclock.observe.shiviz import EventLogWriter

_FLUSH_AT = 256


class EventRecorder:
    """Writes one node's events to a GoVector log and/or a JSON-lines event log."""

    def __init__(
        self,
        node_id: str,
        incarnation: int,
        *,
        govector_log: str | Path | None = None,
        event_log: str | Path | None = None,
    ) -> None:
        self.node_id = node_id
        self.incarnation = incarnation
        self._govector = EventLogWriter(govector_log) if govector_log is not None else None
        self._jsonl = None
        if event_log is not None:
            try:
                self._jsonl = open(event_log, "a", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the event log {event_log}: {exc.strerror}; "
                    "choose a writable folder"
                ) from exc
        self._pending: list[str] = []

    def record(self, ev: str, clock: VectorClock, logged: str, **fields: Any) -> None:
        """Record one event: ``logged`` goes to the GoVector log, ``fields`` to the JSON log."""
        if self._govector is not None and ev not in ("failed", "drop", "stop"):
            self._govector.write(self.node_id, clock, logged)
        if self._jsonl is not None:
            entry = {
                "t": time.time(),
                "node": self.node_id,
                "inc": self.incarnation,
                "ev": ev,
                "clock": clock.to_wire(),
                **fields,
            }
            self._pending.append(json.dumps(entry, default=_jsonable))
            if len(self._pending) >= _FLUSH_AT:
                self.flush()

    def flush(self) -> None:
        """Push buffered events to the files."""
        if self._govector is not None:
            self._govector.flush()
        if self._jsonl is not None and self._pending:
            self._jsonl.write("\n".join(self._pending) + "\n")
            self._pending.clear()
            self._jsonl.flush()

    def close(self) -> None:
        """Flush and close both files; idempotent."""
        self.flush()
        if self._govector is not None:
            self._govector.close()
            self._govector = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, VectorClock):
        return value.to_dict()
    return repr(value)
