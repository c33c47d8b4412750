"""The retransmission timer of RFC 6298."""

from __future__ import annotations

__all__ = ["RtoEstimator"]


class RtoEstimator:
    """SRTT, RTTVAR and RTO from RTT samples (RFC 6298 §2), with exponential back-off (§5.5)."""

    def __init__(self, initial: float, minimum: float, maximum: float) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.base = initial
        self.backoffs = 0

    @property
    def rto(self) -> float:
        """The current timeout, backed off once per unanswered retransmission."""
        return min(self.base * 2.0**self.backoffs, self.maximum)

    def sample(self, rtt: float) -> None:
        """Take a measured round trip (never of a retransmitted segment: Karn's rule)."""
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.base = min(max(self.srtt + max(0.001, 4 * self.rttvar), self.minimum), self.maximum)
        self.backoffs = 0

    def back_off(self) -> None:
        """Double the timeout after a retransmission timed out."""
        self.backoffs += 1

    def reset_backoff(self) -> None:
        """New data was acknowledged: the path works again (RFC 6298 §5.7 keeps the base)."""
        self.backoffs = 0
