"""``otelconform``: run the suite, print the check catalog, build a target × check matrix.

    otelconform run --target-cmd "./svc" [pytest options]
    otelconform catalog > docs/checks.md
    otelconform w3c-harness > docs/w3c-harness.md
    otelconform matrix go.json rust.json -o matrix.html
    otelconform config-matrix go.json rust.json > docs/configuration-matrix.md
    otelconform chain-matrix pairs.json > docs/chain-matrix.md

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from . import report
from .registry import load_catalog


def catalog_markdown() -> str:
    from .profiles import PROFILE_NAMES

    lines = ["# Check catalog", "",
             "Generated from the code by `otelconform catalog`; `tests/test_gate.py::test_catalog_document_is_current` fails "
             "when this file is stale.", "",
             "A spec named `architecture §…` is a section of the observability architecture (2024) the suite "
             "was built from; `semconv …` is the OpenTelemetry semantic conventions; `schemas/<profile>/` is "
             f"the rules of the profile of that name ({', '.join(PROFILE_NAMES.values())}).", "",
             "| ID | level | title | profiles | spec | how to fix | killed by (mutant) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for info in sorted(load_catalog().values(), key=lambda i: i.id):
        profiles = ", ".join(PROFILE_NAMES.values()) + " (rules differ)" if "<profile>" in info.spec else "all"
        if info.launch_only:
            profiles += "; launch mode only"
        if info.backends:
            profiles += "; with --backends only"
        mutants = ", ".join(f"`{m}`" for m in info.killed_by) or "—"
        spec = info.spec.replace("|", "\\|")
        fix = info.fix.replace("|", "\\|")
        lines.append(f"| {info.id} | {info.level.value} | {info.title} | {profiles} | {spec} | {fix} | {mutants} |")
    return "\n".join(lines) + "\n"


def matrix_html(findings_files: list[str]) -> str:
    """One column per target, one row per check instance, the verdict and its reason in each cell."""
    # Imported here: Jinja2 is needed for the HTML pages only, not on every `otelconform run`.
    from .html_report import render_matrix, suite_version

    files = [(Path(path).stem, *report.read_findings(path)) for path in findings_files]
    return render_matrix(files, suite_version(), dt.datetime.now(dt.timezone.utc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otelconform", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the suite (all further arguments go to pytest)")
    sub.add_parser("catalog", help="print the check catalog as Markdown")
    sub.add_parser("w3c-harness", help="print the W3C harness-to-check table as Markdown")
    matrix = sub.add_parser("matrix", help="HTML target × check matrix from --findings files")
    matrix.add_argument("findings", nargs="+")
    matrix.add_argument("-o", "--output", default="conformance-matrix.html")
    config = sub.add_parser("config-matrix", help="Markdown configuration-check × target table from --findings "
                                                  "files (each file's name names its column)")
    config.add_argument("findings", nargs="+")
    chains = sub.add_parser("chain-matrix", help="Markdown source × destination table from the --findings file of "
                                                 "a chain-mode run (--chain-scenario pairs)")
    chains.add_argument("findings")
    args, rest = parser.parse_known_args(argv)
    if args.command == "run":
        import pytest

        return int(pytest.main(rest))
    if rest:
        parser.error(f"unexpected arguments: {' '.join(rest)}")
    if args.command == "catalog":
        sys.stdout.write(catalog_markdown())
        return 0
    if args.command == "w3c-harness":
        from .w3c_doc import harness_markdown

        sys.stdout.write(harness_markdown())
        return 0
    if args.command == "config-matrix":
        from .config_matrix import columns_from, render

        try:
            sys.stdout.write(render(columns_from(args.findings)))
        except (OSError, ValueError, KeyError) as exc:
            print(f"otelconform config-matrix: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "chain-matrix":
        from .chain_matrix import render, verdicts_from

        try:
            sys.stdout.write(render(verdicts_from(args.findings)))
        except (OSError, ValueError, KeyError) as exc:
            print(f"otelconform chain-matrix: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        Path(args.output).write_text(matrix_html(args.findings))
    except (OSError, ValueError, KeyError) as exc:
        print(f"otelconform matrix: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
