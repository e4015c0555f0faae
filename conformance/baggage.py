"""W3C Baggage as the suite reads what a target forwards: members, values and properties.

Several ``baggage`` headers form one list (W3C Baggage §Limits, §Mutating baggage). A
member is ``key = value *(; property)``, OWS around ``=``, ``;`` and ``,`` is not part of
anything, and values (and property values) are percent-encoded per RFC 3986 §2.1, so
``a%20b`` and ``a b`` mean the same value while ``a+b`` is a literal plus.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

OWS = " \t"
MAX_MEMBERS, MAX_BYTES = 64, 8192  # what a platform MUST propagate in full


@dataclass(frozen=True)
class Member:
    key: str
    value: str  # decoded
    properties: tuple[tuple[str, str | None], ...] = ()  # (key, decoded value or None)

    def text(self) -> str:
        props = "".join(f";{k}" + ("" if v is None else f"={v}") for k, v in self.properties)
        return f"{self.key}={self.value}{props}"


def decode(text: str) -> str:
    return unquote(text.strip(OWS), errors="replace")


def parse_member(text: str) -> Member | None:
    """One list-member, or None when it has no ``key=`` (an invalid member)."""
    head, *props = text.split(";")
    key, eq, value = head.partition("=")
    if not eq or not key.strip(OWS):
        return None
    properties = []
    for prop in props:
        pkey, peq, pvalue = prop.partition("=")
        if pkey.strip(OWS):
            properties.append((pkey.strip(OWS), decode(pvalue) if peq else None))
    return Member(key.strip(OWS), decode(value), tuple(properties))


def members(header_values: list[str]) -> list[Member]:
    """Every valid member of all ``baggage`` headers, in order."""
    out = []
    for value in header_values:
        for text in value.split(","):
            if text.strip(OWS):
                member = parse_member(text)
                if member is not None:
                    out.append(member)
    return out


def by_key(found: list[Member]) -> dict[str, list[Member]]:
    grouped: dict[str, list[Member]] = {}
    for member in found:
        grouped.setdefault(member.key, []).append(member)
    return grouped
