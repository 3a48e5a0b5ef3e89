"""Large messages in flight: what the sender keeps of a message sent in pieces until the
receiver has answered for all of it.

Sans-IO (no asyncio, no sockets). A large message (:mod:`netclock.links.segments`) is many
messages of a peer's session, and the ack of one piece says nothing about the whole. The
sender keeps each large message here, from its first piece until its last is
acknowledged, so that nothing acknowledged is lost without the sender hearing of it:

* a refusal of the first piece (the receiver's ``max_message`` is smaller, or the clock is
  out of its scope) comes back with the whole payload, not the first piece's bytes, and
  the pieces not yet sent are not sent;
* a receiver that restarts as a new process after acknowledging some pieces (its earlier
  process had them; the new one cannot join the rest) hands the message back as a
  failure with a reason. A message none of whose pieces was acknowledged before the
  restart is not cut: the session resends it whole to the new process.

Memory: a reference to each large message's payload until its last piece is acknowledged
(the sender's application usually holds it anyway).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LargeInFlight", "cut_reason"]


def cut_reason(peer: str) -> str:
    """The failure reason of a large message a restart of ``peer`` cut in two."""
    return (
        f"{peer} restarted as a new process while this message was in pieces: its earlier "
        "process acknowledged the first pieces, the new one cannot join the rest"
    )


class LargeInFlight:
    """One peer's large messages not yet wholly acknowledged, by their first sequence number."""

    __slots__ = ("_messages",)

    def __init__(self) -> None:
        self._messages: dict[int, list[Any]] = {}
        """first seq -> [payload, last seq (0 while pieces are still to be sent)]."""

    def __bool__(self) -> bool:
        return bool(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def started(self, first_seq: int, payload: Any, last_seq: int = 0) -> None:
        """A large message went out from ``first_seq`` (its last piece ``last_seq``, 0 while
        some pieces are still to be handed to the session)."""
        self._messages[first_seq] = [payload, last_seq]

    def all_sent(self, first_seq: int, last_seq: int) -> None:
        """Every piece of message ``first_seq`` is in the session; the last is ``last_seq``."""
        entry = self._messages.get(first_seq)
        if entry is not None:
            entry[1] = last_seq

    def take(self, first_seq: int) -> tuple[bool, Any]:
        """Forget message ``first_seq`` (refused or given up): ``(True, payload)`` if it was
        a large message in flight, else ``(False, None)``."""
        entry = self._messages.pop(first_seq, None)
        return (False, None) if entry is None else (True, entry[0])

    def settle(self, base: int, restart_base: int) -> list[tuple[int, Any]]:
        """Forget the messages wholly acknowledged (every piece below ``base``) and return,
        as ``(first seq, payload)``, those a restart of the peer cut: the peer was met as a
        new process when our base was ``restart_base``, after it had acknowledged the first
        piece (``first < restart_base``) and before the last (``restart_base <= last``)."""
        cut: list[tuple[int, Any]] = []
        for first, (payload, last) in list(self._messages.items()):
            if first < restart_base and (last == 0 or restart_base <= last):
                del self._messages[first]
                cut.append((first, payload))
            elif last and last < base:
                del self._messages[first]
        return cut
