"""The suite's own traceparent handling, which every outgoing-propagation check relies on."""
from __future__ import annotations

from hypothesis import given, strategies as st

from otelconform.ids import SUITE_MARKER, is_suite_trace, new_span_id, new_trace_id, parse_traceparent, traceparent

hex_id = lambda n: st.binary(min_size=n, max_size=n).filter(any).map(bytes.hex)  # noqa: E731


@given(hex_id(16), hex_id(8), st.booleans())
def test_round_trip(trace_id, span_id, sampled):
    assert parse_traceparent(traceparent(trace_id, span_id, sampled)) == (
        "00", trace_id, span_id, "01" if sampled else "00")


@given(hex_id(16), hex_id(8), st.integers(0, 54))
def test_a_non_hex_character_anywhere_is_rejected(trace_id, span_id, position):
    header = traceparent(trace_id, span_id)
    damaged = header[:position] + "X" + header[position + 1:]
    assert parse_traceparent(damaged) is None


def test_invalid_forms():
    tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    for header in [f"ff-{tid}-{sid}-01", f"00-{'0' * 32}-{sid}-01", f"00-{tid}-{'0' * 16}-01",
                   f"00-{tid.upper()}-{sid}-01", f"00-{tid}-{sid}-01-extra", f"00-{tid}-{sid}", ""]:
        assert parse_traceparent(header) is None, header
    assert parse_traceparent(f"  00-{tid}-{sid}-01\t") == ("00", tid, sid, "01")


def test_suite_ids_are_marked_and_valid():
    trace_id, span_id = new_trace_id(), new_span_id()
    assert is_suite_trace(trace_id) and trace_id.startswith(SUITE_MARKER.hex())
    assert parse_traceparent(traceparent(trace_id, span_id)) is not None
    assert new_trace_id() != trace_id
