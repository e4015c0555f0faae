"""The W3C machinery without a target: the harness table is complete and current, and the
baggage and traceparent rules the checks judge by say what the specifications say.
"""
from __future__ import annotations

import pytest

from otelconform.baggage import MAX_BYTES, MAX_MEMBERS, Member, members, parse_member
from otelconform.checks._w3c import Sent, _avoided_trace_ids
from otelconform.checks.test_w3c_baggage import LIMITS
from otelconform.w3c_doc import HARNESS_TESTS, harness_markdown
from otelconform.w3c_vectors import GROUPS, NOT_SENDABLE, outside_grpc_grammar

from .conftest import ROOT


def test_every_harness_test_is_mapped_and_the_table_is_current():
    assert len(HARNESS_TESTS) == 41 == len(set(HARNESS_TESTS))
    mapped = {v.harness for g in GROUPS for v in g.vectors if v.harness} | set(NOT_SENDABLE)
    assert mapped == set(HARNESS_TESTS)
    assert (ROOT / "docs" / "w3c-harness.md").read_text() == harness_markdown(), \
        "docs/w3c-harness.md is stale: run otelconform w3c-harness > docs/w3c-harness.md"


def test_vector_names_are_unique_per_check():
    for group in GROUPS:
        names = [v.name for v in group.vectors]
        assert len(names) == len(set(names)), group.check_id


@pytest.mark.parametrize("value, outside", [("00-abc", False), (" 00", True), ("00\t", True), ("", True),
                                            ("a\tb", True), ("a b", False), ("é", True)])
def test_outside_grpc_grammar(value, outside):
    assert outside_grpc_grammar([("k", value)]) is outside


def test_new_trace_must_avoid_every_32_digit_window():
    t = "5c0f" + "1" * 28
    sent = Sent(t, "2" * 16, [("traceparent", f"00-{t}3-{'2' * 16}-01")], [])
    avoided = _avoided_trace_ids(sent)
    assert {t, t[1:] + "3"} <= avoided and len(avoided) == 2


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_baggage_limit_vectors_stay_within_the_limits(name):
    """BAG-001 may demand everything back only if what it sends is within W3C Baggage's limits."""
    header = ",".join(m.text() for m in LIMITS[name])
    assert len(header) <= MAX_BYTES and len(LIMITS[name]) <= MAX_MEMBERS
    assert len(header) == MAX_BYTES or len(LIMITS[name]) == MAX_MEMBERS, "each vector sits on one limit"


def test_baggage_values_are_percent_decoded_and_plus_is_literal():
    assert [m.value for m in members(["a=a%20b", "b=a+b,c=100%25"])] == ["a b", "a+b", "100%"]


def test_baggage_properties_and_whitespace():
    assert parse_member(" k = v ; p1 ; p2 = x%20y ") == Member("k", "v", (("p1", None), ("p2", "x y")))
    assert parse_member("no-equals") is None
    assert [m.key for m in members(["a=1,,bad, b=2", "c=3"])] == ["a", "b", "c"]
