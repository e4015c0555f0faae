"""Rendering the per-check results: terminal table, findings JSON and Markdown.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import json
from pathlib import Path

VERDICT_ORDER = ("PASS", "EXPECTED_FAIL", "MISMATCH", "NO_TELEMETRY", "TARGET_ERROR",
                 "UNEXPECTED_PASS", "EXPIRED", "ERROR", "SKIPPED")


def label(row: dict) -> str:
    param = row["nodeid"].partition("[")[2].rstrip("]")
    return f"{row['id']}[{param}]" if param else row["id"]


def reason(row: dict, width: int = 160) -> str:
    lines = (row.get("message") or "").strip().splitlines()
    return lines[0][:width] if lines else ""


def sorted_rows(results: dict) -> list[dict]:
    return sorted(results.values(), key=lambda r: (r["id"], r["nodeid"]))


def headline(meta: dict) -> str:
    return (f"target {meta['target']}; semconv profile '{meta['profile']}' ({meta['profile_reason']}); "
            f"W3C Trace Context Level {meta.get('trace_context_level', 1)}; "
            f"OTLP transports seen: {', '.join(meta['transports']) or 'none'}"
            + (f"; {meta['tls']}" if meta.get("tls") and "TLS" in meta["tls"] else "")
            + (f"; {meta['mode']}" if meta.get("mode") else ""))


def session_lines(meta: dict) -> list[str]:
    """What holds for the whole session: an error that stopped it, signals that never came,
    how the target ended."""
    lines = []
    if meta.get("session_error"):
        lines.append(f"session error: {meta['session_error']}")
    for signal, text in sorted((meta.get("diagnoses") or {}).items()):
        lines.append(f"diagnosis ({signal}): {text}")
    if meta.get("ignored_fields"):
        fields = meta["ignored_fields"]
        lines.append(f"OTLP/JSON fields ignored (names this OTLP version does not have; the spec has receivers "
                     f"ignore them, so no check saw their values): {', '.join(fields[:10])}"
                     f"{f' and {len(fields) - 10} more' if len(fields) > 10 else ''}; if they are misspelled "
                     f"(snake_case instead of lowerCamelCase, say), fix the exporter's JSON keys")
    if meta.get("dropped"):
        lines.append(f"collector memory cap reached: {meta['dropped']}")
    if meta.get("slow_exports"):
        lines.append(meta["slow_exports"])
    if meta.get("ending"):
        lines.append(f"target ending: {meta['ending']}")
    return lines


def counts_line(rows: list[dict]) -> str:
    parts = []
    for level in ("MUST", "SHOULD", "MAY"):
        level_rows = [r for r in rows if r["level"] == level]
        if level_rows:
            passed = sum(r["verdict"] == "PASS" for r in level_rows)
            expected = sum(r["verdict"] == "EXPECTED_FAIL" for r in level_rows)
            skipped = sum(r["verdict"] == "SKIPPED" for r in level_rows)
            failed = len(level_rows) - passed - expected - skipped
            text = f"{level}: {passed} passed, {failed} failed"
            text += f", {expected} expected to fail" if expected else ""
            text += f", {skipped} skipped" if skipped else ""
            parts.append(text)
    return "; ".join(parts)


def terminal_lines(rows: list[dict], meta: dict | None) -> list[str]:
    lines = [headline(meta), *session_lines(meta)] if meta else []
    width = max(len(label(r)) for r in rows)
    lines += [f"{label(r):<{width}}  {r['level']:<6}  {r['verdict']:<15}  {reason(r)}" for r in rows]
    lines.append(counts_line(rows))
    return lines


def write_findings(path: str, rows: list[dict], meta: dict | None) -> None:
    Path(path).write_text(json.dumps({"target": meta, "findings": rows}, indent=2) + "\n")


def read_findings(path: str | Path) -> tuple[dict | None, list[dict]]:
    document = json.loads(Path(path).read_text())
    return document.get("target"), document["findings"]


def markdown(rows: list[dict], meta: dict | None) -> str:
    icon = {"PASS": "✅", "EXPECTED_FAIL": "⚠️", "SKIPPED": "⏭️"}
    out = ["## gRPC/OpenTelemetry conformance", ""]
    if meta:
        out += [headline(meta).replace("; ", "  \n"), ""]
        out += [f"> {line}" for line in session_lines(meta)] + ([""] if session_lines(meta) else [])
    out += [f"**{counts_line(rows)}**", "", "| check | level | verdict | reason |", "| --- | --- | --- | --- |"]
    for r in rows:
        text = reason(r, 200).replace("|", "\\|")
        out.append(f"| `{label(r)}` | {r['level']} | {icon.get(r['verdict'], '❌')} {r['verdict']} | {text} |")
    return "\n".join(out) + "\n"
