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
    """The message's first line, cut to ``width`` characters with an ellipsis when longer."""
    lines = (row.get("message") or "").strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= width else first[:width - 1].rstrip() + "…"


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
    if meta.get("pipeline"):
        lines.append(f"pipeline: {meta['pipeline']}")
    return lines


def counts(rows: list[dict]) -> dict[str, int]:
    """Rows by outcome, as every report totals them."""
    passed = sum(r["verdict"] == "PASS" for r in rows)
    expected = sum(r["verdict"] == "EXPECTED_FAIL" for r in rows)
    skipped = sum(r["verdict"] == "SKIPPED" for r in rows)
    unrun = sum(map(not_run, rows))  # stopped by a session error: not each check's failure
    return {"passed": passed, "failed": len(rows) - passed - expected - skipped - unrun, "expected": expected,
            "skipped": skipped, "not_run": unrun, "total": len(rows)}


def counts_line(rows: list[dict]) -> str:
    parts = []
    for level in ("MUST", "SHOULD", "MAY"):
        level_rows = [r for r in rows if r["level"] == level]
        if level_rows:
            c = counts(level_rows)
            text = f"{level}: {c['passed']} passed, {c['failed']} failed"
            text += f", {c['expected']} expected to fail" if c["expected"] else ""
            text += f", {c['skipped']} skipped" if c["skipped"] else ""
            text += f", {c['not_run']} not run" if c["not_run"] else ""
            parts.append(text)
    return "; ".join(parts)


NOT_FAILING = ("PASS", "EXPECTED_FAIL", "SKIPPED")
# Verdicts about the telemetry itself, where the check's fix applies (a TARGET_ERROR says its own).
FIXABLE = ("MISMATCH", "NO_TELEMETRY")


# The message of a check that never ran because the session failed (plugin.NOT_RUN): the session
# error above the rows says why, once, so these rows are listed by ID only.
NOT_RUN_PREFIX = "not run: "


def not_run(row: dict) -> bool:
    return row["verdict"] == "TARGET_ERROR" and (row.get("message") or "").startswith(NOT_RUN_PREFIX)


def _groups(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows by outcome: what needs attention first, then what did not."""
    return {"failing": [r for r in rows if r["verdict"] not in NOT_FAILING and not not_run(r)],
            "not_run": [r for r in rows if not_run(r)],
            "expected": [r for r in rows if r["verdict"] == "EXPECTED_FAIL"],
            "skipped": [r for r in rows if r["verdict"] == "SKIPPED"],
            "passed": [r for r in rows if r["verdict"] == "PASS"]}


def _ids(rows: list[dict]) -> str:
    """Check IDs once each, with how many instances when a check has several."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["id"]] = counts.get(r["id"], 0) + 1
    return ", ".join(f"{i} ×{n}" if n > 1 else i for i, n in counts.items())


def _skip_reasons(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    by_reason: dict[str, list[dict]] = {}
    for r in rows:
        by_reason.setdefault(reason(r, 200), []).append(r)
    return sorted(by_reason.items(), key=lambda item: -len(item[1]))


def terminal_lines(rows: list[dict], meta: dict | None) -> list[str]:
    """Failures first with their reason; expected failures, skips and passes collapsed."""
    lines = [headline(meta), *session_lines(meta)] if meta else []
    groups = _groups(rows)
    if groups["failing"]:
        width = max(len(label(r)) for r in groups["failing"])
        lines.append(f"not passed ({len(groups['failing'])}):")
        for r in groups["failing"]:
            lines.append(f"  {label(r):<{width}}  {r['level']:<6}  {r['verdict']:<15}  {reason(r, 400)}")
            if r.get("fix") and r["verdict"] in FIXABLE:
                lines.append(f"  {'':<{width}}  how to fix: {r['fix']}")
    if groups["not_run"]:
        lines.append(f"not run ({len(groups['not_run'])}, TARGET_ERROR), "
                     f"{reason(groups['not_run'][0], 200).removeprefix(NOT_RUN_PREFIX)}: {_ids(groups['not_run'])}")
    if groups["expected"]:
        lines.append(f"failed as the manifest expects ({len(groups['expected'])}): {_ids(groups['expected'])}")
    if groups["skipped"]:
        lines.append(f"skipped ({len(groups['skipped'])}):")
        lines += [f"  {_ids(group)}: {text}" for text, group in _skip_reasons(groups["skipped"])]
    if groups["passed"]:
        lines.append(f"passed ({len(groups['passed'])}): {_ids(groups['passed'])}")
    lines.append(counts_line(rows))
    return lines


def write_findings(path: str, rows: list[dict], meta: dict | None) -> None:
    Path(path).write_text(json.dumps({"target": meta, "findings": rows}, indent=2) + "\n")


def read_findings(path: str | Path) -> tuple[dict | None, list[dict]]:
    document = json.loads(Path(path).read_text())
    return document.get("target"), document["findings"]


def markdown(rows: list[dict], meta: dict | None) -> str:
    """The GitHub job summary: failures first in a table, the rest folded away."""
    out = ["## gRPC/OpenTelemetry conformance", ""]
    if meta:
        out += [headline(meta).replace("; ", "  \n"), ""]
        out += [f"> {line}" for line in session_lines(meta)] + ([""] if session_lines(meta) else [])
    out += [f"**{counts_line(rows)}**", ""]
    groups = _groups(rows)

    def table(chosen: list[dict], icon: str) -> list[str]:
        body = ["| check | level | verdict | reason |", "| --- | --- | --- | --- |"]
        for r in chosen:
            text = reason(r, 300).replace("|", "\\|")
            if r.get("fix") and r["verdict"] in FIXABLE:
                text += "<br>**how to fix:** " + r["fix"].replace("|", "\\|")
            body.append(f"| `{label(r)}` | {r['level']} | {icon} {r['verdict']} | {text} |")
        return body + [""]

    if groups["failing"]:
        out += [f"### Not passed ({len(groups['failing'])})", "", *table(groups["failing"], "❌")]
    if groups["not_run"]:
        out += [f"### Not run ({len(groups['not_run'])}, TARGET_ERROR)", "",
                f"{reason(groups['not_run'][0], 200).removeprefix(NOT_RUN_PREFIX)}: {_ids(groups['not_run'])}", ""]
    for key, title, icon in (("expected", "Failed as the manifest expects", "⚠️"), ("skipped", "Skipped", "⏭️"),
                             ("passed", "Passed", "✅")):
        if groups[key]:
            out += [f"<details><summary>{title} ({len(groups[key])})</summary>", "", *table(groups[key], icon),
                    "</details>", ""]
    return "\n".join(out).rstrip() + "\n"
