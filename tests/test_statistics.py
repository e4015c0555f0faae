"""The statistical checks keep their stated false-alarm rate against a correct service, and
the overhead check its stated power.

ENV-012 and ENV-013 judge a sampler ratio from 400 root calls with an exact binomial test
at 1 in 10,000 (conformance/checks/test_sampling.py); twenty runs against the Go reference
(which starts in milliseconds) must raise no alarm. A correct service fails this test in
about 0.3 % of CI runs (40 judgements at 1 in 12,000 each).

PERF-001 (conformance/checks/test_overhead.py) may false-alarm in at most 1 of 20 runs
against the Go reference, and must fail in at least 19 of 20 against the Go reference's
mutant that makes every call 10 % slower while the SDK is on, each run within 30 s.
"""
from __future__ import annotations

import math

import random

from otelconform.checks.test_sampling import FALSE_ALARM_RATE, ROOT_CALLS, acceptance
from otelconform.overhead import estimate

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


def _overhead_runs(env: dict | None, suite_runner) -> list[tuple[str, float, str]]:
    runs = []
    for _ in range(RUNS):
        run = suite_runner(f"--target-cmd={GO_REFERENCE}", "--semconv=stable", "-k=perf_001", env=env)
        (row,) = [f for f in run.findings if f["id"] == "PERF-001"] or [None]
        assert row is not None, run.output[-2000:]
        runs.append((row["verdict"], run.seconds, row["message"]))
    return runs


def test_overhead_check_false_alarms_at_most_once_in_twenty_runs(suite_runner):
    runs = _overhead_runs(None, suite_runner)
    alarms = [message for verdict, _, message in runs if verdict != "PASS"]
    assert len(alarms) <= 1, alarms
    assert max(seconds for _, seconds, _ in runs) <= 30, runs


def test_overhead_check_catches_ten_percent_in_nineteen_of_twenty_runs(suite_runner):
    runs = _overhead_runs({"CONFORMANCE_MUTANT": "slow-when-instrumented"}, suite_runner)
    caught = [message for verdict, _, message in runs if verdict == "MISMATCH"]
    assert len(caught) >= 19, [message for verdict, _, message in runs if verdict != "MISMATCH"]
    assert max(seconds for _, seconds, _ in runs) <= 30, runs


def test_overhead_interval_covers_a_known_shift():
    rng = random.Random(7)
    baseline = [rng.lognormvariate(0, 0.2) for _ in range(400)]
    instrumented = [b * 1.08 * rng.lognormvariate(0, 0.05) for b in baseline]
    found = estimate(instrumented, baseline, 0.99)
    assert found.lower < 0.08 < found.upper
    assert abs(found.estimate - 0.08) < 0.01
    # Identical samples: no shift, and a one-sided interval around zero.
    same = estimate(baseline, baseline, 0.99)
    assert same.estimate == same.lower == same.upper == 0
