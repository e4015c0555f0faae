"""The W3C Trace Context request vectors the suite sends, as data.

Every test of the official harness (``w3c/trace-context``, ``test/test.py``, 41 tests) maps
to vectors here or, where HTTP/2 makes a test impossible, to a stated reason (``NOT_SENDABLE``).
The harness's expectations are restated in the spec's terms; its code is not used. Each
vector is built from ids the check draws, never the harness's fixed ones, so that checks
running at once (or under xdist) never share a trace.

``docs/w3c-harness.md`` is generated from this module (``python -m otelconform.w3c_doc``).

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

Headers = Callable[[str, str], list[tuple[str, str]]]

# What the target must do with the incoming traceparent.
CONTINUE, NEW_TRACE = "continue", "new trace"


@dataclass(frozen=True)
class Vector:
    name: str  # the check instance's parameter id
    headers: Headers  # (trace id, parent id) -> the request's W3C headers, in order
    harness: str | None = None  # the harness test it restates (None: the suite's own addition)
    trace: str = CONTINUE
    sampled: bool = False  # the sampled flag the vector sends (when the trace is continued)
    random: bool = False  # Level 2 random flag sent
    # tracestate expectations (only for vectors whose traceparent is valid):
    forwarded: tuple[tuple[str, str], ...] | None = None  # these members, in order
    forwarded_any: tuple[tuple[str, str], ...] = ()  # at least one of these members
    not_forwarded: tuple[str, ...] = ()  # none of these keys
    levels: tuple[int, ...] = (1, 2)  # Trace Context levels whose grammar this expectation follows
    calls: int = 1  # outgoing calls the target is asked to make
    note: str = ""  # why the expectation is what it is, for the generated document

    def sent_headers(self, trace_id: str, parent_id: str) -> list[tuple[str, str]]:
        return self.headers(trace_id, parent_id)


def vector_id(vector: Vector) -> str:
    """The check instance's parameter id: ``TC-001[version-ff]``."""
    return vector.name


def tp(value: str) -> Headers:
    """A single traceparent, ``{t}`` and ``{p}`` standing for the drawn ids."""
    return lambda t, p: [("traceparent", value.format(t=t, p=p))]


def with_tracestate(*values: str, flags: str = "01") -> Headers:
    """A valid, sampled traceparent and the given tracestate values. Sampled, so that how a
    target treats an unsampled parent is judged by TC-004[unsampled] and PROP-003 alone."""
    return lambda t, p: [("traceparent", f"00-{t}-{p}-{flags}"), *(("tracestate", v) for v in values)]


# -- traceparent -----------------------------------------------------------------------------

INVALID_TRACEPARENT = [
    Vector("version-00-dot-after-flags", tp("00-{t}-{p}-01."), "test_traceparent_version_0x00", NEW_TRACE),
    Vector("version-00-extra-field", tp("00-{t}-{p}-01-what-the-future-will-be-like"),
           "test_traceparent_version_0x00", NEW_TRACE),
    Vector("version-cc-dot-after-flags", tp("cc-{t}-{p}-01.what-the-future-will-be-like"),
           "test_traceparent_version_0xcc", NEW_TRACE),
    Vector("version-ff", tp("ff-{t}-{p}-01"), "test_traceparent_version_0xff", NEW_TRACE),
    Vector("version-dot-first", tp(".0-{t}-{p}-01"), "test_traceparent_version_illegal_characters", NEW_TRACE),
    Vector("version-dot-second", tp("0.-{t}-{p}-01"), "test_traceparent_version_illegal_characters", NEW_TRACE),
    Vector("version-3-digits", tp("000-{t}-{p}-01"), "test_traceparent_version_too_long", NEW_TRACE),
    Vector("version-4-digits", tp("0000-{t}-{p}-01"), "test_traceparent_version_too_long", NEW_TRACE),
    Vector("version-1-digit", tp("0-{t}-{p}-01"), "test_traceparent_version_too_short", NEW_TRACE),
    Vector("trace-id-all-zero", lambda t, p: [("traceparent", f"00-{'0' * 32}-{p}-01")],
           "test_traceparent_trace_id_all_zero", NEW_TRACE),
    Vector("trace-id-dot-first", lambda t, p: [("traceparent", f"00-.{t[1:]}-{p}-01")],
           "test_traceparent_trace_id_illegal_characters", NEW_TRACE),
    Vector("trace-id-dot-last", lambda t, p: [("traceparent", f"00-{t[:-1]}.-{p}-01")],
           "test_traceparent_trace_id_illegal_characters", NEW_TRACE),
    Vector("trace-id-33-digits", lambda t, p: [("traceparent", f"00-{t}3-{p}-01")],
           "test_traceparent_trace_id_too_long", NEW_TRACE),
    Vector("trace-id-31-digits", lambda t, p: [("traceparent", f"00-{t[:-1]}-{p}-01")],
           "test_traceparent_trace_id_too_short", NEW_TRACE),
    Vector("parent-id-all-zero", lambda t, p: [("traceparent", f"00-{t}-{'0' * 16}-01")],
           "test_traceparent_parent_id_all_zero", NEW_TRACE),
    Vector("parent-id-dot-first", lambda t, p: [("traceparent", f"00-{t}-.{p[1:]}-01")],
           "test_traceparent_parent_id_illegal_characters", NEW_TRACE),
    Vector("parent-id-dot-last", lambda t, p: [("traceparent", f"00-{t}-{p[:-1]}.-01")],
           "test_traceparent_parent_id_illegal_characters", NEW_TRACE),
    Vector("parent-id-17-digits", lambda t, p: [("traceparent", f"00-{t}-{p}7-01")],
           "test_traceparent_parent_id_too_long", NEW_TRACE),
    Vector("parent-id-15-digits", lambda t, p: [("traceparent", f"00-{t}-{p[:-1]}-01")],
           "test_traceparent_parent_id_too_short", NEW_TRACE),
    Vector("flags-dot-first", tp("00-{t}-{p}-.0"), "test_traceparent_trace_flags_illegal_characters", NEW_TRACE),
    Vector("flags-dot-second", tp("00-{t}-{p}-0."), "test_traceparent_trace_flags_illegal_characters", NEW_TRACE),
    Vector("flags-3-digits", tp("00-{t}-{p}-001"), "test_traceparent_trace_flags_too_long", NEW_TRACE),
    Vector("flags-1-digit", tp("00-{t}-{p}-1"), "test_traceparent_trace_flags_too_short", NEW_TRACE),
    Vector("uppercase-hex", lambda t, p: [("traceparent", f"00-{t.upper()}-{p.upper()}-01")], None, NEW_TRACE,
           note="§3.2.2: every field is lowercase hex (HEXDIGLC)"),
]

DUPLICATED_TRACEPARENT = [
    Vector("two-values", lambda t, p: [("traceparent", f"00-{t[:-1]}{'0' if t[-1] != '0' else '1'}-{p}-01"),
                                       ("traceparent", f"00-{t}-{p}-01")],
           "test_traceparent_duplicated", NEW_TRACE,
           note="both trace ids must be avoided; the first differs from the second in its last digit"),
]

WRONG_TRACEPARENT_NAME = [
    Vector("trace-parent", lambda t, p: [("trace-parent", f"00-{t}-{p}-01")], "test_traceparent_header_name",
           NEW_TRACE),
    Vector("trace.parent", lambda t, p: [("trace.parent", f"00-{t}-{p}-01")], "test_traceparent_header_name",
           NEW_TRACE),
]

VALID_TRACEPARENT = [
    Vector("sampled", tp("00-{t}-{p}-01"), "test_traceparent_included_tracestate_missing", sampled=True),
    Vector("unsampled", tp("00-{t}-{p}-00"), None,
           note="an unsampled parent is still propagated: same trace id, a new parent id, flags 00"),
    Vector("version-cc", tp("cc-{t}-{p}-01"), "test_traceparent_version_0xcc", sampled=True),
    Vector("version-cc-extra-field", tp("cc-{t}-{p}-01-what-the-future-will-be-like"),
           "test_traceparent_version_0xcc", sampled=True),
]

# RFC 9113 §8.2.1 forbids whitespace at either end of an HTTP/2 field value and gRPC's
# metadata grammar has no tab, so the target's stack may refuse these; if it accepts the
# request, W3C says the whitespace is tolerated.
TRACEPARENT_WHITESPACE = [
    Vector(name, tp(value), "test_traceparent_ows_handling", sampled=True)
    for name, value in (("leading-space", " 00-{t}-{p}-01"), ("leading-tab", "\t00-{t}-{p}-01"),
                        ("trailing-space", "00-{t}-{p}-01 "), ("trailing-tab", "00-{t}-{p}-01\t"),
                        ("both-ends", "\t 00-{t}-{p}-01 \t"))
]

SEVERAL_OUTGOING = [
    Vector("valid-parent", tp("00-{t}-{p}-01"), "test_multiple_requests_with_valid_traceparent", sampled=True,
           calls=3),
    Vector("no-traceparent", lambda t, p: [], "test_multiple_requests_without_traceparent", NEW_TRACE, calls=3),
    Vector("invalid-traceparent", lambda t, p: [("traceparent", f"00-{'0' * 32}-{p}-01")],
           "test_multiple_requests_with_illegal_traceparent", NEW_TRACE, calls=3),
]

NO_TRACEPARENT = [
    Vector("no-headers", lambda t, p: [], "test_both_traceparent_and_tracestate_missing", NEW_TRACE),
]

RANDOM_FLAG = [
    Vector("random-unsampled", tp("00-{t}-{p}-02"), "test_propagates_random_flag", random=True, levels=(2,)),
]

# -- tracestate ------------------------------------------------------------------------------

_KEY = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
_VALUE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",=")
_MEMBERS_32 = [f"bar{n:02d}={n:02d}" for n in range(1, 33)]


def _members(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(tuple(m.split("=", 1)) for m in text.split(","))  # type: ignore[misc]


def _in_tens(members: list[str]) -> list[str]:
    return [",".join(members[i:i + 10]) for i in range(0, len(members), 10)]


TRACESTATE_IGNORED = [
    Vector("no-traceparent", lambda t, p: [("tracestate", "foo=1,bar=2")],
           "test_tracestate_included_traceparent_missing", NEW_TRACE, not_forwarded=("foo", "bar")),
    Vector("invalid-traceparent", lambda t, p: [("traceparent", f"00-{t}-{p[:-1]}-01"), ("tracestate", "foo=1,bar=2")],
           None, NEW_TRACE, not_forwarded=("foo", "bar"),
           note="§3.3: tracestate is only meaningful with a valid traceparent"),
]

TRACESTATE_FORWARDED = [
    Vector("two-members", with_tracestate("foo=1,bar=2"), "test_tracestate_included_traceparent_included",
           forwarded=_members("foo=1,bar=2")),
    Vector("empty-value", with_tracestate(""), "test_tracestate_empty_header", forwarded=()),
    Vector("empty-value-last", with_tracestate("foo=1", ""), "test_tracestate_empty_header",
           forwarded=_members("foo=1")),
    Vector("empty-value-first", with_tracestate("", "foo=1"), "test_tracestate_empty_header",
           forwarded=_members("foo=1")),
    Vector("three-values-combined", with_tracestate("foo=1,bar=2", "rojo=1,congo=2", "baz=3"),
           "test_tracestate_multiple_headers_different_keys",
           forwarded=_members("foo=1,bar=2,rojo=1,congo=2,baz=3")),
    Vector("all-key-and-value-characters", with_tracestate(f"{_KEY}={_VALUE}"),
           "test_tracestate_all_allowed_characters", forwarded=((_KEY, _VALUE),)),
    Vector("all-characters-tenant-key", with_tracestate(f"{_KEY}@a-z0-9_-*/={_VALUE}"),
           "test_tracestate_all_allowed_characters", forwarded=((f"{_KEY}@a-z0-9_-*/", _VALUE),)),
    Vector("whitespace-around-commas", with_tracestate("foo=1 \t , \t bar=2, \t baz=3"),
           "test_tracestate_ows_handling", forwarded=_members("foo=1,bar=2,baz=3")),
    Vector("tabs-around-commas", with_tracestate("foo=1\t \t,\t \tbar=2,\t \tbaz=3"),
           "test_tracestate_ows_handling", forwarded=_members("foo=1,bar=2,baz=3")),
    Vector("32-members", with_tracestate(*_in_tens(_MEMBERS_32)), "test_tracestate_member_count_limit",
           forwarded=_members(",".join(_MEMBERS_32))),
    Vector("key-256-characters", with_tracestate("foo=1", "z" * 256 + "=1"), "test_tracestate_key_length_limit",
           forwarded=(("foo", "1"), ("z" * 256, "1"))),
    Vector("tenant-241-system-14", with_tracestate("foo=1", "t" * 241 + "@" + "v" * 14 + "=1"),
           "test_tracestate_key_length_limit", forwarded=(("foo", "1"), ("t" * 241 + "@" + "v" * 14, "1")),
           note="the longest tenant and system ids of Level 1's tenant@system form"),
]

TRACESTATE_DUPLICATED_KEYS = [
    Vector("duplicated-key-same-value", with_tracestate("foo=1,foo=1"), "test_tracestate_duplicated_keys",
           forwarded_any=(("foo", "1"),)),
    Vector("duplicated-key-other-value", with_tracestate("foo=1,foo=2"), "test_tracestate_duplicated_keys",
           forwarded_any=(("foo", "1"), ("foo", "2"))),
    Vector("duplicated-key-two-values", with_tracestate("foo=1", "foo=1"), "test_tracestate_duplicated_keys",
           forwarded_any=(("foo", "1"),)),
    Vector("duplicated-key-two-values-differ", with_tracestate("foo=1", "foo=2"),
           "test_tracestate_duplicated_keys", forwarded_any=(("foo", "1"), ("foo", "2"))),
]

TRACESTATE_WRONG_NAME = [
    Vector("name-trace-state", lambda t, p: [("traceparent", f"00-{t}-{p}-01"), ("trace-state", "foo=1")],
           "test_tracestate_header_name", not_forwarded=("foo",)),
    Vector("name-trace.state", lambda t, p: [("traceparent", f"00-{t}-{p}-01"), ("trace.state", "foo=1")],
           "test_tracestate_header_name", not_forwarded=("foo",)),
]

TRACESTATE_DISCARDED = [
    Vector("key-with-space", with_tracestate("foo =1"), "test_tracestate_key_illegal_characters",
           not_forwarded=("foo ",)),
    Vector("key-uppercase", with_tracestate("FOO=1"), "test_tracestate_key_illegal_characters",
           not_forwarded=("FOO",)),
    Vector("key-with-dot", with_tracestate("foo.bar=1"), "test_tracestate_key_illegal_characters",
           not_forwarded=("foo.bar",)),
    Vector("key-starts-with-at", with_tracestate("@foo=1,bar=2"), "test_tracestate_key_illegal_vendor_format",
           not_forwarded=("@foo", "bar"), note="an invalid member invalidates the whole list"),
    Vector("value-with-equals", with_tracestate("foo=bar=baz"), "test_tracestate_value_illegal_characters",
           not_forwarded=("foo",)),
    Vector("value-empty", with_tracestate("foo=,bar=3"), "test_tracestate_value_illegal_characters",
           not_forwarded=("foo", "bar")),
    Vector("key-257-characters", with_tracestate("foo=1", "z" * 257 + "=1"), "test_tracestate_key_length_limit",
           not_forwarded=("foo", "z" * 257)),
]

# Level 2 relaxed the key grammar (any of a-z0-9_-*/@ after the first character); under
# Level 1 these keys are invalid (tenant@system, tenant ≤ 241 and system ≤ 14 characters).
_LEVEL_KEYS = [
    ("key-ends-with-at", "foo@=1,bar=2", "foo@", "test_tracestate_key_illegal_vendor_format"),
    ("key-two-at-signs-adjacent", "foo@@bar=1,bar=2", "foo@@bar", "test_tracestate_key_illegal_vendor_format"),
    ("key-two-at-signs", "foo@bar@baz=1,bar=2", "foo@bar@baz", "test_tracestate_key_illegal_vendor_format"),
    ("tenant-242-characters", "foo=1|" + "t" * 242 + "@v=1", "t" * 242 + "@v", "test_tracestate_key_length_limit"),
    ("system-15-characters", "foo=1|t@" + "v" * 15 + "=1", "t@" + "v" * 15, "test_tracestate_key_length_limit"),
]
TRACESTATE_FORWARDED += [Vector(f"{name}-level-2", with_tracestate(*text.split("|")), harness,
                                forwarded=_members(text.replace("|", ",")), levels=(2,))
                         for name, text, key, harness in _LEVEL_KEYS]
TRACESTATE_DISCARDED += [Vector(f"{name}-level-1", with_tracestate(*text.split("|")), harness, not_forwarded=(key,),
                                levels=(1,), note="invalid under Level 1's key grammar")
                         for name, text, key, harness in _LEVEL_KEYS]

TRACESTATE_OVER_LIMIT = [
    Vector("33-members", with_tracestate(*_in_tens(_MEMBERS_32), "bar33=33"), "test_tracestate_member_count_limit",
           note="the harness expects the whole list discarded; dropping members down to 32 is also allowed"),
]

TRACESTATE_WHITESPACE = [
    Vector(name, with_tracestate(value), "test_tracestate_ows_handling", forwarded=(("foo", "1"),))
    for name, value in (("leading-space", " foo=1"), ("leading-tab", "\tfoo=1"), ("trailing-space", "foo=1 "),
                        ("trailing-tab", "foo=1\t"), ("both-ends", "\t foo=1 \t"))
]

# Harness tests no request over HTTP/2 can express: its field names are lowercase on the
# wire (RFC 9113 §8.2.1: a request with an uppercase name is malformed), so header-name
# casing is decided by the HTTP/2 layer before any propagator sees it.
NOT_SENDABLE = {
    "test_traceparent_header_name_valid_casing":
        ("TC-004[sampled]", "RFC 9113 §8.2.1: HTTP/2 field names are lowercase; the lowercase name is TC-004"),
    "test_tracestate_header_name_valid_casing":
        ("TS-002[two-members]", "RFC 9113 §8.2.1: HTTP/2 field names are lowercase; the lowercase name is TS-002"),
}


def outside_grpc_grammar(headers: list[tuple[str, str]]) -> bool:
    """True when a value is one a gRPC stack may refuse: gRPC's metadata grammar allows one or
    more of 0x20-0x7E, and RFC 9113 forbids whitespace at either end of a field value."""
    return any(not value or value != value.strip(" \t") or any(not 0x20 <= ord(c) <= 0x7E for c in value)
               for _, value in headers)


@dataclass(frozen=True)
class Group:
    check_id: str
    vectors: list[Vector] = field(default_factory=list)


GROUPS = [
    Group("TC-001", INVALID_TRACEPARENT), Group("TC-002", DUPLICATED_TRACEPARENT),
    Group("TC-003", WRONG_TRACEPARENT_NAME), Group("TC-004", VALID_TRACEPARENT),
    Group("TC-005", NO_TRACEPARENT), Group("TC-006", TRACEPARENT_WHITESPACE), Group("TC-007", SEVERAL_OUTGOING),
    Group("TC-008", RANDOM_FLAG), Group("TS-001", TRACESTATE_IGNORED), Group("TS-002", TRACESTATE_FORWARDED),
    Group("TS-003", TRACESTATE_DISCARDED), Group("TS-004", TRACESTATE_DUPLICATED_KEYS),
    Group("TS-005", TRACESTATE_WHITESPACE), Group("TS-006", TRACESTATE_OVER_LIMIT),
    Group("TS-007", TRACESTATE_WRONG_NAME),
]
