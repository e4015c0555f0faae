"""Following one trace across services by its parent links (chain mode).

A chain's trace is walked from the suite's own span id: hop 1's SERVER span must be its
child, hop 1's CLIENT span a descendant of that SERVER span within the same service (through
INTERNAL spans only, so a service may wrap its outgoing call in spans of its own), hop 2's
SERVER span the child of that CLIENT span, and so on. Nothing but ids and span kinds is
used: never names, never the services' clocks.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .observe import CLIENT, SERVER

INTERNAL = "SPAN_KIND_INTERNAL"


def service_of(span) -> str:
    return str(span.resource.get("service.name", "?"))


@dataclass
class HopSpans:
    server: object  # SpanView
    client: object | None  # SpanView; None for a hop that was not to call further


@dataclass
class Walk:
    expected: int  # hops the walk should cover
    hops: list[HopSpans] = field(default_factory=list)
    broken_at: int | None = None  # the hop (0-based) where the links stop
    reason: str = ""

    @property
    def complete(self) -> bool:
        return self.broken_at is None and len(self.hops) == self.expected


def _clients_under(server, spans) -> list:
    """CLIENT spans descending from ``server`` in its own service, through INTERNAL spans only."""
    service, frontier, found = service_of(server), [server.span_id], []
    while frontier:
        parent = frontier.pop()
        for span in spans:
            if span.parent_span_id != parent or service_of(span) != service:
                continue
            if span.kind == CLIENT:
                found.append(span)
            elif span.kind == INTERNAL:
                frontier.append(span.span_id)
    return found


def walk(spans, parent_id: str, chain, hops: int, last_calls_out: bool = True) -> Walk:
    """The chain's first ``hops`` hops as linked in ``spans`` (one trace's), from the suite's
    ``parent_id``. ``last_calls_out`` is False when the last of them was asked to fail: it
    then has a SERVER span and no CLIENT span."""
    result = Walk(hops)
    parent = parent_id
    for k in range(hops):
        above = "the suite's span" if k == 0 else f"the CLIENT span of {chain.hop(k - 1)}"
        servers = [s for s in spans if s.kind == SERVER and s.parent_span_id == parent]
        if not servers:
            result.broken_at, result.reason = k, f"no SERVER span has {above} ({parent}) as its parent"
            return result
        # Linked by ids alone: a service that exports under a wrong name is CHAIN-007's finding.
        server = servers[0]
        if k == hops - 1 and not last_calls_out:
            result.hops.append(HopSpans(server, None))
            return result
        clients = _clients_under(server, spans)
        if not clients:
            result.hops.append(HopSpans(server, None))
            result.broken_at = k
            result.reason = (f"no CLIENT span descends from its SERVER span {server.span_id} in its own service: "
                             f"the outgoing call made no client span, or not inside the server span's context")
            return result
        linked = {s.parent_span_id for s in spans if s.kind == SERVER}
        client = next((c for c in clients if c.span_id in linked), clients[0])
        result.hops.append(HopSpans(server, client))
        parent = client.span_id
    return result


def strays(spans, parent_id: str) -> list:
    """Spans of the trace whose parent is neither the suite's span nor a span of the trace:
    extra roots (no parent) and orphans (a parent nobody exported)."""
    known = {s.span_id for s in spans} | {parent_id}
    return [s for s in spans if s.parent_span_id not in known]
