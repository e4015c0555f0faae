"""Sending one W3C vector through ``Relay`` with exact headers, and judging both sides of it:
what the target exported for the call and what it sent on to the suite's downstream.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import grpc
import pytest

from otelconform.ids import new_span_id, new_trace_id, traceparent, unique
from otelconform.observe import CLIENT, SERVER, server_span
from otelconform.tracestate import forwarding_error, members
from otelconform.verdicts import Mismatch, expect, expect_equal
from otelconform.w3c_vectors import CONTINUE, Vector, outside_grpc_grammar

from ._calls import target_service

from ._calls import downstream_calls, outgoing_traceparent

MAX_MEMBERS = 32  # W3C Trace Context §tracestate Limits / list: at most 32 list-members


@dataclass
class Sent:
    trace_id: str  # the ids the vector was built from
    parent_id: str
    headers: list[tuple[str, str]]
    calls: list  # ObservedCall at the downstream; empty when the target refused the request
    refusal: str = ""  # why the target refused a request outside gRPC's metadata grammar

    def shown(self) -> str:
        """The request's W3C headers, replayable by hand (e.g. with grpcurl -H)."""
        return "; ".join(f"{k}: {v!r}" for k, v in self.headers) or "(none)"


def skip_unless_level(suite, vector: Vector) -> None:
    if suite.trace_context_level not in vector.levels:
        pytest.skip(f"this vector's expectation is W3C Trace Context Level "
                    f"{' or '.join(map(str, vector.levels))}'s; the target is judged at Level "
                    f"{suite.trace_context_level} (--trace-context-level)")


def send(suite, vector: Vector, tag: str) -> Sent:
    """Relay with the vector's headers; TARGET_ERROR when the relay did not happen, except that
    a request outside gRPC's metadata grammar may be refused (HTTP/2 and gRPC allow that)."""
    trace_id, parent_id = new_trace_id(), new_span_id()
    headers = vector.sent_headers(trace_id, parent_id)
    payload = unique(tag)
    result = suite.exact_client.relay(suite.downstream.address, payload, calls=vector.calls,
                                      metadata=tuple(headers))
    if result.code != grpc.StatusCode.OK and outside_grpc_grammar(headers):
        return Sent(trace_id, parent_id, headers, [], f"{result.code.name}: {result.details}")
    if result.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        size = sum(len(k) + len(v) for k, v in headers)
        raise Mismatch(f"the service refused a request whose W3C headers ({size} bytes) are within the "
                       f"specifications' limits: RESOURCE_EXHAUSTED ({result.details}); raise the gRPC "
                       f"server's metadata size limit (grpc.max_metadata_size, 8 KiB by default in gRPC "
                       f"C-core, where requests between that and the hard limit fail at random) to at least "
                       f"16 KiB, so that 8,192 bytes of baggage fit beside the other headers")
    result.require()
    return Sent(trace_id, parent_id, headers, downstream_calls(suite, payload, vector.calls))


def _injects_at_all(suite) -> bool:
    """Does the target send a traceparent downstream for a plain, valid one? Asked once."""
    def probe():
        payload = unique("w3c-inject-probe")
        metadata = (("traceparent", traceparent(new_trace_id(), new_span_id())),)
        if suite.client.relay(suite.downstream.address, payload, metadata=metadata).code != grpc.StatusCode.OK:
            return True  # let the vector's own failure speak
        calls = suite.downstream.wait_for_calls(payload, 1, suite.telemetry_timeout)
        return bool(calls and calls[0].values("traceparent"))
    return suite.once("outgoing traceparent", probe)


def outgoing(suite, sent: Sent, call) -> tuple[str, str, str, str]:
    """The outgoing traceparent; a target that never injects one is PROP-004's finding, once."""
    if not call.values("traceparent") and not _injects_at_all(suite):
        pytest.skip("the target sends no traceparent on its outgoing calls at all, so this vector "
                    "cannot be judged; PROP-004 reports that")
    try:
        return outgoing_traceparent(call)
    except Mismatch as exc:
        raise Mismatch(f"{exc}; request headers: {sent.shown()}") from None


def forwarded_baggage(suite, sent: Sent) -> list[str]:
    """The baggage headers of the (first) outgoing call; a target that forwards no baggage at
    all is PROP-008's finding, once, and the baggage checks are skipped."""
    received = sent.calls[0].values("baggage")
    if not received and not _forwards_baggage_at_all(suite):
        pytest.skip("the target forwards no baggage at all, so this cannot be judged; PROP-008 reports that")
    return received


def _forwards_baggage_at_all(suite) -> bool:
    def probe():
        vector = Vector("probe", lambda t, p: [("traceparent", traceparent(t, p)),
                                               ("baggage", f"probe={unique('baggage-probe')}")])
        return bool(send(suite, vector, "bag-probe").calls[0].values("baggage"))
    return suite.once("outgoing baggage", probe)


def _avoided_trace_ids(sent: Sent) -> set[str]:
    """Trace ids a new trace must not reuse: the one drawn, and every 32-digit window of a
    sent value (an over-long trace id must not be cut down and continued)."""
    avoided = {sent.trace_id}
    for _, value in sent.headers:
        for run in re.findall(r"[0-9a-fA-F]{32,}", value):
            avoided |= {run[i:i + 32].lower() for i in range(len(run) - 31)}
    return avoided


def judge_trace(suite, vector: Vector, sent: Sent) -> None:
    """Continued (same trace id, new parent id, the sampled flag kept) or a new trace (a new,
    valid trace id and a root server span), on the downstream and in what was exported."""
    parsed = [outgoing(suite, sent, call) for call in sent.calls]
    parents = [p[2] for p in parsed]
    expect(len(set(parents)) == len(parents), f"parent ids of the {len(parsed)} outgoing calls",
           "distinct span ids, one per outgoing call", parents)
    if vector.trace == CONTINUE:
        for _, trace_id, _, flags in parsed:
            _judge_continued(vector, sent, trace_id, parents, int(flags, 16))
        if vector.sampled:
            server_span(suite, sent.trace_id, sent.parent_id, outgoing=True)
        return
    # Outgoing calls in traces of their own (not the server span's) are PROP-005's finding.
    for trace_id, flags in dict((p[1], p[3]) for p in parsed).items():
        _judge_new_trace(suite, sent, trace_id, int(flags, 16))


def _judge_continued(vector: Vector, sent: Sent, trace_id: str, parents: list[str], flags: int) -> None:
    if trace_id != sent.trace_id:
        raise Mismatch(f"request headers {sent.shown()} carry a valid traceparent: expected the outgoing call "
                       f"to continue trace {sent.trace_id}, got trace {trace_id} (a new trace); parse this "
                       f"form of traceparent and continue its trace")
    expect(sent.parent_id not in parents, "parent id sent downstream",
           f"a span id of the target's own, not the incoming parent {sent.parent_id}", parents)
    expect(bool(flags & 0x01) == vector.sampled, "sampled flag (0x01) sent downstream",
           f"{'set' if vector.sampled else 'unset'}, as in the incoming traceparent (it is never invented "
           f"or dropped)", f"{flags:02x}")
    if vector.random:
        expect(bool(flags & 0x02), "random trace-id flag (0x02) sent downstream",
               "set, as in the incoming traceparent", f"{flags:02x}")


def _judge_new_trace(suite, sent: Sent, trace_id: str, flags: int) -> None:
    if trace_id in _avoided_trace_ids(sent):
        raise Mismatch(f"request headers {sent.shown()} carry no valid traceparent: expected a new trace id, "
                       f"got {trace_id} taken from the request; an invalid (or missing, or repeated) "
                       f"traceparent must be ignored and a new trace started")
    if not flags & 0x01:
        return  # the target's own sampler left the new trace unsampled: nothing to look for

    service = target_service(suite)

    def settled():
        """The trace's non-CLIENT spans once one arrived; or its CLIENT spans when they point at
        no span still to come (a root, or the request's own parent id)."""
        spans = suite.collector.spans(trace_id, service=service)
        servers = sorted((s for s in spans if s.kind != CLIENT), key=lambda s: s.kind != SERVER)
        return servers or [s for s in spans if s.kind == CLIENT and s.parent_span_id in ("", sent.parent_id)]

    found = suite.watch.wait("traces", settled, f"the target's span in its new trace {trace_id}")
    if not found:
        raise Mismatch(f"the target sent trace {trace_id} downstream with the sampled flag set, but exported "
                       f"no span of it within {suite.telemetry_timeout:g}s (request headers "
                       f"{sent.shown()}); a sampled span must be exported")
    # A CLIENT span alone (the outgoing call's span hangs off nothing) is PROP-005's finding;
    # here only a span that continues the request's invalid context is wrong.
    expect_equal(f"parent of the target's {found[0].kind.replace('SPAN_KIND_', '').lower()} span in its new "
                 f"trace {trace_id} (request headers {sent.shown()})", "", found[0].parent_span_id)


def judge_tracestate(vector: Vector, sent: Sent) -> None:
    for call in sent.calls:
        received = call.values("tracestate")
        forwarded = members(received)
        where = f"request headers {sent.shown()}; forwarded tracestate {received!r}"
        expect(len(forwarded) <= MAX_MEMBERS, "members in the forwarded tracestate",
               f"at most {MAX_MEMBERS} ({where})", len(forwarded))
        if vector.forwarded is not None:
            expected = ",".join(f"{k}={v}" for k, v in vector.forwarded)
            if vector.forwarded or len(forwarded) > 1:
                error = forwarding_error(expected, received)
                if error:
                    raise Mismatch(f"{error} ({where}); combine every tracestate header in order, ignore "
                                   f"empty members and whitespace around commas, and forward the list")
        if vector.forwarded_any and not any(m in forwarded for m in vector.forwarded_any):
            raise Mismatch(f"expected the forwarded tracestate to keep one of "
                           f"{[f'{k}={v}' for k, v in vector.forwarded_any]} ({where}); a duplicated key may "
                           f"be kept or collapsed, but the list must still be propagated")
        leaked = [f"{k}={v}" for k, v in forwarded if k in vector.not_forwarded]
        if leaked:
            raise Mismatch(f"expected none of the keys {list(vector.not_forwarded)} to be forwarded, got "
                           f"{leaked} ({where}); tracestate must be ignored without a valid traceparent, and "
                           f"an invalid or over-long list discarded whole")
