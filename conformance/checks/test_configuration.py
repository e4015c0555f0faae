"""The standard OTEL_* variables a service is configured by: resource attributes, propagators,
the SDK switched off. Each check runs against an instance of the service started with the
variable it is about (configurations.py), so the session's main instance is left as it is.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import time

import pytest

from otelconform.contract import pb
from otelconform.ids import new_span_id, new_trace_id, traceparent, unique
from otelconform.instances import instance_for
from otelconform.registry import check
from otelconform.verdicts import Mismatch, expect_equal

from ._calls import downstream_calls, outgoing_traceparent, traced_echo_span

ENV_SPEC = "OTel spec configuration/sdk-environment-variables.md"
RESOURCE_SPEC = "OTel spec resource/sdk.md §Specifying resource information via an environment variable"
PROPAGATORS_SPEC = ENV_SPEC + " §General SDK Configuration (OTEL_PROPAGATORS)"
# How long a switched-off SDK is watched for telemetry it must not send: many times the
# export intervals a launched instance is given (5 ms spans and logs, 50 ms metrics).
SILENCE_S = 1.0


def _resource_of_instance(view):
    return traced_echo_span(view).resource


@check("ENV-001", "MUST", "OTEL_RESOURCE_ATTRIBUTES: its attributes are on the service's resource",
       RESOURCE_SPEC + "; " + ENV_SPEC + " §General SDK Configuration", "resource",
       killed_by=("ignore-resource-attributes",), configuration="resource-attributes",
       fix="Build the SDK's Resource on top of the default one, which reads OTEL_RESOURCE_ATTRIBUTES (e.g. "
           "resource.Merge(resource.Default(), own) or resource.WithFromEnv() in Go, Resource.create() in Python); "
           "a Resource built from scratch in code drops the variable's attributes.")
def test_env_001_resource_attributes_merged(suite):
    resource = _resource_of_instance(instance_for(suite, "resource-attributes"))
    expect_equal("deployment.environment.name (from OTEL_RESOURCE_ATTRIBUTES)", "conformance",
                 resource.get("deployment.environment.name"),
                 fix="create the SDK's resource with the environment detector (OTEL_RESOURCE_ATTRIBUTES), "
                     "as the SDKs' default resource does")


@check("ENV-002", "MUST", "OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES",
       ENV_SPEC + " §General SDK Configuration (OTEL_SERVICE_NAME: 'If service.name is also provided in "
       "OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME takes precedence')", "resource",
       killed_by=("resource-attributes-over-service-name",), configuration="resource-attributes",
       fix="Apply OTEL_SERVICE_NAME after OTEL_RESOURCE_ATTRIBUTES when building the Resource, so that it overrides "
           "a service.name given there; the SDKs' environment detection does this, a setup that reads the variables "
           "itself must keep that order.")
def test_env_002_service_name_takes_precedence(suite):
    view = instance_for(suite, "resource-attributes")
    resource = _resource_of_instance(view)
    expect_equal("service.name (OTEL_SERVICE_NAME, also given as service.name in OTEL_RESOURCE_ATTRIBUTES)",
                 view.instance.env["OTEL_SERVICE_NAME"], resource.get("service.name"),
                 fix="apply OTEL_SERVICE_NAME after OTEL_RESOURCE_ATTRIBUTES")


@check("ENV-003", "SHOULD", "OTEL_RESOURCE_ATTRIBUTES: percent-encoded values are decoded",
       RESOURCE_SPEC + " ('characters outside the baggage-octet range MUST be percent-encoded')", "resource",
       configuration="resource-attributes",
       fix="Percent-decode the values of OTEL_RESOURCE_ATTRIBUTES (set%20from%20env means 'set from env'): let the "
           "SDK's environment resource detector read the variable instead of splitting it by hand.")
def test_env_003_resource_values_decoded(suite):
    resource = _resource_of_instance(instance_for(suite, "resource-attributes"))
    expect_equal("conformance.marker (given as set%20from%20env)", "set from env", resource.get("conformance.marker"),
                 fix="percent-decode the values of OTEL_RESOURCE_ATTRIBUTES")


@check("ENV-004", "SHOULD", "OTEL_RESOURCE_ATTRIBUTES does not override what the service sets itself",
       RESOURCE_SPEC + " ('the user provided resource information has higher priority')", "resource",
       configuration="resource-attributes",
       fix="Merge the Resource so that attributes the service sets in code, such as its service.version, override "
           "OTEL_RESOURCE_ATTRIBUTES: merge the environment's attributes first and the service's own as the "
           "updating resource.")
def test_env_004_service_attributes_win(suite):
    own = traced_echo_span(suite).resource.get("service.version")
    resource = _resource_of_instance(instance_for(suite, "resource-attributes"))
    if own is None:
        # A missing service.version is RES-001's finding; here there is nothing to rank.
        pytest.skip("the service sets no service.version of its own (RES-001's finding), so which of it and "
                    "OTEL_RESOURCE_ATTRIBUTES wins cannot be judged")
    expect_equal("service.version (the service's own, with service.version=version-from-env in "
                 "OTEL_RESOURCE_ATTRIBUTES)", own, resource.get("service.version"),
                 fix="merge OTEL_RESOURCE_ATTRIBUTES as the secondary resource: attributes set in code win")


def _relay_with_baggage(view, tag: str):
    """A traced Relay carrying baggage; (trace id, parent id, the downstream call)."""
    payload = unique(tag)
    trace_id, parent_id = new_trace_id(), new_span_id()
    metadata = (("traceparent", traceparent(trace_id, parent_id)), ("baggage", f"conformance.key={payload}"))
    view.client.relay(view.downstream.address, payload, metadata=metadata).require()
    (call,) = downstream_calls(view, payload, 1)[:1]
    return trace_id, parent_id, call, payload


@check("ENV-020", "MUST", "OTEL_PROPAGATORS=tracecontext: trace context propagates, baggage does not",
       PROPAGATORS_SPEC, "traces", killed_by=("ignore-propagators",), configuration="propagators-tracecontext",
       fix="Build the propagator from OTEL_PROPAGATORS instead of hard-coding tracecontext,baggage; SDKs that do "
           "not read the variable themselves (Go, Rust, C++) need it done in the service's setup (e.g. "
           "autoprop.NewTextMapPropagator() in Go).")
def test_env_020_tracecontext_only(suite):
    view = instance_for(suite, "propagators-tracecontext")
    trace_id, _, call, _ = _relay_with_baggage(view, "env-020")
    expect_equal("trace id of the outgoing traceparent", trace_id, outgoing_traceparent(call)[1])
    expect_equal("outgoing baggage headers", [], call.values("baggage"),
                 fix="build the propagator from OTEL_PROPAGATORS (an SDK that does not, such as Go's, "
                     "needs autoprop or the equivalent in the service's telemetry setup)")


@check("ENV-021", "MUST", "OTEL_PROPAGATORS=tracecontext,baggage: both propagate",
       PROPAGATORS_SPEC, "traces", killed_by=("first-propagator-only",), configuration="propagators-both",
       fix="Build a composite propagator of every name OTEL_PROPAGATORS lists (tracecontext,baggage means both), "
           "not only the first; in Go, Rust or C++ do it in the service's setup (e.g. autoprop in Go), as their "
           "SDKs do not read the variable.")
def test_env_021_tracecontext_and_baggage(suite):
    view = instance_for(suite, "propagators-both")
    trace_id, _, call, payload = _relay_with_baggage(view, "env-021")
    expect_equal("trace id of the outgoing traceparent", trace_id, outgoing_traceparent(call)[1])
    sent = [member.strip() for value in call.values("baggage") for member in value.split(",")]
    if f"conformance.key={payload}" not in sent:
        raise Mismatch(f"expected the incoming baggage member conformance.key={payload} on the outgoing call, got "
                       f"baggage {call.values('baggage')!r}; build the propagators OTEL_PROPAGATORS names")


@check("ENV-022", "MUST", "OTEL_PROPAGATORS=none: nothing is extracted or injected",
       PROPAGATORS_SPEC + " ('none': no automatically configured propagator)", "traces",
       configuration="propagators-none",
       fix="Treat OTEL_PROPAGATORS=none as no propagator at all: extract nothing from incoming metadata and inject "
           "nothing into outgoing calls, and make sure the gRPC instrumentation uses the global propagator rather "
           "than one of its own.")
def test_env_022_no_propagators(suite):
    view = instance_for(suite, "propagators-none")
    trace_id, _, call, _ = _relay_with_baggage(view, "env-022")
    injected = {k: call.values(k) for k in ("traceparent", "tracestate", "baggage") if call.values(k)}
    if injected:
        raise Mismatch(f"expected no trace context or baggage on the outgoing call with OTEL_PROPAGATORS=none, "
                       f"got {injected}; honour 'none' by configuring no propagator")
    # Not continuing is the right answer, so give a wrong one time to arrive before passing.
    continued = view.collector.wait_for(lambda: view.collector.spans(trace_id), SILENCE_S)
    if continued:
        raise Mismatch(f"expected the incoming traceparent to be ignored with OTEL_PROPAGATORS=none, but the "
                       f"service continued trace {trace_id} ({continued[0].summary()})")


@check("ENV-040", "MUST", "OTEL_SDK_DISABLED=true: the service answers and exports nothing",
       ENV_SPEC + " §General SDK Configuration (OTEL_SDK_DISABLED: 'Disable the SDK for all signals')",
       "lifecycle", killed_by=("ignore-sdk-disabled",), configuration="sdk-disabled",
       fix="When OTEL_SDK_DISABLED=true, install no-op tracer, meter and logger providers (no exporters, no "
           "periodic metric reader) and keep serving; SDKs that do not read the variable (Go, Rust) need the check "
           "in the service's telemetry setup.")
def test_env_040_sdk_disabled(suite):
    view = instance_for(suite, "sdk-disabled")
    trace_id, parent_id = new_trace_id(), new_span_id()
    metadata = (("traceparent", traceparent(trace_id, parent_id)),)
    view.client.echo(unique("env-040"), metadata=metadata).require()
    view.client.log(unique("env-040 log"), pb.SEVERITY_INFO, {}, metadata=metadata).require()
    started = time.monotonic()
    sent = view.collector.wait_for(lambda: view.collector.exports(), SILENCE_S)
    if sent:
        signals = sorted({e.signal for e in sent})
        raise Mismatch(f"expected no telemetry with OTEL_SDK_DISABLED=true, but {len(sent)} export(s) of "
                       f"{', '.join(signals)} arrived within {time.monotonic() - started:.2f} s; when the "
                       f"variable is 'true', install no-op providers for every signal")
