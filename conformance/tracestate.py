"""What a participant may do to the tracestate it forwards (W3C Trace Context §3.3.1.3).

A participant that receives tracestate MUST send it on, and MAY mutate it only so: add one
entry of its own (at the front), update the value of its own entry (moving it to the
front), or re-emit an entry unchanged at the front (the same thing with an equal value).
Every other entry keeps its value and its order relative to the others. Deleting another
participant's entry is allowed only to stay within the limits (§3.3.1.5: at least 512
characters SHOULD be propagated), which a short tracestate never reaches.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

MIN_PROPAGATED = 512


def members(header_values: list[str]) -> list[tuple[str, str]]:
    """Repeated headers combine in order; empty members and OWS around commas are ignored."""
    out = []
    for value in header_values:
        for member in value.split(","):
            member = member.strip(" \t")
            if member:
                key, _, val = member.partition("=")
                out.append((key, val))
    return out


def _text(entries) -> str:
    return ",".join(f"{k}={v}" for k, v in entries) or "(none)"


def forwarding_error(sent: str, received_values: list[str]) -> str | None:
    """Why the forwarded tracestate breaks the mutation rules, or None when it keeps them."""
    before, after = members([sent]), members(received_values)
    if not after:
        return f"no tracestate was forwarded; expected {_text(before)} (the target may add or update one entry of its own)"
    keys = [k for k, _ in after]
    if len(set(keys)) != len(keys):
        return f"forwarded tracestate {_text(after)} repeats a key; keys must be unique"
    changed = [e for e in after if e not in before]
    if len(changed) > 1:
        return (f"forwarded tracestate {_text(after)} adds or changes {len(changed)} entries "
                f"({_text(changed)}); a participant owns one entry and may add or update only that")
    own_key = changed[0][0] if changed else None
    rest = [e for e in after if e not in changed]
    expected_rest = [e for e in before if e[0] != own_key]
    if not changed and rest and rest[1:] == [e for e in expected_rest if e != rest[0]]:
        return None  # one entry re-emitted unchanged at the front: the participant's own
    if rest == expected_rest:
        return None
    dropped = [e for e in expected_rest if e not in rest]
    if dropped and len(sent) > MIN_PROPAGATED:
        return None  # truncation, which the limits allow
    problem = (f"entries {_text(dropped)} were dropped" if dropped else
               "the order of the other participants' entries changed")
    return (f"forwarded tracestate {_text(after)} breaks the mutation rules: {problem}; expected "
            f"{_text(expected_rest)} in this order, with at most one entry of the target's own added or "
            f"updated in front")
