"""Regression tests for verdicts that used to be wrong: each against a small target written to
misbehave in one way (tests/bad_target/otel_target.py, BAD_TARGET_FAULTS), or against a
situation a user runs into (a stolen port, xdist, an option written with a space).

Every test asserts the precise verdict of the checks concerned and that every other check
still passes, so a fault yields its one finding and nothing else.
"""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from otelconform.profiles import SERVER_ERROR_CODES

from .conftest import OTEL_TARGET, PYTHON_REFERENCE, TARGET_CHECKS

FAST = ("--telemetry-timeout=3", "--call-timeout=3", "--ready-timeout=10")
STATUS_CODES = [c.name for c in grpc.StatusCode if c != grpc.StatusCode.OK]


# The faults below are of the main instance; the checks that start instances of their own
# (configuration checks) run in the baseline only, which keeps each fault's run short.
MAIN_INSTANCE_CHECKS = "-k=not env_ and not exp_ and not perf_"


def _faulty(suite_runner, faults: str, *args: str, every_check: bool = False):
    selection = () if every_check or not faults or any(a.startswith("-k") for a in args) else (MAIN_INSTANCE_CHECKS,)
    return suite_runner(f"--target-cmd={OTEL_TARGET}", *FAST, *selection, *args, env={"BAD_TARGET_FAULTS": faults})


def _not_passing(run) -> dict[str, str]:
    """Instances that did not pass, besides Level 2 vectors (skipped at Level 1) and grpcio's
    collapsed duplicate traceparent, which the Python manifest expects of this grpcio target."""
    return {k: v for k, v in run.verdicts().items() if v not in ("PASS", "SKIPPED", "EXPECTED_FAIL")}


def _message(run, label: str) -> str:
    return next(r["message"] for r in run.findings
                if r["id"] == label.split("[")[0] and (f"[{label.split('[')[1]}" if "[" in label else "")
                in r["nodeid"])


def test_hand_instrumented_target_passes_everything(suite_runner):
    """The baseline every fault below departs from by exactly one behaviour."""
    run = _faulty(suite_runner, "")
    assert run.returncode == 0 and _not_passing(run) == {}, run.output[-3000:]
    assert {row["id"] for row in run.findings} == TARGET_CHECKS


@pytest.mark.parametrize("faults", ["clock-skew", "clock-skew-back"])
def test_a_skewed_target_clock_changes_no_verdict(suite_runner, faults):
    """The skew is one finding of its own, with the offset measured; no other check moves."""
    run = _faulty(suite_runner, faults)
    assert _not_passing(run) == {"SPAN-006": "MISMATCH"}, run.output[-3000:]
    message = _message(run, "SPAN-006")
    offset = float(message.split("timestamps are ")[1].split(" s ")[0])
    assert abs(offset - 5400) < 5, message  # 90 minutes, measured
    assert ("ahead of" if faults == "clock-skew" else "behind") in message


@pytest.mark.parametrize("faults", ["reroot-unsampled", "clock-skew,reroot-unsampled"])
def test_an_unsampled_call_recorded_as_a_new_root_is_caught_whatever_the_clock(suite_runner, faults):
    run = _faulty(suite_runner, faults)
    # The outgoing call of an unsampled request left its trace too: TC-004 and the generated
    # TC-009 see that on the downstream, as PROP-003 sees the exported span.
    expected = {"PROP-003": "MISMATCH", "TC-004[unsampled]": "MISMATCH", "TC-009": "MISMATCH"}
    if "clock-skew" in faults:
        expected["SPAN-006"] = "MISMATCH"  # the skew's own finding, once
    assert _not_passing(run) == expected, run.output[-3000:]
    assert "whose parent is unsampled" in _message(run, "PROP-003")


def test_a_prefixed_span_name_is_only_the_naming_checks_finding(suite_runner):
    run = _faulty(suite_runner, "span-name-prefix")
    assert _not_passing(run) == {"SPAN-002": "MISMATCH"}, run.output[-3000:]
    assert "grpc.conformance.v1.Conformance/Echo" in _message(run, "SPAN-002")


def test_a_target_without_fail_is_a_target_error_naming_fail(suite_runner):
    run = _faulty(suite_runner, "no-fail")
    expected = {f"{check}[{code}]": "TARGET_ERROR" for check in ("STAT-001", "STAT-002", "STAT-003")
                for code in STATUS_CODES}
    expected |= {f"STAT-006[{code.name}]": "TARGET_ERROR" for code in SERVER_ERROR_CODES}
    expected["MET-003"] = "TARGET_ERROR"  # it counts Fail calls by code
    assert _not_passing(run) == expected, run.output[-3000:]
    message = _message(run, "STAT-003[INTERNAL]")
    assert "contract method Fail" in message and "UNIMPLEMENTED" in message, message
    assert "docs/target-contract.md" in message


def test_a_span_exported_twice_is_only_the_export_checks_finding(suite_runner):
    run = _faulty(suite_runner, "export-twice")
    assert _not_passing(run) == {"SPAN-005": "MISMATCH"}, run.output[-3000:]
    assert "exported more than once" in _message(run, "SPAN-005")


def test_a_client_span_under_the_incoming_parent_is_named_as_such(suite_runner):
    run = _faulty(suite_runner, "client-under-incoming")
    assert _not_passing(run) == {"PROP-005": "MISMATCH", "SPAN-004": "MISMATCH"}, run.output[-3000:]
    message = _message(run, "SPAN-004")
    assert "the client span hangs off the incoming parent, not off the server span" in message, message


def test_a_server_answering_cancelled_at_the_deadline_enforces_it(suite_runner):
    """tonic answers CANCELLED when a call's deadline passes: the deadline is enforced, and a
    span recording CANCELLED agrees with the answer (no TARGET_ERROR, no MISMATCH)."""
    run = _faulty(suite_runner, "deadline-cancelled", "-k", "dead_00")
    assert run.verdicts() == {"DEAD-001": "PASS", "DEAD-002": "PASS", "DEAD-003": "PASS"}, run.output[-3000:]


def test_a_legal_tracestate_update_passes_and_a_reordering_does_not(suite_runner):
    legal = _faulty(suite_runner, "tracestate-update-own", "-k", "prop_007")
    assert legal.verdicts() == {"PROP-007": "PASS"}, legal.output[-3000:]
    illegal = _faulty(suite_runner, "tracestate-reorder", "-k", "prop_007")
    assert illegal.verdicts() == {"PROP-007": "MISMATCH"}, illegal.output[-3000:]
    assert "order" in illegal.findings[0]["message"]


def test_missing_otlp_logs_fail_the_otlp_log_checks_once_and_not_the_stdout_check(suite_runner):
    run = _faulty(suite_runner, "no-otlp-logs")
    failing = _not_passing(run)
    severities = {f"LOG-005[{name}]" for name in ("DEBUG", "INFO", "WARN", "ERROR")}
    assert set(failing) == {"LOG-001", "LOG-002", "LOG-003", "LOG-007"} | severities, run.output[-3000:]
    # LOG-006 judges the severity text of LOG-005's records: none, so nothing to judge.
    assert {k for k, v in run.verdicts().items() if k.startswith("LOG-006")} and all(
        v == "SKIPPED" for k, v in run.verdicts().items() if k.startswith("LOG-006"))
    assert set(failing.values()) == {"NO_TELEMETRY"}
    # One diagnosis for the session; the other log checks point at it instead of waiting.
    checks = {key.partition("[")[0] for key in failing}
    messages = [r["message"] for r in run.findings if r["id"] in checks and r["verdict"] != "SKIPPED"]
    assert sum("not waited for again" in m for m in messages) == len(messages) - 1, messages
    assert "traces and metrics arrive, so the endpoint is right" in run.output
    assert "OTEL_BLRP_SCHEDULE_DELAY=50 (the SDK's default is 1 s)" in run.output  # a slow pace looks alike


def test_a_target_exporting_the_wrong_protocol_gets_one_diagnosis(suite_runner):
    run = _faulty(suite_runner, "otlp-http")
    verdicts = run.verdicts()
    telemetry = [k for k, v in verdicts.items() if v == "NO_TELEMETRY"]
    assert len(telemetry) >= 25, verdicts
    assert all(v in ("PASS", "NO_TELEMETRY", "SKIPPED", "EXPECTED_FAIL") for v in verdicts.values()), verdicts
    assert verdicts["SHUT-001"] == "NO_TELEMETRY"  # an exit in time proves no flush
    # The diagnosis is written once per signal; every other wait for that signal points at it.
    waited = {r["id"]: r["message"] for r in run.findings if "export arrived within" in r["message"]
              and "not waited for again" not in r["message"] and r["verdict"] != "SKIPPED"}
    assert len(waited) <= 3, {k: v[:70] for k, v in waited.items()}
    waited = list(waited.values())
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc" in waited[0] and "OTLP/HTTP exporter pointed at the gRPC port" \
        in waited[0], waited[0]
    assert "diagnosis (traces):" in run.output


@pytest.mark.parametrize("faults, expected", [
    ("ignore-sigterm", "did not exit within 10s of SIGTERM"),
    ("no-flush-on-exit", "never arrived"),
])
def test_shutdown_is_judged(suite_runner, faults, expected):
    run = _faulty(suite_runner, faults, "-k", "shut_001 or prop_001")
    assert run.verdicts() == {"SHUT-001": "MISMATCH", "PROP-001": "PASS"}, run.output[-3000:]
    assert expected in run.findings[[r["id"] for r in run.findings].index("SHUT-001")]["message"]


@pytest.mark.parametrize("faults, missing", [
    ("no-contract", "does not implement the conformance contract"),
    ("no-health", "grpc.health.v1"),
])
def test_a_service_that_cannot_be_checked_is_one_session_error(suite_runner, faults, missing):
    run = _faulty(suite_runner, faults, every_check=True)
    assert run.returncode == 6  # the target could not be checked: not a conformance failure
    # Every check is listed, none of them run: the report still covers the whole catalog.
    assert set(run.verdicts().values()) == {"TARGET_ERROR"}, run.verdicts()
    assert {row["id"] for row in run.findings} == TARGET_CHECKS
    assert run.output.count("ERROR at setup") == 1, run.output  # shown once, then the run stops
    assert missing in run.meta["session_error"] and "docs/target-contract.md" in run.meta["session_error"]
    assert "session error: " + run.meta["session_error"] in run.output


def test_a_stolen_collector_port_is_a_usage_error_naming_the_holder(suite_runner):
    thief = grpc.server(futures.ThreadPoolExecutor(1))  # SO_REUSEPORT on, as grpcio defaults
    port = thief.add_insecure_port("127.0.0.1:0")
    thief.start()
    try:
        run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--otlp-port={port}", *FAST)
    finally:
        thief.stop(0)
    assert run.returncode == 4, run.output[-2000:]
    assert f"127.0.0.1:{port}: the port is in use" in run.output
    assert "held by pid" in run.output and "pytest" in run.output


def test_xdist_gives_the_same_report_and_findings_as_a_serial_run(suite_runner):
    serial = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", *FAST)
    parallel = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", *FAST, "-n", "2")
    assert serial.returncode == parallel.returncode == 0, parallel.output[-3000:]

    def essence(run):
        return sorted((r["nodeid"], r["id"], r["level"], r["verdict"], r["title"], r["spec"]) for r in run.findings)

    assert essence(parallel) == essence(serial), [d for d in essence(parallel) if d not in essence(serial)]
    assert {row["id"] for row in serial.findings} == TARGET_CHECKS

    def report(run):
        lines = run.output.split("conformance report", 1)[1].splitlines()
        return [line for line in lines if line.split()[:1] and line.split()[0][:4] in
                ("PROP", "SPAN", "STAT", "RES-", "LOG-", "MET-", "OTLP", "SHUT", "MUST")]

    assert report(parallel) == report(serial)


def test_attach_mode_under_xdist_is_refused(suite_runner):
    run = suite_runner("--target=127.0.0.1:1", "-n", "2")
    assert run.returncode == 4 and "only one of them can listen on a fixed OTLP port" in run.output


def test_target_cmd_with_a_space_does_not_move_the_rootdir(suite_runner, tmp_path):
    spaced = suite_runner("--target-cmd", PYTHON_REFERENCE, "-k", "prop_001", *FAST)
    joined = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", "-k", "prop_001", *FAST)
    assert spaced.verdicts() == joined.verdicts() == {"PROP-001": "PASS"}, spaced.output[-2000:]
    # Node ids are relative to the rootdir: equal ids mean the same rootdir (the working directory).
    assert [r["nodeid"] for r in spaced.findings] == [r["nodeid"] for r in joined.findings]
