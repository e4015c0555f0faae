"""Hypothesis strategies for W3C headers, and the oracles that say what a target must do.

Traceparent values are edits of a valid header (a changed version, characters replaced,
inserted or removed), about one in six of them still valid; tracestate lists and baggage sets are
valid by construction, within the limits the specifications set. Every value stays inside
gRPC's metadata grammar, so no request may be refused.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from urllib.parse import quote

HEX = frozenset("0123456789abcdef")
_EDIT_CHARS = "0123456789abcdefABCDEF-.xz"
_TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&'*+.^_`|~-"
_BAGGAGE_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\%')
_LCALPHA = "abcdefghijklmnopqrstuvwxyz"
_KEY_CHARS = _LCALPHA + "0123456789_-*/"
_VALUE_END = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ",=")


def valid_traceparent(value: str) -> tuple[str, str, str] | None:
    """(trace id, parent id, flags) when a receiver must continue from ``value``, else None
    (W3C Trace Context §traceparent Header Field Values and §Versioning of traceparent)."""
    v = value.strip(" \t")
    if len(v) < 55 or v[2] != "-" or v[35] != "-" or v[52] != "-":
        return None
    version, trace_id, parent_id, flags = v[:2], v[3:35], v[36:52], v[53:55]
    if not set(version + trace_id + parent_id + flags) <= HEX or version == "ff":
        return None
    if (version == "00" and len(v) != 55) or (len(v) > 55 and v[55] != "-"):
        return None
    if set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    return trace_id, parent_id, flags


def build_traceparent(trace_id: str, parent_id: str, edits) -> str:
    version, flags, tail, changes = edits
    value = f"{version}-{trace_id}-{parent_id}-{flags}{tail}"
    for op, at, char in changes:
        at %= len(value) + (op == "insert")
        if op == "replace":
            value = value[:at] + char + value[at + 1:]
        elif op == "insert":
            value = value[:at] + char + value[at:]
        elif len(value) > 1:
            value = value[:at] + value[at + 1:]
    return value


def split_members(members: list[tuple[str, str]], headers: int) -> list[str]:
    """The list as ``headers`` tracestate values, in order."""
    texts = [f"{k}={v}" for k, v in members]
    size = -(-len(texts) // headers)
    return [",".join(texts[i:i + size]) for i in range(0, len(texts), size)]


def encode_baggage_value(text: str) -> str:
    return quote(text, safe=_BAGGAGE_SAFE)


def strategies() -> dict:
    """The strategies by name; hypothesis is imported only here (it is an optional extra)."""
    from hypothesis import strategies as st

    edit = st.tuples(st.sampled_from(("replace", "insert", "delete")), st.integers(0, 60),
                     st.sampled_from(_EDIT_CHARS))
    traceparent_edits = st.tuples(
        st.sampled_from(("00", "00", "00", "01", "cc", "fe", "ff", "0", "000", "0x")),  # version
        st.sampled_from(("00", "01", "01", "02", "03", "ff")),  # flags
        st.sampled_from(("", "", "-extra", ".extra", "-")),  # after the flags
        st.lists(edit, max_size=2),
    )
    # Composed from characters rather than from regular expressions: generating from a regex
    # costs several times as much, and every run pays for it.
    key = st.builds(lambda head, rest, system: head + rest + system, st.sampled_from(_LCALPHA),
                    st.text(_KEY_CHARS, max_size=12),
                    st.just("") | st.builds(lambda h, r: f"@{h}{r}", st.sampled_from(_LCALPHA),
                                            st.text(_KEY_CHARS, max_size=6)))
    value = st.builds(lambda body, end: body + end, st.text(" " + _VALUE_END, max_size=10),
                      st.sampled_from(_VALUE_END))
    tracestate_lists = st.lists(st.tuples(key, value), min_size=1, max_size=36,
                                unique_by=lambda kv: kv[0]).flatmap(
        lambda members: st.tuples(st.just(members), st.integers(1, min(3, len(members)))))
    prop = st.tuples(st.text(_TOKEN, min_size=1, max_size=6), st.none() | st.text(max_size=6))
    baggage_sets = st.lists(
        st.tuples(st.text(_TOKEN.replace("%", ""), min_size=1, max_size=10), st.text(max_size=12),
                  st.lists(prop, max_size=2)),
        min_size=1, max_size=20, unique_by=lambda m: m[0])
    return {"traceparent": traceparent_edits, "tracestate": tracestate_lists, "baggage": baggage_sets}
