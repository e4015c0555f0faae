"""W3C Baggage: what a target forwards on its outgoing calls, sent with exact headers.

Forwarding baggage at all is a SHOULD (PROP-008); a target that forwards none is judged
there once, and these checks are skipped. What it forwards must keep every member within
the limits, values as decoded, properties and every header of the request.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import pytest

from otelconform.baggage import MAX_BYTES, MAX_MEMBERS, Member, by_key, members
from otelconform.registry import check
from otelconform.verdicts import Mismatch
from otelconform.w3c_vectors import Vector

from ._w3c import forwarded_baggage, send

BAGGAGE = "W3C Baggage"


def _sent_value(n: int, width: int) -> str:
    return f"v{n:02d}".ljust(width, "x")


def _vector(name: str, *values: str) -> Vector:
    """A valid, sampled traceparent plus the given baggage headers (sampled, so that a target's
    handling of unsampled parents is judged elsewhere, once)."""
    return Vector(name, lambda t, p: [("traceparent", f"00-{t}-{p}-01"), *(("baggage", v) for v in values)])


def _forwarded(suite, vector: Vector, tag: str) -> tuple[list[Member], list[str], str]:
    """(members forwarded, raw forwarded headers, what was sent) of one relayed vector."""
    sent = send(suite, vector, tag)
    received = forwarded_baggage(suite, sent)
    return members(received), received, sent.shown()


def _missing(expected: list[Member], found: list[Member]) -> list[str]:
    grouped = by_key(found)
    return [m.text() for m in expected if m not in grouped.get(m.key, [])]


def _require_all(expected: list[Member], found, received, shown, fix: str) -> None:
    missing = _missing(expected, found)
    if missing:
        raise Mismatch(f"expected every sent baggage member forwarded as sent, {len(missing)} of "
                       f"{len(expected)} missing or changed: {missing[:5]}{' …' if len(missing) > 5 else ''}; "
                       f"forwarded baggage: {received!r:.600}; sent: {shown:.600}; {fix}")


def _filling(total: int, count: int) -> list[Member]:
    """``count`` members whose baggage-string is exactly ``total`` bytes (the last one padded)."""
    members = [Member(f"k{n}", _sent_value(n, total // count - 4)) for n in range(count)]
    short = total - len(",".join(m.text() for m in members))
    members[-1] = Member(members[-1].key, members[-1].value + "x" * short)
    return members


LIMITS = {
    "64-members": [Member(f"k{n:02d}", _sent_value(n, 8)) for n in range(MAX_MEMBERS)],
    "8192-bytes": _filling(MAX_BYTES, 8),
}


@check("BAG-001", "MUST", "every baggage member is forwarded within 64 members and 8,192 bytes",
       f"{BAGGAGE} §Limits (a platform MUST propagate all list-members when there are at most 64 of "
       f"them and at most 8192 bytes)", "traces", killed_by=("baggage-limit-16",),
       fix="Forward every baggage member up to 64 members and 8,192 bytes: raise any lower member or size limit of "
           "the baggage propagator, and raise the gRPC server's metadata size limit (e.g. grpc.max_metadata_size, 8 "
           "KiB by default in gRPC C-core) to at least 16 KiB so that the whole header fits.")
@pytest.mark.parametrize("name", sorted(LIMITS))
def test_bag_001_members_within_limits_are_forwarded(suite, name):
    expected = LIMITS[name]
    header = ",".join(m.text() for m in expected)  # within MAX_BYTES: tests/test_w3c_rules.py
    found, received, shown = _forwarded(suite, _vector(name, header), "bag-001")
    _require_all(expected, found, received, f"{len(expected)} members, {len(header)} bytes",
                 "a platform must forward all members up to these limits; raise the SDK's baggage limits "
                 "and the server's metadata size limit (gRPC's default is 8 KiB) if they are lower")


_ENCODED = [("space", "a%20b", "a b"), ("comma-semicolon-equals", "x%2Cy%3Bz%3D", "x,y;z="),
            ("percent", "100%25", "100%"), ("utf-8", "Am%C3%A9lie", "Amélie"), ("plus", "a+b", "a+b")]


@check("BAG-002", "MUST", "percent-encoded baggage values keep their value",
       f"{BAGGAGE} §value (code points outside baggage-octet MUST be percent-encoded, RFC 3986 §2.1: "
       f"'+' is a literal plus, never a space)", "traces", killed_by=("plus-for-space",),
       fix="Percent-decode baggage values when extracting them and percent-encode them (RFC 3986, %20 for a space) "
           "when injecting them; never encode a space as '+' or decode '+' as a space, which is form encoding.")
@pytest.mark.parametrize("case", _ENCODED, ids=lambda c: c[0])
def test_bag_002_percent_encoded_values_round_trip(suite, case):
    name, encoded, decoded = case
    key = f"enc{name.replace('-', '')}"
    found, received, shown = _forwarded(suite, _vector(name, f"{key}={encoded}"), "bag-002")
    values = [m.value for m in found if m.key == key]
    if values != [decoded]:
        raise Mismatch(f"baggage member {key}={encoded} means the value {decoded!r}: expected it forwarded "
                       f"with that value (percent-encoded as needed), got {values or 'no such member'} "
                       f"from {received!r}; encode values with RFC 3986 percent-encoding (%20 for a space), "
                       f"not form encoding ('+')")


@check("BAG-003", "MUST", "baggage member properties are forwarded",
       f"{BAGGAGE} §Definition (list-member = key=value *(;property)), §Limits (all list-members "
       f"including their metadata)", "traces", killed_by=("drop-baggage-properties",),
       fix="Keep each baggage member's properties (';key' and ';key=value' after the value) when extracting and "
           "re-injecting it, instead of dropping everything after the value.")
def test_bag_003_properties_are_forwarded(suite):
    expected = [Member("userid", "alice", (("internal", None),)),
                Member("tier", "gold", (("ttl", "60"), ("source", "edge node")))]
    found, received, shown = _forwarded(suite, _vector("properties", "userid=alice;internal,"
                                                       "tier=gold;ttl=60;source=edge%20node"), "bag-003")
    _require_all(expected, found, received, shown,
                 "keep each member's ';' properties (keys and key=value pairs) when forwarding it")


@check("BAG-004", "MUST", "several baggage headers are combined and all forwarded",
       f"{BAGGAGE} §Limits (limits apply to the combination of all baggage headers), §Mutating baggage "
       f"(the baggage-string is one value combined from all headers)", "traces",
       killed_by=("last-baggage-wins",),
       fix="Read every baggage header of the request and combine them into one list before parsing: use a metadata "
           "carrier whose getter returns all values of a key, not only the first or the last.")
def test_bag_004_several_headers_are_combined(suite):
    expected = [Member("first", "1"), Member("second", "2"), Member("third", "3")]
    found, received, shown = _forwarded(suite, _vector("three-headers", "first=1", "second=2,third=3"), "bag-004")
    _require_all(expected, found, received, shown, "read every baggage header of the request, not only one")


@check("BAG-005", "MAY", "an invalid baggage member is dropped and the valid ones kept",
       f"{BAGGAGE} §Mutating baggage (a malformed baggage-string's behaviour is undefined; a system MAY "
       f"remove the offending list-member and propagate the rest)", "traces",
       fix="Drop only the malformed list-member (here one without '=') and keep the rest of the baggage, instead of "
           "discarding the whole header.")
def test_bag_005_invalid_member_dropped_valid_kept(suite):
    expected = [Member("good", "1"), Member("fine", "2")]
    found, received, shown = _forwarded(suite, _vector("invalid-member", "good=1,no-equals-sign,fine=2"),
                                        "bag-005")
    _require_all(expected, found, received, shown, "drop only the member without '=' and forward the rest")


@check("BAG-006", "SHOULD", "whitespace around '=', ';' and ',' is not part of a baggage key or value",
       f"{BAGGAGE} §Definition (OWS), §key and §value (leading and trailing OWS is not part of them)", "traces",
       fix="Trim optional whitespace (spaces and tabs) around '=', ';' and ',' when parsing baggage, so that it is "
           "part of neither a key nor a value.")
def test_bag_006_whitespace_is_not_part_of_members(suite):
    expected = [Member("spaced", "1", (("prop", "x"),)), Member("other", "2")]
    found, received, shown = _forwarded(suite, _vector("whitespace", "spaced = 1 ; prop = x , other =2"),
                                        "bag-006")
    _require_all(expected, found, received, shown,
                 "trim optional whitespace around '=', ';' and ',' when parsing baggage")
