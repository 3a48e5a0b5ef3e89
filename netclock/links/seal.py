"""Sealed datagrams: the sans-IO core of the ``sealed`` link ("authenticate and filter").

Every datagram between two members is sealed with ChaCha20-Poly1305 under a key that only
that ordered pair of nodes can compute, so a receiver accepts a datagram only if the
claimed sender sealed it for this receiver, unmodified, and never accepted it before
(textbook AL1-AL3 once the perfect link runs on top). Byte layout (docs/wire.md, "Sealed
datagrams")::

    0x53 | id_len:u8 | sender id (UTF-8) | incarnation:u64 | salt:16 | counter:u64 | ciphertext+tag

Everything before the ciphertext is the AEAD's associated data; the nonce is four zero
bytes and the counter. The key is ``HKDF-SHA256(ikm=pair secret, salt=salt, info=label,
cluster, sender, receiver)``: the pair secret comes from ECDH between the two nodes'
certificate keys (:mod:`netclock.links.seal_keys`), and ``salt`` is drawn at random when a
sender starts. So every start of a process seals under a key of its own and its counter
may begin at 1 again: nonces never repeat across restarts, with or without saved state,
even when an incarnation number is reused (a logged link keeps its stream's).

The receiver keeps, per peer, the salt and incarnation it last authenticated and a window
of the counters it accepted. It refuses a datagram from a stranger, one that does not
authenticate, a counter it accepted before or one too old for the window, a salt it has
retired, and a new salt with an older incarnation than the one it knows. A new salt
becomes current only once a datagram under it authenticates, so an attacker's headers
change nothing. Refusals raise :class:`SealRefused` naming the counter to bump.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from netclock.errors import AuthenticationError

__all__ = ["FORMAT", "REPLAY_WINDOW", "SealRefused", "Sealer", "overhead"]

FORMAT = 0x53
"""The first byte of a sealed datagram (``S``, format version 1)."""
LABEL = b"netclock sealed datagram v1"
"""The HKDF context label: a key for this purpose is never a key for another."""
SALT_BYTES = 16
TAG_BYTES = 16
REPLAY_WINDOW = 4096
"""How many counters below the highest accepted one are still told apart (reordering room)."""
RETIRED_SALTS = 16
"""Salts of a peer's earlier starts remembered per peer (their datagrams are replays)."""
_TAIL = struct.Struct("!Q16sQ")
_MASK = (1 << REPLAY_WINDOW) - 1
_NONCE_PAD = b"\x00\x00\x00\x00"


def overhead(node_id: str) -> int:
    """Bytes sealing adds to a datagram sent by ``node_id``."""
    return 2 + len(node_id.encode()) + _TAIL.size + TAG_BYTES


class SealRefused(AuthenticationError):
    """A datagram the sealed link refused; ``counter`` names the statistic it counts under."""

    def __init__(self, counter: str, reason: str, source: str | None = None) -> None:
        super().__init__(reason)
        self.counter = counter
        self.source = source


def derive_key(secret: bytes, salt: bytes, cluster: str, sender: str, receiver: str) -> bytes:
    """The 32-byte key for datagrams from ``sender`` to ``receiver`` under ``salt``."""
    info = LABEL
    for name in (cluster, sender, receiver):
        raw = name.encode()
        info += len(raw).to_bytes(1, "big") + raw
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


@dataclass(slots=True)
class _Inbound:
    """What the receiver knows of one peer's current start."""

    peer: str
    secret: bytes
    salt: bytes = b""
    aead: ChaCha20Poly1305 | None = None
    incarnation: int = -1
    top: int = 0
    seen: int = 0
    retired: deque[bytes] = field(default_factory=lambda: deque(maxlen=RETIRED_SALTS))


class Sealer:
    """Seals this node's datagrams and opens its peers': one per node, sans-IO.

    ``secret_for(peer)`` returns the pair secret (the same bytes on both sides); it is
    called once per :meth:`add_peer`. ``salt`` is this start's random salt (injectable for
    tests only: a salt must never be reused with the same pair secret).
    """

    def __init__(
        self,
        node_id: str,
        incarnation: int,
        cluster: str,
        secret_for: Callable[[str], bytes],
        *,
        salt: bytes | None = None,
    ) -> None:
        raw_id = node_id.encode()
        if not 0 < len(raw_id) < 256:
            raise AuthenticationError(f"node id {node_id!r} cannot be sealed (1-255 bytes)")
        self.node_id = node_id
        self.cluster = cluster
        self._secret_for = secret_for
        self._salt = os.urandom(SALT_BYTES) if salt is None else salt
        self._head = (
            bytes((FORMAT, len(raw_id))) + raw_id + _TAIL.pack(incarnation, self._salt, 0)[:-8]
        )
        """Every header of this start up to its counter."""
        self._counter = 0
        self._outbound: dict[str, ChaCha20Poly1305] = {}
        self._inbound: dict[bytes, _Inbound] = {}
        """Per peer, by its id's UTF-8 bytes (as a datagram names it)."""

    @property
    def peers(self) -> frozenset[str]:
        return frozenset(self._outbound)

    def add_peer(self, peer: str) -> None:
        """Derive the keys for ``peer`` (a no-op when they exist already)."""
        if peer in self._outbound:
            return
        secret = self._secret_for(peer)
        key = derive_key(secret, self._salt, self.cluster, self.node_id, peer)
        self._outbound[peer] = ChaCha20Poly1305(key)
        self._inbound[peer.encode()] = _Inbound(peer, secret)

    def remove_peer(self, peer: str) -> None:
        """Forget ``peer``'s keys and replay state: its datagrams are refused from now on."""
        self._outbound.pop(peer, None)
        self._inbound.pop(peer.encode(), None)

    def seal(self, peer: str, plaintext: bytes) -> bytes:
        """``plaintext`` sealed for ``peer`` (KeyError for a peer never added)."""
        aead = self._outbound[peer]
        self._counter = counter = self._counter + 1
        tail = counter.to_bytes(8, "big")
        header = self._head + tail
        return header + aead.encrypt(_NONCE_PAD + tail, plaintext, header)

    def open(self, data: bytes) -> tuple[str, bytes]:
        """``(sender, plaintext)`` of a datagram sealed for this node, or SealRefused."""
        if len(data) < 2 or data[0] != FORMAT:
            raise SealRefused("bad_datagrams", "not a sealed datagram")
        end = 2 + data[1]
        if len(data) < end + _TAIL.size + TAG_BYTES:
            raise SealRefused("bad_datagrams", "sealed datagram too short")
        state = self._inbound.get(data[2:end])
        if state is None:
            try:
                stranger = data[2:end].decode()
            except UnicodeDecodeError:
                raise SealRefused("bad_datagrams", "sender id is not UTF-8") from None
            raise SealRefused("unknown_peer", "not a member this node knows", stranger)
        sender = state.peer
        incarnation, salt, counter = _TAIL.unpack_from(data, end)
        aead = state.aead
        if salt != state.salt:
            if salt in state.retired:
                raise SealRefused("replayed", "from an earlier start of the peer", sender)
            if incarnation < state.incarnation:
                raise SealRefused("replayed", "from an older incarnation", sender)
            key = derive_key(state.secret, salt, self.cluster, sender, self.node_id)
            aead = ChaCha20Poly1305(key)
        else:
            if incarnation != state.incarnation:
                raise SealRefused("forged", "incarnation changed under one key", sender)
            offset = state.top - counter
            if offset >= REPLAY_WINDOW:
                raise SealRefused("replayed", "counter older than the replay window", sender)
            if offset >= 0 and (state.seen >> offset) & 1:
                raise SealRefused("replayed", "counter accepted before", sender)
        assert aead is not None
        header_end = end + _TAIL.size
        try:
            plaintext = aead.decrypt(
                _NONCE_PAD + data[header_end - 8 : header_end], data[header_end:], data[:header_end]
            )
        except InvalidTag:
            raise SealRefused("forged", "does not authenticate", sender) from None
        if aead is not state.aead:
            if state.salt:
                state.retired.append(state.salt)
            state.salt, state.aead, state.incarnation = salt, aead, incarnation
            state.top, state.seen = counter, 1
            return sender, plaintext
        offset = state.top - counter
        if offset < 0:
            state.seen = ((state.seen << -offset) | 1) & _MASK if -offset < REPLAY_WINDOW else 1
            state.top = counter
        else:
            state.seen |= 1 << offset
        return sender, plaintext
