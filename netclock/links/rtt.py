"""Retransmission timeout estimation (RFC 6298), used by the perfect-link core.

The estimator only does arithmetic; the caller enforces Karn's rule by never feeding a
sample measured on a retransmitted message, calls :meth:`RttEstimator.back_off` when the
retransmission timer expires, and :meth:`RttEstimator.reset_backoff` on ack progress.

Under CPU contention (dozens of processes on two cores) a process is not run for tens or
hundreds of milliseconds, and a timeout measured in network round trips fires while the
ack is waiting in the socket, or before the peer was run at all. :class:`SchedulingDelay`
measures how late this process runs the timers it scheduled; shared by every peer's
estimator (:attr:`RttEstimator.scheduling`), it is a floor under every timeout.
"""

from __future__ import annotations

from netclock.errors import ConfigError

ALPHA = 1 / 8
"""Weight of a new sample in the smoothed RTT (RFC 6298)."""
BETA = 1 / 4
"""Weight of a new deviation in the RTT variation (RFC 6298)."""
K = 4
"""How many RTT variations the timeout allows above the smoothed RTT (RFC 6298)."""
SCHEDULING_FACTOR = 4.0
"""How many times the recent worst scheduling delay the timeout is at least: the peer is
scheduled as late as we are, and its ack then waits for us to run again."""
SCHEDULING_HALF_LIFE = 2.0
"""Seconds after which a measured scheduling delay counts half (the load went away)."""


class SchedulingDelay:
    """How late this process runs what it scheduled: a floor under retransmission timeouts.

    :meth:`observe` takes how late a timer ran (``now`` minus its deadline); the recent
    worst lateness decays by half every ``half_life`` seconds, and :attr:`floor` is
    ``factor`` times it, at most ``maximum``. Pure arithmetic with injected time.
    """

    __slots__ = ("_at", "factor", "floor", "half_life", "maximum", "peak")

    def __init__(
        self,
        factor: float = SCHEDULING_FACTOR,
        half_life: float = SCHEDULING_HALF_LIFE,
        maximum: float = 1.0,
    ) -> None:
        if factor < 0 or half_life <= 0 or maximum < 0:
            raise ConfigError(
                "scheduling delay: factor and maximum must not be negative, half_life positive"
            )
        self.factor = factor
        self.half_life = half_life
        self.maximum = maximum
        self.peak = 0.0
        """The recent worst lateness in seconds, decayed to the last observation."""
        self.floor = 0.0
        """The least retransmission timeout now: ``factor * peak``, at most ``maximum``."""
        self._at = 0.0

    def observe(self, late: float, now: float) -> None:
        """A timer due ``late`` seconds ago runs at ``now`` (a negative ``late`` counts 0)."""
        peak = self.peak
        if peak > 0.0 and now > self._at:
            peak *= 0.5 ** ((now - self._at) / self.half_life)
        peak = max(peak, late)
        self.peak = peak
        self._at = now
        floor = self.factor * peak
        self.floor = floor if floor < self.maximum else self.maximum


class RttEstimator:
    """Smoothed RTT, RTT variation and the retransmission timeout with exponential backoff.

    ``rto`` is always within ``[minimum, maximum]``. Before the first sample it is
    ``initial``; each :meth:`back_off` doubles it (capped at ``maximum``) until
    :meth:`reset_backoff` or a new sample. With :attr:`scheduling` set, the estimate is
    never below its :attr:`SchedulingDelay.floor` (backoff doubles from there).
    """

    __slots__ = (
        "_backoff",
        "_base_rto",
        "granularity",
        "maximum",
        "minimum",
        "rttvar",
        "scheduling",
        "srtt",
    )

    def __init__(
        self,
        initial: float = 0.05,
        minimum: float = 0.005,
        maximum: float = 1.0,
        granularity: float = 0.001,
    ) -> None:
        if not 0 < minimum <= maximum:
            raise ConfigError(
                f"rto_min ({minimum}) must be positive and at most rto_max ({maximum})"
            )
        if initial <= 0:
            raise ConfigError(f"rto_initial must be positive, not {initial}")
        if granularity < 0:
            raise ConfigError(f"timer granularity must not be negative, not {granularity}")
        self.minimum = minimum
        self.maximum = maximum
        self.granularity = granularity
        self.srtt: float | None = None
        """Smoothed round-trip time in seconds (``None`` until the first sample)."""
        self.rttvar: float | None = None
        """Round-trip time variation in seconds (``None`` until the first sample)."""
        self._base_rto = self._clamp(initial)
        self._backoff = 1
        self.scheduling: SchedulingDelay | None = None
        """The process's scheduling delay, shared by its estimators (None: no floor)."""

    def _clamp(self, value: float) -> float:
        return min(max(value, self.minimum), self.maximum)

    @property
    def rto(self) -> float:
        """The current retransmission timeout, backoff included, within [minimum, maximum]."""
        base = self.unbacked_rto
        if self._backoff == 1:
            return base
        return min(base * self._backoff, self.maximum)

    @property
    def unbacked_rto(self) -> float:
        """The estimated timeout without the backoff of expired timers (whatever expired
        them: a lost datagram, or acks the peer held back)."""
        base = self._base_rto
        scheduling = self.scheduling
        if scheduling is not None and scheduling.floor > base:
            base = min(scheduling.floor, self.maximum)
        return base

    @property
    def backed_off(self) -> bool:
        """True after a timeout and until the next sample or :meth:`reset_backoff`."""
        return self._backoff > 1

    def on_sample(self, rtt: float) -> None:
        """Take one RTT measurement (never from a retransmitted message: Karn's rule)."""
        if rtt < 0:
            rtt = 0.0
        srtt = self.srtt
        rttvar = self.rttvar
        if srtt is None or rttvar is None:
            srtt = rtt
            rttvar = rtt / 2
        else:
            rttvar = (1 - BETA) * rttvar + BETA * abs(srtt - rtt)
            srtt = (1 - ALPHA) * srtt + ALPHA * rtt
        self.srtt = srtt
        self.rttvar = rttvar
        rto = srtt + (K * rttvar if K * rttvar > self.granularity else self.granularity)
        if rto < self.minimum:
            rto = self.minimum
        elif rto > self.maximum:
            rto = self.maximum
        self._base_rto = rto
        self._backoff = 1

    def back_off(self) -> None:
        """The retransmission timer expired: double the timeout (capped at ``maximum``)."""
        if self.rto < self.maximum:
            self._backoff *= 2

    def reset_backoff(self) -> None:
        """An ack made progress: return to the estimated timeout."""
        self._backoff = 1
