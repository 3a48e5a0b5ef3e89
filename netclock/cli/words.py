"""Counted nouns for what the command line prints: ``1 process``, ``2 processes``."""

from __future__ import annotations

_IRREGULAR = {"process": "processes", "copy": "copies", "entry": "entries"}


def count(n: int, noun: str) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1."""
    if n == 1:
        return f"1 {noun}"
    return f"{n} {_IRREGULAR.get(noun, noun + 's')}"
