"""W3C Trace Context: every traceparent case of the official harness, over gRPC metadata.

Each vector is sent with its headers exactly as written (repeated keys, whitespace) through
``Relay``, and judged on both sides: the traceparent the target sent downstream and, when
that is sampled, the server span it exported. Vectors: ``otelconform.w3c_vectors``.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import pytest

from otelconform.registry import check
from otelconform.w3c_vectors import (DUPLICATED_TRACEPARENT, INVALID_TRACEPARENT, NO_TRACEPARENT, RANDOM_FLAG,
                                     SEVERAL_OUTGOING, TRACEPARENT_WHITESPACE, VALID_TRACEPARENT,
                                     WRONG_TRACEPARENT_NAME, vector_id)

from ._w3c import judge_trace, send, skip_unless_level

TC = "W3C Trace Context §3.2 Traceparent Header"
PROCESSING = "§4 Processing Model (A traceparent is Received: invalid → restart the trace)"


def _run(suite, vector, tag: str) -> None:
    skip_unless_level(suite, vector)
    sent = send(suite, vector, tag)
    if not sent.refusal:
        judge_trace(suite, vector, sent)


@check("TC-001", "MUST", "an invalid traceparent is ignored: the target starts a new trace",
       f"{TC} §3.2.2 field values (version, trace-id, parent-id, trace-flags: lowercase hex of fixed "
       f"length, not all zero; version ff invalid; version 00 ends after the flags), §3.2.4 Versioning; "
       f"{PROCESSING}", "traces", killed_by=("lenient-traceparent",),
       fix="Validate the incoming traceparent strictly (lowercase hex of exact lengths, version ff invalid, nothing "
           "after the flags in version 00, trace-id and parent-id not all zero) and start a new trace when it is "
           "invalid, instead of repairing it; the SDK's W3C TraceContext propagator does this.")
@pytest.mark.parametrize("vector", INVALID_TRACEPARENT, ids=vector_id)
def test_tc_001_invalid_traceparent_starts_new_trace(suite, vector):
    _run(suite, vector, "tc-001")


@check("TC-002", "MUST", "two traceparent headers in one request: the target starts a new trace",
       f"{TC} §3.2.1 Header Name (a single header); RFC 9110 §5.3 (repeated fields form one list, which "
       f"is not a valid traceparent); {PROCESSING}", "traces", killed_by=("first-traceparent-wins",),
       fix="Treat a request with two traceparent values as invalid and start a new trace: use a metadata carrier "
           "whose getter returns every value of a key (e.g. joined with ','), not only the first, as several stock "
           "carriers do (Go, Rust).")
@pytest.mark.parametrize("vector", DUPLICATED_TRACEPARENT, ids=vector_id)
def test_tc_002_duplicated_traceparent_starts_new_trace(suite, vector):
    _run(suite, vector, "tc-002")


@check("TC-003", "MUST", "a traceparent under another header name is ignored",
       f"{TC} §3.2.1 Header Name (the name is traceparent); {PROCESSING}", "traces",
       killed_by=("punctuation-blind-names",),
       fix="Read only the metadata key named exactly traceparent (case aside): do not normalise names by removing "
           "or replacing '-' or '.', so that trace-parent or trace.parent is ignored.")
@pytest.mark.parametrize("vector", WRONG_TRACEPARENT_NAME, ids=vector_id)
def test_tc_003_wrong_header_name_is_ignored(suite, vector):
    _run(suite, vector, "tc-003")


@check("TC-004", "MUST", "a valid traceparent is continued: same trace id, a new parent id, the sampled "
       "flag kept", f"{TC} §3.2.2.3 parent-id, §3.2.2.5 trace-flags, §3.2.4 Versioning (parse a higher "
       f"version's known fields); §5 Mutating the traceparent Field", "traces",
       killed_by=("drop-incoming-context",),
       fix="Continue a valid incoming traceparent: keep its trace id and sampled flag and send the service's own "
           "span id as the parent id, for an unsampled parent too, and for a higher version such as cc (parse its "
           "first four fields and send version 00).")
@pytest.mark.parametrize("vector", VALID_TRACEPARENT, ids=vector_id)
def test_tc_004_valid_traceparent_is_continued(suite, vector):
    _run(suite, vector, "tc-004")


@check("TC-005", "MUST", "no traceparent: the outgoing call carries a valid traceparent of a new trace",
       f"{PROCESSING.replace('A traceparent is Received: invalid → restart the trace', 'No traceparent Received')}"
       f"; {TC} §3.2.2", "traces", killed_by=("inject-only-continued",),
       fix="Inject a traceparent on outgoing calls also when the request brought none: start a new trace (a root "
           "server span) and send its context downstream.")
@pytest.mark.parametrize("vector", NO_TRACEPARENT, ids=vector_id)
def test_tc_005_no_traceparent_starts_new_trace(suite, vector):
    _run(suite, vector, "tc-005")


@check("TC-006", "SHOULD", "whitespace around the traceparent value is tolerated (or the request refused, "
       "as HTTP/2 allows)", f"{TC} (OWS around the value is ignored); RFC 9113 §8.2.1 (a field value "
       f"with whitespace at either end is malformed HTTP/2 and may be refused)", "traces",
       fix="Ignore spaces and tabs around the traceparent value (trim it before parsing), or refuse such a request "
           "at the HTTP/2 layer; do not treat the padded value as invalid and start a new trace.")
@pytest.mark.parametrize("vector", TRACEPARENT_WHITESPACE, ids=vector_id)
def test_tc_006_whitespace_around_traceparent(suite, vector):
    _run(suite, vector, "tc-006")


@check("TC-007", "MUST", "several outgoing calls of one request: one trace id, distinct parent ids",
       f"{TC} §3.2.2.4 parent-id (the id of the caller's own span); {PROCESSING}", "traces",
       killed_by=("outgoing-parent-is-server-span",),
       fix="Give each outgoing call of a request its own CLIENT span and inject that span's id as the parent id, "
           "all in the request's trace (a new one when the incoming traceparent is missing or invalid); do not "
           "inject the server span's id.")
@pytest.mark.parametrize("vector", SEVERAL_OUTGOING, ids=vector_id)
def test_tc_007_several_outgoing_calls(suite, vector):
    _run(suite, vector, "tc-007")


@check("TC-008", "SHOULD", "Level 2: the random trace-id flag is propagated",
       "W3C Trace Context Level 2 §3.2.2.5 trace-flags, Random Trace ID Flag (set on the incoming "
       "header → set on outgoing headers with the same trace-id)", "traces",
       fix="Keep the random trace-id flag (0x02) of the incoming trace-flags on every outgoing traceparent of that "
           "trace, as W3C Trace Context Level 2 requires; carry the incoming flags over rather than rebuilding them "
           "from the sampled bit alone.")
@pytest.mark.parametrize("vector", RANDOM_FLAG, ids=vector_id)
def test_tc_008_random_flag_is_propagated(suite, vector):
    _run(suite, vector, "tc-008")
