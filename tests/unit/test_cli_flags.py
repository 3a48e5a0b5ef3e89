"""The ``netclock`` command's global flags: ``--version``, and ``-v``/``-q`` anywhere."""

from __future__ import annotations

import logging

import pytest

from netclock import __version__
from netclock.cli.main import _log_level, main


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"netclock {__version__}"


@pytest.mark.parametrize(
    ("argv", "rest", "level"),
    [
        (["demo", "pingpong"], ["demo", "pingpong"], logging.WARNING),
        (["-v", "demo", "pingpong"], ["demo", "pingpong"], logging.DEBUG),
        (["demo", "pingpong", "-v"], ["demo", "pingpong"], logging.DEBUG),
        (["check", "--verbose", "runs/x"], ["check", "runs/x"], logging.DEBUG),
        (["run", "c.toml", "-q"], ["run", "c.toml"], logging.ERROR),
        (["-v", "run", "-q", "c.toml"], ["run", "c.toml"], logging.ERROR),
        (["run", "--", "-v"], ["run", "--", "-v"], logging.WARNING),
    ],
)
def test_verbose_and_quiet_are_taken_wherever_they_stand(
    argv: list[str], rest: list[str], level: int
) -> None:
    assert _log_level(argv) == (rest, level)


def test_a_flag_after_the_sub_command_no_longer_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "-v"]) == 0
    assert "pingpong" in capsys.readouterr().out
