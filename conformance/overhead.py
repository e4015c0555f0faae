"""How much latency instrumentation adds, estimated from interleaved pairs of calls.

Each pair is one call to the instrumented service and one to the same service started with
``OTEL_SDK_DISABLED=true``, made back to back (in alternating order), so that whatever slows
the machine for a moment slows both. The statistic of a pair is the log of its latency
ratio; the estimate is the Hodges-Lehmann median of those, with a confidence interval from
the Wilcoxon signed-rank test (normal approximation, exact enough from 50 pairs on). Rank
statistics, because latencies have long tails: one stalled call moves a mean, not a median.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Overhead:
    pairs: int
    estimate: float  # relative: 0.03 is 3 % slower instrumented
    lower: float  # the one-sided lower confidence bound at ``confidence``
    upper: float  # the one-sided upper bound at ``confidence``
    confidence: float
    instrumented_us: float  # median latency of the instrumented calls
    baseline_us: float  # ... and of the calls with the SDK disabled

    def describe(self) -> str:
        return (f"{self.estimate:+.1%} ({self.confidence:.0%} one-sided bounds {self.lower:+.1%} .. "
                f"{self.upper:+.1%}; median {self.instrumented_us:.0f} µs instrumented, {self.baseline_us:.0f} µs "
                f"with OTEL_SDK_DISABLED=true, {self.pairs} interleaved pairs)")


def estimate(instrumented: list[float], baseline: list[float], confidence: float) -> Overhead:
    """The overhead of ``instrumented`` over ``baseline`` latencies, paired by position."""
    if len(instrumented) != len(baseline) or len(instrumented) < 2:
        raise ValueError("overhead needs at least two pairs of latencies, paired by position")
    if min(instrumented + baseline) <= 0:
        raise ValueError("latencies must be positive")
    logs = [math.log(a / b) for a, b in zip(instrumented, baseline)]
    n = len(logs)
    walsh = sorted((logs[i] + logs[j]) / 2 for i in range(n) for j in range(i, n))
    # The k-th smallest Walsh average bounds the median from below at the test's level.
    z = statistics.NormalDist().inv_cdf(confidence)
    k = max(0, math.floor(n * (n + 1) / 4 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24)))
    return Overhead(n, math.expm1(statistics.median(walsh)), math.expm1(walsh[k]), math.expm1(walsh[-1 - k]),
                    confidence, statistics.median(instrumented) * 1e6, statistics.median(baseline) * 1e6)
