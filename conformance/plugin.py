"""pytest plugin: options, the suite fixture and the conformance report.

``pytest --target=host:port`` checks a running service that exports to the suite's
collector; ``pytest --target-cmd "<command>"`` starts the service itself with the OTLP
environment pointed at the collector. Either way, with no test paths on the command
line, the built-in checks are collected.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.downstream import DownstreamServer
from otelconform_fixtures.target import LaunchedTarget, TargetError, wait_until_serving

from .client import TargetClient
from .profiles import PROFILES, Profile, get_profile
from .registry import REGISTRY, CheckInfo, Level, info_for
from .verdicts import CheckFailure

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
FAIL_ON = ("must", "should", "may", "none")


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "gRPC/OpenTelemetry conformance")
    group.addoption("--target", metavar="HOST:PORT",
                    help="check a running service; it must export OTLP to the suite's collector "
                         "(--otlp-port, default 4317 in this mode)")
    group.addoption("--target-cmd", metavar="COMMAND",
                    help="start the service with this shell command ({port} and $PORT give its "
                         "port; OTEL_* variables point it at the suite's collector)")
    group.addoption("--otlp-port", type=int, default=None,
                    help="port of the fake collector's OTLP/gRPC receiver (default: ephemeral "
                         "with --target-cmd, 4317 with --target)")
    group.addoption("--otlp-http-port", type=int, default=None,
                    help="port of the OTLP/HTTP receiver (default: ephemeral with --target-cmd, "
                         "4318 with --target)")
    group.addoption("--otlp-protocol", default="grpc", choices=("grpc", "http/protobuf", "http/json"),
                    help="OTEL_EXPORTER_OTLP_PROTOCOL given to a launched target (default grpc)")
    group.addoption("--semconv", default="seed", choices=PROFILES,
                    help="semantic-convention profile the target is checked against (default seed)")
    group.addoption("--service-name", default="conformance-target",
                    help="OTEL_SERVICE_NAME given to a launched target")
    group.addoption("--telemetry-timeout", type=float, default=10.0,
                    help="seconds to wait for expected telemetry (default 10)")
    group.addoption("--call-timeout", type=float, default=5.0,
                    help="deadline of each call the suite makes to the target (default 5)")
    group.addoption("--ready-timeout", type=float, default=30.0,
                    help="seconds a launched target has to report SERVING (default 30)")
    group.addoption("--fail-on", default="must", choices=FAIL_ON,
                    help="lowest check level whose failure fails the run (default must)")
    group.addoption("--findings", metavar="FILE", help="write the per-check findings as JSON")


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance(id): a conformance check with a catalog ID")
    wants_target = config.getoption("--target") or config.getoption("--target-cmd")
    if wants_target and config.getoption("--target") and config.getoption("--target-cmd"):
        raise pytest.UsageError("give either --target or --target-cmd, not both")
    if wants_target and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(CHECKS_DIR)]
    config.stash[_RESULTS] = {}


_RESULTS = pytest.StashKey[dict]()


@dataclass
class Suite:
    """Everything a check needs: the collector, the downstream, the target and how to judge it."""

    collector: FakeCollector
    downstream: DownstreamServer
    client: TargetClient
    profile: Profile
    telemetry_timeout: float
    service_name: str | None  # known only when the suite launched the target
    launched: LaunchedTarget | None = None
    protocol: str = "grpc"
    notes: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def suite(request):
    config = request.config
    address, command = config.getoption("--target"), config.getoption("--target-cmd")
    if not address and not command:
        pytest.skip("no target: run with --target=HOST:PORT or --target-cmd=COMMAND")
    launch = bool(command)
    grpc_port = config.getoption("--otlp-port")
    http_port = config.getoption("--otlp-http-port")
    collector = FakeCollector(grpc_port=grpc_port if grpc_port is not None else (0 if launch else 4317))
    collector.start()
    collector.start_http(http_port if http_port is not None else (0 if launch else 4318))
    downstream = DownstreamServer().start()
    protocol = config.getoption("--otlp-protocol")
    launched = None
    try:
        if launch:
            env = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint("grpc" if protocol == "grpc" else "http"),
                "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
                "OTEL_SERVICE_NAME": config.getoption("--service-name"),
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_BLRP_SCHEDULE_DELAY": "100",
                "OTEL_METRIC_EXPORT_INTERVAL": "500",
            }
            # Let the target's own exporter settings come from us, not the caller's shell.
            for key in [k for k in os.environ if k.startswith("OTEL_")]:
                env.setdefault(key, os.environ[key])
            launched = LaunchedTarget(command, env).start(config.getoption("--ready-timeout"))
            address = launched.address
        else:
            wait_until_serving(address, config.getoption("--ready-timeout"))
    except TargetError as exc:
        downstream.stop()
        collector.stop()
        pytest.fail(f"TARGET_ERROR: {exc}", pytrace=False)
    client = TargetClient(address, config.getoption("--call-timeout"))
    the_suite = Suite(collector, downstream, client, get_profile(config.getoption("--semconv")),
                      config.getoption("--telemetry-timeout"),
                      config.getoption("--service-name") if launch else None, launched, protocol)
    config.stash[_SUITE] = the_suite
    yield the_suite
    client.close()
    if launched is not None:
        launched.stop()
    downstream.stop()
    collector.stop()


_SUITE = pytest.StashKey[Suite]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    info = info_for(item)
    if info is None:
        return report
    results = item.config.stash[_RESULTS]
    if report.when == "call" or report.outcome != "passed":
        if report.passed:
            verdict, message = "PASS", ""
        elif report.skipped:
            verdict, message = "SKIPPED", _skip_reason(report)
        else:
            exc = call.excinfo.value if call.excinfo else None
            if isinstance(exc, CheckFailure):
                verdict, message = exc.verdict, str(exc)
            elif exc is not None and "TARGET_ERROR" in str(exc):
                verdict, message = "TARGET_ERROR", str(exc).replace("TARGET_ERROR: ", "", 1)
            else:
                verdict = "ERROR"
                message = f"{type(exc).__name__}: {exc}" if exc else report.longreprtext[-300:]
            if not _gates(item.config, info):
                report.outcome = "skipped"
                report.wasxfail = f"{info.level.value} check not gating (--fail-on={item.config.getoption('--fail-on')})"
        results[item.nodeid] = {"id": info.id, "level": info.level.value, "verdict": verdict,
                                "signal": info.signal, "title": info.title, "spec": info.spec,
                                "message": message, "nodeid": item.nodeid}
    return report


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def _gates(config, info: CheckInfo) -> bool:
    fail_on = config.getoption("--fail-on")
    if fail_on == "none":
        return False
    return info.level.rank <= Level(fail_on.upper()).rank


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config.stash.get(_RESULTS, {})
    if not results:
        return
    suite = config.stash.get(_SUITE, None)
    tw = terminalreporter
    tw.section("conformance report")
    if suite is not None:
        mode = f"launched: {suite.launched.command}" if suite.launched else f"attached: {suite.client.address}"
        tw.line(f"target {mode}; semconv profile '{suite.profile.name}' (semconv {suite.profile.semconv}); "
                f"OTLP transports seen: {', '.join(sorted({e.transport for e in suite.collector.exports()})) or 'none'}")
    rows = sorted(results.values(), key=lambda r: (r["id"], r["nodeid"]))
    width = max(len(_label(r)) for r in rows)
    for r in rows:
        reason = (r["message"] or "").strip().splitlines()[0][:160] if r["message"] else ""
        tw.line(f"{_label(r):<{width}}  {r['level']:<6}  {r['verdict']:<12}  {reason}")
    counts = {}
    for r in rows:
        counts[(r["level"], r["verdict"] == "PASS")] = counts.get((r["level"], r["verdict"] == "PASS"), 0) + 1
    summary = ", ".join(f"{lvl}: {counts.get((lvl, True), 0)} passed, {counts.get((lvl, False), 0)} not"
                        for lvl in ("MUST", "SHOULD", "MAY") if (lvl, True) in counts or (lvl, False) in counts)
    tw.line(summary)
    findings = config.getoption("--findings")
    if findings:
        Path(findings).write_text(json.dumps(rows, indent=2) + "\n")


def _label(row: dict) -> str:
    param = row["nodeid"].partition("[")[2].rstrip("]")
    return f"{row['id']}[{param}]" if param else row["id"]
