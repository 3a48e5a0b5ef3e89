"""What a failed program's FAILED line says: the error's first line, never an empty one."""

from __future__ import annotations

import asyncio

from netclock.cluster.control import error_line


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_an_error_with_a_message_gives_its_type_and_first_line() -> None:
    assert error_line(_raised(ValueError("bad value\nmore"))) == "ValueError: bad value"


def test_an_error_without_a_message_says_where_it_happened() -> None:
    text = error_line(_raised(KeyError()))
    assert text.startswith("KeyError (no message) at test_control_errors.py:")
    assert text.endswith(" in _raised")


def test_a_timeout_from_asyncio_points_at_the_program_not_at_asyncio() -> None:
    async def program() -> None:
        async with asyncio.timeout(0):
            await asyncio.Event().wait()

    async def run() -> BaseException:
        try:
            await program()
        except TimeoutError as exc:
            return exc
        raise AssertionError("no timeout")

    text = error_line(asyncio.run(run()))
    assert text.startswith("TimeoutError (no message) at test_control_errors.py:")
    assert text.endswith(" in program")
