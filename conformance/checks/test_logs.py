"""Log records emitted inside a request carry that request's trace context.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import json
import pytest

from otelconform.ids import unique
from otelconform.contract import pb
from otelconform.observe import log_where, server_span
from otelconform.profiles import log_line_errors
from otelconform.registry import check
from otelconform.verdicts import Mismatch, NoTelemetry, expect_equal, wait_until

from ._calls import traced_call, traced_ok_call

SEED_LOGGING = "architecture §Logging Strategy 'Structured Logging with Trace Correlation'; OTel logs data model §Trace Context Fields"


ATTRIBUTES = {"conformance.check": "log", "user_id": "12345"}


def _log_call(suite, severity=pb.SEVERITY_WARN):
    """A traced Log call; returns (message, trace_id, parent_id)."""
    message = unique("conformance log")
    _, trace_id, parent_id = traced_call(suite, "log", message, severity, ATTRIBUTES)
    return message, trace_id, parent_id


def _logged(suite, severity=pb.SEVERITY_WARN):
    if suite.named is not None:
        return _logged_by_named_call(suite)
    message, trace_id, parent_id = _log_call(suite, severity)
    record = log_where(suite, lambda r: r.body == message, f"log record with body {message!r}")
    return record, trace_id, parent_id, ATTRIBUTES


def _logged_by_named_call(suite):
    """Zero-contract mode: a record the service wrote inside the first --call that ends OK.

    Only a record carrying the call's trace id is known to be the call's (what else arrives
    could be any request's, or the service's own background work), so a service that writes
    none there leaves nothing to judge: skipped, saying why, never passed."""
    _, trace_id, parent_id = traced_ok_call(suite, "log")
    try:
        record = suite.watch.wait("logs", lambda: next((r for r in suite.collector.logs() if r.trace_id == trace_id),
                                                       None), f"a log record in trace {trace_id}")
    except NoTelemetry as missing:
        pytest.skip(f"zero-contract mode: the service exported no log records ({missing}); log checks judge the "
                    f"records a service writes inside a call")
    if record is None:
        pytest.skip(f"zero-contract mode: no log record carrying the trace id of the {suite.named.ok.spec.full_method} "
                    f"call ({trace_id}) arrived within {suite.telemetry_timeout:g}s: the service writes none inside "
                    f"that call, or writes them without the request's context; name a call that logs, or implement "
                    f"the test contract's Log method to tell the two apart")
    return record, trace_id, parent_id, None


@check("LOG-001", "MUST", "log record carries the server span's trace id and span id",
       SEED_LOGGING, "logs", killed_by=("log-without-context",), zero_contract=True,
       fix="Emit log records in the server span's context, so that the SDK stamps its trace_id and span_id: log "
           "through the OpenTelemetry bridge or appender of the logging library and pass the request's context "
           "(e.g. slog's InfoContext(ctx, ...) with otelslog in Go).")
def test_log_001_record_carries_span_context(suite):
    record, trace_id, parent_id, _ = _logged(suite)
    span = server_span(suite, trace_id, parent_id)
    expect_equal("trace_id of the log record", span.trace_id, record.trace_id)
    expect_equal("span_id of the log record", span.span_id, record.span_id)


@check("LOG-002", "SHOULD", "log record keeps its body and attributes",
       "OTel logs data model §Body, §Attributes", "logs",
       fix="Pass the log call's structured fields through to the OTLP log record as attributes, with their keys and "
           "values unchanged, and keep the message as the body; do not fold the fields into the body or drop them "
           "in the log bridge.")
def test_log_002_record_fields(suite):
    # Found by its body, so the body is kept; severity is LOG-005's.
    record, _, _, attributes = _logged(suite, pb.SEVERITY_WARN)
    expect_equal("attributes of the log record", attributes,
                 {k: record.attributes.get(k) for k in attributes})


@check("LOG-003", "MUST", "log record's resource has the same service.* attributes as its spans'",
       "architecture §Logging 'Includes resource attributes (service.name, service.version)'; OTel SDK Resource "
       "(one resource per SDK, shared by every signal)", "logs",
       killed_by=("log-foreign-resource",), zero_contract=True,
       fix="Give the logger provider the same Resource as the tracer provider: build one Resource at startup and "
           "pass it to every provider, so that service.name, service.version and service.instance.id agree across "
           "signals.")
def test_log_003_record_resource(suite):
    record, trace_id, parent_id, _ = _logged(suite)
    span = server_span(suite, trace_id, parent_id)
    keys = sorted(k for k in {*span.resource, *record.resource} if k.startswith("service."))
    expect_equal("service.* attributes of the log record's resource (against its span's)",
                 {k: span.resource.get(k) for k in keys}, {k: record.resource.get(k) for k in keys})


def _stdout_line(suite, message: str) -> dict | None:
    for text in suite.launched.stdout_lines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("message") == message:
            return line
    return None


@check("LOG-004", "SHOULD", "stdout log line has the architecture's JSON shape and the span's ids",
       SEED_LOGGING + " (JSON shape); schemas/log-line.schema.json", "logs", launch_only=True,
       fix="Write each log line to stdout as one JSON object with timestamp, level, message, service, attributes "
           "(an object) and the active span's trace_id and span_id (lowercase hex), e.g. with a JSON formatter that "
           "reads the current span context; write each line whole.")
def test_log_004_stdout_json_line(suite):
    if suite.launched is None:
        pytest.skip("needs --target-cmd: the suite reads the service's stdout")
    # Only stdout and the span are judged here: whether OTLP log records arrive is LOG-001's.
    message, trace_id, parent_id = _log_call(suite)
    line = wait_until(lambda: _stdout_line(suite, message), suite.telemetry_timeout)
    broken = [t for t in suite.launched.stdout_lines() if message in t] if line is None else []
    if broken:
        raise Mismatch(f"the stdout line with message {message!r} is not one JSON object: {broken[0][:300]!r}; "
                       f"write each log line whole (one write per line, under a lock when threads log)")
    if line is None:
        raise NoTelemetry(f"no JSON line with message {message!r} on the service's stdout "
                          f"within {suite.telemetry_timeout:.0f}s")
    errors = log_line_errors(line)
    if errors:
        raise Mismatch("stdout log line breaks the architecture's JSON shape: " + "; ".join(errors) + f" (line: {line})")
    span = server_span(suite, trace_id, parent_id)
    expect_equal("trace_id and span_id of the stdout line", (span.trace_id, span.span_id),
                 (line["trace_id"], line["span_id"]))
