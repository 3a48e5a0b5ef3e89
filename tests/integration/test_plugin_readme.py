"""The README's example test runs as written, in a fresh pytest run (strict mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Testing your own distributed code"


def readme_example() -> str:
    """The first Python block of the README's testing section."""
    section = README.read_text(encoding="utf-8").split(HEADING, 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_is_short_and_complete() -> None:
    example = readme_example()
    assert len(example.strip().splitlines()) < 20
    assert "def test_" in example


@pytest.mark.slow
def test_the_readme_example_passes_as_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_readme=readme_example())
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    result.assert_outcomes(passed=1)
