"""A node's events while it runs: binary records, rendered as text after (``docs/eventlog.md``).

Formatting two text lines per event costs a running node several microseconds; a binary
record costs a fraction of one. So while a node runs, its
:class:`~netclock.observe.eventlog.EventRecorder` appends each event as one msgpack record
to a *pending file* beside its logs (:func:`pending_path`: the event log's path, or without
one the GoVector log's, plus ``.pending``), and the text forms (``<node>.log``,
``<node>.events.jsonl``) are rendered from it (:func:`finish_pending`) when the node stops,
when its next life starts, and when the launcher ends a run. A reader that meets a pending
file (a node still running, or killed without a launcher) reads it after the text
(:func:`pending_lines`), so nothing depends on the rendering having happened.

The file: a header record ``["netclock-pending", 1, node, incarnation, govector log, event
log]`` (each log a path, relative to the pending file's folder when beside it, or None),
then one record per event, each a msgpack array:

* ``[0, t, clock, to, inc, seq, text]`` a send (``text`` None: the default text);
* ``[1, t, clock, from, inc, seq, msg_clock]`` a delivery with the default text;
* ``[2, t, kind, clock, text, fields]`` any other event, ``fields`` as the event log has them.

``t`` is the wall time (seconds since the epoch), clocks are maps of node id to counter.
Records are written once per loop iteration with one ``write``; a kill in the middle of it
can cut the last record, which a reader skips with a note.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import IO, Any

import msgpack

from netclock.errors import ConfigError
from netclock.observe.textlog import TextRenderer

__all__ = [
    "PENDING_SUFFIX",
    "LogReading",
    "PendingWriter",
    "finish_pending",
    "finish_run",
    "finish_steps",
    "pending_for",
    "pending_lines",
    "pending_path",
]

log = logging.getLogger(__name__)

PENDING_SUFFIX = ".pending"
"""What a pending file's name adds to the path of the log it belongs to."""
MAGIC = "netclock-pending"
VERSION = 1
SEND, DELIVER, OTHER = 0, 1, 2
RENDERING = b"netclock-rendering"
"""The start of the mark (a msgpack ``bin``) that ends a pending file being rendered: the
text logs' sizes before, 8 bytes each, big-endian."""
MARK_BYTES = 2 + len(RENDERING) + 16
UNREADABLE = "unreadable records"
NOTHING_LOGGED = "no record, not even its header (its node was killed before it logged anything)"
RENDER_BATCH = 4096
"""Events rendered before the text is written, when a pending file is finished."""


def pending_path(govector_log: Path | None, event_log: Path | None) -> Path:
    """Where a node with these logs keeps its pending records."""
    base = event_log if event_log is not None else govector_log
    if base is None:
        raise ValueError("a pending file belongs to a log")
    return base.with_name(base.name + PENDING_SUFFIX)


def _stored(path: Path | None, folder: Path) -> str | None:
    if path is None:
        return None
    return path.name if path.parent.resolve() == folder.resolve() else str(path.resolve())


def _packable(value: Any) -> Any:
    """msgpack's fallback for a field value: a clock as its map, anything else as its repr
    (the event log's JSON writer then writes what it would have written)."""
    entries = getattr(value, "_entries", None)
    return entries if type(entries) is dict else repr(value)


class PendingWriter:
    """Appends binary records to a node's pending file: one ``write`` per :meth:`flush`.

    The file is created (truncated) with its header at construction; a path that cannot be
    written raises :class:`ConfigError`.
    """

    def __init__(
        self,
        path: Path,
        node_id: str,
        incarnation: int,
        govector_log: Path | None,
        event_log: Path | None,
    ) -> None:
        self.path = path
        packer = msgpack.Packer(default=_packable, autoreset=False)
        self._packer = packer
        self.pack: Callable[[Any], None] = packer.pack
        """Append a record, packed, to what the next :meth:`flush` writes (only records that
        :attr:`check` packs: a packer that fails forgets what it held)."""
        self.check: Callable[[Any], bytes] = msgpack.Packer(default=_packable).pack
        """Pack a record apart: raises ``TypeError``/``ValueError``/``OverflowError`` for what
        cannot be packed, touching nothing."""
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the pending event records {path}: {exc.strerror}; "
                "choose a writable folder"
            ) from exc
        folder = path.parent
        header = (
            MAGIC,
            VERSION,
            node_id,
            incarnation,
            _stored(govector_log, folder),
            _stored(event_log, folder),
        )
        self.pack(header)
        self.flush()

    def flush(self) -> None:
        """Hand every packed record to the OS now."""
        if self._fd is None:
            return
        data = self._packer.bytes()
        if not data:
            return
        self._packer.reset()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        """Write what is left and close the file; idempotent."""
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Header:
    __slots__ = ("events", "govector", "incarnation", "node")

    def __init__(self, raw: Any, path: Path) -> None:
        if (
            type(raw) is not list
            or len(raw) != 6
            or raw[0] != MAGIC
            or raw[1] != VERSION
            or type(raw[2]) is not str
            or type(raw[3]) is not int
        ):
            raise ConfigError(
                f"{path} is not a netclock pending file (version {VERSION}); remove it"
            )
        self.node: str = raw[2]
        self.incarnation: int = raw[3]
        self.govector = self._path(raw[4], path)
        self.events = self._path(raw[5], path)

    @staticmethod
    def _path(value: Any, path: Path) -> Path | None:
        if type(value) is not str or not value:
            return None
        stored = Path(value)
        return stored if stored.is_absolute() else path.parent / stored


def _records(
    path: Path, notes: list[str], opened: IO[bytes] | None = None
) -> Generator[Any, None, None]:
    """The decoded objects of a pending file, header first, up to a rendering mark; a cut or
    unreadable tail ends the stream with a sentence in ``notes``. ``opened``: the file,
    already open (read from its start, and closed at the end)."""
    if opened is None:
        try:
            opened = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}; check the run folder") from exc
    with opened as file:
        file.seek(0)
        unpacker = msgpack.Unpacker(
            file, raw=False, strict_map_key=False, max_buffer_size=64 * 1024 * 1024
        )
        try:
            for record in unpacker:
                if type(record) is bytes and record.startswith(RENDERING):
                    return
                yield record
        except (ValueError, msgpack.UnpackException) as exc:
            notes.append(f"{path}: {UNREADABLE} from byte {unpacker.tell()} skipped")
            log.debug("%s: unreadable record: %s", path, exc)
            return
        size = os.fstat(file.fileno()).st_size
        if unpacker.tell() < size:
            notes.append(f"{path}: skipped an unfinished last record (the node was killed)")


def _whole_records_end(path: Path, notes: list[str]) -> int:
    """The offset just past the last whole record of ``path`` (records skipped, not built);
    a cut or unreadable tail is said in ``notes``."""
    with open(path, "rb") as file:
        unpacker = msgpack.Unpacker(file, max_buffer_size=64 * 1024 * 1024)
        end = 0
        try:
            while True:
                unpacker.skip()
                end = unpacker.tell()
        except msgpack.OutOfData:
            if end < os.fstat(file.fileno()).st_size:
                notes.append(f"{path}: skipped an unfinished last record (the node was killed)")
        except (ValueError, msgpack.UnpackException):
            notes.append(f"{path}: unreadable records from byte {end} skipped")
    return end


def _rendering_mark(path: Path) -> tuple[int, int] | None:
    """The text logs' sizes before a rendering of ``path`` began (None: none began)."""
    with open(path, "rb") as file:
        return _mark_in(file)


def _mark_in(file: IO[bytes]) -> tuple[int, int] | None:
    size = file.seek(0, os.SEEK_END)
    if size < MARK_BYTES:
        return None
    file.seek(size - MARK_BYTES)
    tail = file.read()
    if tail[:2] != bytes((0xC4, MARK_BYTES - 2)) or not tail[2:].startswith(RENDERING):
        return None
    sizes = tail[2 + len(RENDERING) :]
    return int.from_bytes(sizes[:8], "big"), int.from_bytes(sizes[8:], "big")


def _mark_rendering(path: Path, header: _Header, notes: list[str]) -> tuple[int, int]:
    """Cut ``path`` after its last whole record and append the rendering mark: the text
    logs' sizes now, so a rendering cut short by a kill is undone and done again."""
    mark = _rendering_mark(path)
    if mark is not None:
        return mark
    end = _whole_records_end(path, notes)
    sizes = tuple(0 if p is None or not p.exists() else p.stat().st_size
                  for p in (header.govector, header.events))  # fmt: skip
    payload = RENDERING + sizes[0].to_bytes(8, "big") + sizes[1].to_bytes(8, "big")
    with open(path, "r+b") as file:
        file.truncate(end)
        file.seek(0, os.SEEK_END)
        file.write(bytes((0xC4, len(payload))) + payload)
    return sizes[0], sizes[1]


def _event(record: Any, node: str) -> tuple[str, float, dict[str, int], str, dict[str, Any]]:
    """``(kind, t, clock, text, fields)`` of one record, as the renderer takes them."""
    if type(record) is not list or not record:
        raise ValueError("not a record")
    tag = record[0]
    if tag == SEND:
        _, t, clock, peer, inc, seq, text = record
        logged = text if text is not None else f"send {node}:{inc}:{seq} to {peer}"
        return "send", t, clock, logged, {"to": peer, "id": [node, inc, seq]}
    if tag == DELIVER:
        _, t, clock, sender, inc, seq, msg_clock = record
        fields = {"id": [sender, inc, seq], "msg_clock": msg_clock, "from": sender}
        return "deliver", t, clock, f"deliver {sender}:{inc}:{seq} from {sender}", fields
    if tag == OTHER:
        _, t, ev, clock, text, fields = record
        if type(ev) is not str or type(fields) is not dict or type(text) is not str:
            raise ValueError("not a record")
        return ev, t, clock, text, fields
    raise ValueError(f"unknown record tag {tag!r}")


def _rendered(
    path: Path, notes: list[str], *, govector: bool, events: bool, opened: IO[bytes] | None = None
) -> Iterator[tuple[_Header, TextRenderer]]:
    """Render ``path``'s events, yielding the renderer every :data:`RENDER_BATCH` events and
    at the end (the caller takes and clears its lines); the header first."""
    before = len(notes)
    records = _records(path, notes, opened)
    raw = next(records, None)
    if raw is None and not any(UNREADABLE in note for note in notes[before:]):
        del notes[before:]  # a cut header: this one note says it all
        notes.append(f"{path}: {NOTHING_LOGGED}")
        return
    header = _Header(raw, path)
    renderer = TextRenderer(
        header.node,
        header.incarnation,
        govector=govector and header.govector is not None,
        events=events and header.events is not None,
    )
    count = 0
    for number, record in enumerate(records, 1):
        try:
            ev, t, clock, text, fields = _event(record, header.node)
            if type(clock) is not dict or type(t) is not float:
                raise ValueError("not a record")
            renderer.render(ev, t, clock, text, fields)
        except (ValueError, TypeError, AttributeError) as exc:
            notes.append(f"{path}: record {number} is not an event ({exc}), skipped")
            continue
        count += 1
        if count % RENDER_BATCH == 0:
            yield header, renderer
    yield header, renderer


def pending_lines(
    path: Path, notes: list[str], *, govector: bool, opened: IO[bytes] | None = None
) -> Iterator[str]:
    """The text lines of the pending file at ``path`` (``opened``: that file, already open):
    its GoVector log's (``govector``) or its event log's, each with its ``\\n``."""
    rendered = _rendered(path, notes, govector=govector, events=not govector, opened=opened)
    for _, renderer in rendered:
        lines = renderer.govector_lines if govector else renderer.jsonl_lines
        text = "".join(lines)
        lines.clear()
        yield from text.splitlines(keepends=True)


class _Capped(io.RawIOBase):
    """The first ``left`` bytes of a binary file."""

    def __init__(self, file: io.BufferedReader, left: int) -> None:
        super().__init__()
        self._file, self._left = file, left

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")[: self._left]
        if not view:
            return 0
        count = self._file.readinto(view) or 0
        self._left -= count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


class LogReading:
    """One consistent reading of a text log and the pending records that belong to it
    (``records``, from :func:`pending_for`; None: none), whatever the node does meanwhile.

    The records file is opened first and read through that one descriptor (a rendering that
    ends and removes it, or a next life that starts a new one, changes nothing here); then
    the text is taken up to its size at that moment, or, when a rendering of the records had
    begun (a node closing, or one killed while it rendered), up to the size in the
    rendering's mark: what a rendering appends is read from the records instead, once.
    """

    def __init__(self, log: Path, records: Path | None, *, govector: bool) -> None:
        self.log, self.records, self._govector = log, records, govector
        self._file: IO[bytes] | None = None
        if records is not None:
            try:
                self._file = open(records, "rb")  # noqa: SIM115 - closed by lines() or close()
            except FileNotFoundError:  # rendered and removed since: the text holds it all
                self.records = None
            except OSError as exc:
                raise ConfigError(
                    f"cannot read {records}: {exc.strerror}; check the run folder"
                ) from exc
        try:
            size: int | None = log.stat().st_size
        except OSError:
            size = None
        self.cap: int | None = None
        """How much of the text to read (None: all of it; no records)."""
        if self._file is not None:
            mark = _mark_in(self._file)
            self.cap = (size or 0) if mark is None else mark[0 if govector else 1]

    def text(self, errors: str = "strict") -> IO[str]:
        """The text log, open for reading up to :attr:`cap` (``OSError`` as ``open``)."""
        if self.cap is None:
            return open(self.log, encoding="utf-8", errors=errors, newline="\n")
        if self.cap == 0:  # no text before the records (the file may not exist)
            return io.StringIO("")
        raw = open(self.log, "rb")  # noqa: SIM115 - the wrapper closes it
        capped = io.BufferedReader(_Capped(raw, self.cap))
        return io.TextIOWrapper(capped, encoding="utf-8", errors=errors, newline="\n")

    def lines(self, notes: list[str]) -> Iterator[str]:
        """The records' lines, as the text will hold them (none without records)."""
        file, self._file = self._file, None
        if file is None or self.records is None:
            return iter(())
        return pending_lines(self.records, notes, govector=self._govector, opened=file)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _headerless(path: Path) -> bool:
    """True for a pending file without a whole first record that is no garbage either (what
    a kill leaves before or while the header is written)."""
    notes: list[str] = []
    records = _records(path, notes)
    try:
        first = next(records, None)
    finally:
        records.close()
    return first is None and not any(UNREADABLE in note for note in notes)


def _header_of(path: Path) -> _Header | None:
    try:
        return _Header(next(_records(path, []), None), path)
    except (ConfigError, OSError):
        return None


def pending_for(log_path: Path) -> Path | None:
    """The pending file whose records belong to the log at ``log_path``, if there is one:
    ``<log>.pending``, or another pending file in its folder whose header names the log
    (a GoVector log's records live beside the event log)."""
    own = log_path.with_name(log_path.name + PENDING_SUFFIX)
    if own.is_file():
        return own
    target = log_path.resolve()
    for candidate in sorted(log_path.parent.glob("*" + PENDING_SUFFIX)):
        header = _header_of(candidate)
        if header is not None and target in (
            None if p is None else p.resolve() for p in (header.govector, header.events)
        ):
            return candidate
    return None


def _append(path: Path | None, lines: list[str]) -> None:
    if path is None or not lines:
        return
    with open(path, "ab") as file:
        file.write("".join(lines).encode("utf-8", "backslashreplace"))
    lines.clear()


def finish_pending(path: Path, notes: list[str] | None = None) -> None:
    """Render the pending file at ``path`` into the text logs its header names (appended),
    then remove it. A file that is not a pending file raises :class:`ConfigError`.

    Safe to cut short (a kill) and call again: the file is first marked with the text
    logs' sizes, and a marked file's rendering starts by cutting them back to those.
    """
    for _ in finish_steps(path, notes):
        pass


def finish_steps(path: Path, notes: list[str] | None = None) -> Iterator[None]:
    """:func:`finish_pending` one step at a time: it yields after each
    :data:`RENDER_BATCH` events are appended to the text logs, so a caller on an event loop
    can let the loop run between steps. The file is removed after the last step; stopped
    before it, the file stays marked and the next :func:`finish_pending` completes it."""
    notes = [] if notes is None else notes
    if _headerless(path):
        notes.append(f"{path}: {NOTHING_LOGGED}, removed")
        path.unlink()
        return
    header = _header_of(path)
    if header is None:
        raise ConfigError(f"{path} is not a netclock pending file (version {VERSION}); remove it")
    sizes = _mark_rendering(path, header, notes)
    for text, size in zip((header.govector, header.events), sizes, strict=True):
        if text is not None and text.exists() and text.stat().st_size > size:
            os.truncate(text, size)  # what a rendering cut short had appended
    for _, renderer in _rendered(path, notes, govector=True, events=True):
        _append(header.govector, renderer.govector_lines)
        _append(header.events, renderer.jsonl_lines)
        yield
    path.unlink()
    for note in notes:
        log.info("%s", note)


def finish_run(folder: Path) -> list[str]:
    """:func:`finish_pending` every pending file in a run folder (nodes that were killed);
    returns the notes (a cut last record, a file that could not be read), also logged."""
    notes: list[str] = []
    for path in sorted(folder.glob("*" + PENDING_SUFFIX)):
        try:
            finish_pending(path, notes)
        except (ConfigError, OSError) as exc:
            notes.append(f"{path}: not rendered: {exc}")
            log.warning("%s", notes[-1])
    return notes
