"""Chain mode: one suite call travelling through several services, judged as one trace.

``--chain go,rust,c`` (or commands) names the services in call order; ``--chain-scenario``
adds named sets of chains (the architecture's topology, or every ordered pair of the
reference services). Each distinct service is launched once, with a service name of its own,
and reused by every chain it takes part in; all of them export to one collector. For each
chain the suite makes three calls through the contract's ``Chain`` method, at once for all
chains, and the CHAIN checks judge what came of them (``ChainObservation``):

- a sampled call carrying tracestate and baggage, with a log record asked of every hop;
- the same with the sampled flag off, made first, so that once the sampled call's spans are
  in, any span of the unsampled one would be too (each service exports in the order its
  spans end);
- a call that the last service ends with UNAVAILABLE, an error on both sides of every hop.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import shlex
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.downstream import DownstreamServer, ObservedCall
from otelconform_fixtures.target import LaunchedTarget, TargetError
from otelconform_fixtures.transport_front import TransportFront

from . import ids
from .contract import KEEP_WHOLE, pb, services
from .profiles import Profile, detect_profile
from .session import FAST_EXPORT
from .stitching import Walk, walk

REFERENCES = ("python", "python_async", "go", "rust", "c", "cpp")
SCENARIOS = {
    "architecture": "the architecture document's topology: go → rust → c and go → python → c",
    "pairs": "every ordered pair of the six reference services (36), and each of them as the middle of a triple",
}
FAILURE = grpc.StatusCode.UNAVAILABLE  # semconv rpc/grpc.md: an error on the server side and the client side
CHAIN_DOC = "docs/target-contract.md §Chains across services"


class ChainSpecError(ValueError):
    """A --chain or --chain-scenario the suite cannot use; a usage error."""


@dataclass(frozen=True)
class Service:
    """One service of the chains: launched once, whatever the number of chains it is in."""

    label: str  # a reference's name, or a name made from the command
    command: str

    @property
    def service_name(self) -> str:
        return f"chain-{self.label}"


@dataclass(frozen=True)
class Chain:
    hops: tuple[Service, ...]

    @property
    def id(self) -> str:
        return "-".join(h.label for h in self.hops)

    def describe(self) -> str:
        return " → ".join(h.label for h in self.hops) + " → the suite's downstream"

    def hop(self, index: int) -> str:
        """Hop ``index`` (0-based) as messages name it."""
        return f"hop {index + 1} ({self.hops[index].label}, service.name {self.hops[index].service_name})"


def _scenario(name: str) -> list[tuple[str, ...]]:
    if name in ("architecture", "seed"):  # seed: the name it had first
        return [("go", "rust", "c"), ("go", "python", "c")]
    pairs = [(a, b) for a in REFERENCES for b in REFERENCES]
    triples = [(REFERENCES[i - 1], middle, REFERENCES[(i + 1) % len(REFERENCES)]) for i, middle in enumerate(REFERENCES)]
    return pairs + triples


def _label_of(command: str) -> str:
    """A short name for a command: the folder of its run.sh, else its program's name, past
    any leading VAR=value words and `env`."""
    words = [w for w in shlex.split(command) if "=" not in w.split("/")[0] and w != "env"] or ["service"]
    run = next((Path(w) for w in words if Path(w).name == "run.sh"), None)
    return run.parent.name if run is not None else Path(words[0]).stem


def parse_chains(values: list[str], scenarios: list[str], root: Path) -> list[Chain]:
    """The chains of the --chain values (comma-separated reference names or commands) and the
    --chain-scenario names, in order, each service made once."""
    made: dict[str, Service] = {}

    def service(item: str) -> Service:
        item = item.strip()
        if not item:
            raise ChainSpecError("an empty hop in --chain: give reference names or commands separated by commas, "
                                 "e.g. --chain go,rust,c")
        run = root / "reference_services" / item / "run.sh"
        if item in REFERENCES or (item.isidentifier() and run.exists()):
            if not run.exists():
                raise ChainSpecError(f"--chain: the reference service {item!r} is not in {root}/reference_services "
                                     f"(run the chain from the project's folder, or give the command instead)")
            command, label = str(run), item
        elif item.isidentifier():
            raise ChainSpecError(f"--chain: {item!r} is neither a reference service ({', '.join(REFERENCES)}) nor "
                                 f"a command; a command needs a path or arguments, e.g. ./run.sh")
        else:
            command = item
            label = _label_of(item)
            label = "".join(c if c.isalnum() or c == "_" else "_" for c in label) or "service"
        if command in made:
            return made[command]
        taken = {s.label for s in made.values()}
        unique_label, n = label, 2
        while unique_label in taken:
            unique_label, n = f"{label}{n}", n + 1
        made[command] = Service(unique_label, command)
        return made[command]

    chains = [Chain(tuple(service(item) for item in value.split(","))) for value in values]
    for name in scenarios:
        if name not in SCENARIOS:
            raise ChainSpecError(f"unknown --chain-scenario {name!r}; choose one of: "
                                 + "; ".join(f"{k} ({v})" for k, v in SCENARIOS.items()))
        chains += [Chain(tuple(service(label) for label in hops)) for hops in _scenario(name)]
    seen, unique_chains = set(), []
    for chain in chains:
        if chain.id not in seen:
            seen.add(chain.id)
            unique_chains.append(chain)
    return unique_chains


@dataclass
class ChainCall:
    """One call through a chain, as the suite sent it and as it ended."""

    trace_id: str
    parent_id: str
    sampled: bool
    tracestate: str  # the suite's entry, key=value
    baggage: str  # the suite's member, key=value
    payload: str
    log_messages: tuple[str, ...]  # one per hop (the sampled call only)
    fails_at: int | None  # the hop asked to end with FAILURE
    code: grpc.StatusCode = grpc.StatusCode.OK
    details: str = ""
    downstream: ObservedCall | None = None  # what the suite's downstream received, if it was reached


@dataclass
class ChainObservation:
    chain: Chain
    unsampled: ChainCall
    sampled: ChainCall
    failing: ChainCall
    session: "ChainSession"
    started_hops: dict[str, str] = field(default_factory=dict)  # label -> why it did not start

    def spans(self, call: ChainCall):
        return self.session.collector.spans(call.trace_id)

    def walk(self, call: ChainCall) -> Walk:
        hops = len(self.chain.hops) if call.fails_at is None else call.fails_at + 1
        return walk(self.spans(call), call.parent_id, self.chain, hops, last_calls_out=call.fails_at is None)

    def logs(self, call: ChainCall):
        wanted = set(call.log_messages)
        return [r for r in self.session.collector.logs() if r.body in wanted]


class ChainSession:
    """The chain mode's collector, downstream and launched services."""

    def __init__(self, chains: list[Chain], ready_timeout: float, telemetry_timeout: float, call_timeout: float):
        self.chains = chains
        self.ready_timeout, self.telemetry_timeout, self.call_timeout = ready_timeout, telemetry_timeout, call_timeout
        self.collector = FakeCollector(keep_whole=KEEP_WHOLE)
        self.downstream = DownstreamServer()
        self.launched: dict[str, LaunchedTarget] = {}
        self.not_started: dict[str, str] = {}  # label -> the reason
        self.start_error: str | None = None  # the suite's own servers could not start
        self.front: TransportFront | None = None
        self._observations: dict[str, Future] = {}
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(6, thread_name_prefix="conformance-chain")
        self.profile: Profile | None = None  # --semconv, when not auto
        self._profiles: dict[str, Profile] = {}

    @property
    def services(self) -> list[Service]:
        return list({h.command: h for chain in self.chains for h in chain.hops}.values())

    def start(self) -> "ChainSession":
        self.collector.start()
        self.collector.start_http()
        self.front = TransportFront(self.collector.grpc_port, self.collector.http.port)
        self.downstream.start()
        started = {s.label: self._pool.submit(self._launch, s) for s in self.services}
        for label, future in started.items():
            try:
                self.launched[label] = future.result()
            except TargetError as exc:
                self.not_started[label] = str(exc)
        for chain in self.chains:
            self._observations[chain.id] = self._pool.submit(self._observe, chain)
        return self

    def _launch(self, service: Service) -> LaunchedTarget:
        # One port takes either transport: a service that exports OTLP/HTTP whatever it is told
        # (the C reference) still reaches the collector; the transport is not what chains judge.
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.front.port}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
               "OTEL_SERVICE_NAME": service.service_name, **FAST_EXPORT}
        return LaunchedTarget(service.command, env).start(self.ready_timeout)

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for channel in self._channels.values():
            channel.close()
        stopping = ThreadPoolExecutor(max(1, len(self.launched)))
        list(stopping.map(lambda t: t.stop(grace=10), self.launched.values()))
        stopping.shutdown()
        self.downstream.stop()
        if self.front is not None:
            self.front.close()
        self.collector.stop()

    def observation(self, chain: Chain) -> ChainObservation:
        return self._observations[chain.id].result()

    def _stub(self, address: str):
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = self._channels[address] = grpc.insecure_channel(address)
            return services.ConformanceStub(channel)

    def address(self, service: Service) -> str:
        return self.launched[service.label].address

    def _observe(self, chain: Chain) -> ChainObservation:
        missing = [h for h in chain.hops if h.label in self.not_started]
        if missing:
            return ChainObservation(chain, *(None,) * 3, session=self,
                                    started_hops={h.label: self.not_started[h.label] for h in missing})
        unsampled = self._call(chain, sampled=False)
        sampled = self._call(chain, sampled=True, logs=True)
        failing = self._call(chain, sampled=True, fails_at=len(chain.hops) - 1)
        observation = ChainObservation(chain, unsampled, sampled, failing, session=self)

        def complete() -> bool:
            return (observation.walk(sampled).complete and observation.walk(failing).complete
                    and len(observation.logs(sampled)) >= len(chain.hops))

        if sampled.code == grpc.StatusCode.OK and failing.code == FAILURE:
            self.collector.wait_for(complete, self.telemetry_timeout)
        return observation

    def _call(self, chain: Chain, sampled: bool, logs: bool = False, fails_at: int | None = None) -> ChainCall:
        hops = chain.hops
        call = ChainCall(ids.new_trace_id(), ids.new_span_id(), sampled, f"conformance={ids.new_span_id()}",
                         f"conformance.chain={ids.new_span_id()}", ids.unique(f"chain {chain.id}"),
                         tuple(ids.unique(f"chain {chain.id} hop {k + 1}") for k in range(len(hops))) if logs else (),
                         fails_at)

        def asked(k: int) -> dict:
            return {"fail_code": FAILURE.value[0] if fails_at == k else 0,
                    "log_message": call.log_messages[k] if logs else ""}

        following = [pb.Hop(address=self.address(h), **asked(k)) for k, h in enumerate(hops) if k > 0]
        request = pb.ChainRequest(payload=call.payload, next=[*following, pb.Hop(address=self.downstream.address)],
                                  **asked(0))
        metadata = (("traceparent", ids.traceparent(call.trace_id, call.parent_id, sampled=sampled)),
                    ("tracestate", call.tracestate), ("baggage", call.baggage))
        try:
            response = self._stub(self.address(hops[0])).Chain(request, metadata=metadata, timeout=self.call_timeout)
            if response.payload != call.payload:
                call.code, call.details = grpc.StatusCode.OK, f"answered payload {response.payload!r}"
        except grpc.RpcError as exc:
            call.code, call.details = exc.code(), exc.details() or ""
        found = self.downstream.calls(call.payload)
        call.downstream = found[0] if found else None
        return call

    def first_without_chain(self, chain: Chain) -> int | None:
        """The first hop answering a one-hop Chain UNIMPLEMENTED (it predates the method), if any."""
        for k, hop in enumerate(chain.hops):
            try:
                self._stub(self.address(hop)).Chain(pb.ChainRequest(payload="conformance-probe"),
                                                    timeout=self.call_timeout)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return k
        return None

    def profiles(self, observation: ChainObservation) -> dict:
        """{label: Profile} of the chain's services: --semconv, or each one's own, detected once
        from its first SERVER span the suite saw."""
        walked = observation.walk(observation.sampled)
        for k, hop in enumerate(walked.hops):
            label = observation.chain.hops[k].label
            with self._lock:
                if label not in self._profiles:
                    self._profiles[label] = self.profile or detect_profile(hop.server)
        with self._lock:
            return {h.label: self._profiles[h.label] for h in observation.chain.hops if h.label in self._profiles}

    def where_context_is_lost(self, chain: Chain, k: int) -> str:
        """Which side of the link into hop ``k`` lost the trace: a shorter chain ending at hop
        ``k``'s caller shows whether that caller injects the context at all."""
        if k == 0:
            return f"{chain.hop(0)} does not continue the suite's trace: it did not extract the incoming traceparent"
        probe = self._call(Chain(chain.hops[:k]), sampled=True)
        got = probe.downstream.values("traceparent") if probe.downstream else []
        if any(probe.trace_id in v for v in got):
            return (f"{chain.hop(k - 1)} passes the trace on (the chain ending at it reached the suite's "
                    f"downstream in the trace), so {chain.hop(k)} did not extract the incoming traceparent")
        return (f"{chain.hop(k - 1)} does not inject the context into its outgoing call (the chain ending at it "
                f"reached the suite's downstream with traceparent {got or 'none'}, not trace {probe.trace_id})")

    def where_lost(self, chain: Chain, header: str, _value: str) -> str:
        """The first hop that drops the suite's ``header`` entry, from shorter chains."""
        for k in range(len(chain.hops)):
            probe = self._call(Chain(chain.hops[:k + 1]), sampled=True)
            sent = probe.tracestate if header == "tracestate" else probe.baggage
            got = [m.split(";")[0].strip() for v in (probe.downstream.values(header) if probe.downstream else ())
                   for m in v.split(",")]
            if sent not in got:
                before = f"the chain up to {chain.hop(k - 1)} passes it on, " if k else ""
                return f"{before}so {chain.hop(k)} drops it (its outgoing call carried {header} {got or 'none'})"
        return "each shorter chain passes it on, so it is lost only when the whole chain is called"

    def meta(self) -> dict:
        names = ", ".join(f"{s.label} ({s.command})" for s in self.services)
        with self._lock:
            described = "; ".join(f"{label} {p.label}" for label, p in sorted(self._profiles.items())) or "not seen"
        return {"target": f"chains of {len(self.services)} launched services: {names}",
                "profile": f"per service: {described}",
                "profile_reason": "each service's profile detected from its own server spans", "semconv": "",
                "trace_context_level": 1,
                "transports": sorted({e.transport for e in self.collector.exports() if not e.error}),
                "ending": None, "diagnoses": {},
                "mode": f"chain mode, {len(self.chains)} chain(s) through {len(self.services)} service(s)"}

