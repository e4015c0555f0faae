"""Rules a team adds with ``--schema FILE`` (e.g. require deployment.environment).

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from otelconform.ids import unique
from otelconform.observe import client_span, log_where, server_span
from otelconform.profiles import schema_errors
from otelconform.verdicts import Mismatch

from ._calls import relay, traced_call


def _instance(suite, applies_to: str):
    if applies_to == "log-record":
        message = unique("team rule")
        traced_call(suite, "log", message, 9, {})
        return log_where(suite, lambda r: r.body == message, f"log record {message!r}").attributes
    if applies_to == "client-span":
        trace_id, parent_id, _ = relay(suite, "team")
        server = server_span(suite, trace_id, parent_id, outgoing=True)
        return client_span(suite, trace_id, server).attributes
    _, trace_id, parent_id = traced_call(suite, "echo", unique("team"))
    span = server_span(suite, trace_id, parent_id)
    return span.resource if applies_to == "resource" else span.attributes


def test_team_schema(suite, team_schema):
    """One team rule: its schema validated against the telemetry it names."""
    instance = _instance(suite, team_schema.applies_to)
    errors = schema_errors(team_schema.schema, instance)
    if errors:
        raise Mismatch(f"{team_schema.applies_to} breaks {team_schema.path.name}: " + "; ".join(errors)
                       + f" ({team_schema.applies_to}: {instance})")
