"""Log records for every severity of the contract: severity number and text, a timestamp
inside the request's span, and the stdout line's level.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import pytest

from otelconform.contract import pb
from otelconform.observe import log_where, server_span
from otelconform.registry import check
from otelconform.verdicts import CheckFailure, Mismatch, NoTelemetry, wait_until

from .test_logs import _log_call, _stdout_line

# The contract's severities (each the first SeverityNumber of its range) and the names a
# severity text or a stdout level may give them (OTel logs data model §Displaying Severity).
SEVERITIES = {pb.SEVERITY_DEBUG: ("DEBUG",), pb.SEVERITY_INFO: ("INFO", "INFORMATION"),
              pb.SEVERITY_WARN: ("WARN", "WARNING"), pb.SEVERITY_ERROR: ("ERROR",)}
LOGS_MODEL = "OTel logs data model §Field: SeverityNumber (ranges DEBUG 5-8, INFO 9-12, WARN 13-16, ERROR 17-20)"
# Generous: the record is written inside the span; this only has to catch unit errors.
TIME_SLACK_S = 1.0


def _name(severity: int) -> str:
    return SEVERITIES[severity][0]


def _record(suite, severity: int):
    message, trace_id, parent_id = _log_call(suite, severity)
    record = log_where(suite, lambda r: r.body == message, f"log record with body {message!r}")
    return record, trace_id, parent_id


def _shared_record(suite, severity: int):
    """One record per severity, judged by LOG-005 and LOG-006 alike."""
    return suite.once(f"log record of severity {severity}", lambda: _record(suite, severity))


@pytest.mark.parametrize("severity", list(SEVERITIES), ids=_name)
@check("LOG-005", "MUST", "every severity of the contract keeps its severity number",
       LOGS_MODEL + "; docs/target-contract.md (severity_number equal to the requested Severity)", "logs",
       killed_by=("severity-shifted",),
       fix="Map the logging library's levels onto the OpenTelemetry SeverityNumber ranges in the log bridge (DEBUG "
           "5-8, INFO 9-12, WARN 13-16, ERROR 17-20), so that a WARN record is not exported as INFO.")
def test_log_005_severity_number(suite, severity):
    record, _, _ = _shared_record(suite, severity)
    number = record.record.severity_number
    if not severity <= number <= severity + 3:
        raise Mismatch(f"severity_number of a {_name(severity)} log record: expected {severity} (the "
                       f"{_name(severity)} range {severity}-{severity + 3}), got {number}; map the logging "
                       f"library's levels onto the OTel SeverityNumber ranges")


@pytest.mark.parametrize("severity", list(SEVERITIES), ids=_name)
@check("LOG-006", "SHOULD", "a severity text, when set, names the record's severity",
       "OTel logs data model §Field: SeverityText (the original severity name), §Displaying Severity", "logs",
       fix="Set severity_text to the name of the record's level (DEBUG, INFO, WARN or WARNING, ERROR), or leave it "
           "empty; do not put another level's name or a custom label there.")
def test_log_006_severity_text(suite, severity):
    try:
        record, _, _ = _shared_record(suite, severity)
    except CheckFailure as missing:
        pytest.skip(f"no {_name(severity)} record to judge (LOG-005's finding): {missing}")
    text = record.record.severity_text
    if text and text.upper() not in SEVERITIES[severity]:
        raise Mismatch(f"severity_text of a {_name(severity)} log record: expected one of "
                       f"{list(SEVERITIES[severity])} (any case), got {text!r}")


@check("LOG-007", "MUST", "a log record's timestamp lies within the span of the request that wrote it",
       "OTel logs data model §Field: Timestamp (nanoseconds since the Unix epoch), §ObservedTimestamp",
       "logs", killed_by=("log-time-in-microseconds",),
       fix="Set the log record's time_unix_nano when it is emitted, in nanoseconds since the Unix epoch: convert "
           "the logging library's timestamp (often milliseconds or microseconds) with the right factor.")
def test_log_007_timestamp_inside_the_span(suite):
    record, trace_id, parent_id = _record(suite, pb.SEVERITY_INFO)
    span = server_span(suite, trace_id, parent_id).span
    # The target's own clock on both sides, so a skewed clock moves both alike.
    stamp = record.record.time_unix_nano or record.record.observed_time_unix_nano
    low = span.start_time_unix_nano - TIME_SLACK_S * 1e9
    high = span.end_time_unix_nano + TIME_SLACK_S * 1e9
    if not low <= stamp <= high:
        field = "time_unix_nano" if record.record.time_unix_nano else "observed_time_unix_nano (time_unix_nano unset)"
        raise Mismatch(f"{field} of the log record: expected within {TIME_SLACK_S:g} s of its server span "
                       f"[{span.start_time_unix_nano}, {span.end_time_unix_nano}], got {stamp} "
                       f"({(stamp - span.start_time_unix_nano) / 1e9:+.3f} s from the span's start); write "
                       f"timestamps in nanoseconds since the Unix epoch")


@pytest.mark.parametrize("severity", list(SEVERITIES), ids=_name)
@check("LOG-008", "SHOULD", "every severity of the contract reaches stdout as a JSON line naming its level",
       "architecture §Logging Strategy 'Structured Logging with Trace Correlation' (level); schemas/log-line.schema.json",
       "logs", launch_only=True,
       fix="Write a JSON line to stdout for every level, DEBUG included (lower the stdout handler's minimum level), "
           "with a level field that names the level (DEBUG, INFO, WARN or WARNING, ERROR) rather than a number.")
def test_log_008_stdout_level(suite, severity):
    if suite.launched is None:
        pytest.skip("needs --target-cmd: the suite reads the service's stdout")
    message, _, _ = _log_call(suite, severity)
    line = wait_until(lambda: _stdout_line(suite, message), suite.telemetry_timeout)
    if line is None:
        raise NoTelemetry(f"no JSON line with message {message!r} (a {_name(severity)} record) on the "
                          f"service's stdout within {suite.telemetry_timeout:.0f}s; write every level to stdout")
    level = str(line.get("level", ""))
    if level.upper() not in SEVERITIES[severity]:
        raise Mismatch(f"level of the stdout line of a {_name(severity)} record: expected one of "
                       f"{list(SEVERITIES[severity])} (any case), got {level!r}")
