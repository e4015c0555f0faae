"""The HTML report of one run and the HTML matrix of several: single files a browser opens offline.

Jinja2 renders both from ``templates/`` with autoescaping on, so a message quoting what a target
sent (a span name, a header value) is shown as text and never becomes markup.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import jinja2

from . import report

LEVELS = ("MUST", "SHOULD", "MAY")
# A check that floods the target sends hundreds of traces; the first few show what went wrong
# without making the page heavy, and the findings file keeps them all.
MAX_TRACES = 5
MAX_CALLS = 5  # likewise the calls a check made, and what reached the downstream

# Spec references start with the document they cite; these prefixes are the documents with a
# stable public address. A "{path}" takes the path that follows the prefix, up to the first space.
SPEC_LINKS = (
    ("W3C Trace Context Level 2", "https://www.w3.org/TR/trace-context-2/"),
    ("W3C Trace Context", "https://www.w3.org/TR/trace-context/"),
    ("W3C Baggage", "https://www.w3.org/TR/baggage/"),
    ("semconv docs/", "https://github.com/open-telemetry/semantic-conventions/blob/main/docs/{path}"),
    ("OTLP spec", "https://opentelemetry.io/docs/specs/otlp/"),
    ("OTel SDK environment variables",
     "https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/"),
    ("OTel trace API", "https://opentelemetry.io/docs/specs/otel/trace/api/"),
    ("OTel spec ", "https://github.com/open-telemetry/opentelemetry-specification/blob/main/specification/{path}"),
    ("OTel logs data model", "https://opentelemetry.io/docs/specs/otel/logs/data-model/"),
    ("OTel metrics data model", "https://opentelemetry.io/docs/specs/otel/metrics/data-model/"),
    ("gRPC doc/", "https://github.com/grpc/grpc/blob/master/doc/{path}"),
)


def suite_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-otelconform")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _environment() -> jinja2.Environment:
    # Explicit autoescape: select_autoescape would not recognise the ".html.j2" names.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["tone"] = tone
    return env


def tone(verdict: str) -> str:
    """The colour family of a verdict: passed, expected to fail, skipped, or needing attention."""
    return {"PASS": "pass", "EXPECTED_FAIL": "expected", "SKIPPED": "skipped"}.get(verdict, "fail")


def _utc(moment: dt.datetime) -> str:
    moment = moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def spec_parts(spec: str) -> list[tuple[str, str | None]]:
    """The spec text in its "; "-separated references, each with the address of its document if known."""
    parts: list[tuple[str, str | None]] = []
    for piece in (spec or "").split("; "):
        url = None
        for prefix, address in SPEC_LINKS:
            if piece.startswith(prefix):
                path = piece[len(prefix):].split(" ", 1)[0].rstrip(",;:)")
                if "{path}" not in address or re.fullmatch(r"[\w./-]+\.md", path):
                    url = address.format(path=path)
                break
        parts.append((piece, url))
    return parts


def waterfall(trace: dict) -> dict:
    """One trace's spans in tree order, each with its depth and its bar's offset and width in
    per cent of the trace's time window."""
    spans = trace.get("spans") or []
    # A span without timestamps (zero) would stretch the window back to 1970 and squash the rest.
    timed = [s for s in spans if s["start_unix_nano"] and s["end_unix_nano"]]
    # Both ends of every span: one that ends before it starts must still fall inside the window.
    moments = [t for s in timed for t in (s["start_unix_nano"], s["end_unix_nano"])]
    start, end = min(moments, default=0), max(moments, default=0)
    window = max(end - start, 0)
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[int]] = {}
    for index, s in enumerate(spans):
        children.setdefault(s["parent_span_id"], []).append(index)
    ordered: list[tuple[int, int]] = []
    seen: set[int] = set()

    def walk(index: int, depth: int) -> None:
        if index in seen:  # a span that names itself or a descendant as parent
            return
        seen.add(index)
        ordered.append((index, depth))
        for child in sorted(children.get(spans[index]["span_id"], ()), key=lambda i: spans[i]["start_unix_nano"]):
            walk(child, depth + 1)

    roots = [i for i, s in enumerate(spans) if s["parent_span_id"] not in ids]
    for index in sorted(roots, key=lambda i: spans[i]["start_unix_nano"]) + list(range(len(spans))):
        walk(index, 0)
    bars = []
    for index, depth in ordered:
        s = spans[index]
        has_times = bool(s["start_unix_nano"] and s["end_unix_nano"])
        offset = (s["start_unix_nano"] - start) / window * 100 if has_times and window else 0.0
        width = max(s["end_unix_nano"] - s["start_unix_nano"], 0) / window * 100 if has_times and window else 0.0
        bars.append({**s, "depth": depth, "timed": has_times, "left": offset, "width": width,
                     "kind": s["kind"].removeprefix("SPAN_KIND_"), "status": s["status"].removeprefix("STATUS_CODE_"),
                     "duration_ms": (s["end_unix_nano"] - s["start_unix_nano"]) / 1e6 if has_times else None,
                     "parent_here": s["parent_span_id"] in ids})
    return {"trace_id": trace["trace_id"], "spans": bars, "duration_ms": window / 1e6}


def _anchor(label: str, taken: set[str]) -> str:
    base = "check-" + re.sub(r"[^A-Za-z0-9_-]+", "-", label).strip("-")
    anchor, n = base, 1
    while anchor in taken:
        n += 1
        anchor = f"{base}-{n}"
    taken.add(anchor)
    return anchor


def _calls(context: dict) -> list[dict]:
    """What the suite sent on each call of the check (the propagation it controls) and what the
    call ended with: the "sent" beside the check's expected-and-got message."""
    return [{"method": c.get("method") or "", "code": c.get("code") or "",
             "sent": [(name, value) for name, value in c.get("metadata_sent") or ()]}
            for c in (context.get("calls") or ())[:MAX_CALLS] if isinstance(c, dict)]


def _check(row: dict, anchor: str) -> dict:
    context = row.get("context") or {}
    return {"label": report.label(row), "anchor": anchor, "id": row["id"], "title": row.get("title") or "",
            "level": row["level"], "signal": row.get("signal") or "", "verdict": row["verdict"],
            "failing": row["verdict"] not in report.NOT_FAILING, "not_run": report.not_run(row),
            "message": (row.get("message") or "").strip(), "reason": report.reason(row, 200),
            # Only where the telemetry was judged: a target that did not answer says its own remedy.
            "fix": (row.get("fix") or "") if row["verdict"] in report.FIXABLE else "",
            "spec": spec_parts(row.get("spec") or ""),
            "traces": [waterfall(t) for t in (context.get("traces") or [])[:MAX_TRACES]],
            "more_traces": max(len(context.get("traces") or []) - MAX_TRACES, 0),
            "calls": _calls(context), "more_calls": max(len(context.get("calls") or []) - MAX_CALLS, 0),
            # The propagation headers each call that reached the suite's downstream carried.
            "received": [[(name, value) for name, value in headers]
                         for headers in (context.get("downstream_received") or ())[:MAX_CALLS]],
            "more_received": max(len(context.get("downstream_received") or []) - MAX_CALLS, 0),
            # Findings written before the structured traces existed still say which spans there were.
            "trace_ids": context.get("trace_ids") or [], "span_lines": context.get("spans") or []}


def _ordered(values, order=()) -> list[str]:
    present = set(values)
    return [v for v in order if v in present] + sorted(present - set(order))


def _meta_items(meta: dict) -> list[tuple[str, str]]:
    items = [("Target", meta.get("target") or "unknown")]
    profile = meta.get("profile") or "unknown"
    items.append(("Semantic conventions",
                  f"{profile} ({meta['profile_reason']})" if meta.get("profile_reason") else profile))
    if meta.get("trace_context_level"):
        items.append(("W3C Trace Context", f"Level {meta['trace_context_level']}"))
    items.append(("OTLP transports seen", ", ".join(meta.get("transports") or ()) or "none"))
    if meta.get("tls") and "TLS" in meta["tls"]:
        items.append(("TLS", meta["tls"]))
    return items


def render_report(rows: list[dict], meta: dict | None, suite_version: str, generated_at: dt.datetime) -> str:
    """The report of one run as a self-contained HTML page."""
    taken: set[str] = set()
    checks = [_check(r, _anchor(report.label(r), taken)) for r in rows]
    totals = [{"level": level, **report.counts([r for r in rows if r["level"] == level])}
              for level in _ordered((r["level"] for r in rows), LEVELS)]
    filters = {"level": _ordered((c["level"] for c in checks), LEVELS),
               "signal": _ordered(c["signal"] for c in checks),
               "verdict": _ordered((c["verdict"] for c in checks), report.VERDICT_ORDER)}
    return _environment().get_template("report.html.j2").render(
        meta_items=_meta_items(meta) if meta else [], mode=(meta or {}).get("mode") or "",
        notices=report.session_lines(meta) if meta else [], suite_version=suite_version,
        generated=_utc(generated_at), totals=totals, overall=report.counts(rows), filters=filters, checks=checks,
        failing=[c for c in checks if c["failing"] and not c["not_run"]],
        not_run=[c for c in checks if c["not_run"]])


def write_report(path, rows: list[dict], meta: dict | None) -> None:
    Path(path).write_text(render_report(rows, meta, suite_version(), dt.datetime.now(dt.timezone.utc)),
                          encoding="utf-8")


def render_matrix(files: list[tuple[str, dict | None, list[dict]]], suite_version: str,
                  generated_at: dt.datetime) -> str:
    """One column per findings file (name, session description, rows), one row per check instance."""
    columns, lines = [], {}
    for name, meta, rows in files:
        cells = {}
        for row in rows:
            key = report.label(row)
            lines.setdefault(key, {"label": key, "title": row.get("title") or "", "level": row["level"]})
            message = (row.get("message") or "").strip()
            cells[key] = {"verdict": row["verdict"], "message": message,
                          "reason": shorten(report.reason(row, 400), 90)}
        columns.append({"name": name, "profile": (meta or {}).get("profile") or "",
                        "headline": report.headline(meta) if meta else "no session description",
                        "cells": cells, "totals": report.counts(rows)})
    return _environment().get_template("matrix.html.j2").render(
        columns=columns, lines=[lines[k] for k in sorted(lines)], suite_version=suite_version,
        generated=_utc(generated_at))
