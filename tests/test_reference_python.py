"""The suite against the Python reference: clean passes, every mutant is caught.

Each mutant breaks one behaviour. Its row below lists every check it must fail: the
checks that target it and, for a mutant that breaks trace correlation itself, the checks
that can no longer find the target's span. Every other check must still pass, so a check
that fails for unrelated reasons shows up here too.
"""
from __future__ import annotations

import pytest

from otelconform.registry import Level, load_catalog

REGISTRY = load_catalog()

from .conftest import PYTHON_REFERENCE, ROOT, TARGET_CHECKS
from .test_chains import CHAIN_EXPECTED_FAILURES
from .test_real_collector import BACKENDS_EXPECTED_FAILURES

# What losing the incoming context fails besides the outgoing checks: the propagation checks
# that find the target's span through the trace context the suite sent. The other checks that
# look for their span there are SKIPPED, naming PROP-001, and SHUT-001 finds its last call's
# span through that call's log record: one fault, one finding.
CORRELATED = {"PROP-001", "PROP-003", "PROP-005"}
OUTGOING = {"PROP-004", "PROP-005", "PROP-006", "PROP-007", "PROP-008", "PROP-009"}
# W3C vectors that need the incoming trace continued (a sampled one, or its tracestate kept).
CONTINUED = {"TC-004", "TC-006", "TC-007", "TC-009", "TS-002", "TS-004", "TS-005", "TS-008"}

EXPECTED_FAILURES = {
    # With the incoming context gone the outgoing call starts a new trace too, so tracestate,
    # baggage and the trace id are not forwarded: only the sampled flag survives.
    # The new trace it always starts also makes the manifest's TC-002 expectation pass, which
    # the manifest reports as an unexpected pass.
    "drop-incoming-context": CORRELATED | (OUTGOING - {"PROP-006"}) | CONTINUED | {"TC-002"},
    # The W3C vectors are skipped then (PROP-004 is the one finding), not failed.
    "no-outgoing-inject": OUTGOING,
    # A made-up parent also continues a trace the request did not bring, or brought invalid.
    "invent-parent": {"PROP-002", "TC-001", "TC-003", "TC-007", "TC-009", "TS-001"},
    "wrong-span-kind": {"SPAN-001"},
    "wrong-rpc-system": {"SPAN-003"},
    # A deadline or a cancellation is an outcome too: DEAD-001 and DEAD-003 see the same fault.
    "status-attr-ok": {"STAT-002", "DEAD-001", "DEAD-003"},
    "error-status-ok": {"STAT-003"},
    "drop-status-message": {"STAT-001"},
    "client-outcome-ok": {"STAT-004", "STAT-005"},
    "deadline-recorded-ok": {"DEAD-001"},
    "cancel-recorded-ok": {"DEAD-003"},
    "span-ends-early": {"SPAN-007"},
    "span-per-stream-message": {"SPAN-008"},
    "metric-code-ok": {"MET-003"},
    "duration-seconds-under-ms": {"MET-004"},
    "no-client-metric": {"MET-007"},
    # Deltas read as running totals: every check that counts calls sees the wrong count.
    "delta-labelled-cumulative": {"MET-002", "MET-003", "MET-004", "MET-005", "MET-007"},
    "no-service-version": {"RES-001"},
    "ignore-service-name": {"RES-002"},
    "log-without-context": {"LOG-001"},
    "log-foreign-resource": {"LOG-003"},
    "severity-shifted": {"LOG-005"},
    "log-time-in-microseconds": {"LOG-007"},
    "metrics-resource-differs": {"RES-003"},
    # The checks of the histogram's values skip when it is missing: MET-001 is the one finding.
    "metric-renamed": {"MET-001"},
    "duration-recorded-twice": {"MET-002", "MET-003"},
    "no-flush-on-exit": {"SHUT-001"},
    "metadata-as-attributes": {"SEC-001"},
    "ignore-client-certificate": {"TLS-001"},
    # opentelemetry-instrumentation-grpc 0.66b2 as shipped: leading '/' in span names, no metrics,
    # deadlines and cancellations recorded as OK.
    "stock": {"SPAN-002", "SPAN-004", "MET-001", "MET-007", "DEAD-001", "DEAD-003"},
    # W3C propagation bugs (reference_services/python/w3c_mutants.py). Repairing an unsampled
    # parent's traceparent makes it sampled, so PROP-003 and TC-004[unsampled] see a span.
    "lenient-traceparent": {"TC-001", "TC-004", "TC-009", "TS-001", "PROP-003"},
    "punctuation-blind-names": {"TC-003", "TS-007"},
    "inject-only-continued": {"TC-001", "TC-003", "TC-005", "TC-007", "TC-009", "TS-001"},
    "outgoing-parent-is-server-span": {"PROP-005", "PROP-009", "TC-007"},
    "tracestate-without-parent": {"TS-001"},
    "last-tracestate-wins": {"TS-002", "TS-008"},
    "lenient-tracestate": {"TS-003", "TS-006"},
    "baggage-limit-16": {"BAG-001"},
    "plus-for-space": {"BAG-002", "BAG-003", "BAG-007"},
    "drop-baggage-properties": {"BAG-003", "BAG-006", "BAG-007"},
    "last-baggage-wins": {"BAG-004"},
    # Configuration and exporter mutants (reference_services/python/config_mutants.py).
    "ignore-resource-attributes": {"ENV-001", "ENV-003"},
    "resource-attributes-over-service-name": {"ENV-002"},
    "ignore-propagators": {"ENV-020", "ENV-022"},
    "first-propagator-only": {"ENV-021"},
    "ignore-sdk-disabled": {"ENV-040"},
    "ignore-sampler": {"ENV-010", "ENV-011", "ENV-012", "ENV-013"},
    "ignore-sampler-ratio": {"ENV-012", "ENV-013"},
    # A ratio sampler keeps a sampled parent one time in four and an unsampled one too.
    "parent-ignored-by-ratio": {"ENV-014", "ENV-015"},
    "ignore-protocol": {"ENV-031"},
    "ignore-signal-endpoint": {"ENV-033"},
    "ignore-exporter-headers": {"ENV-034", "ENV-035"},
    "ignore-compression": {"ENV-036"},
    # Nothing is retried, so EXP-002 has no retry to judge (skipped).
    "no-export-retry": {"EXP-001", "EXP-006"},
    "retry-everything": {"EXP-003"},
    "retry-partial-success": {"EXP-004"},
}
# grpcio keeps one of repeated traceparent values, so this mutant lives in the grpclib
# reference, which sees every header.
ASYNC_EXPECTED_FAILURES = {"first-traceparent-wins": {"TC-002"}}
# The overhead check's mutant lives in the Go reference, the one fast and steady enough to be
# run forty times: tests/test_statistics.py proves it fails PERF-001 in 19 of 20 runs or more.
# tests/test_tls.py proves its TLS mutant fails TLS-002.
GO_EXPECTED_FAILURES = {"slow-when-instrumented": {"PERF-001"}, "skip-collector-verification": {"TLS-002"}}
# Mutants whose checks judge only with these options (and nothing else is worth running then).
MUTANT_RUNS = {"ignore-client-certificate": ("--collector-tls", "-k=tls_001")}


def test_clean_reference_passes_every_check(suite_runner):
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}")
    assert run.returncode == 0, run.output[-3000:]
    verdicts = run.verdicts()
    # Its manifest expects grpcio's collapsed duplicate traceparent; Level 2 vectors are skipped.
    assert verdicts.pop("TC-002[two-values]") == "EXPECTED_FAIL"
    # ...and the Python SDK's configuration gaps (no OTLP/JSON, the timeout read as seconds,
    # RetryInfo looked for in the wrong trailer).
    for gap in ("ENV-032", "ENV-037", "EXP-005"):
        assert verdicts.pop(gap) == "EXPECTED_FAIL", gap
    skipped = {k for k, v in verdicts.items() if v == "SKIPPED"}
    # TLS-* judge only with --collector-tls (tests/test_tls.py runs it).
    assert all(k.endswith("-level-2]") or k.startswith(("TC-008", "TLS-")) for k in skipped), skipped
    assert set(verdicts.values()) - {"SKIPPED"} == {"PASS"}, verdicts
    assert {row["id"] for row in run.findings} == TARGET_CHECKS, "every registered check ran"
    assert "conformance report" in run.output


def _is_configuration_check(check_id: str) -> bool:
    return bool(REGISTRY[check_id].configuration)


# A mutant of the main instance is judged by every check that runs on it. A configuration
# mutant is judged by every check of the configurations its own checks use (the other
# configurations do not set the variable it ignores): each configuration is another start-up
# of the Python reference, and twenty per run for every mutant would cost CI half an hour.
MAIN_INSTANCE_CHECKS = "-k=not env_ and not exp_ and not perf_"


def _selection(mutant: str) -> str:
    if not all(_is_configuration_check(c) for c in EXPECTED_FAILURES[mutant]):
        return MAIN_INSTANCE_CHECKS
    used = {REGISTRY[c].configuration for c in EXPECTED_FAILURES[mutant]}
    chosen = sorted(i for i, info in REGISTRY.items() if info.configuration in used)
    return "-k=" + " or ".join(i.lower().replace("-", "_") for i in chosen)


@pytest.mark.parametrize("mutant", sorted(EXPECTED_FAILURES))
def test_mutant_fails_exactly_its_checks(suite_runner, mutant):
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", "--telemetry-timeout=3",
                       *MUTANT_RUNS.get(mutant, (_selection(mutant),)), env={"CONFORMANCE_MUTANT": mutant})
    assert run.failing_ids() == EXPECTED_FAILURES[mutant], run.output[-4000:]
    must = any(REGISTRY[c].level is Level.MUST for c in EXPECTED_FAILURES[mutant])
    assert run.returncode == (1 if must else 0), "a MUST failure fails the run, a SHOULD failure does not"
    for check_id in run.failing_ids():
        assert run.verdicts().get(check_id, "x") != "ERROR"


@pytest.mark.parametrize("mutant", sorted(ASYNC_EXPECTED_FAILURES))
def test_grpclib_reference_mutant_fails_exactly_its_checks(suite_runner, mutant):
    run = suite_runner(f"--target-cmd={ROOT}/reference_services/python_async/run.sh", "--telemetry-timeout=3",
                       MAIN_INSTANCE_CHECKS, env={"CONFORMANCE_MUTANT": mutant})
    assert run.failing_ids() == ASYNC_EXPECTED_FAILURES[mutant], run.output[-4000:]
    assert run.returncode == 1, "a MUST failure fails the run"


def test_catalog_mutants_agree_with_matrix():
    """A check's killed_by names only mutants that really fail it here."""
    fails: dict[str, set[str]] = {}
    for matrix in (EXPECTED_FAILURES, ASYNC_EXPECTED_FAILURES, GO_EXPECTED_FAILURES, CHAIN_EXPECTED_FAILURES,
                   BACKENDS_EXPECTED_FAILURES):
        for mutant, checks in matrix.items():
            fails.setdefault(mutant, set()).update(checks)
    for info in REGISTRY.values():
        for mutant in info.killed_by:
            assert info.id in fails[mutant], (info.id, mutant)


def test_every_must_check_is_killed_by_a_mutant():
    killed = set().union(*EXPECTED_FAILURES.values(), *ASYNC_EXPECTED_FAILURES.values(),
                         *GO_EXPECTED_FAILURES.values(), *CHAIN_EXPECTED_FAILURES.values(),
                         *BACKENDS_EXPECTED_FAILURES.values())
    unkilled = {i for i, info in REGISTRY.items() if info.level is Level.MUST and i not in killed}
    assert not unkilled, f"MUST checks no mutant can fail: {sorted(unkilled)}"
