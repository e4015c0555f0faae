"""Bugs of one hop of a call chain (the contract's Chain method), to prove the chain checks can fail.

Each is a mistake a hand-written hop makes around its outgoing call while the gRPC
instrumentation stays correct, so only the chain that passes through the hop shows it;
the service's other methods are untouched. tests/test_chains.py lists what each one fails.
"""
from __future__ import annotations

import contextlib

from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

MUTANTS = {
    "chain-orphan-span": "Chain starts a span it never ends and ends a child of it: the child is exported with "
                         "a parent that never is",
    "chain-drops-tracestate": "Chain calls the next hop under a copy of its span context made without tracestate",
    "chain-drops-baggage": "Chain calls the next hop in a fresh context holding only its span: baggage is lost",
    "chain-forces-sampled": "Chain calls the next hop under a copy of its span context marked sampled, whatever "
                            "the incoming trace-flags",
}


def _copy_of_current(trace_state: bool, flags: TraceFlags | None = None) -> NonRecordingSpan:
    current = trace.get_current_span().get_span_context()
    return NonRecordingSpan(SpanContext(
        current.trace_id, current.span_id, current.is_remote,
        current.trace_flags if flags is None else flags,
        current.trace_state if trace_state else None))


@contextlib.contextmanager
def around_outgoing_call(mutant: str | None):
    """The context the hop's outgoing call is made in: the current one unless ``mutant`` is
    one of this module's."""
    if mutant == "chain-orphan-span":
        tracer = trace.get_tracer(__name__)
        never_ended = tracer.start_span("prepare next hop")
        tracer.start_span("resolve next hop", context=trace.set_span_in_context(never_ended)).end()
        yield
        return
    if mutant == "chain-drops-tracestate":
        replaced = trace.set_span_in_context(_copy_of_current(trace_state=False))
    elif mutant == "chain-drops-baggage":
        replaced = trace.set_span_in_context(trace.get_current_span(), context.Context())
    elif mutant == "chain-forces-sampled":
        replaced = trace.set_span_in_context(_copy_of_current(trace_state=True, flags=TraceFlags(TraceFlags.SAMPLED)))
    else:
        yield
        return
    token = context.attach(replaced)
    try:
        yield
    finally:
        context.detach(token)
