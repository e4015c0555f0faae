"""Rules a team adds with ``--schema FILE`` (e.g. require deployment.environment)."""
from __future__ import annotations

from otelconform.ids import unique
from otelconform.observe import client_span, log_where, span_for_call
from otelconform.profiles import schema_errors
from otelconform.verdicts import Mismatch

from ._calls import traced_call


def _instance(suite, applies_to: str):
    if applies_to == "log-record":
        message = unique("team rule")
        traced_call(suite, "log", message, 9, {})[0].require_ok()
        return log_where(suite.collector, lambda r: r.body == message, suite.telemetry_timeout,
                         f"log record {message!r}").attributes
    if applies_to == "client-span":
        result, trace_id, parent_id = traced_call(suite, "relay", suite.downstream.address,
                                                  unique("team"))
        result.require_ok()
        server = span_for_call(suite.collector, trace_id, parent_id, suite.telemetry_timeout)
        return client_span(suite.collector, trace_id, server, suite.telemetry_timeout).attributes
    result, trace_id, parent_id = traced_call(suite, "echo", unique("team"))
    result.require_ok()
    span = span_for_call(suite.collector, trace_id, parent_id, suite.telemetry_timeout)
    return span.resource if applies_to == "resource" else span.attributes


def test_team_schema(suite, team_schema):
    """One team rule: its schema validated against the telemetry it names."""
    instance = _instance(suite, team_schema.applies_to)
    errors = schema_errors(team_schema.schema, instance)
    if errors:
        raise Mismatch(f"{team_schema.applies_to} breaks {team_schema.path.name}: " + "; ".join(errors)
                       + f" ({team_schema.applies_to}: {instance})")
