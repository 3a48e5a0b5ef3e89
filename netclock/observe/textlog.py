"""The text forms of a node's events: GoVector's two lines and the event log's JSON line.

:class:`TextRenderer` turns one event (kind, wall time, clock, GoVector text, fields) into
the lines ``<node>.log`` and ``<node>.events.jsonl`` hold (``docs/eventlog.md``), with the
event log's compact clocks (:mod:`netclock.observe.compact`). It does no IO: the lines
collect in :attr:`TextRenderer.govector_lines` and :attr:`TextRenderer.jsonl_lines` until
the caller writes and clears them. A node does not render while it runs (it writes binary
records, :mod:`netclock.observe.pending`); the records are rendered here when it stops, when
its next life starts, or when a reader finds them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from netclock.clock import VectorClock
from netclock.observe.compact import FORMAT, FULL_EVERY, ClockChanges, ClockText, delta_text
from netclock.observe.shiviz import event_lines

__all__ = ["GOVECTOR_KINDS", "SMALL_CLOCK", "TICKING", "TextRenderer", "encode_json"]

TICKING = frozenset({"send", "deliver", "local", "bcast", "bdeliver"})
"""The kinds that tick the own clock entry (``init`` sets it; the others leave it alone)."""
GOVECTOR_KINDS = frozenset({"init", *TICKING})
"""The kinds that also go to the GoVector log: ShiViz needs +1 per event, so no others."""
SMALL_CLOCK = 4
"""A clock of at most this many entries goes whole into the event log when its text is at hand
(a delta would be as long, and costs more to make)."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, VectorClock):
        return value.to_dict()
    return repr(value)


def _make_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, default=_jsonable)`` without building an encoder per call."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C encoder
        return json.JSONEncoder(default=_jsonable).encode
    encode = make(
        None, _jsonable, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return lambda value: "".join(encode(value, 0))


encode_json = _make_encoder()
"""``json.dumps`` as the event log writes values (bytes as hex, clocks as maps, others' repr)."""


def _fields_text(fields: dict[str, Any]) -> str:
    """The rest of a line after the clock: ``fields`` as JSON members and the closing brace.

    A message's fields (``to`` or ``from`` and ``id``, as the Node passes them: node ids,
    which never need escaping, and integers) are formatted directly; the rest by the JSON
    encoder.
    """
    if len(fields) == 2:
        mid = fields.get("id")
        peer = fields.get("to", fields.get("from"))
        if (
            type(mid) is list
            and len(mid) == 3
            and type(peer) is str
            and type(mid[0]) is str
            and type(mid[1]) is int
            and type(mid[2]) is int
        ):
            name = "to" if "to" in fields else "from"
            return f', "{name}": "{peer}", "id": ["{mid[0]}", {mid[1]}, {mid[2]}]}}'
    return ", " + encode_json(fields)[1:] if fields else "}"


class TextRenderer:
    """One node's events, rendered in order into GoVector lines and/or event-log lines.

    Feed every event of one life to one renderer, in order: the event log's compact clocks
    (``dc``, ``dmc``) are deltas against the lines rendered before, and its first line
    carries the full clock.
    """

    def __init__(self, node_id: str, incarnation: int, *, govector: bool, events: bool) -> None:
        self.node_id = node_id
        self.govector = govector
        self.events = events
        self.govector_lines: list[str] = []
        self.jsonl_lines: list[str] = []
        self._who = f', "node": "{node_id}", "inc": {incarnation}, "ev": "'
        self._changes = ClockChanges()
        self._text = ClockText()
        self._text_stale = False
        self._msg_changes: dict[Any, ClockChanges] = {}
        self._lines = 0

    def render(
        self, ev: str, t: float, entries: Mapping[str, int], logged: str, fields: dict[str, Any]
    ) -> None:
        """Render one event of kind ``ev`` at wall time ``t`` with the node's clock ``entries``
        after it; ``logged`` is its GoVector text; ``fields`` (consumed) as the event log's
        kind has them (``msg_clock`` a map or a :class:`VectorClock`)."""
        changed = self._changes.changes(entries)
        clock_text = ""
        if self.govector and ev in GOVECTOR_KINDS:
            clock_text = self._text.render(entries, None if self._text_stale else changed)
            self._text_stale = False
            self.govector_lines.append(event_lines(self.node_id, clock_text, logged))
        elif changed != []:
            self._text_stale = True  # changes not rendered: the next render starts afresh
        if not self.events:
            return
        self._lines += 1
        if changed is None or self._lines >= FULL_EVERY:
            self._lines = 0
            self._msg_changes.clear()  # a full clock: the readers' chain restarts here
            if not clock_text:
                clock_text = str(VectorClock._trusted(dict(entries)))
            head = f'"clock": {clock_text}'
        elif clock_text and len(entries) <= SMALL_CLOCK:
            head = f'"clock": {clock_text}'  # rendered already, and as short as a delta
        else:
            head = f'"dc": {delta_text(entries, changed)}'
        if "msg_clock" in fields:
            head += self._msg_clock(fields)
        elif ev == "init":
            fields["format"] = FORMAT
        rest = _fields_text(fields)
        self.jsonl_lines.append(f'{{"t": {t!r}{self._who}{ev}", {head}{rest}\n')

    def _msg_clock(self, fields: dict[str, Any]) -> str:
        """``msg_clock`` (popped from ``fields``) as a field: ``dmc`` against the previous
        delivery from the same sender when the ids are the same, else in full."""
        value = fields.pop("msg_clock")
        entries = value._entries if isinstance(value, VectorClock) else value
        sender = fields.get("from")
        if len(entries) <= SMALL_CLOCK:
            self._msg_changes.pop(sender, None)  # its next delta starts from a whole one
            return f', "msg_clock": {encode_json(entries)}'
        changes = self._msg_changes.get(sender)
        if changes is None:
            changes = self._msg_changes[sender] = ClockChanges()
        changed = changes.changes(entries)
        if changed is None:
            return f', "msg_clock": {encode_json(entries)}'
        return f', "dmc": {delta_text(entries, changed)}'
