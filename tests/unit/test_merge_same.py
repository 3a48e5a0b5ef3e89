"""The fast merge of our own GoVector logs gives what the general merge gives, byte for byte.

``merge_logs`` copies the lines of logs exactly as our writers leave them and parses and
renders everything else; each case here merges a generated run (loss, duplicates, kills)
with one edit both ways and compares the merged files, the problems and the errors.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from netclock.errors import ConfigError
from netclock.observe import shiviz
from netclock.observe.pending import PendingWriter, pending_path
from netclock.observe.shiviz import merge_logs
from netclock.tools.synthetic import write_synthetic_run


def _merge(logs: list[Path], out: Path) -> tuple[str, list[str] | str]:
    try:
        problems: list[str] | str = merge_logs(logs, out)
    except ConfigError as exc:
        problems = f"ConfigError: {exc}"
    text = out.read_text(encoding="utf-8") if out.exists() else "<no file>"
    return text, problems


def _both(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object, bool]:
    """(fast result, general result, whether the fast merge took the logs)."""
    logs = sorted(p for p in folder.glob("*.log") if not p.name.startswith("merged"))
    took = shiviz._fast_merge(logs, folder / "probe.log") is not None
    (folder / "probe.log").unlink(missing_ok=True)
    fast = _merge(logs, folder / "merged-fast.log")
    with monkeypatch.context() as patch:
        patch.setattr(shiviz, "_fast_merge", lambda files, out: None)
        general = _merge(logs, folder / "merged-general.log")
    return fast, general, took


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _edit_line(index_of: Callable[[list[str], random.Random], int], new: Callable[[str], str]):
    def edit(path: Path, rng: random.Random) -> None:
        lines = _lines(path)
        i = index_of(lines, rng)
        lines[i] = new(lines[i])
        path.write_text("".join(lines), encoding="utf-8")

    return edit


def _clock_line(lines: list[str], rng: random.Random) -> int:
    return 2 * rng.randrange(len(lines) // 2)


def _event_line(lines: list[str], rng: random.Random) -> int:
    return 2 * rng.randrange(len(lines) // 2) + 1


def _bump_own(line: str) -> str:
    host, _, clock = line.partition(" ")
    key = f'"{host}":'
    at = clock.index(key) + len(key)
    end = at
    while clock[end].isdigit():
        end += 1
    return f"{host} {clock[:at]}{int(clock[at:end]) + 1}{clock[end:]}"


def _cut(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: rng.randrange(len(data) // 2, len(data))])


EDITS: dict[str, Callable[[Path, random.Random], None] | None] = {
    "none": None,
    "own entry bumped": _edit_line(_clock_line, _bump_own),
    "claims beyond the log": _edit_line(
        _clock_line, lambda line: line.replace("}\n", ', "zz":99999}\n')
    ),
    "claims an id before its own": _edit_line(
        _clock_line, lambda line: line.replace(" {", ' {"a0":999999, ', 1)
    ),
    "no space after a comma": _edit_line(_clock_line, lambda line: line.replace(", ", ",")),
    "space inside": _edit_line(_clock_line, lambda line: line.replace(":", ": ", 1)),
    "a zero": _edit_line(_clock_line, lambda line: line.replace("}\n", ', "zz":0}\n')),
    "a float": _edit_line(_clock_line, lambda line: line.replace("}\n", ', "zz":1.0}\n')),
    "too large": _edit_line(_clock_line, lambda line: line.replace("}\n", f', "zz":{2**64}}}\n')),
    "not a clock": _edit_line(_clock_line, lambda line: line.replace("{", "[", 1)),
    "two clocks on a line": _edit_line(
        _clock_line, lambda line: line.replace("}\n", '}, {"zz":1}\n')
    ),
    "carriage return in a text": _edit_line(_event_line, lambda line: "a\rb " + line),
    "line separator in a text": _edit_line(_event_line, lambda line: "a\u2028b " + line),
    "blank line between events": _edit_line(_event_line, lambda line: line + "\n"),
    "a cut log": _cut,
    "another host's line": _edit_line(_clock_line, lambda line: "zz " + line.partition(" ")[2]),
}


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_the_fast_merge_gives_what_the_general_merge_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str, seed: int
) -> None:
    run = write_synthetic_run(
        tmp_path,
        nodes=3 + seed,
        events=1500,
        govector=True,
        loss=0.05,
        duplicates=0.05,
        kills=seed - 1,
        seed=seed,
    )
    change = EDITS[edit]
    if change is not None:
        rng = random.Random(seed)
        change(tmp_path / f"{rng.choice(run.nodes)}.log", rng)
    fast, general, took = _both(tmp_path, monkeypatch)
    assert fast == general
    if edit == "none":
        assert took
        assert fast[1] == []


def test_a_log_with_records_pending_merges_the_general_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_synthetic_run(tmp_path, nodes=3, events=300, govector=True)
    events, govector = tmp_path / "n1.events.jsonl", tmp_path / "n1.log"
    writer = PendingWriter(pending_path(govector, events), "n1", 2, govector, events)
    writer.pack((2, 1.0, "init", {"n1": 1}, "init", {"link": "fairloss"}))
    writer.close()
    fast, general, took = _both(tmp_path, monkeypatch)
    assert not took
    assert fast == general
