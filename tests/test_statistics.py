"""The statistical checks keep their stated false-alarm rate against a correct service.

ENV-012 and ENV-013 judge a sampler ratio from 400 root calls with an exact binomial test
at 1 in 10,000 (conformance/checks/test_sampling.py); twenty runs against the Go reference
(which starts in milliseconds) must raise no alarm. A correct service fails this test in
about 0.3 % of CI runs (40 judgements at 1 in 12,000 each).
"""
from __future__ import annotations

import math

from otelconform.checks.test_sampling import FALSE_ALARM_RATE, ROOT_CALLS, acceptance

from .conftest import ROOT

GO_REFERENCE = ROOT / "reference_services" / "go" / "run.sh"
RUNS = 20


def _probability(n: int, k: int, p: float) -> float:
    return math.comb(n, k) * p ** k * (1 - p) ** (n - k)


def test_the_acceptance_interval_has_the_stated_false_alarm_rate():
    low, high = acceptance(ROOT_CALLS, 0.25, FALSE_ALARM_RATE)
    outside = 1 - sum(_probability(ROOT_CALLS, k, 0.25) for k in range(low, high + 1))
    assert outside <= FALSE_ALARM_RATE
    # ...and no narrower: one more count on either side would exceed half the rate.
    assert sum(_probability(ROOT_CALLS, k, 0.25) for k in range(0, low + 1)) > FALSE_ALARM_RATE / 2
    assert sum(_probability(ROOT_CALLS, k, 0.25) for k in range(high, ROOT_CALLS + 1)) > FALSE_ALARM_RATE / 2


def test_ratio_checks_raise_no_false_alarm_in_twenty_runs(suite_runner):
    alarms = []
    for _ in range(RUNS):
        run = suite_runner(f"--target-cmd={GO_REFERENCE}", "--semconv=stable", "-k=env_012 or env_013")
        verdicts = run.verdicts()
        assert set(verdicts) == {"ENV-012", "ENV-013"}, run.output[-2000:]
        alarms += [(check, run.output[-1500:]) for check, verdict in verdicts.items() if verdict != "PASS"]
    assert not alarms, alarms[0]
