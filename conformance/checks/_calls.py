"""Shared steps of the checks: a traced call and the span the target made for it."""
from __future__ import annotations

from otelconform.ids import new_span_id, new_trace_id, traceparent, unique
from otelconform.observe import span_for_call


def traced_call(suite, method: str, *args, **kwargs):
    """Call ``method`` with a fresh sampled traceparent; return (result, trace_id, parent_id)."""
    trace_id, parent_id = new_trace_id(), new_span_id()
    metadata = (("traceparent", traceparent(trace_id, parent_id)),)
    call = getattr(suite.client, method)
    return call(*args, metadata=metadata, **kwargs), trace_id, parent_id


def traced_echo_span(suite):
    """One Echo call and the span the target exported for it."""
    result, trace_id, parent_id = traced_call(suite, "echo", unique("echo"))
    result.require_ok()
    return span_for_call(suite.collector, trace_id, parent_id, suite.telemetry_timeout)
