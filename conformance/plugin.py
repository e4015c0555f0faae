"""pytest plugin: options, the suite fixture and the conformance report.

``pytest --target=host:port`` checks a running service that exports to the suite's
collector; ``pytest --target-cmd "<command>"`` starts the service itself with the OTLP
environment pointed at the collector; ``pytest --replay FILE`` re-judges a saved run with
no service at all. With no test paths on the command line, the built-in checks are collected.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.downstream import DownstreamServer
from otelconform_fixtures.target import LaunchedTarget, TargetError, wait_until_serving

from . import report
from . import ids
from .capture import (Recorder, ReplayClient, ReplayCollector, ReplayDownstream,
                      ReplayedTarget, ReplayTape, VirtualClock, load as load_capture, save as save_capture)
from .client import TargetClient
from .evidence import collect
from .manifest import ManifestError, load_manifest
from .profiles import PROFILES, Profile, TeamSchema, detect_profile, get_profile, load_team_schema
from .registry import CheckInfo, Level, info_for, load_catalog
from .verdicts import CheckFailure

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
FAIL_ON = ("must", "should", "may", "none")
DEFAULT_MANIFEST = "conformance.yaml"

_RESULTS = pytest.StashKey[dict]()
_STATE = pytest.StashKey["RunState"]()


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
    group.addoption("--semconv", default="seed", choices=(*PROFILES, "auto"),
                    help="semantic-convention profile: seed (RPC semconv <= 1.38, the seed's table), "
                         "stable (current), dup (both), auto (what the target claims or shows)")
    group.addoption("--schema", action="append", default=[], metavar="FILE",
                    help="a team rule: JSON Schema with an 'x-conformance' header {id, level, "
                         "applies_to}; may be given several times")
    group.addoption("--manifest", metavar="FILE",
                    help=f"expected-failure manifest (default: ./{DEFAULT_MANIFEST} if present)")
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
    group.addoption("--capture-run", metavar="FILE",
                    help="save everything received and sent, for --replay (.gz to compress)")
    group.addoption("--replay", metavar="FILE",
                    help="re-judge a --capture-run offline: same checks, same verdicts, no target")
    group.addoption("--markdown", metavar="FILE",
                    help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set)")


@dataclass
class RunState:
    manifest: object | None = None
    team_schemas: list = field(default_factory=list)
    suite: "Suite | None" = None
    recorder: Recorder | None = None  # under --capture-run
    replay: dict | None = None  # the loaded capture under --replay


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance(id): a conformance check with a catalog ID")
    config.stash[_RESULTS] = {}
    state = config.stash[_STATE] = RunState()
    target, command = config.getoption("--target"), config.getoption("--target-cmd")
    replay = config.getoption("--replay")
    if sum(map(bool, (target, command, replay))) > 1:
        raise pytest.UsageError("give one of --target, --target-cmd and --replay")
    if not (target or command or replay):
        return
    try:
        state.replay = load_capture(replay) if replay else None
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getoption("--capture-run"):
        state.recorder = Recorder()
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(CHECKS_DIR)]
    try:
        state.team_schemas = [load_team_schema(Path(p)) for p in config.getoption("--schema")]
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    known = set(load_catalog()) | {t.id for t in state.team_schemas}
    path = config.getoption("--manifest") or (DEFAULT_MANIFEST if Path(DEFAULT_MANIFEST).exists() else None)
    if path:
        try:
            state.manifest = load_manifest(Path(path), known)
        except ManifestError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_generate_tests(metafunc):
    if "team_schema" in metafunc.fixturenames:
        schemas = metafunc.config.stash[_STATE].team_schemas
        metafunc.parametrize("team_schema", schemas, ids=[t.id for t in schemas])


def pytest_collection_modifyitems(config, items):
    # Without --schema the team-rule check has no instances; drop its empty placeholder.
    if not config.stash[_STATE].team_schemas:
        keep = [i for i in items if "team_schema" not in getattr(i, "fixturenames", ())]
        if len(keep) != len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in keep])
            items[:] = keep


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
    clock: VirtualClock | None = None  # replay only

    def meta(self) -> dict:
        mode = f"launched: {self.launched.command}" if self.launched else f"attached: {self.client.address}"
        return {"target": mode, "profile": self.profile.name, "profile_reason": self.profile.reason,
                "semconv": self.profile.semconv,
                "transports": sorted({e.transport for e in self.collector.exports()})}


def _launch_env(config, collector: FakeCollector) -> dict[str, str]:
    protocol = config.getoption("--otlp-protocol")
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint("grpc" if protocol == "grpc" else "http"),
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_SERVICE_NAME": config.getoption("--service-name"),
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_BLRP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
    }
    # The rest of the caller's environment (an OTEL_TRACES_SAMPLER, say) reaches the target
    # through LaunchedTarget, which starts from os.environ.
    return env


def _resolve_profile(config, client: TargetClient, collector: FakeCollector, timeout: float) -> Profile:
    choice = config.getoption("--semconv")
    if choice != "auto":
        return get_profile(choice)
    from .checks._calls import traced_echo_span

    probe = Suite(collector, None, client, get_profile("seed"), timeout, None)
    try:
        return detect_profile(traced_echo_span(probe))
    except CheckFailure as exc:
        return Profile("seed", f"auto-detection failed ({exc}); defaulting to the seed")


def _replayed_suite(config, document: dict) -> Suite:
    times = ([e["received_at"] for e in document["exports"]] + [c["received_at"] for c in document["downstream"]]
             + [c["started_at"] for t in document["checks"].values() for c in t["calls"]])
    clock = VirtualClock(min(times, default=0.0) - 1)
    meta = document["suite"]
    launched = ReplayedTarget(meta["target"], document["stdout"]) if meta["launched"] else None
    profile = Profile(meta["profile"], f"{meta['profile_reason']}; replayed from {config.getoption('--replay')}")
    suite = Suite(ReplayCollector(document["exports"], clock), ReplayDownstream(document["downstream"], clock),
                  ReplayClient(meta["address"], clock), profile, config.getoption("--telemetry-timeout"),
                  meta["service_name"], launched, meta["protocol"], clock)
    return suite


@pytest.fixture(scope="session")
def suite(request):
    config = request.config
    state = config.stash[_STATE]
    if state.replay is not None:
        state.suite = _replayed_suite(config, state.replay)
        yield state.suite
        return
    address, command = config.getoption("--target"), config.getoption("--target-cmd")
    if not address and not command:
        pytest.skip("no target: run with --target=HOST:PORT or --target-cmd=COMMAND")
    launch = bool(command)
    grpc_port, http_port = config.getoption("--otlp-port"), config.getoption("--otlp-http-port")
    collector = FakeCollector(grpc_port=grpc_port if grpc_port is not None else (0 if launch else 4317))
    downstream = launched = None
    try:
        collector.start()
        collector.start_http(http_port if http_port is not None else (0 if launch else 4318))
        downstream = DownstreamServer().start()
        if launch:
            launched = LaunchedTarget(command, _launch_env(config, collector))
            launched.start(config.getoption("--ready-timeout"))
            address = launched.address
        else:
            wait_until_serving(address, config.getoption("--ready-timeout"))
    except (TargetError, OSError) as exc:
        if downstream is not None:
            downstream.stop()
        collector.stop()
        pytest.fail(f"TARGET_ERROR: {exc}", pytrace=False)
    timeout = config.getoption("--telemetry-timeout")
    client = TargetClient(address, config.getoption("--call-timeout"))
    profile = _resolve_profile(config, client, collector, timeout)
    the_suite = Suite(collector, downstream, client, profile, timeout,
                      config.getoption("--service-name") if launch else None, launched,
                      config.getoption("--otlp-protocol"))
    client.recorder = state.recorder
    state.suite = the_suite
    yield the_suite
    client.close()
    if launched is not None:
        launched.stop()
    if state.recorder is not None:
        save_capture(config.getoption("--capture-run"), the_suite, state.recorder)
    downstream.stop()
    collector.stop()


def _check_info(item) -> CheckInfo | None:
    team = getattr(item, "callspec", None) and item.callspec.params.get("team_schema")
    if isinstance(team, TeamSchema):
        return CheckInfo(team.id, Level(team.level), team.title, f"team rule {team.path}", team.applies_to)
    return info_for(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Around one check: its capture tape, and what it sent and received for the reports."""
    state = item.config.stash[_STATE]
    suite = state.suite
    if suite is None or _check_info(item) is None:
        return (yield)
    key = _tape_key(item)
    if state.recorder is not None:
        state.recorder.begin(key, time.time())
        ids.source = state.recorder
    elif state.replay is not None:
        tape = state.replay["checks"].get(key)
        if tape is None:
            pytest.skip(f"{key} is not in the capture {item.config.getoption('--replay')}")
        suite.client.tape = ids.source = ReplayTape(tape)
        suite.clock.advance(tape["started_at"])
    marks = (len(suite.client.history), len(suite.downstream.all_calls()))
    try:
        return (yield)
    finally:
        ids.source = None
        if state.recorder is not None:
            state.recorder.end()
        evidence = collect(suite, *marks)
        item.stash[_EVIDENCE] = evidence
        _attach_to_allure(item, evidence)


def _tape_key(item) -> str:
    """Names a check the same wherever the checks were collected from."""
    return f"{Path(str(item.path)).stem}::{item.name}"


_EVIDENCE = pytest.StashKey[object]()


def _attach_to_allure(item, evidence) -> None:
    if not item.config.pluginmanager.hasplugin("allure_pytest"):
        return
    import allure

    allure.attach(json.dumps(evidence.spans_json(), indent=2), "spans.json", allure.attachment_type.JSON)
    allure.attach(evidence.span_tree(), "span tree", allure.attachment_type.TEXT)
    allure.attach(json.dumps(evidence.context(), indent=2), "metadata sent and received",
                  allure.attachment_type.JSON)
    if evidence.logs:
        allure.attach(json.dumps(evidence.logs_json(), indent=2), "log records.json",
                      allure.attachment_type.JSON)


def _failure(call, report) -> tuple[str, str]:
    exc = call.excinfo.value if call.excinfo else None
    if isinstance(exc, CheckFailure):
        return exc.verdict, str(exc)
    if exc is not None and "TARGET_ERROR" in str(exc):
        return "TARGET_ERROR", str(exc).replace("TARGET_ERROR: ", "", 1)
    if exc is not None:
        return "ERROR", f"{type(exc).__name__}: {exc}"
    return "ERROR", report.longreprtext[-300:]


def _gates(config, info: CheckInfo) -> bool:
    fail_on = config.getoption("--fail-on")
    return fail_on != "none" and info.level.rank <= Level(fail_on.upper()).rank


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report_ = yield
    info = _check_info(item)
    final = report_.when == "call" or (report_.when == "setup" and report_.outcome != "passed")
    if info is None or not final:
        return report_
    config = item.config
    if report_.passed:
        verdict, message = "PASS", ""
    elif report_.skipped:
        verdict, message = "SKIPPED", _skip_reason(report_)
    else:
        verdict, message = _failure(call, report_)

    manifest = config.stash[_STATE].manifest
    param = item.nodeid.partition("[")[2].rstrip("]")
    entry = manifest.lookup(info.id, param) if manifest and verdict != "SKIPPED" else None
    if entry is not None and entry.expired(dt.date.today()):
        verdict, message = "EXPIRED", (f"manifest entry {entry.id} expired on {entry.expires} "
                                       f"({entry.issue}); the check says: {verdict} {message}".strip())
        report_.outcome, report_.longrepr = "failed", message
    elif entry is not None and verdict == "PASS":
        verdict = "UNEXPECTED_PASS"
        message = f"{info.id} passes now: remove {entry.id} from {manifest.path}"
        report_.outcome, report_.longrepr = "failed", message
    elif entry is not None:
        message = f"{verdict}: {message} (expected: {entry.reason}; {entry.issue}; until {entry.expires})"
        verdict = "EXPECTED_FAIL"
        report_.outcome, report_.wasxfail = "skipped", f"in {manifest.path}: {entry.reason}"
    elif report_.failed and not _gates(config, info):
        report_.outcome = "skipped"
        report_.wasxfail = f"{info.level.value} check, not gating (--fail-on={config.getoption('--fail-on')})"

    evidence = item.stash.get(_EVIDENCE, None)
    row = {"id": info.id, "level": info.level.value, "verdict": verdict, "signal": info.signal,
           "title": info.title, "spec": info.spec, "message": message, "nodeid": item.nodeid,
           "context": evidence.context() if evidence is not None else {}}
    config.stash[_RESULTS][item.nodeid] = row
    # JUnit XML reads the item's properties when the test case closes.
    item.user_properties += [("check_id", info.id), ("level", info.level.value), ("verdict", verdict),
                             ("spec", info.spec)]
    return report_


def _skip_reason(report_) -> str:
    longrepr = report_.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config.stash.get(_RESULTS, {})
    if not results:
        return
    suite = config.stash[_STATE].suite
    meta = suite.meta() if suite is not None else None
    rows = report.sorted_rows(results)
    terminalreporter.section("conformance report")
    for line in report.terminal_lines(rows, meta):
        terminalreporter.line(line)
    if config.getoption("--findings"):
        report.write_findings(config.getoption("--findings"), rows, meta)
    markdown_targets = [config.getoption("--markdown"), os.environ.get("GITHUB_STEP_SUMMARY")]
    for path in filter(None, markdown_targets):
        with open(path, "a" if path == os.environ.get("GITHUB_STEP_SUMMARY") else "w") as out:
            out.write(report.markdown(rows, meta))
