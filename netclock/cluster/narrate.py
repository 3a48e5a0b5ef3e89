"""What ``netclock node`` says to a person when no launcher reads its control lines.

A :class:`Narrator` takes the messages a node would send a launcher
(:data:`netclock.cluster.control.MESSAGE_KINDS`) and writes each as one plain sentence
(``node a listening on udp 127.0.0.1:40123``); messages a person has no use for
(``STATS``) are not written. It has :class:`~netclock.cluster.control.ControlWriter`'s
``send``/``close``/``closed``, so the node's code says the same thing either way.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any, TextIO

__all__ = ["Narrator"]


class Narrator:
    """Writes a node's control messages as sentences to ``stream`` (standard error by
    default, so that standard output stays the program's)."""

    def __init__(self, node_id: str, link: str, stream: TextIO | None = None) -> None:
        self.node_id = node_id
        self.link = link
        self._stream: TextIO | None = sys.stderr if stream is None else stream

    @property
    def closed(self) -> bool:
        """True once a write failed or :meth:`close` was called."""
        return self._stream is None

    def say(self, text: str) -> None:
        """Write one line, flushed at once (nothing once the stream is gone)."""
        if self._stream is None:
            return
        try:
            self._stream.write(text + "\n")
            self._stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            self._stream = None

    def logs_in(self, run_dir: Path, chosen: bool) -> None:
        """Say where the node's logs go (``chosen``: the folder was made for this run)."""
        hint = " (give every node the same --run-dir to check them together)" if chosen else ""
        self.say(f"node {self.node_id} writes its logs to {run_dir}{hint}")

    def send(self, kind: str, **fields: Any) -> None:
        """The sentence for one control message (none for STATS and unknown kinds)."""
        text = self._sentence(kind, fields)
        if text is not None:
            self.say(text)

    def _sentence(self, kind: str, fields: dict[str, Any]) -> str | None:
        me = f"node {self.node_id}"
        if kind == "READY":
            host, port = fields.get("host"), fields.get("port")
            where = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
            incarnation = fields.get("incarnation")
            life = f", incarnation {incarnation}" if incarnation is not None else ""
            transport = "tcp" if self.link == "tls" else "udp"
            return f"{me} listening on {transport} {where} ({self.link} link{life})"
        if kind == "PEERS":
            peers = fields.get("peers") or []
            known = f"knows its peers {', '.join(map(str, peers))}" if peers else "has no peers"
            return f"{me} {known}; its program starts"
        if kind == "DONE":
            return f"{me}: its program returned {fields.get('result')!r}"
        if kind == "FAILED":
            return f"{me} failed: {fields.get('error')}"
        if kind == "STOPPED":
            return (
                f"{me} stopped after sending {fields.get('sent', 0)} and delivering "
                f"{fields.get('delivered', 0)} messages ({fields.get('retransmitted', 0)} "
                "retransmitted)"
            )
        return None

    def close(self) -> None:
        """Stop writing; idempotent (standard streams are left open)."""
        stream, self._stream = self._stream, None
        if stream is not None and stream not in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
