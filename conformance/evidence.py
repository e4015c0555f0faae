"""What one check sent and received, for reports: trace ids, metadata, spans and logs.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from .ids import parse_traceparent


# protobuf's JSON form writes bytes as base64; OTLP/JSON and every trace viewer write ids in hex.
_ID_FIELDS = {"trace_id": "traceId", "span_id": "spanId", "parent_span_id": "parentSpanId"}


def _with_hex_ids(message) -> dict:
    as_dict = json_format.MessageToDict(message)
    for holder, source in [(as_dict, message),
                           *zip(as_dict.get("links", ()), getattr(message, "links", ()))]:
        for field, key in _ID_FIELDS.items():
            if key in holder:
                holder[key] = getattr(source, field).hex()
    return as_dict


@dataclass
class Evidence:
    calls: list  # CallResult of the calls the check made
    downstream: list  # ObservedCall the downstream received during the check
    spans: list  # SpanView of the traces involved
    logs: list  # LogView of the traces involved

    @property
    def trace_ids(self) -> list[str]:
        ids: list[str] = []
        headers = [v for c in self.calls for k, v in c.metadata_sent if k == "traceparent"]
        headers += [v for d in self.downstream for v in d.values("traceparent")]
        for header in headers:
            parsed = parse_traceparent(header)
            if parsed and parsed[1] not in ids:
                ids.append(parsed[1])
        return ids

    def context(self, redactor) -> dict[str, Any]:
        """A compact summary for the findings file, credentials redacted."""
        return {
            "trace_ids": self.trace_ids,
            "calls": [{"method": c.method, "code": c.code.name,
                       "metadata_sent": [list(m) for m in redactor.metadata(c.metadata_sent)]} for c in self.calls],
            "downstream_received": [[list(m) for m in d.metadata if m[0] in ("traceparent", "tracestate", "baggage")]
                                    for d in self.downstream],
            "spans": [s.summary() for s in self.spans],
            "log_records": len(self.logs),
            "traces": self.traces(),
        }

    def traces(self) -> list[dict]:
        """Each trace's spans with their timing, enough to draw the trace as a waterfall."""
        sent = self.trace_ids
        order = sent + [t for t in dict.fromkeys(s.trace_id for s in self.spans) if t not in sent]
        return [{"trace_id": trace_id,
                 "spans": [{"span_id": s.span_id, "parent_span_id": s.parent_span_id, "name": s.name,
                            "kind": s.kind, "status": s.status,
                            "start_unix_nano": s.span.start_time_unix_nano,
                            "end_unix_nano": s.span.end_time_unix_nano}
                           for s in self.spans if s.trace_id == trace_id]}
                for trace_id in order]

    def spans_json(self) -> list[dict]:
        return [{"resource": s.resource, "scope": s.scope_name, "schema_url": s.schema_url,
                 "transport": s.transport, "span": _with_hex_ids(s.span)} for s in self.spans]

    def logs_json(self) -> list[dict]:
        return [{"resource": r.resource, "scope": r.scope_name, "transport": r.transport,
                 "record": _with_hex_ids(r.record)} for r in self.logs]

    def span_tree(self) -> str:
        """The spans of each trace as an indented tree, children under their parent."""
        lines = []
        for trace_id in self.trace_ids:
            spans = [s for s in self.spans if s.trace_id == trace_id]
            ids = {s.span_id for s in spans}
            lines.append(f"trace {trace_id}")

            def walk(parent: str, depth: int):
                for s in sorted((s for s in spans if s.parent_span_id == parent),
                                key=lambda s: s.span.start_time_unix_nano):
                    ms = (s.span.end_time_unix_nano - s.span.start_time_unix_nano) / 1e6
                    lines.append(f"{'  ' * depth}- {s.kind.removeprefix('SPAN_KIND_')} {s.name} "
                                 f"[{s.span_id}] {s.status.removeprefix('STATUS_CODE_')} {ms:.1f} ms "
                                 f"{s.attributes}")
                    walk(s.span_id, depth + 1)

            for root in sorted({s.parent_span_id for s in spans if s.parent_span_id not in ids}):
                lines.append(f"  (parent {root or 'none'})")
                walk(root, 2)
            if not spans:
                lines.append("  (no spans arrived)")
        return "\n".join(lines)


def collect(suite, check: str) -> Evidence:
    """What ``check`` sent and received; its calls carry its name, whichever thread made them."""
    evidence = Evidence([c for c in list(suite.client.history) if c.check == check], [], [], [])
    sent = set(evidence.trace_ids)
    evidence.downstream = [d for d in suite.downstream.all_calls() if d.trace_ids & sent]
    trace_ids = set(evidence.trace_ids)
    evidence.spans = [s for t in evidence.trace_ids for s in suite.collector.spans(t)]
    evidence.logs = [r for r in suite.collector.logs() if r.trace_id in trace_ids]
    return evidence
