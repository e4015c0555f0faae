"""pytest plugin: the hooks that tie options, the session, the checks and the reports together.

``pytest --target=host:port`` checks a running service that exports to the suite's
collector; ``pytest --target-cmd "<command>"`` starts the service itself with the OTLP
environment pointed at the collector; ``pytest --replay FILE`` re-judges a saved run with
no service at all. With no test paths on the command line, the built-in checks are collected.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import importlib

import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from otelconform_fixtures.container_target import ContainerProblem, container_spec
from otelconform_fixtures.target import LAUNCH_LOG_DIRS, discard_launch_logs

from . import chain_mode, ids, pipeline, report, selection
from .capture import Recorder, ReplayTape, load as load_capture, save as save_capture
from .client import RUNNING
from .concurrency import ConcurrentChecks
from .evidence import collect
from .generated_inputs import GeneratedInputs
from .manifest import ManifestError, load_manifest
from .options import DEFAULT_MANIFEST, pytest_addoption, repair_rootdir, resolve as resolve_options  # noqa: F401 (hooks)
from .profiles import load_team_schema
from .registry import load_catalog
from .results import ROW, WORKER_KEY, Results, apply_manifest, make_row
from .session import SessionError, Suite, UsageProblem, replayed, start_live, start_spare, stop_live
from .verdicts import MEASURED, CheckFailure

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
NOT_RUN = "not run: the target cannot be checked (see the session error)"
TARGET_NOT_CHECKED = 6  # the exit status of a run whose target could not be checked (README, exit statuses)

_STATE = pytest.StashKey["RunState"]()
_EVIDENCE = pytest.StashKey[object]()


@dataclass
class RunState:
    manifest: object | None = None
    team_schemas: list = field(default_factory=list)
    suite: Suite | None = None
    session_error: str | None = None
    session_error_shown: bool = False
    recorder: Recorder | None = None  # under --capture-run
    replay: dict | None = None  # the loaded capture under --replay
    results: Results = field(default_factory=Results)
    starting: Future | None = None  # the live session, started while pytest collects
    spare: Future | None = None  # the instance SHUT-001 stops
    concurrent: ConcurrentChecks | None = None
    generated: GeneratedInputs | None = None  # examples of the generated W3C checks
    mode: str = ""  # said in the report's headline: zero-contract mode and how many checks apply


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _parallel(config) -> bool:
    return config.pluginmanager.hasplugin("xdist") and bool(config.getoption("numprocesses", None))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config):
    repair_rootdir(early_config)


def pytest_configure(config):
    resolve_options(config)
    config.addinivalue_line("markers", "conformance(id): a conformance check with a catalog ID")
    selection.register_markers(config)
    config.pluginmanager.register(selection, "otelconform-selection")
    config.pluginmanager.register(chain_mode, "otelconform-chains")
    state = config.stash[_STATE] = RunState()
    config.pluginmanager.register(state.results, "otelconform-results")
    if chain_mode.configure(config, _parallel(config) and not _is_worker(config)):
        if config.args_source != pytest.Config.ArgsSource.ARGS:
            config.args[:] = [str(CHECKS_DIR)]
        return
    target, command = config.getoption("--target"), config.getoption("--target-cmd")
    try:
        image = container_spec(config)  # --target-image: launch mode, from a container image
    except ContainerProblem as exc:
        raise pytest.UsageError(str(exc)) from None
    replay = config.getoption("--replay")
    if sum(map(bool, (target, command, image, replay))) > 1:
        raise pytest.UsageError("give one of --target, --target-cmd, --target-image and --replay")
    if not (target or command or image or replay):
        if config.option.collectonly and config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR:
            # `pytest --co` where no test paths are configured lists the catalog, no target needed.
            config.args.append(str(CHECKS_DIR))
        return
    fixed_ports = config.getoption("--otlp-port") is not None or config.getoption("--otlp-http-port") is not None
    if not _is_worker(config) and _parallel(config) and (target or fixed_ports):
        raise pytest.UsageError(
            "pytest-xdist (-n) runs one collector per worker, and only one of them can listen on a "
            "fixed OTLP port: run --target (attach mode) or --otlp-port/--otlp-http-port without -n, "
            "or use --target-cmd so that every worker launches its own instance of the service")
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
    descriptors = config.getoption("--descriptor-set")
    if descriptors and not Path(descriptors).is_file():  # told before any service is started
        raise pytest.UsageError(f"--descriptor-set {descriptors}: no such file; give a descriptor set (protoc "
                                f"--include_imports --descriptor_set_out=FILE your.proto) or the .proto itself")
    known = set(load_catalog()) | {t.id for t in state.team_schemas}
    path = config.getoption("--manifest") or (DEFAULT_MANIFEST if Path(DEFAULT_MANIFEST).exists() else None)
    if path:
        try:
            state.manifest = load_manifest(Path(path), known)
        except ManifestError as exc:
            raise pytest.UsageError(str(exc)) from None
    if not config.option.collectonly and not (_parallel(config) and not _is_worker(config)):
        # Drawn on another core while pytest collects; unused if no generated check is chosen.
        state.generated = GeneratedInputs.start()
    if not replay and not config.option.collectonly and not (_parallel(config) and not _is_worker(config)):
        # The target's start-up (often the longest single wait) overlaps pytest's collection.
        # grpc creates its loggers when its first channel and server are made; made on that
        # thread, they would change the logger table while pytest's log capture iterates it
        # (an INTERNALERROR "dictionary changed size during iteration", seen once in CI).
        for module in ("grpc._channel", "grpc._server"):
            importlib.import_module(module)
        pool = ThreadPoolExecutor(1, thread_name_prefix="conformance-start")
        state.starting = pool.submit(start_live, config)
        pool.shutdown(wait=False)


def pytest_unconfigure(config):
    state = config.stash.get(_STATE, None)
    if state is not None and state.suite is not None and state.replay is None:
        # Reported and saved by now; pytest's own final garbage collections come after this hook
        # and would walk every span kept (a flood's 64 MiB) several times over.
        state.suite.collector.release()
    if state is not None and state.generated is not None:
        state.generated.close()
    if state is not None and state.starting is not None and state.suite is None:
        try:  # started for checks that were then deselected or never ran
            suite = state.starting.result()
        except (SessionError, UsageProblem):
            return
        suite.spare = state.spare
        stop_live(suite)


def pytest_generate_tests(metafunc):
    if "team_schema" in metafunc.fixturenames:
        schemas = metafunc.config.stash[_STATE].team_schemas
        metafunc.parametrize("team_schema", schemas, ids=[t.id for t in schemas])


def pytest_collection_modifyitems(config, items):
    listing_catalog = config.option.collectonly and not (
        config.getoption("--target") or config.getoption("--target-cmd") or config.getoption("--replay")
        or config.getoption("--target-image")
        or chain_mode.asked(config))
    chain_mode.select(config, items, listing_catalog=listing_catalog)
    pipeline.select(config, items, listing_catalog)
    # Without --schema the team-rule check has no instances; drop its empty placeholder.
    if not config.stash[_STATE].team_schemas:
        keep = [i for i in items if "team_schema" not in getattr(i, "fixturenames", ())]
        if len(keep) != len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in keep])
            items[:] = keep
    if config.getoption("--call"):
        # Zero-contract mode: what needs the contract is skipped, saying which methods it calls.
        from .zero_contract import skip_reason

        checks, applicable = set(), set()
        for item in items:
            info = _check_info(item)
            if info is None:
                continue
            checks.add(info.id)
            if info.zero_contract:
                applicable.add(info.id)
            elif item.get_closest_marker("skip") is None:
                item.add_marker(pytest.mark.skip(reason=skip_reason(getattr(item, "function", None))))
        config.stash[_STATE].mode = f"zero-contract mode, {len(applicable)} of {len(checks)} checks applicable"
    # Checks on instances of their own come after the main instance's (they run from the
    # start, beside them, and pytest meeting the first of them means the main instance's
    # exclusive checks are over); a check that times calls comes once those are over too; a
    # check that stops the target runs after every other check (a stable sort keeps the rest
    # in order).
    items.sort(key=lambda i: 3 if (info := _check_info(i)) and info.runs_last else
               2 if info and info.quiet else int(bool(info and info.configuration)))


def pytest_collection_finish(session):
    state = session.config.stash[_STATE]
    wanted = any((info := _check_info(i)) is not None and info.runs_last for i in session.items)
    if state.starting is not None and wanted and (session.config.getoption("--target-cmd")
                                                  or session.config.getoption("--target-image")) \
            and not session.config.getoption("--call"):
        # The instance SHUT-001 stops starts once the first one is up, while checks run.
        pool = ThreadPoolExecutor(1, thread_name_prefix="conformance-spare")
        state.spare = pool.submit(lambda: start_spare(session.config, state.starting.result()))
        pool.shutdown(wait=False)


@pytest.fixture(scope="session")
def _session_suite(request):
    """The session's Suite, or None when the target cannot be checked (state.session_error)."""
    config = request.config
    state = config.stash[_STATE]
    if state.replay is not None:
        state.suite = replayed(config, state.replay)
        state.suite.generated = state.generated
        yield state.suite
        return
    if state.starting is None:
        yield None
        return
    try:
        state.suite = state.starting.result()
    except UsageProblem as exc:
        pytest.exit(f"usage error: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    except SessionError as exc:
        state.session_error = str(exc)
        yield None
        return
    state.suite.client.recorder = state.recorder
    state.suite.spare = state.spare
    if state.suite.instances is not None and not _is_worker(config):
        # Each configuration's instance starts while the checks before it run (xdist workers,
        # which run only some checks, start theirs when first asked).
        state.suite.instances.prestart(dict.fromkeys(
            info.configuration for i in request.session.items if (info := _check_info(i)) and info.configuration))
    state.suite.generated = state.generated
    yield state.suite
    if state.concurrent is not None:
        state.concurrent.close()
    stop_live(state.suite)
    if state.recorder is not None:
        save_capture(config.getoption("--capture-run"), state.suite, state.recorder)


@pytest.fixture
def suite(request, _session_suite):
    state = request.config.stash[_STATE]
    if state.session_error is not None:
        if state.session_error_shown:
            pytest.fail(f"TARGET_ERROR: {NOT_RUN}", pytrace=False)
        state.session_error_shown = True
        if not _is_worker(request.config):
            request.session.shouldfail = "session error: the target cannot be checked"
        pytest.fail(f"TARGET_ERROR: {state.session_error}", pytrace=False)
    if _session_suite is None:
        pytest.skip("no target: run with --target=HOST:PORT or --target-cmd=COMMAND")
    workers = request.config.getoption("--check-concurrency")
    # An xdist worker collects every check but runs only those it is sent: it runs them in turn.
    serial = state.recorder is not None or state.replay is not None or _is_worker(request.config)
    if state.concurrent is None and workers > 1 and not serial:
        state.concurrent = ConcurrentChecks(workers)
        # A check skipped at collection (zero-contract mode) must not run beside the others.
        runnable = [i for i in request.session.items if i.get_closest_marker("skip") is None]
        state.concurrent.start(runnable, _session_suite, _tape_key,
                               lambda i: (info := _check_info(i)) is not None and not info.exclusive
                               and not info.configuration,
                               beside=lambda i: (info := _check_info(i)) is not None and bool(info.configuration)
                               and not info.exclusive,
                               floods=lambda i: (info := _check_info(i)) is not None and info.floods,
                               quiet=lambda i: (info := _check_info(i)) is not None and info.quiet)
    return _session_suite


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """A check already running concurrently: its outcome; an exclusive one: after all others."""
    runner = pyfuncitem.config.stash[_STATE].concurrent
    if runner is None:
        return None
    if runner.runs(pyfuncitem):
        info = _check_info(pyfuncitem)
        if info is not None and info.configuration:
            runner.exclusive_ones_over()  # they sort before the configuration checks
        failure = runner.outcome(pyfuncitem)
        if failure is not None:
            raise failure
        return True
    runner.drain()
    return None


_check_info = selection.item_info


def _tape_key(item) -> str:
    """Names a check the same wherever the checks were collected from."""
    return f"{Path(str(item.path)).stem}::{item.name}"


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
    RUNNING.check = key
    try:
        return (yield)
    finally:
        RUNNING.check = None
        ids.source = None
        if state.recorder is not None:
            state.recorder.end()
        evidence = collect(suite, key)
        item.stash[_EVIDENCE] = evidence
        _attach_to_allure(item, evidence)


def _allure_reporting(config) -> bool:
    # allure-pytest registers itself whenever installed; it reports only with --alluredir.
    return config.pluginmanager.hasplugin("allure_pytest") and bool(config.getoption("allure_report_dir", None))


ALLURE_SEVERITY = {"MUST": "critical", "SHOULD": "normal", "MAY": "minor"}


def _describe_to_allure(item, suite) -> None:
    """Title, severity, labels and the target as a parameter: two targets' results in one
    folder are two results, not retries of one."""
    import allure

    from .html_report import spec_parts

    info = _check_info(item)
    param = item.nodeid.partition("[")[2].rstrip("]")
    allure.dynamic.title(f"{info.id}{f'[{param}]' if param else ''} {info.title}")
    allure.dynamic.severity(allure.severity_level(ALLURE_SEVERITY[info.level.value]))
    allure.dynamic.feature(info.signal)
    allure.dynamic.tag(info.level.value)
    allure.dynamic.label("check_id", info.id)
    allure.dynamic.description(f"Spec: {info.spec}" + (f"\n\nHow to fix: {info.fix}" if info.fix else ""))
    allure.dynamic.parameter("target", suite.meta_target())
    for text, url in spec_parts(info.spec):
        if url:
            allure.dynamic.link(url, name=text)


def _allure_environment(config, meta: dict | None) -> None:
    """environment.properties: what Allure shows as the run's environment."""
    if meta is None or not _allure_reporting(config):
        return
    lines = [f"target={meta['target']}", f"profile={meta['profile']}",
             f"transports={', '.join(meta.get('transports') or []) or 'none'}"]
    if meta.get("mode"):
        lines.append(f"mode={meta['mode']}")
    Path(config.getoption("allure_report_dir"), "environment.properties").write_text("\n".join(lines) + "\n")


def _attach_to_allure(item, evidence) -> None:
    if not _allure_reporting(item.config):
        return
    import allure

    _describe_to_allure(item, item.config.stash[_STATE].suite)
    redact = item.config.stash[_STATE].suite.redactor
    allure.attach(json.dumps(redact.scrub(evidence.spans_json()), indent=2), "spans.json",
                  allure.attachment_type.JSON)
    allure.attach(redact.text(evidence.span_tree()), "span tree", allure.attachment_type.TEXT)
    allure.attach(json.dumps(redact.scrub(evidence.context(redact)), indent=2), "metadata sent and received",
                  allure.attachment_type.JSON)
    if evidence.logs:
        allure.attach(json.dumps(redact.scrub(evidence.logs_json()), indent=2), "log records.json",
                      allure.attachment_type.JSON)


def _failure(call, report_) -> tuple[str, str]:
    exc = call.excinfo.value if call.excinfo else None
    if isinstance(exc, CheckFailure):
        return exc.verdict, str(exc)
    if exc is not None and "TARGET_ERROR" in str(exc):
        return "TARGET_ERROR", str(exc).replace("TARGET_ERROR: ", "", 1)
    if exc is not None:
        return "ERROR", f"{type(exc).__name__}: {exc}"
    return "ERROR", report_.longreprtext[-300:]


def _skip_reason(report_) -> str:
    longrepr = report_.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report_ = yield
    info = _check_info(item)
    final = report_.when == "call" or (report_.when == "setup" and report_.outcome != "passed")
    if info is None or not final:
        return report_
    config = item.config
    if report_.passed:
        verdict, message = "PASS", MEASURED.pop(_tape_key(item), "")
    elif report_.skipped:
        verdict, message = "SKIPPED", _skip_reason(report_)
    else:
        verdict, message = _failure(call, report_)
    param = item.nodeid.partition("[")[2].rstrip("]")
    if config.stash[_STATE].session_error is not None and report_.when == "setup":
        # The error is the session's, shown once above the rows, whatever the level of the
        # check that happened to meet it first: neither the manifest nor --fail-on applies.
        message = NOT_RUN
    else:
        verdict, message = apply_manifest(report_, info, param, verdict, message,
                                          config.stash[_STATE].manifest, config.getoption("--fail-on"))
    evidence = item.stash.get(_EVIDENCE, None)
    suite = config.stash[_STATE].suite
    if suite is not None:  # what a check says may quote a credential the target copied
        redact = suite.redactor
        message = redact.text(message)
        if report_.failed and redact.text(report_.longreprtext) != report_.longreprtext:
            report_.longrepr = redact.text(report_.longreprtext)  # JUnit XML and the terminal show it
    setattr(report_, ROW, make_row(info, item.nodeid, verdict, message,
                                   suite.redactor.scrub(evidence.context(suite.redactor))
                                   if evidence is not None and suite is not None else {}))
    # JUnit XML reads the item's properties when the test case closes.
    item.user_properties += [("check_id", info.id), ("level", info.level.value), ("verdict", verdict),
                             ("spec", info.spec)]
    return report_


def _session_meta(config, state: RunState) -> dict | None:
    if chain_mode.session_of(config) is not None:
        return chain_mode.session_of(config).meta()
    if state.suite is not None:
        return state.suite.redactor.scrub({**state.suite.meta(), "mode": state.mode})
    if state.session_error is not None:
        image = config.getoption("--target-image")
        target = (f"launched: {config.getoption('--target-cmd')}" if config.getoption("--target-cmd")
                  else f"launched: container {image}" if image else f"attached: {config.getoption('--target')}")
        return {"target": f"{target} (not checked)", "profile": config.getoption("--semconv"),
                "profile_reason": "no check ran", "semconv": "", "transports": [], "ending": None,
                "diagnoses": {}, "session_error": state.session_error}
    return None


def pytest_sessionfinish(session):
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    meta = _session_meta(config, state)
    if _is_worker(config):
        config.workeroutput[WORKER_KEY] = meta
        _settle_launch_logs(session)
        return
    state.results.add_session(meta)
    _allure_environment(config, meta)
    _settle_launch_logs(session)
    if state.session_error is not None:
        # Told apart from a conformance failure (1): the target could not be checked at all.
        session.exitstatus = TARGET_NOT_CHECKED
        for item in session.items:
            info = _check_info(item)
            if info is not None and item.nodeid not in state.results.rows:
                state.results.add(make_row(info, item.nodeid, "TARGET_ERROR", NOT_RUN, {}))


def _settle_launch_logs(session) -> None:
    """The launched services' log folders go when the run passes (a session error fails it)."""
    state = session.config.stash[_STATE]
    if session.exitstatus == 0 and state.session_error is None:
        discard_launch_logs()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config.stash[_STATE].results
    kept = [str(d) for d in LAUNCH_LOG_DIRS if d.exists()]
    if kept:
        terminalreporter.line(f"logs of the launched service(s), kept because the run failed (stdout.log, "
                              f"stderr.log): {', '.join(kept)}")
    if not results.rows:
        return
    meta = results.meta()
    rows = report.sorted_rows(results.rows)
    terminalreporter.section("conformance report")
    for line in report.terminal_lines(rows, meta):
        terminalreporter.line(line)
    if config.getoption("--findings"):
        report.write_findings(config.getoption("--findings"), rows, meta)
    if config.getoption("--html-report"):
        from .html_report import write_report

        write_report(config.getoption("--html-report"), rows, meta)
    markdown_targets = [config.getoption("--markdown"), os.environ.get("GITHUB_STEP_SUMMARY")]
    for path in filter(None, markdown_targets):
        with open(path, "a" if path == os.environ.get("GITHUB_STEP_SUMMARY") else "w") as out:
            out.write(report.markdown(rows, meta))
