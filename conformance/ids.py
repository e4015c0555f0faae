"""Trace context the suite sends: every check makes its own ids.

Every random value a check draws goes through ``draw`` so that a captured run can be
replayed with the very same ids (see ``capture``).

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import secrets
from typing import Callable

# Suite-made trace ids start with this marker so a span the target rooted itself can be
# told apart from one continuing a suite trace, even across parallel workers.
from otelconform_fixtures.otlp import SUITE_MARKER

# While a check runs under --capture-run or --replay: an object with draw(make) -> str.
source = None


def draw(make: Callable[[], str]) -> str:
    return make() if source is None else source.draw(make)


def new_trace_id() -> str:
    return draw(lambda: (SUITE_MARKER + secrets.token_bytes(14)).hex())


def ratio_sampled_trace_id() -> str:
    """A suite trace id that a trace-id ratio sampler keeps at any ratio above 1/256, whichever
    bits it reads: the low 64 as a number below ratio * 2**64 (Python, Go, Rust, Java), the low
    56 as randomness at or above the rejection threshold (the spec's consistent-probability
    form), or the first 8 bytes read little-endian (opentelemetry-cpp). A check that needs a
    service ignoring its parent to show it — sampling a call a parent-based sampler must drop
    — uses these, so the finding does not hang on a coin. 80 bits stay random."""
    def make() -> str:
        head = SUITE_MARKER + secrets.token_bytes(4) + bytes(2)
        tail = b"\x00\xff" + secrets.token_bytes(6)
        return (head + tail).hex()
    return draw(make)


def new_span_id() -> str:
    def make() -> str:
        while True:
            span_id = secrets.token_bytes(8)
            if any(span_id):
                return span_id.hex()
    return draw(make)


def unique(tag: str) -> str:
    """A payload or message no other call carries, so a check finds exactly its own."""
    return draw(lambda: f"{tag}-{secrets.token_hex(16)}")


def is_suite_trace(trace_id: str) -> bool:
    return bytes.fromhex(trace_id).startswith(SUITE_MARKER)


def traceparent(trace_id: str, span_id: str, sampled: bool = True, version: str = "00") -> str:
    return f"{version}-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def parse_traceparent(value: str) -> tuple[str, str, str, str] | None:
    """(version, trace_id, parent_id, flags) of a well-formed version-00 header, else None."""
    parts = value.strip().split("-")
    if len(parts) != 4 or [len(p) for p in parts] != [2, 32, 16, 2]:
        return None
    if any(c not in "0123456789abcdef" for c in "".join(parts)):
        return None
    version, trace_id, parent_id, flags = parts
    if version == "ff" or set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    return version, trace_id, parent_id, flags
