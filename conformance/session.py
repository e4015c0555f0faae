"""The session: the collector, the downstream and the target, started once and judged together.

``start_live`` brings everything up and probes the target once, so that a service that
cannot be checked at all (did not start, no health service, no contract) is one clear
session error instead of one error per check. ``replayed`` rebuilds a saved session.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc

from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.container_target import ContainerProblem, ContainerTarget, container_spec, prepare as prepare_image
from otelconform_fixtures.retention import UNCAPPED
from otelconform_fixtures.downstream import DownstreamServer
from otelconform_fixtures.ports import PortInUse
from otelconform_fixtures.target import Ending, LaunchedTarget, TargetError, wait_until_serving
from otelconform_fixtures.tls import ClientTls, RunCertificates, session_exporter_tls

from . import ids, options
from . import pipeline as pipeline_mode
from .capture import ReplayClient, ReplayCollector, ReplayDownstream, ReplayedTarget, VirtualClock
from .client import TargetClient
from .exact_headers import ExactHeaderClient
from .contract import KEEP_WHOLE, SERVICE
from .observe import SignalWatch
from .profiles import Profile, detect_profile, get_profile
from .redaction import Redactor
from .verdicts import CheckFailure

CONTRACT_DOC = "docs/target-contract.md"
SHUTDOWN_GRACE = 10.0  # the contract: flush and exit 0 within 10 s of SIGTERM
# Exporter settings a launched target gets, short so that no check waits on a batch timer.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "5", "OTEL_BLRP_SCHEDULE_DELAY": "5",
               "OTEL_METRIC_EXPORT_INTERVAL": "50"}
# The instance SHUT-001 stops gets timers far longer than the check lasts, so whatever it
# exports after SIGTERM can only come from the shutdown's flush.
SLOW_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "60000", "OTEL_BLRP_SCHEDULE_DELAY": "60000",
               "OTEL_METRIC_EXPORT_INTERVAL": "600000"}


class SessionError(Exception):
    """The target cannot be checked at all; reported once for the session."""


class UsageProblem(Exception):
    """The suite itself cannot run as asked (a port in use); a usage error, exit 4."""


@dataclass
class Suite:
    """Everything a check needs: the collector, the downstream, the target and how to judge it."""

    collector: FakeCollector
    downstream: DownstreamServer
    client: TargetClient
    profile: Profile
    watch: SignalWatch
    service_name: str | None  # known only when the suite launched the target
    launched: LaunchedTarget | None = None
    protocol: str = "grpc"
    clock: VirtualClock | None = None  # replay only
    probe_calls: int = 0  # Echo calls made before the checks, counted by the target too
    spare: Future | None = None  # a second instance, for SHUT-001 to stop (launch mode)
    shutdown_ending: Ending | None = None  # how that instance ended
    exact_client: object = None  # sends W3C vectors with headers exactly as given (ExactHeaderClient)
    trace_context_level: int = 1  # the W3C Trace Context level the target is judged at
    generated: object = None  # GeneratedInputs: examples of the generated W3C checks
    instances: object = None  # InstancePool: instances started with other configurations (launch mode)
    instance: object = None  # in a check's view of one such instance (instances.instance_for): it
    untraced_calls: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stopping: Future | None = field(default=None, init=False, repr=False)
    _untraced_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _once: dict = field(default_factory=dict, init=False, repr=False)
    _target_service: str | None = field(default=None, init=False, repr=False)  # checks._calls.target_service
    redactor: Redactor = field(default_factory=Redactor)  # what captures and reports must not show
    named: object = None  # zero_contract.NamedCalls: the calls named with --call (zero-contract mode)
    pipeline: object = None  # pipeline.Pipeline: the real collector in between (--via-collector)

    @property
    def telemetry_timeout(self) -> float:
        return self.watch.timeout

    @property
    def untraced_turn(self) -> threading.Lock:
        """Held by a check while it makes an untraced call and looks for its span: concurrent
        load stretches calls, so two untraced calls in flight at once could swap spans."""
        return self._untraced_lock

    def untraced_sleep_ms(self) -> int:
        """A Sleep duration no other untraced call of this session asks for (drawn through
        ``ids`` so a replay asks for the same), which identifies the call's span."""
        with self._lock:
            self.untraced_calls += 1
            step = self.untraced_calls % 8
        # 40 ms apart: more than a call's overhead, even with checks running concurrently.
        return int(ids.draw(lambda: str(30 + 40 * step)))

    def once(self, key: str, compute):
        """``compute()``'s result, computed by the first check that asks and shared with the rest
        (a session-wide fact several checks depend on, established once)."""
        with self._lock:
            future = self._once.get(key)
            first = future is None
            if first:
                future = self._once[key] = Future()
        if first:
            try:
                future.set_result(compute())
            except BaseException as exc:  # noqa: BLE001 (handed to every asker)
                future.set_exception(exc)
        return future.result()

    def shutdown_instance(self) -> tuple[TargetClient, LaunchedTarget]:
        """(client, target) of the instance SHUT-001 stops; TargetError when it did not start."""
        return self.client.sibling(self.spare.result().address), self.spare.result()

    def stop_for_shutdown_check(self, target) -> Ending:
        """Stop the instance SHUT-001 judges; the first instance, whose checks all ran before
        (SHUT-001 runs last), is stopped alongside rather than after it."""
        if self.launched is not None and self.clock is None:
            self._stopping = ThreadPoolExecutor(1).submit(self.launched.stop, SHUTDOWN_GRACE)
        self.shutdown_ending = target.stop(SHUTDOWN_GRACE)
        return self.shutdown_ending

    def meta_target(self) -> str:
        """The target as the report names it: how it was reached."""
        return f"launched: {self.launched.command}" if self.launched else f"attached: {self.client.address}"

    def meta(self) -> dict:
        mode = self.meta_target()
        ending = self.shutdown_ending or (self.launched.ending if self.launched is not None else None)
        return {"target": mode, "profile": self.profile.label, "profile_reason": self.profile.reason,
                "semconv": self.profile.semconv, "trace_context_level": self.trace_context_level,
                "transports": sorted({e.transport for e in self.collector.exports() if not e.error}),
                "ending": ending.describe(SHUTDOWN_GRACE) if ending else None,
                "diagnoses": dict(self.watch.diagnoses),
                "ignored_fields": sorted({f for e in self.collector.exports() for f in e.ignored_fields}),
                "dropped": self._dropped(), "tls": self._tls(),
                "slow_exports": self.watch.slow_exports(self._first_call()),
                "pipeline": self.pipeline.describe(self.collector.exports()) if self.pipeline is not None else None}

    def _first_call(self) -> float | None:
        return min((call.started_at for call in self.client.history), default=None)

    def _tls(self) -> str:
        client = getattr(self.client, "tls", None)
        target = "plaintext" if client is None else "mTLS" if client.cert else "TLS"
        return f"target over {target}; OTLP over {'mTLS' if self.collector.tls is not None else 'plaintext'}"

    def _dropped(self) -> str | None:
        dropped = self.collector.dropped()
        return dropped.describe(self.collector.memory_cap_bytes) if dropped else None


def start_spare(config, suite: Suite) -> LaunchedTarget:
    """Another instance of the launched target, with long batch timers (see SLOW_EXPORT)."""
    env = {**suite.launched.env, **SLOW_EXPORT}
    return suite.launched.another(env).start(config.getoption("--ready-timeout"))


def _memory_cap(config) -> int:
    # A capture must hold everything the checks saw, or its replay would judge less.
    return UNCAPPED if config.getoption("--capture-run") else config.getoption("--collector-memory") * 2**20


def launch_env(config, collector: FakeCollector, certs: RunCertificates | None = None) -> dict[str, str]:
    protocol = config.getoption("--otlp-protocol")
    # The rest of the caller's environment (an OTEL_TRACES_SAMPLER, say) reaches the target
    # through LaunchedTarget, which starts from os.environ.
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint("grpc" if protocol == "grpc" else "http"),
           "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
           "OTEL_SERVICE_NAME": config.getoption("--service-name"), **FAST_EXPORT}
    if collector.tls is not None:
        env |= session_exporter_tls(collector.tls)
    if certs is not None and config.getoption("--target-tls") and not _tls_files_given(config):
        env |= {"CONFORMANCE_TLS_CERT": str(certs.server_cert_file), "CONFORMANCE_TLS_KEY": str(certs.server_key_file),
                "CONFORMANCE_TLS_CLIENT_CA": str(certs.ca_file)}
    return env


_TLS_FILES = ("--target-ca", "--target-cert", "--target-key", "--target-server-name")


def _tls_files_given(config) -> bool:
    return any(config.getoption(option) for option in _TLS_FILES)


def _tls_setup(config, launch: bool) -> tuple[ClientTls | None, RunCertificates | None]:
    """How the suite connects to the target, and the run's own CA when it needs one."""
    wants_tls, given = config.getoption("--target-tls"), _tls_files_given(config)
    if given and not wants_tls:
        raise UsageProblem(f"{', '.join(o for o in _TLS_FILES if config.getoption(o))} need --target-tls")
    if config.getoption("--collector-tls") and not launch:
        raise UsageProblem("--collector-tls needs --target-cmd: the suite can hand TLS settings only to a service "
                           "it starts; an attached service's exporter is configured by whoever started it")
    if bool(config.getoption("--target-cert")) != bool(config.getoption("--target-key")):
        raise UsageProblem("--target-cert and --target-key go together (a client certificate and its key)")
    certs = RunCertificates() if launch and ((wants_tls and not given) or config.getoption("--collector-tls")) else None
    if not wants_tls:
        return None, certs
    if certs is not None and not given:
        return certs.client(), certs
    try:
        return ClientTls.from_files(*(config.getoption(o) for o in _TLS_FILES)), certs
    except OSError as exc:
        raise UsageProblem(f"cannot read a TLS file: {exc}") from None


def _exporter_setup(collector: FakeCollector, env: dict | None) -> str:
    receivers = (f"the suite's collector listens on 127.0.0.1:{collector.grpc_port} (OTLP/gRPC) and "
                 f"127.0.0.1:{collector.http.port} (OTLP/HTTP)")
    if env is None:
        return f"{receivers}; an attached target must export to one of them"
    return (f"{receivers}; the target was started with OTEL_EXPORTER_OTLP_ENDPOINT="
            f"{env['OTEL_EXPORTER_OTLP_ENDPOINT']} and OTEL_EXPORTER_OTLP_PROTOCOL="
            f"{env['OTEL_EXPORTER_OTLP_PROTOCOL']}")


def probe_contract(client: TargetClient, descriptor_set: str | None = None) -> None:
    """One Echo, traced so no check mistakes its span for one of its own untraced calls."""
    trace_id, parent = ids.new_trace_id(), ids.new_span_id()
    result = client.echo("conformance-probe", metadata=(("traceparent", ids.traceparent(trace_id, parent)),))
    if result.code == grpc.StatusCode.UNIMPLEMENTED:
        from .zero_contract import no_calls_advice

        raise SessionError(f"the service at {client.address} does not implement the conformance "
                           f"contract: {SERVICE}/Echo answered UNIMPLEMENTED ({result.details}). Implement "
                           f"{SERVICE} (conformance/proto/conformance_v1.proto) in a test build of the "
                           f"service, as {CONTRACT_DOC} describes; or "
                           + no_calls_advice(client, descriptor_set, client.call_timeout))
    if result.code != grpc.StatusCode.OK:
        raise SessionError(f"the service at {client.address} failed the first contract call: {SERVICE}/Echo "
                           f"ended {result.code.name} ({result.details}); it must answer Echo with its "
                           f"payload ({CONTRACT_DOC})")


def _named_calls(config, client: TargetClient):
    """Zero-contract mode: the --call calls resolved, and the downstream on --downstream-port."""
    from otelconform_fixtures.any_downstream import AnyDownstream

    from .zero_contract import CallResolutionError, CallSpecError, NamedCalls

    outgoing, port = config.getoption("--outgoing-call"), config.getoption("--downstream-port")
    if outgoing and port is None:
        raise UsageProblem("--outgoing-call needs --downstream-port: the service's dependency must be the "
                           "suite's downstream, e.g. --downstream-port=7070 with the service's dependency "
                           "address set to 127.0.0.1:7070")
    try:
        named = NamedCalls.resolve(client, config.getoption("--call"), outgoing,
                                   config.getoption("--descriptor-set"), config.getoption("--call-timeout"))
    except CallSpecError as exc:
        raise UsageProblem(str(exc)) from None
    except CallResolutionError as exc:
        raise SessionError(str(exc)) from None
    if named.ok is None:
        raise UsageProblem("zero-contract mode needs at least one --call that ends OK (no '-> CODE', or "
                           "'-> OK'): the checks of a successful call make it")
    if port is not None:
        named.downstream = AnyDownstream(port=port).start()
        status = grpc.StatusCode[config.getoption("--downstream-status")]
        if status != grpc.StatusCode.OK:
            named.downstream.answer(status, f"answered {status.name} by the conformance suite (--downstream-status)")
            named.downstream_status = status
    return named


def _resolve_profile(config, suite: Suite) -> Profile:
    choice = config.getoption("--semconv")
    if choice != "auto":
        chosen = get_profile(choice)
        how = options.source(config, "semconv")
        return Profile(chosen.name, how if how == "the default" else f"chosen with {how}")
    from .checks._calls import traced_echo_span

    try:
        return detect_profile(traced_echo_span(suite))
    except CheckFailure as exc:
        return Profile("seed", f"auto-detection failed ({exc}); defaulting to semconv-1.38")


def _start_pipeline(config, collector: FakeCollector, launch: bool):
    """--via-collector: the real collector, forwarding to ``collector`` (pipeline.py)."""
    if not launch:
        raise UsageProblem("--via-collector and --backends need --target-cmd: the suite points the service it "
                           "starts at the real collector")
    if config.getoption("--collector-tls"):
        raise UsageProblem("--via-collector runs the architecture document's plaintext collector: give it without --collector-tls")
    return pipeline_mode.start(collector.grpc_port, config.getoption("--ready-timeout"),
                               backends=config.getoption("--backends"))


def start_live(config) -> Suite:
    """Raises UsageProblem (the suite cannot run) or SessionError (the target cannot be checked)."""
    address, command = config.getoption("--target"), config.getoption("--target-cmd")
    image = container_spec(config)  # --target-image: launched as a container
    if image is not None:
        try:
            prepare_image(image)  # the engine answers and has the image
        except ContainerProblem as exc:
            raise UsageProblem(str(exc)) from None
    launch = bool(command or image)
    grpc_port, http_port = config.getoption("--otlp-port"), config.getoption("--otlp-http-port")
    target_tls, certs = _tls_setup(config, launch)
    collector = FakeCollector(grpc_port=grpc_port if grpc_port is not None else (0 if launch else 4317),
                              memory_cap_bytes=_memory_cap(config), keep_whole=KEEP_WHOLE,
                              tls=certs if config.getoption("--collector-tls") else None,
                              own_process=True)  # a flood of exports must not slow the checks down
    downstream = launched = client = named = pipeline = None
    redactor = Redactor(config.getoption("--redact-metadata"), enabled=not config.getoption("--keep-secrets"))
    redactor.learn_environment()  # a launched target inherits the caller's exporter headers
    collector.metadata_listener = redactor.learn
    try:
        collector.start()
        collector.start_http(http_port if http_port is not None else (0 if launch else 4318))
        downstream = DownstreamServer()
        downstream.metadata_listener = redactor.learn
        downstream.start()
        if pipeline_mode.asked(config):
            pipeline = _start_pipeline(config, collector, launch)
        env = launch_env(config, pipeline or collector, certs) if launch else None
        if launch:
            launched = ContainerTarget.of(image, env, target_tls) if image else LaunchedTarget(command, env, tls=target_tls)
            launched.start(config.getoption("--ready-timeout"))
            address = launched.address
        else:
            wait_until_serving(address, config.getoption("--ready-timeout"), tls=target_tls)
        client = TargetClient(address, config.getoption("--call-timeout"), target_tls)
        if config.getoption("--call"):
            named = _named_calls(config, client)
            collector.keep_whole_also(call.spec.method for call in [*named.calls, named.outgoing] if call)
        else:
            probe_contract(client, config.getoption("--descriptor-set"))
        exact_client = ExactHeaderClient(client)
    except (PortInUse, TargetError, SessionError, UsageProblem, pipeline_mode.PipelineError) as exc:
        if named is not None and named.downstream is not None:
            named.downstream.stop()
        if client is not None:
            client.close()
        if launched is not None:
            launched.stop(grace=2)
        if downstream is not None:
            downstream.stop()
        if pipeline is not None:
            pipeline.stop()
        collector.stop()
        if isinstance(exc, PortInUse):
            raise UsageProblem(str(exc)) from None
        if isinstance(exc, pipeline_mode.PipelineError):
            raise UsageProblem(str(exc)) from None
        if isinstance(exc, TargetError):
            raise SessionError(f"{exc} (what a target must do: {CONTRACT_DOC})") from None
        raise
    watch = SignalWatch(collector, config.getoption("--telemetry-timeout"), _exporter_setup(collector, env))
    suite = Suite(collector, downstream, client, get_profile("seed"), watch,
                  config.getoption("--service-name") if launch else None, launched,
                  config.getoption("--otlp-protocol"), probe_calls=0 if named else 1, exact_client=exact_client,
                  trace_context_level=config.getoption("--trace-context-level"), redactor=redactor, named=named,
                  pipeline=pipeline)
    if launch and named is None:  # instances of other configurations serve only contract checks
        from .instances import InstancePool

        suite.instances = InstancePool(launched, {k: v for k, v in env.items() if not k.startswith("OTEL_EXPORTER")},
                                       config.getoption("--otlp-protocol"), client,
                                       config.getoption("--ready-timeout"), config.getoption("--telemetry-timeout"),
                                       certs=collector.tls)
    suite.profile = _resolve_profile(config, suite)
    return suite


def stop_live(suite: Suite) -> None:
    if suite.instances is not None:
        suite.instances.stop_all()
    if suite.named is not None and suite.named.downstream is not None:
        suite.named.downstream.stop()
    suite.client.close()
    suite.exact_client.close()
    if suite._stopping is not None:
        suite._stopping.result()
    elif suite.launched is not None:
        suite.launched.stop(SHUTDOWN_GRACE)
    if suite.spare is not None and suite.spare.exception() is None:
        suite.spare.result().stop(grace=2)  # a no-op once SHUT-001 stopped it
    suite.downstream.stop()
    if suite.pipeline is not None:  # after the target: it forwards the target's last flush
        suite.pipeline.stop()
    suite.collector.stop()


def replayed(config, document: dict) -> Suite:
    times = ([e["received_at"] for e in document["exports"]] + [c["received_at"] for c in document["downstream"]]
             + [c["started_at"] for t in document["checks"].values() for c in t["calls"]])
    clock = VirtualClock(min(times, default=0.0) - 1)
    meta = document["suite"]
    collector = ReplayCollector(document["exports"], clock)
    launched = spare = None
    if meta["launched"]:
        launched = ReplayedTarget(meta["target"], document["stdout"], document.get("ending"), clock)
        spare = Future()
        spare.set_result(ReplayedTarget(meta["target"], [], document.get("shutdown_ending"), clock))
    profile = Profile(get_profile(meta["profile"]).name,
                      f"{meta['profile_reason']}; replayed from {config.getoption('--replay')}")
    client = ReplayClient(meta["address"], clock)
    client.calls_made[("Echo", "OK")] += meta.get("probe_calls", 0)
    watch = SignalWatch(collector, config.getoption("--telemetry-timeout"), meta.get("exporter_setup", ""))
    return Suite(collector, ReplayDownstream(document["downstream"], clock), client, profile, watch,
                 meta["service_name"], launched, meta["protocol"], clock, meta.get("probe_calls", 0), spare,
                 exact_client=client, trace_context_level=meta.get("trace_context_level", 1))
