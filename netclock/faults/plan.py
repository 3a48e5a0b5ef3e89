"""The fault plan: seeded network faults for every link of a cluster, as frozen values.

A :class:`FaultPlan` says what may go wrong and how often: loss, duplication, reordering
and delay (with per-direction :class:`LinkFaults` overrides) and scheduled
:class:`Partition` windows, all decided from one ``seed``. It is pure data: it holds no
cache and no state, compares and hashes by value, pickles, and round-trips through its
config form (``FaultPlan.from_dict(plan.to_dict()) == plan``). :meth:`FaultPlan.fate` is a
pure function of ``(seed, sender, receiver, key, attempt)`` for its random parts plus the
partition schedule at ``t`` (see :mod:`netclock.faults.fate` for the derivation).

A link does not ask the plan datagram by datagram: it holds a
:class:`~netclock.faults.injector.FaultInjector`, which resolves each direction once and
adds live partitions and counters.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netclock.clock import check_pid
from netclock.errors import ClockError, ConfigError, UsageError
from netclock.faults import config
from netclock.faults.delay import DelayModel, NoDelay, delay_from_config
from netclock.faults.fate import DirectionFates, Fate
from netclock.faults.omission import Omission, omissions_from_config

__all__ = ["DelayModel", "FaultPlan", "LinkFaults", "Partition"]
"""``DelayModel`` is here as the type of :attr:`FaultPlan.delay`; the models are in
:mod:`netclock.faults.delay`."""


@dataclass(frozen=True)
class Partition:
    """Datagrams ``a -> b`` (and ``b -> a`` unless ``one_way``) are dropped while
    ``start <= t < end``, with ``t`` in seconds since the plan's epoch.

    ``end=None`` means the partition never heals. A partition that starts and heals on
    command is live, not planned: see :meth:`FaultInjector.partition
    <netclock.faults.injector.FaultInjector.partition>`.
    """

    a: str
    b: str
    one_way: bool = False
    start: float = 0.0
    end: float | None = None

    def __post_init__(self) -> None:
        config.node_id(self.a, "Partition.a")
        config.node_id(self.b, "Partition.b")
        if self.a == self.b:
            raise ConfigError(f"Partition needs two different nodes, not {self.a!r} twice")
        config.boolean(self.one_way, "Partition.one_way")
        object.__setattr__(self, "start", config.time_point(self.start, "Partition.start"))
        if self.end is not None:
            end = config.time_point(self.end, "Partition.end")
            if end <= self.start:
                raise ConfigError(
                    f"Partition.end ({end}) must be after start ({self.start}); "
                    "leave end out for a partition that never heals"
                )
            object.__setattr__(self, "end", end)

    def blocks(self, sender: str, receiver: str) -> bool:
        """True when this partition cuts the direction ``sender -> receiver`` (at some time)."""
        if sender == self.a and receiver == self.b:
            return True
        return not self.one_way and sender == self.b and receiver == self.a

    def active(self, t: float) -> bool:
        """True when the partition is in force at ``t`` seconds since the epoch."""
        return self.start <= t and (self.end is None or t < self.end)

    def to_dict(self) -> dict[str, Any]:
        """The config-table form (``between``); ``end`` is left out when it never heals."""
        table: dict[str, Any] = {
            "between": [self.a, self.b],
            "one_way": self.one_way,
            "start": self.start,
        }
        if self.end is not None:
            table["end"] = self.end
        return table


_PARTITION_KEYS = ("between", "groups", "one_way", "start", "end")


def _partitions_from_config(value: object, name: str) -> tuple[Partition, ...]:
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{name} must be a list of tables, not {config.describe(value)}")
    result: list[Partition] = []
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if isinstance(item, Partition):
            result.append(item)
            continue
        table = config.table(item, where)
        config.check_keys(table, _PARTITION_KEYS, where)
        start = config.time_point(table.get("start", 0.0), f"{where}.start")
        end = None if "end" not in table else config.time_point(table["end"], f"{where}.end")
        if end is not None and end <= start:
            raise ConfigError(
                f"{where}.end ({end}) must be after {where}.start ({start}); "
                "leave end out for a partition that never heals"
            )
        one_way = config.boolean(table.get("one_way", False), f"{where}.one_way")
        if ("between" in table) == ("groups" in table):
            raise ConfigError(
                f"{where} needs exactly one of between = [a, b] or groups = [[...], ...]"
            )
        if "between" in table:
            pair = table["between"]
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ConfigError(
                    f"{where}.between must be a list of two node ids, not {config.describe(pair)}"
                )
            a = config.node_id(pair[0], f"{where}.between[0]")
            b = config.node_id(pair[1], f"{where}.between[1]")
            if a == b:
                raise ConfigError(f"{where}.between must name two different nodes, not {a!r} twice")
            result.append(Partition(a, b, one_way, start, end))
            continue
        if one_way:
            raise ConfigError(f"{where}.one_way is only allowed with between, not with groups")
        groups = _groups_from_config(table["groups"], f"{where}.groups")
        for i, group in enumerate(groups):
            for other in groups[i + 1 :]:
                result.extend(Partition(a, b, False, start, end) for a in group for b in other)
    return tuple(result)


def _groups_from_config(value: object, name: str) -> list[list[str]]:
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise ConfigError(
            f"{name} must be a list of at least two lists of node ids, not {config.describe(value)}"
        )
    seen: set[str] = set()
    groups: list[list[str]] = []
    for i, group in enumerate(value):
        if not isinstance(group, list | tuple) or not group:
            raise ConfigError(
                f"{name}[{i}] must be a non-empty list of node ids, not {config.describe(group)}"
            )
        members = [config.node_id(member, f"{name}[{i}][{j}]") for j, member in enumerate(group)]
        for member in members:
            if member in seen:
                raise ConfigError(f"{name} lists node {member!r} in more than one group")
            seen.add(member)
        groups.append(members)
    return groups


@dataclass(frozen=True)
class LinkFaults:
    """Overrides of a plan's parameters for one direction of one link; ``None`` inherits."""

    loss: float | None = None
    duplicate: float | None = None
    reorder: float | None = None
    reorder_delay: float | None = None
    delay: DelayModel | None = None

    def __post_init__(self) -> None:
        for key in ("loss", "duplicate", "reorder"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, config.probability(value, f"LinkFaults.{key}"))
        if self.reorder_delay is not None:
            object.__setattr__(
                self,
                "reorder_delay",
                config.seconds(self.reorder_delay, "LinkFaults.reorder_delay"),
            )
        if self.delay is not None and not isinstance(self.delay, DelayModel):
            raise ConfigError(
                f"LinkFaults.delay must be a DelayModel, not {config.describe(self.delay)}"
            )

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], *, name: str = "link") -> LinkFaults:
        """Read an override table such as ``{loss = 0.3}``; raises ConfigError naming the key."""
        table = config.table(table, name)
        config.check_keys(table, _LINK_KEYS, name)
        return cls(
            loss=config.probability(table["loss"], f"{name}.loss") if "loss" in table else None,
            duplicate=(
                config.probability(table["duplicate"], f"{name}.duplicate")
                if "duplicate" in table
                else None
            ),
            reorder=config.probability(table["reorder"], f"{name}.reorder")
            if "reorder" in table
            else None,
            reorder_delay=(
                config.seconds(table["reorder_delay"], f"{name}.reorder_delay")
                if "reorder_delay" in table
                else None
            ),
            delay=delay_from_config(table["delay"], f"{name}.delay") if "delay" in table else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Only the overridden keys, in config form."""
        table: dict[str, Any] = {}
        for key in ("loss", "duplicate", "reorder", "reorder_delay"):
            value = getattr(self, key)
            if value is not None:
                table[key] = value
        if self.delay is not None:
            table["delay"] = self.delay.to_dict()
        return table


_LINK_KEYS = ("loss", "duplicate", "reorder", "reorder_delay", "delay")
_PLAN_KEYS = (
    "seed",
    "loss",
    "duplicate",
    "reorder",
    "reorder_delay",
    "delay",
    "partitions",
    "links",
    "omission",
)


def _link_name(key: object, name: str) -> list[tuple[str, str]]:
    """``"a->b"`` is one direction, ``"a<->b"`` both."""
    if isinstance(key, str):
        for arrow, both in (("<->", True), ("->", False)):
            if key.count(arrow) == 1 and (both or "<->" not in key):
                left, _, right = key.partition(arrow)
                a = config.node_id(left.strip(), f"{name} key {key!r}")
                b = config.node_id(right.strip(), f"{name} key {key!r}")
                return [(a, b), (b, a)] if both else [(a, b)]
    raise ConfigError(
        f"{name} key {config.describe(key)} must name a direction as 'sender->receiver' "
        "(or 'a<->b' for both directions)"
    )


def _links_from_config(value: object, name: str) -> dict[tuple[str, str], LinkFaults]:
    table = config.table(value, name)
    links: dict[tuple[str, str], LinkFaults] = {}
    for key, overrides in table.items():
        where = f'{name}."{key}"'
        parsed = LinkFaults.from_dict(config.table(overrides, where), name=where)
        for direction in _link_name(key, name):
            if direction in links:
                raise ConfigError(f"{name} sets {direction[0]}->{direction[1]} more than once")
            links[direction] = parsed
    return links


# -- the plan ----------------------------------------------------------------------------
@dataclass(frozen=True)
class FaultPlan:
    """Seeded network faults for every link of a cluster; a frozen value.

    Probabilities apply per datagram and independently: ``loss`` drops it, ``duplicate``
    sends it twice, ``reorder`` adds ``reorder_delay`` to a copy so later datagrams pass it,
    and ``delay`` delays each copy. A lost datagram is never duplicated. ``partitions`` cut
    directions for a time window; ``links`` overrides parameters per direction, keyed by
    ``(sender, receiver)``. ``omission`` maps a node id to its process omission faults
    (:mod:`netclock.faults.omission`).
    """

    seed: int = 0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.002
    delay: DelayModel = field(default_factory=NoDelay)
    partitions: tuple[Partition, ...] = ()
    links: Mapping[tuple[str, str], LinkFaults] = field(
        default_factory=lambda: types.MappingProxyType({}), hash=False
    )
    omission: Mapping[str, Omission] = field(
        default_factory=lambda: types.MappingProxyType({}), hash=False
    )

    def __post_init__(self) -> None:
        config.seed(self.seed, "FaultPlan.seed")
        for key in ("loss", "duplicate", "reorder"):
            object.__setattr__(
                self, key, config.probability(getattr(self, key), f"FaultPlan.{key}")
            )
        object.__setattr__(
            self, "reorder_delay", config.seconds(self.reorder_delay, "FaultPlan.reorder_delay")
        )
        if not isinstance(self.delay, DelayModel):
            raise ConfigError(
                f"FaultPlan.delay must be a DelayModel such as UniformDelay(0.001, 0.005), "
                f"not {config.describe(self.delay)}"
            )
        partitions = tuple(self.partitions)
        for partition in partitions:
            if not isinstance(partition, Partition):
                raise ConfigError(
                    "FaultPlan.partitions must hold Partition values, "
                    f"not {config.describe(partition)}"
                )
        object.__setattr__(self, "partitions", partitions)
        if not isinstance(self.links, Mapping):
            raise ConfigError(
                f"FaultPlan.links must be a mapping, not {config.describe(self.links)}"
            )
        links: dict[tuple[str, str], LinkFaults] = {}
        for direction, overrides in self.links.items():
            if not isinstance(direction, tuple) or len(direction) != 2:
                raise ConfigError(
                    "FaultPlan.links keys must be (sender, receiver) pairs, "
                    f"not {config.describe(direction)}"
                )
            for node in direction:
                if "->" in config.node_id(node, "FaultPlan.links key"):
                    raise ConfigError(f"FaultPlan.links node id {node!r} must not contain '->'")
            if not isinstance(overrides, LinkFaults):
                raise ConfigError(
                    f"FaultPlan.links values must be LinkFaults, not {config.describe(overrides)}"
                )
            links[direction] = overrides
        object.__setattr__(self, "links", types.MappingProxyType(links))
        if not isinstance(self.omission, Mapping):
            raise ConfigError(
                f"FaultPlan.omission must be a mapping, not {config.describe(self.omission)}"
            )
        omission = omissions_from_config(dict(self.omission), "FaultPlan.omission")
        object.__setattr__(self, "omission", types.MappingProxyType(omission))

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            FaultPlan,
            (
                self.seed,
                self.loss,
                self.duplicate,
                self.reorder,
                self.reorder_delay,
                self.delay,
                self.partitions,
                dict(self.links),
                dict(self.omission),
            ),
        )

    # -- deciding -------------------------------------------------------------------------
    @property
    def is_quiet(self) -> bool:
        """True when no datagram on any link can be lost, duplicated, delayed or cut off."""
        if self.partitions or any(not o.is_quiet for o in self.omission.values()):
            return False
        params = [self._params(None), *(self._params(o) for o in self.links.values())]
        return all(
            loss == 0.0
            and duplicate == 0.0
            and (reorder == 0.0 or reorder_delay == 0.0)
            and delay.is_zero
            for loss, duplicate, reorder, reorder_delay, delay in params
        )

    def _params(
        self, overrides: LinkFaults | None
    ) -> tuple[float, float, float, float, DelayModel]:
        """Loss, duplicate, reorder, reorder delay and delay, with ``overrides`` applied."""
        if overrides is None:
            return self.loss, self.duplicate, self.reorder, self.reorder_delay, self.delay
        o = overrides
        return (
            self.loss if o.loss is None else o.loss,
            self.duplicate if o.duplicate is None else o.duplicate,
            self.reorder if o.reorder is None else o.reorder,
            self.reorder_delay if o.reorder_delay is None else o.reorder_delay,
            self.delay if o.delay is None else o.delay,
        )

    def windows(self, sender: str, receiver: str) -> tuple[tuple[float, float], ...]:
        """The ``(start, end)`` windows of the partitions cutting ``sender -> receiver``.

        Times are seconds since the epoch; ``end`` is ``math.inf`` for a partition that
        never heals. In the order of :attr:`partitions`.
        """
        return tuple(
            (p.start, math.inf if p.end is None else p.end)
            for p in self.partitions
            if p.blocks(sender, receiver)
        )

    def direction(self, sender: str, receiver: str) -> DirectionFates:
        """The fates of ``sender -> receiver``, resolved: keep it to decide many datagrams.

        Raises UsageError for a malformed node id.
        """
        for node in (sender, receiver):
            try:
                check_pid(node)
            except ClockError as exc:
                raise UsageError(f"fault plan asked about a bad node id: {exc}") from None
        loss, duplicate, reorder, reorder_delay, delay = self._params(
            self.links.get((sender, receiver))
        )
        return DirectionFates(
            self.seed,
            sender,
            receiver,
            loss=loss,
            duplicate=duplicate,
            reorder=reorder,
            reorder_delay=reorder_delay,
            delay=delay,
            windows=self.windows(sender, receiver),
        )

    def fate(
        self, sender: str, receiver: str, key: tuple[int | str, ...], attempt: int, t: float
    ) -> Fate:
        """Decide what happens to the datagram ``key`` (transmission ``attempt``) at ``t``.

        The random parts depend only on ``(seed, sender, receiver, key, attempt)``; ``t``
        (seconds since the plan's epoch) only selects the partitions in force. Key elements
        must be ints or strs. The caller chooses the key: a fair-loss datagram uses its
        sequence number; a batch of several messages should use something that identifies
        the batch, such as ``(first_seq, transmission_count)``, so that every retransmission
        gets a fresh, independent fate and the same run replays identically.

        This resolves the direction on every call; to decide many datagrams keep
        :meth:`direction` (or use a :class:`~netclock.faults.injector.FaultInjector`).
        """
        return self.direction(sender, receiver).fate(key, attempt, t)

    def partitioned(self, sender: str, receiver: str, t: float) -> bool:
        """True when a partition cuts ``sender -> receiver`` at ``t``."""
        return any(start <= t < end for start, end in self.windows(sender, receiver))

    # -- configuration --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, table: Mapping[str, Any], *, name: str = "faults") -> FaultPlan:
        """Read a plan from a config table (for example the ``[faults]`` table of a cluster file).

        ``name`` prefixes every error message, so a mistake reads like
        ``faults.delay.kind must be one of none, fixed, uniform, exponential, not 'gauss'``.
        A partition is ``{between = ["a", "b"], one_way = false, start = 2.0, end = 5.0}`` or
        ``{groups = [["a", "b"], ["c"]]}`` (every pair across groups, both ways); ``links``
        maps ``"a->b"`` (one direction) or ``"a<->b"`` (both) to override tables.
        """
        table = config.table(table, name)
        config.check_keys(table, _PLAN_KEYS, name)
        return cls(
            seed=config.seed(table.get("seed", 0), f"{name}.seed"),
            loss=config.probability(table.get("loss", 0.0), f"{name}.loss"),
            duplicate=config.probability(table.get("duplicate", 0.0), f"{name}.duplicate"),
            reorder=config.probability(table.get("reorder", 0.0), f"{name}.reorder"),
            reorder_delay=config.seconds(
                table.get("reorder_delay", 0.002), f"{name}.reorder_delay"
            ),
            delay=(
                delay_from_config(table["delay"], f"{name}.delay")
                if "delay" in table
                else NoDelay()
            ),
            partitions=_partitions_from_config(table.get("partitions", []), f"{name}.partitions"),
            links=_links_from_config(table.get("links", {}), f"{name}.links"),
            omission=omissions_from_config(table.get("omission", {}), f"{name}.omission"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The config-table form: ``FaultPlan.from_dict(plan.to_dict()) == plan``.

        Group partitions come back as their ``between`` pairs, and each direction of a
        ``"a<->b"`` link as its own ``"a->b"`` entry.
        """
        return {
            "seed": self.seed,
            "loss": self.loss,
            "duplicate": self.duplicate,
            "reorder": self.reorder,
            "reorder_delay": self.reorder_delay,
            "delay": self.delay.to_dict(),
            "partitions": [p.to_dict() for p in self.partitions],
            "links": {f"{s}->{r}": o.to_dict() for (s, r), o in self.links.items()},
            **(
                {"omission": {n: o.to_dict() for n, o in self.omission.items()}}
                if self.omission
                else {}
            ),
        }
