"""W3C Trace Context: every tracestate case of the official harness, over gRPC metadata.

The traceparent of these vectors is valid and sampled, and the forwarded tracestate alone
is judged (what the target exported is TC-004's). Vectors: ``otelconform.w3c_vectors``.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import pytest

from otelconform.registry import check
from otelconform.w3c_vectors import (TRACESTATE_DISCARDED, TRACESTATE_DUPLICATED_KEYS, TRACESTATE_FORWARDED,
                                     TRACESTATE_IGNORED, TRACESTATE_OVER_LIMIT, TRACESTATE_WHITESPACE,
                                     TRACESTATE_WRONG_NAME, vector_id)

from ._w3c import judge_trace, judge_tracestate, outgoing, send, skip_unless_level

TS = "W3C Trace Context §3.3 Tracestate Header"


def _run(suite, vector, tag: str, trace_too: bool = False) -> None:
    skip_unless_level(suite, vector)
    sent = send(suite, vector, tag)
    if sent.refusal:
        return
    if trace_too:
        judge_trace(suite, vector, sent)
    for call in sent.calls:
        outgoing(suite, sent, call)  # a target that never injects is PROP-004's finding, not this one's
    judge_tracestate(vector, sent)


@check("TS-001", "MUST", "tracestate without a valid traceparent is ignored",
       f"{TS} (tracestate is only used with a valid traceparent); §4 Processing Model (restart the trace: "
       f"the incoming tracestate is not used)", "traces", killed_by=("tracestate-without-parent",),
       fix="Use the incoming tracestate only together with a valid traceparent: when traceparent is missing or "
           "invalid, start a new trace and drop the incoming tracestate instead of forwarding it.")
@pytest.mark.parametrize("vector", TRACESTATE_IGNORED, ids=vector_id)
def test_ts_001_tracestate_without_traceparent_is_ignored(suite, vector):
    _run(suite, vector, "ts-001", trace_too=True)


@check("TS-002", "MUST", "tracestate is forwarded: every header combined in order, within the limits",
       f"{TS} §3.3.1 tracestate Header Field Values (multiple fields MUST be combined, RFC 9110 §5.3; "
       f"empty members and OWS allowed; up to 32 members, keys of 256 characters); §6 Mutating the "
       f"tracestate Field (MUST send it on, order of the others' entries MUST be preserved)", "traces",
       killed_by=("last-tracestate-wins",),
       fix="Combine every tracestate header of the request in order (a carrier getter that returns all values, "
           "joined with ','), skip empty members and whitespace around commas, and forward the whole list, up to 32 "
           "members and keys of 256 characters.")
@pytest.mark.parametrize("vector", TRACESTATE_FORWARDED, ids=vector_id)
def test_ts_002_tracestate_is_forwarded(suite, vector):
    _run(suite, vector, "ts-002")


@check("TS-003", "MAY", "an invalid tracestate is not forwarded",
       f"{TS} list-members Key and Value grammar (Level 1: tenant@system, tenant ≤ 241 and system ≤ 14 "
       f"characters); §4 Processing Model step 3 (the vendor MAY validate tracestate and MAY discard an "
       f"unparsable one: the harness's strict level expects it)", "traces",
       fix="Validate the incoming tracestate (key and value grammar, key length, at most 32 members) and discard "
           "the whole list when a member is invalid, instead of forwarding it verbatim.")
@pytest.mark.parametrize("vector", TRACESTATE_DISCARDED, ids=vector_id)
def test_ts_003_invalid_tracestate_is_not_forwarded(suite, vector):
    _run(suite, vector, "ts-003")


@check("TS-004", "SHOULD", "a tracestate with a duplicated key is still propagated",
       f"{TS} §6 Mutating the tracestate Field (vendors SHOULD NOT delete keys they did not generate; they "
       f"MAY discard duplicate keys)", "traces",
       fix="Keep propagating a tracestate whose keys repeat: forward the list with the duplicated key kept once (or "
           "as received), instead of discarding it.")
@pytest.mark.parametrize("vector", TRACESTATE_DUPLICATED_KEYS, ids=vector_id)
def test_ts_004_duplicated_key_still_propagated(suite, vector):
    _run(suite, vector, "ts-004")


@check("TS-005", "SHOULD", "whitespace at either end of the tracestate value is tolerated (or the request "
       "refused, as HTTP/2 allows)", f"{TS} §3.3.1 (spaces and tabs around list-members are ignored); "
       f"RFC 9113 §8.2.1", "traces",
       fix="Ignore spaces and tabs at either end of the tracestate value (trim it before parsing), or refuse such a "
           "request at the HTTP/2 layer; do not drop the list because of them.")
@pytest.mark.parametrize("vector", TRACESTATE_WHITESPACE, ids=vector_id)
def test_ts_005_whitespace_around_tracestate(suite, vector):
    _run(suite, vector, "ts-005")


@check("TS-006", "MUST", "never more than 32 tracestate members are forwarded",
       f"{TS} §3.3.1 list (at most 32 list-members; when adding would exceed that, the right-most is "
       f"removed)", "traces", killed_by=("lenient-tracestate",),
       fix="Never forward more than 32 tracestate members: validate the incoming list and discard one of more than "
           "32 (or drop entries down to 32), instead of forwarding the incoming headers verbatim.")
@pytest.mark.parametrize("vector", TRACESTATE_OVER_LIMIT, ids=vector_id)
def test_ts_006_at_most_32_members_forwarded(suite, vector):
    _run(suite, vector, "ts-006")


@check("TS-007", "MUST", "a tracestate under another header name is ignored",
       f"{TS} §3.3.1 Header Name (the name is tracestate, a single word without delimiters)", "traces",
       killed_by=("punctuation-blind-names",),
       fix="Read only the metadata key named exactly tracestate (case aside): do not normalise names by removing or "
           "replacing '-' or '.', so that trace-state or trace.state is ignored.")
@pytest.mark.parametrize("vector", TRACESTATE_WRONG_NAME, ids=vector_id)
def test_ts_007_wrong_header_name_is_ignored(suite, vector):
    _run(suite, vector, "ts-007")
