"""The HTML report and matrix: what they say, that they stay text, and that a browser runs them."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import types
from html.parser import HTMLParser
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from otelconform import report
from otelconform.cli import main as cli_main
from otelconform.evidence import Evidence
from otelconform.html_report import render_report, spec_parts, suite_version, write_report
from otelconform.redaction import Redactor
from otelconform_fixtures.otlp import SpanView

TRACE = "5c0f" + "1a" * 14
PARENT, CHILD = "00f067aa0ba902b7", "b7ad6b7169203331"
T0 = 1_750_000_000_000_000_000  # ns
WHEN = dt.datetime(2025, 6, 1, 12, 30, tzinfo=dt.timezone.utc)


def _span(span_id: str, parent: str, name: str, kind: str, status: str, start_ms: float, end_ms: float) -> dict:
    return {"span_id": span_id, "parent_span_id": parent, "name": name, "kind": kind, "status": status,
            "start_unix_nano": T0 + int(start_ms * 1e6), "end_unix_nano": T0 + int(end_ms * 1e6)}


def _rows() -> list[dict]:
    failing = {"id": "PROP-002", "level": "MUST", "verdict": "MISMATCH", "signal": "traces",
               "title": "outgoing traceparent continues the <incoming> trace",
               "spec": "W3C Trace Context §3.2.2.3 parent-id; semconv docs/rpc/rpc-spans.md §Span; "
                       "architecture 'Tracing'",
               "message": "expected the client span's parent to be the server span, got <script>alert(1)</script>\n"
                          "fix: start the client span in the server span's context",
               "nodeid": "otelconform/checks/test_propagation.py::test_prop_002",
               "fix": "start the client span with the server span's context as its parent",
               "context": {"trace_ids": [TRACE], "spans": ["(one-line summaries)"], "traces": [
                   {"trace_id": TRACE, "spans": [
                       # The child first: the page must order spans by the tree, not by arrival.
                       _span(CHILD, PARENT, "conformance.v1.Downstream/Echo", "SPAN_KIND_CLIENT",
                             "STATUS_CODE_ERROR", 10, 20),
                       _span(PARENT, "", "conformance.v1.Conformance/Relay", "SPAN_KIND_SERVER",
                             "STATUS_CODE_UNSET", 0, 20)]}]}}
    passing = {"id": "STAT-001", "level": "MUST", "verdict": "PASS", "signal": "grpc",
               "title": "status codes on the server span", "spec": "gRPC doc/statuscodes.md", "message": "",
               "nodeid": "otelconform/checks/test_status.py::test_stat_001[NOT_FOUND]", "context": {}}
    skipped = {"id": "LOG-003", "level": "SHOULD", "verdict": "SKIPPED", "signal": "logs",
               "title": "log severity", "spec": "OTel logs data model §Field: SeverityNumber",
               "message": "needs the contract's Log method (zero-contract mode)",
               "nodeid": "otelconform/checks/test_logs.py::test_log_003", "context": {}}
    return [failing, passing, skipped]


META = {"target": "launched: ./svc --port {port}", "profile": "semconv-1.38", "profile_reason": "the default",
        "trace_context_level": 1, "transports": ["grpc"], "mode": "zero-contract mode, 9 of 120 checks applicable",
        "diagnoses": {"logs": "no log records arrived over grpc"}, "ending": "exited 0 after SIGTERM"}


class Node:
    def __init__(self, tag: str, attrs: dict, parent: "Node | None"):
        self.tag, self.attrs, self.parent, self.children, self.texts = tag, attrs, parent, [], []

    def text(self) -> str:
        return "".join(t if isinstance(t, str) else t.text() for t in self.texts)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def matches(self, name: str, wanted) -> bool:
        if name == "class":  # every class asked for, as a browser's selector would
            return set(wanted.split()) <= set(self.attrs.get("class", "").split())
        return self.attrs.get(name) == wanted

    def find_all(self, tag: str | None = None, **attrs) -> list["Node"]:
        """Elements by tag and attributes: class_="a b", data_verdict="PASS" (for data-verdict)."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [n for n in self.iter() if (tag is None or n.tag == tag)
                and all(n.matches(k, v) for k, v in wanted.items())]


class Tree(HTMLParser):
    """A small DOM of the page: enough to ask for elements by tag and attribute and read their text."""
    VOID = {"meta", "input", "br", "img", "link", "hr", "source", "wbr"}

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {}, None)
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v if v is not None else "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        self.current.texts.append(node)
        if tag not in self.VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.texts.append(data)


def _dom(page: str) -> Node:
    return Tree(page).root


def _bar_styles(root: Node) -> list[tuple[float, float]]:
    """(left, width) in per cent of each waterfall bar, in page order."""
    bars = [n for n in root.iter() if "wf-bar" in n.attrs.get("class", "").split()]
    return [tuple(float(v) for v in re.fullmatch(r"left:([\d.]+)%;width:([\d.]+)%", b.attrs["style"]).groups())
            for b in bars]


@pytest.fixture
def page() -> str:
    return render_report(_rows(), META, "9.9.9", WHEN)


def test_message_and_title_stay_text(page):
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<incoming>" not in page and "&lt;incoming&gt;" in page
    article = _dom(page).find_all("article")[0]
    assert "got <script>alert(1)</script>" in article.text()  # what a reader sees: the text as sent


def test_failing_checks_come_first_with_their_details(page):
    root = _dom(page)
    articles = root.find_all("article")
    assert [a.attrs["data-verdict"] for a in articles] == ["MISMATCH"]
    text = articles[0].text()
    assert "PROP-002" in text and "outgoing traceparent continues" in text and "fix: start the client span" in text
    assert "How to fix: start the client span with the server span's context" in text
    assert page.index('id="failing"') < page.index('id="all"')
    rows = root.find_all("tr", class_="filterable")
    assert [(r.attrs["data-level"], r.attrs["data-signal"], r.attrs["data-verdict"]) for r in rows] == [
        ("MUST", "traces", "MISMATCH"), ("MUST", "grpc", "PASS"), ("SHOULD", "logs", "SKIPPED")]
    assert "STAT-001[NOT_FOUND]" in rows[1].text()
    assert "needs the contract's Log method" in rows[2].text()
    # The table's failing row leads to its details.
    assert rows[0].find_all("a")[0].attrs["href"] == "#" + articles[0].attrs["id"]


def test_filters_offer_each_level_signal_and_verdict(page):
    root = _dom(page)
    form = root.find_all("form", id="filters")[0]
    boxes = {(b.attrs["name"], b.attrs["value"]) for b in form.find_all("input", type="checkbox")}
    assert boxes == {("level", "MUST"), ("level", "SHOULD"), ("signal", "grpc"), ("signal", "logs"),
                     ("signal", "traces"), ("verdict", "PASS"), ("verdict", "MISMATCH"), ("verdict", "SKIPPED")}
    # Without JavaScript the boxes could not work: they are hidden, and nothing else is.
    assert [n for n in root.iter() if "hidden" in n.attrs] == [form]


def test_waterfall_bars_follow_the_span_times(page):
    root = _dom(page)
    trace = root.find_all("div", class_="trace")[0]
    assert TRACE in trace.find_all("code")[0].text()
    labels = trace.find_all("div", class_="wf-label")
    # The parent first, its child indented under it.
    assert "SERVER" in labels[0].text() and "conformance.v1.Conformance/Relay" in labels[0].text()
    assert "CLIENT" in labels[1].text() and "ERROR" in labels[1].text() and "10.0 ms" in labels[1].text()
    indents = [float(re.search(r"padding-left:([\d.]+)em", lb.attrs["style"]).group(1)) for lb in labels]
    assert indents[0] < indents[1]
    assert PARENT in labels[0].text() and f"parent {PARENT}" in " ".join(labels[1].text().split())
    # The child covers the second half of its parent, which spans the whole trace.
    assert _bar_styles(trace) == [(0.0, 100.0), (50.0, 50.0)]


def test_waterfall_of_spans_that_overlap_partly():
    rows = _rows()
    rows[0]["context"]["traces"][0]["spans"] = [
        _span(PARENT, "", "root", "SPAN_KIND_SERVER", "STATUS_CODE_OK", 0, 40),
        _span(CHILD, PARENT, "child", "SPAN_KIND_CLIENT", "STATUS_CODE_OK", 10, 20),
        _span("1" * 16, "f" * 16, "orphan", "SPAN_KIND_INTERNAL", "STATUS_CODE_OK", 30, 50)]
    root = _dom(render_report(rows, META, "9.9.9", WHEN))
    assert _bar_styles(root) == [(0.0, 80.0), (20.0, 20.0), (60.0, 40.0)]
    assert "not among these spans" in root.find_all("div", class_="wf-label")[2].text()


def test_many_traces_and_spans_without_timestamps():
    rows = _rows()
    untimed = {**_span(CHILD, PARENT, "never ended", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET", 0, 0),
               "start_unix_nano": 0, "end_unix_nano": 0}
    rows[0]["context"]["traces"][0]["spans"].append(untimed)
    rows[0]["context"]["traces"] += [{"trace_id": f"{n:032x}", "spans": []} for n in range(6)]
    article = _dom(render_report(rows, META, "9.9.9", WHEN)).find_all("article")[0]
    # The span without times neither gets a bar nor stretches the others'.
    assert _bar_styles(article) == [(0.0, 100.0), (50.0, 50.0)]
    assert "no timestamps" in article.text() and "No spans of this trace arrived." in article.text()
    assert len(article.find_all(class_="trace")) == 5 and "and 2 more traces" in article.text()


def test_spec_references_link_their_documents(page):
    assert spec_parts("W3C Baggage §Limits; OTel SDK environment variables §OTEL_SERVICE_NAME; architecture §Goals") == [
        ("W3C Baggage §Limits", "https://www.w3.org/TR/baggage/"),
        ("OTel SDK environment variables §OTEL_SERVICE_NAME",
         "https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/"),
        ("architecture §Goals", None)]
    assert spec_parts("gRPC doc/statuscodes.md (CANCELLED: x)")[0][1] == \
        "https://github.com/grpc/grpc/blob/master/doc/statuscodes.md"
    assert spec_parts("OTLP spec docs/specification.md §Failures")[0][1] == "https://opentelemetry.io/docs/specs/otlp/"
    assert spec_parts("OTel trace API §End")[0][1] == "https://opentelemetry.io/docs/specs/otel/trace/api/"
    spec = _dom(page).find_all("p", class_="spec")[0]
    assert {a.text(): a.attrs["href"] for a in spec.find_all("a")} == {
        "W3C Trace Context §3.2.2.3 parent-id": "https://www.w3.org/TR/trace-context/",
        "semconv docs/rpc/rpc-spans.md §Span":
            "https://github.com/open-telemetry/semantic-conventions/blob/main/docs/rpc/rpc-spans.md"}
    assert "architecture 'Tracing'" in spec.text()


def test_header_and_totals(page):
    root = _dom(page)
    header = " ".join(root.find_all("header")[0].text().split())
    for expected in ("launched: ./svc --port {port}", "semconv-1.38 (the default)", "Level 1", "grpc",
                     "zero-contract mode, 9 of 120 checks applicable", "9.9.9", "2025-06-01 12:30:00 UTC",
                     "diagnosis (logs): no log records arrived over grpc", "target ending: exited 0 after SIGTERM"):
        assert expected in header, expected
    cells = {r.attrs["data-totals"]: [c.text() for c in r.find_all("td")] for r in root.find_all("tr")
             if "data-totals" in r.attrs}
    # passed, failed, expected to fail, skipped, not run, all
    assert cells == {"MUST": ["1", "1", "0", "0", "0", "2"], "SHOULD": ["0", "0", "0", "1", "0", "1"],
                     "all": ["1", "1", "0", "1", "0", "3"]}


def test_findings_without_structured_traces_still_show_their_spans():
    rows = _rows()
    del rows[0]["context"]["traces"]
    root = _dom(render_report(rows, None, "unknown", WHEN))
    assert not root.find_all(class_="waterfall") and "(one-line summaries)" in root.find_all("article")[0].text()


def test_write_report_names_the_installed_version(tmp_path):
    out = tmp_path / "report.html"
    write_report(out, _rows(), META)
    footer = _dom(out.read_text()).find_all("footer")[0].text()
    assert footer.startswith(f"pytest-otelconform {suite_version()} ·") and footer.endswith(" UTC")
    assert suite_version() != "unknown"  # the project's tests run installed (pip install -e .)


def test_evidence_context_carries_each_trace_for_the_waterfall():
    span = trace_pb2.Span(trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex(CHILD),
                          parent_span_id=bytes.fromhex(PARENT), name="Relay", kind=trace_pb2.Span.SPAN_KIND_SERVER,
                          start_time_unix_nano=T0, end_time_unix_nano=T0 + 5_000_000)
    span.status.code = trace_pb2.Status.STATUS_CODE_OK
    call = types.SimpleNamespace(method="Relay", code=grpc.StatusCode.OK,
                                 metadata_sent=(("traceparent", f"00-{TRACE}-{PARENT}-01"),))
    context = Evidence([call], [], [SpanView(span, {}, "scope", "", "grpc")], []).context(Redactor())
    assert context["trace_ids"] == [TRACE] and len(context["spans"]) == 1
    assert context["traces"] == [{"trace_id": TRACE, "spans": [
        {"span_id": CHILD, "parent_span_id": PARENT, "name": "Relay", "kind": "SPAN_KIND_SERVER",
         "status": "STATUS_CODE_OK", "start_unix_nano": T0, "end_unix_nano": T0 + 5_000_000}]}]


# --- in a browser -------------------------------------------------------------------------------

def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); the page is not opened in a browser")
    return path


def _browser(page: Path, tmp_path: Path, *args: str) -> str:
    # A profile of its own: parallel runs must not share (and lock) one.
    proc = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _screenshot(page: Path, tmp_path: Path) -> None:
    png = tmp_path / "page.png"
    _browser(page, tmp_path, f"--screenshot={png}", "--window-size=1280,2000")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1280, 2000)
    assert len(data) > 30_000, len(data)  # a blank page of that size compresses to a few kB


def test_report_in_a_browser(tmp_path):
    out = tmp_path / "report.html"
    write_report(out, _rows(), META)
    root = _dom(_browser(out, tmp_path, "--dump-dom"))
    # The page's script ran to its end: it marks the body, shows the filters and counts the rows.
    assert root.find_all("body")[0].attrs.get("data-ready") == "1"
    form = root.find_all("form", id="filters")[0]
    assert "hidden" not in form.attrs
    assert form.find_all(id="shown")[0].text() == "3 of 3 checks shown"
    article = root.find_all("article", id="check-PROP-002")[0]
    assert "MISMATCH" in article.text() and "hidden" not in article.attrs
    assert len(article.find_all(class_="wf-bar status-error")) == 1 and len(_bar_styles(article)) == 2
    assert root.find_all("tr", data_totals="all")
    _screenshot(out, tmp_path)


def test_report_filters_in_a_browser(tmp_path):
    # What a click on "PASS" does, scripted at the end of a copy of the page (--dump-dom cannot click).
    untick = ("<script>var box = document.querySelector('input[name=verdict][value=PASS]'); box.checked = false;"
              "box.dispatchEvent(new Event('change', {bubbles: true}));</script></body>")
    out = tmp_path / "report.html"
    out.write_text(render_report(_rows(), META, "9.9.9", WHEN).replace("</body>", untick))
    root = _dom(_browser(out, tmp_path, "--dump-dom"))
    rows = root.find_all("tr", class_="filterable")
    assert {r.attrs["data-verdict"]: "hidden" in r.attrs for r in rows} == {"MISMATCH": False, "PASS": True,
                                                                             "SKIPPED": False}
    assert root.find_all(id="shown")[0].text() == "2 of 3 checks shown"


def _findings(path: Path, target: str, profile: str, verdicts: dict[str, str]) -> Path:
    rows = [row for row in _rows() if row["id"] in verdicts]
    for row in rows:
        row["verdict"] = verdicts[row["id"]]
    meta = {**META, "target": target, "profile": profile, "mode": ""}
    report.write_findings(str(path), rows, meta)
    return path


def _matrix(tmp_path: Path) -> Path:
    go = _findings(tmp_path / "go.json", "launched: ./go-svc", "semconv-1.38",
                   {"PROP-002": "PASS", "STAT-001": "PASS", "LOG-003": "SKIPPED"})
    rust = _findings(tmp_path / "rust.json", "launched: ./rust-svc", "semconv-1.44",
                     {"PROP-002": "MISMATCH", "STAT-001": "PASS"})
    out = tmp_path / "matrix.html"
    assert cli_main(["matrix", str(go), str(rust), "-o", str(out)]) == 0
    return out


def test_matrix_columns_rows_reasons_and_totals(tmp_path):
    text = _matrix(tmp_path).read_text()
    assert "<th>PROP-002</th>" in text and text.count(">PASS<") == 3
    assert "<script>" not in text and "&lt;script&gt;" in text
    root = _dom(text)
    heads = root.find_all("th", class_="target")
    assert [h.texts[0] for h in heads] == ["go", "rust"]
    assert [[s.text() for s in h.find_all("small")] for h in heads] == [
        ["semconv-1.38", report.headline({**META, "target": "launched: ./go-svc", "mode": ""})],
        ["semconv-1.44", report.headline({**META, "target": "launched: ./rust-svc", "profile": "semconv-1.44",
                                          "mode": ""})]]
    lines = {tr.find_all("th")[0].text(): tr for tr in root.find_all("tbody")[0].find_all("tr")}
    assert set(lines) == {"PROP-002", "STAT-001[NOT_FOUND]", "LOG-003"}
    assert "outgoing traceparent continues the <incoming> trace" in lines["PROP-002"].text()
    mismatch = lines["PROP-002"].find_all("td", data_verdict="MISMATCH")[0]
    # The reason is on the page, not only in the tooltip.
    assert "expected the client span's parent to be the server span" in mismatch.find_all("span")[0].text()
    assert "fix: start the client span" in mismatch.attrs["title"]
    assert "needs the contract's Log method" in lines["LOG-003"].text()
    assert lines["LOG-003"].find_all("td")[-1].text() == "—"  # not in the second run
    totals = {tr.attrs["data-totals"]: [td.text() for td in tr.find_all("td")]
              for tr in root.find_all("tfoot")[0].find_all("tr")}
    assert (totals["passed"], totals["failed"], totals["skipped"]) == (["2", "1"], ["0", "1"], ["1", "0"])
    assert f"pytest-otelconform {suite_version()}" in text and " UTC" in text


def test_matrix_in_a_browser(tmp_path):
    out = _matrix(tmp_path)
    dumped = _dom(_browser(out, tmp_path, "--dump-dom"))
    assert [h.texts[0] for h in dumped.find_all("th", class_="target")] == ["go", "rust"]
    assert dumped.find_all("td", data_verdict="MISMATCH") and dumped.find_all("tr", data_totals="passed")
    _screenshot(out, tmp_path)
