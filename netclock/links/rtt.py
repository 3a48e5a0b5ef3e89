"""Retransmission timeout estimation (RFC 6298), used by the perfect-link core.

The estimator only does arithmetic; the caller enforces Karn's rule by never feeding a
sample measured on a retransmitted message, calls :meth:`RttEstimator.back_off` when the
retransmission timer expires, and :meth:`RttEstimator.reset_backoff` on ack progress.
"""

from __future__ import annotations

from netclock.errors import ConfigError

ALPHA = 1 / 8
"""Weight of a new sample in the smoothed RTT (RFC 6298)."""
BETA = 1 / 4
"""Weight of a new deviation in the RTT variation (RFC 6298)."""
K = 4
"""How many RTT variations the timeout allows above the smoothed RTT (RFC 6298)."""


class RttEstimator:
    """Smoothed RTT, RTT variation and the retransmission timeout with exponential backoff.

    ``rto`` is always within ``[minimum, maximum]``. Before the first sample it is
    ``initial``; each :meth:`back_off` doubles it (capped at ``maximum``) until
    :meth:`reset_backoff` or a new sample.
    """

    __slots__ = ("_backoff", "_base_rto", "granularity", "maximum", "minimum", "rttvar", "srtt")

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

    def _clamp(self, value: float) -> float:
        return min(max(value, self.minimum), self.maximum)

    @property
    def rto(self) -> float:
        """The current retransmission timeout, backoff included, within [minimum, maximum]."""
        if self._backoff == 1:
            return self._base_rto
        return min(self._base_rto * self._backoff, self.maximum)

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
        if self._base_rto * self._backoff < self.maximum:
            self._backoff *= 2

    def reset_backoff(self) -> None:
        """An ack made progress: return to the estimated timeout."""
        self._backoff = 1
