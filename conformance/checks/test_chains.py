"""Chain mode (``--chain``): one call through several services, judged as one stitched trace.

Every check judges the calls ``chains.ChainSession`` made through one chain (the ``chain``
parameter). A check first requires that the call it judges ended as asked (TARGET_ERROR
naming Chain otherwise), and the checks that read the trace's links skip, naming CHAIN-001,
when those links are broken: a lost context is one finding, not seven.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import grpc
import pytest

from otelconform.chains import FAILURE
from otelconform.ids import parse_traceparent
from otelconform.profiles import STATUS_ATTRIBUTES
from otelconform.registry import check
from otelconform.stitching import service_of, strays
from otelconform.verdicts import Mismatch, NoTelemetry, TargetUnresponsive, measured

SEED_TRACING = "architecture §Distributed Tracing Design 'Trace Context Propagation'"
W3C_PARENT = "W3C Trace Context §3.2.2.3 parent-id"
W3C_TRACESTATE = "W3C Trace Context §3.3 tracestate (§3.5 Mutating the tracestate field)"
W3C_BAGGAGE = "W3C Baggage §3 (propagation: members are passed on unchanged)"
CONTEXT_LOST = "the trace's links are broken (CHAIN-001 says where); this check reads them"


def _all_started(observation) -> None:
    if observation.started_hops:
        label, reason = next(iter(observation.started_hops.items()))
        raise TargetUnresponsive(f"the service {label!r} of the chain {observation.chain.describe()} did not "
                                 f"start: {reason}")


def _ended_as_asked(observation, call, expected: grpc.StatusCode = grpc.StatusCode.OK):
    """TARGET_ERROR unless every hop started and ``call`` ended with ``expected``, the
    downstream reached when it should have been."""
    chain = observation.chain
    _all_started(observation)
    if call.code != expected:
        hint = ""
        if call.code == grpc.StatusCode.UNIMPLEMENTED:
            k = observation.session.first_without_chain(chain)
            if k is not None:
                hint = (f"; {chain.hop(k)} answers conformance.v1.Conformance/Chain UNIMPLEMENTED: every service "
                        f"of a chain must implement Chain (docs/target-contract.md §Chains across services)")
        raise TargetUnresponsive(f"the call through {chain.describe()} should have ended {expected.name}, got "
                                 f"{call.code.name} ({call.details}){hint}; Chain calls the next hop and ends "
                                 f"with its status")
    if expected == grpc.StatusCode.OK and call.downstream is None:
        raise TargetUnresponsive(f"the call through {chain.describe()} ended OK but the suite's downstream never "
                                 f"received its Echo: the last hop must call it (Chain)")


def _linked(observation, call):
    """The walk of ``call``'s trace; SKIPPED (naming CHAIN-001) when its links are broken."""
    _all_started(observation)
    _ended_as_asked(observation, call, grpc.StatusCode.OK if call.fails_at is None else FAILURE)
    walked = observation.walk(call)
    if not walked.complete:
        pytest.skip(f"{CONTEXT_LOST}: at {observation.chain.hop(walked.broken_at or len(walked.hops))}")
    return walked


def _trace_summary(observation, call) -> str:
    spans = observation.spans(call)
    if not spans:
        return "no span of the trace arrived"
    return "spans of the trace: " + "; ".join(f"{service_of(s)}: {s.summary()}" for s in spans)


@check("CHAIN-001", "MUST", "one trace end to end: each hop's SERVER span is the child of the previous hop's "
       "CLIENT span", f"{SEED_TRACING}; {W3C_PARENT}; OTel trace API §SpanContext (remote parent)", "traces",
       killed_by=("no-outgoing-inject", "drop-incoming-context"), chain=True,
       fix="In every service of the chain, extract the incoming traceparent before the server span starts (the "
           "gRPC server instrumentation with the W3C propagator installed), and make the outgoing call inside a "
           "CLIENT span of its own with the context injected (the gRPC client instrumentation).")
def test_chain_001_one_trace(chain_observation):
    observation = chain_observation
    chain, call = observation.chain, observation.sampled
    _ended_as_asked(observation, call)
    walked = observation.walk(call)
    if not walked.complete:
        k = walked.broken_at if walked.broken_at is not None else len(walked.hops)
        raise Mismatch(f"expected one trace {call.trace_id} through {chain.describe()}; at {chain.hop(k)}: "
                       f"{walked.reason}. {observation.session.where_context_is_lost(chain, k)}; "
                       f"{_trace_summary(observation, call)}")
    last_client = walked.hops[-1].client
    parsed = parse_traceparent(next(iter(call.downstream.values("traceparent")), ""))
    if parsed is None or parsed[1] != call.trace_id or parsed[2] != last_client.span_id:
        raise Mismatch(f"expected the suite's downstream to receive trace {call.trace_id} with parent "
                       f"{last_client.span_id} (the CLIENT span of {chain.hop(len(chain.hops) - 1)}), got "
                       f"traceparent {call.downstream.values('traceparent')}")


@check("CHAIN-002", "MUST", "no orphans and no extra roots in a chain's trace",
       f"{SEED_TRACING} 'Trace Structure'; OTel trace API §Span creation (parent)", "traces",
       killed_by=("chain-orphan-span",), chain=True,
       fix="Start every span of a request under the request's context (the server span's, or a child of it): a "
           "span started without it becomes a new root, one under a context never exported an orphan.")
def test_chain_002_no_orphans(chain_observation):
    observation = chain_observation
    call = observation.sampled
    walked = _linked(observation, call)
    spans = observation.spans(call)
    odd = strays(spans, call.parent_id)
    if odd:
        raise Mismatch(f"expected every span of trace {call.trace_id} to descend from the suite's span "
                       f"{call.parent_id}, got {len(odd)} that do not (first: {service_of(odd[0])}: "
                       f"{odd[0].summary()}); {_trace_summary(observation, call)}")
    servers = [s for s in spans if s.kind == "SPAN_KIND_SERVER"]
    if len(servers) != len(walked.hops):
        raise Mismatch(f"expected {len(walked.hops)} SERVER spans in trace {call.trace_id} (one per hop), got "
                       f"{len(servers)}; {_trace_summary(observation, call)}")


def _tracestate_members(value: str) -> list[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


@check("CHAIN-003", "MUST", "the sampled flag and tracestate survive every hop",
       f"{W3C_TRACESTATE}; W3C Trace Context §3.2.2.5 trace-flags", "traces",
       killed_by=("chain-drops-tracestate",), chain=True,
       fix="Propagate the incoming context whole: keep the sampled flag (a parent-based sampler), and pass "
           "tracestate on with other vendors' entries unchanged (a service may add or update only its own key, "
           "at the front).")
def test_chain_003_flags_and_tracestate(chain_observation):
    observation = chain_observation
    chain, call = observation.chain, observation.sampled
    walked = _linked(observation, call)
    for k, hop in enumerate(walked.hops):
        if call.tracestate not in _tracestate_members(hop.server.span.trace_state):
            raise Mismatch(f"expected {chain.hop(k)}'s SERVER span to carry the tracestate entry "
                           f"{call.tracestate!r}, got trace_state {hop.server.span.trace_state!r}; the hop before "
                           f"it dropped or changed an entry that is not its own")
    parsed = parse_traceparent(next(iter(call.downstream.values("traceparent")), ""))
    flags = parsed[3] if parsed else "none"
    if parsed is None or not int(flags, 16) & 1:
        raise Mismatch(f"expected the suite's downstream to receive the sampled flag (01) through "
                       f"{chain.describe()}, got trace-flags {flags}")
    received = ",".join(call.downstream.values("tracestate"))
    if call.tracestate not in _tracestate_members(received):
        raise Mismatch(f"expected the suite's downstream to receive the tracestate entry {call.tracestate!r} "
                       f"through {chain.describe()}, got {received!r}; "
                       f"{observation.session.where_lost(chain, 'tracestate', call.tracestate)}")


@check("CHAIN-004", "MUST", "baggage survives every hop", f"{W3C_BAGGAGE}; OTel baggage API §Propagation",
       "traces", killed_by=("chain-drops-baggage",), chain=True,
       fix="Install the W3C Baggage propagator beside TraceContext in every service (OTEL_PROPAGATORS="
           "tracecontext,baggage, the default) and make outgoing calls in the incoming request's context.")
def test_chain_004_baggage(chain_observation):
    observation = chain_observation
    chain, call = observation.chain, observation.sampled
    _linked(observation, call)
    received = [m.split(";")[0].strip() for v in call.downstream.values("baggage") for m in v.split(",")]
    if call.baggage not in received:
        raise Mismatch(f"expected the suite's downstream to receive the baggage member {call.baggage!r} through "
                       f"{chain.describe()}, got {call.downstream.values('baggage')}; "
                       f"{observation.session.where_lost(chain, 'baggage', call.baggage)}")


@check("CHAIN-005", "MUST", "an unsampled call: every hop propagates it, no hop exports a span",
       "OTel trace SDK §Built-in samplers (ParentBased: remote parent not sampled → AlwaysOff); "
       "W3C Trace Context §3.2.2.5 trace-flags", "traces", killed_by=("chain-forces-sampled",), chain=True,
       fix="Keep the default parent-based sampler in every service (or honour the parent in your own), and "
           "propagate the unsampled context on the outgoing call: trace-flags 00 with the same trace id.")
def test_chain_005_unsampled(chain_observation):
    observation = chain_observation
    chain, call = observation.chain, observation.unsampled
    # A context lost on the sampled call is lost on this one too: CHAIN-001's finding. Once the
    # sampled call's spans are all in, so are any this one leaked (it was made first).
    _linked(observation, observation.sampled)
    _ended_as_asked(observation, call)
    parsed = parse_traceparent(next(iter(call.downstream.values("traceparent")), ""))
    if parsed is None or parsed[1] != call.trace_id or int(parsed[3], 16) & 1:
        raise Mismatch(f"expected the suite's downstream to receive trace {call.trace_id} unsampled (flags 00) "
                       f"through {chain.describe()}, got traceparent {call.downstream.values('traceparent')}")
    leaked = observation.spans(call)
    if leaked:
        raise Mismatch(f"expected no span for a call whose parent is unsampled, got {len(leaked)} (first: "
                       f"{service_of(leaked[0])}: {leaked[0].summary()})")


@check("CHAIN-006", "MUST", "a failure at the last hop is recorded by every hop on the way back",
       "semconv docs/rpc/grpc.md §gRPC status (server: ERROR for UNAVAILABLE; client: ERROR for any non-OK); "
       "schemas/<profile>/*-span.schema.json", "traces", killed_by=("error-status-ok", "client-outcome-ok"), chain=True,
       fix="Record the final gRPC status on every span: a service whose downstream call fails must end its CLIENT "
           "span with status ERROR and the code in the profile's attribute, and its own SERVER span likewise "
           "when it passes the failure on.")
def test_chain_006_failure_recorded(chain_observation):
    observation = chain_observation
    chain, call = observation.chain, observation.failing
    walked = _linked(observation, call)
    profiles = observation.session.profiles(observation)
    for k, hop in enumerate(walked.hops):
        profile = profiles[chain.hops[k].label]
        for kind, span, method in (("server-span", hop.server, "Chain"),
                                   ("client-span", hop.client, "Chain")):  # the failing hop has no client span
            if span is None:
                continue
            side = kind.split("-")[0].upper()
            if span.status != "STATUS_CODE_ERROR":
                raise Mismatch(f"expected {chain.hop(k)}'s {side} span of a call ending {FAILURE.name} to have "
                               f"status ERROR, got {span.status}")
            errors = profile.span_errors(kind, span.attributes, method, FAILURE, only=STATUS_ATTRIBUTES)
            if errors:
                raise Mismatch(f"{chain.hop(k)}'s {side} span of a call ending {FAILURE.name} records its outcome "
                               f"against the '{profile.label}' profile: " + "; ".join(errors)
                               + f" (attributes: {span.attributes})")


@check("CHAIN-007", "MUST", "each hop's spans name its own service",
       "architecture 'Span Attributes Standard' (service.name); OTel SDK environment variables §OTEL_SERVICE_NAME",
       "resource", killed_by=("ignore-service-name",), chain=True,
       fix="Build each service's Resource from OTEL_SERVICE_NAME (the SDK's default resource detectors do), so that "
           "every hop of a chain shows under its own name.")
def test_chain_007_services_named(chain_observation):
    observation = chain_observation
    chain = observation.chain
    walked = _linked(observation, observation.sampled)
    for k, hop in enumerate(walked.hops):
        for span in filter(None, (hop.server, hop.client)):
            if service_of(span) != chain.hops[k].service_name:
                raise Mismatch(f"expected {chain.hop(k)}'s spans under service.name "
                               f"{chain.hops[k].service_name!r} (its OTEL_SERVICE_NAME), got {service_of(span)!r}")


@check("CHAIN-008", "MUST", "each hop's log record carries its own server span's ids",
       "architecture §Logging Strategy 'Structured Logging with Trace Correlation'; OTel logs data model "
       "§Trace Context Fields", "logs", killed_by=("log-without-context",), chain=True,
       fix="Emit each service's log records in its server span's context (the OpenTelemetry log bridge of its "
           "logging library, given the request's context), so the SDK stamps that span's trace and span ids.")
def test_chain_008_logs_correlated(chain_observation):
    observation = chain_observation
    chain, call = observation.chain, observation.sampled
    walked = _linked(observation, call)
    records = observation.logs(call)
    for k, hop in enumerate(walked.hops):
        mine = [r for r in records if r.body == call.log_messages[k]]
        if not mine:
            raise NoTelemetry(f"expected a log record {call.log_messages[k]!r} from {chain.hop(k)} (Chain's "
                              f"log_message), none arrived within the telemetry timeout")
        record = mine[0]
        if (record.trace_id, record.span_id) != (call.trace_id, hop.server.span_id):
            raise Mismatch(f"expected {chain.hop(k)}'s log record to carry trace {call.trace_id} and its SERVER "
                           f"span {hop.server.span_id}, got trace {record.trace_id or '-'} span "
                           f"{record.span_id or '-'}")


@check("CHAIN-009", "MUST", "each hop's spans follow its own semantic-convention profile",
       "semconv docs/rpc/rpc-spans.md, docs/rpc/grpc.md; schemas/<profile>/server-span.schema.json and "
       "client-span.schema.json (the profile each service declares with its schema_url or shows)", "traces",
       killed_by=("wrong-rpc-system",), chain=True,
       fix="Give every span the RPC attributes of one profile, the same within a service: semconv-1.38 "
           "(rpc.system, rpc.service, rpc.method, rpc.grpc.status_code) or semconv-1.44 (rpc.system.name, "
           "rpc.method, rpc.response.status_code); services of a chain may follow different ones.")
def test_chain_009_profiles(chain_observation):
    observation = chain_observation
    chain = observation.chain
    walked = _linked(observation, observation.sampled)
    profiles = observation.session.profiles(observation)
    for k, hop in enumerate(walked.hops):
        profile = profiles[chain.hops[k].label]
        for kind, span, method in (("server-span", hop.server, "Chain"),
                                   ("client-span", hop.client, "Chain" if k + 1 < len(chain.hops) else "Echo")):
            errors = profile.span_errors(kind, span.attributes, method, grpc.StatusCode.OK)
            if errors:
                raise Mismatch(f"{chain.hop(k)}'s {kind.split('-')[0].upper()} span does not follow the "
                               f"'{profile.label}' profile it declares ({profile.reason}): " + "; ".join(errors)
                               + f" (attributes: {span.attributes})")
    measured("; ".join(f"{h.label}: {profiles[h.label].label}" for h in dict.fromkeys(chain.hops)))
