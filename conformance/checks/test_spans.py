"""Server and client span shape and the resource every service must describe itself with.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import grpc
import pytest

from otelconform.contract import full_method
from otelconform.observe import client_span, server_span
from otelconform.profiles import resource_errors
from otelconform.registry import check
from otelconform.verdicts import Mismatch, expect_equal

from ._calls import downstream_address, ok_method, relay, traced_echo_span

SEMCONV_SPANS = "semconv docs/rpc/rpc-spans.md §Span name / §Span kind"


@check("SPAN-001", "MUST", "server span has kind SERVER", SEMCONV_SPANS + "; OTel trace API §SpanKind",
       "traces", killed_by=("wrong-span-kind",), zero_contract=True,
       fix="Create the server span with kind SERVER: let the gRPC server instrumentation make it (e.g. "
           "otelgrpc.NewServerHandler() in Go), or pass the SERVER kind when starting it by hand, rather than an "
           "INTERNAL span in the handler.")
def test_span_001_server_span_kind(suite):
    expect_equal("kind of the server span", "SPAN_KIND_SERVER", traced_echo_span(suite).kind)


@check("SPAN-002", "MUST", "server span is named package.Service/Method", SEMCONV_SPANS, "traces",
       killed_by=("stock",), zero_contract=True,
       fix="Name the server span after the full RPC method, package.Service/Method without a leading slash (e.g. "
           "conformance.v1.Conformance/Echo), as the gRPC instrumentation does; not after a route, the handler "
           "function or a fixed name.")
def test_span_002_server_span_name(suite):
    expect_equal("name of the server span", full_method(ok_method(suite)), traced_echo_span(suite).name)


@check("SPAN-003", "MUST", "server span carries the profile's RPC attributes",
       "semconv docs/rpc/rpc-spans.md §Common attributes, docs/rpc/grpc.md; architecture 'Span Attributes "
       "Standard'; schemas/<profile>/server-span.schema.json", "traces",
       killed_by=("wrong-rpc-system",), zero_contract=True,
       fix="Set the profile's RPC attributes on the server span: semconv-1.38: rpc.system=grpc, "
           "rpc.service=package.Service, rpc.method=Method and rpc.grpc.status_code (an integer); semconv-1.44: "
           "rpc.system.name=grpc, rpc.method=package.Service/Method, rpc.response.status_code (the code's name) and "
           "error.type on failure. Use a gRPC instrumentation that emits the conventions you follow "
           "(OTEL_SEMCONV_STABILITY_OPT_IN=rpc or rpc/dup switches those that support it).")
def test_span_003_server_span_attributes(suite):
    span = traced_echo_span(suite)
    errors = suite.profile.span_errors("server-span", span.attributes, ok_method(suite), grpc.StatusCode.OK)
    if errors:
        raise Mismatch(f"server span attributes break the '{suite.profile.label}' profile: "
                       + "; ".join(errors) + f" (attributes: {span.attributes})")


@check("SPAN-004", "MUST", "outgoing call is a CLIENT span named package.Service/Method with the profile's "
       "attributes, server.address and server.port naming the downstream it was given",
       SEMCONV_SPANS + "; schemas/<profile>/client-span.schema.json", "traces", killed_by=("stock",),
       zero_contract=True,
       fix="Make each outgoing call inside a CLIENT span named package.Service/Method of the called method (the "
           "gRPC client instrumentation does this), with the profile's RPC attributes, and server.address and "
           "server.port taken from the target the channel was given, not from the resolved peer address.")
def test_span_004_client_span(suite):
    trace_id, parent_id, (call,) = relay(suite, "span-004")
    called = full_method(call.method.lstrip("/")) if suite.named is not None else full_method("Echo")
    server = server_span(suite, trace_id, parent_id, outgoing=True)
    client = client_span(suite, trace_id, server)
    expect_equal("kind of the outgoing call's span", "SPAN_KIND_CLIENT", client.kind)
    expect_equal("name of the outgoing call's span", called, client.name)
    ended = suite.named.downstream_status if suite.named is not None else grpc.StatusCode.OK
    errors = suite.profile.span_errors("client-span", client.attributes, called, ended)
    if errors:
        raise Mismatch(f"client span attributes break the '{suite.profile.label}' profile: "
                       + "; ".join(errors) + f" (attributes: {client.attributes})")
    # Relay was given the downstream as host:port; the span names that target, not a peer's address.
    address = downstream_address(suite)
    host, _, port = address.rpartition(":")
    for address_key, port_key in (("server.address", "server.port"), ("net.peer.name", "net.peer.port")):
        if address_key in client.attributes or port_key in client.attributes:
            expect_equal(f"{address_key} and {port_key} of the outgoing call's span (it was given "
                         f"{address})", (host, int(port)),
                         (client.attributes.get(address_key), client.attributes.get(port_key)))


@check("RES-001", "MUST", "resource has service.name, service.version and service.instance.id",
       "architecture 'Span Attributes Standard'; semconv docs/resource/README.md §Service; "
       "schemas/resource.schema.json", "resource", killed_by=("no-service-version",), zero_contract=True,
       fix="Set service.version (and service.instance.id) on the SDK's Resource, or export "
           "OTEL_RESOURCE_ATTRIBUTES=service.version=1.2.3; most SDKs add no instance id by themselves: set "
           "service.instance.id to a UUID per process.")
def test_res_001_resource_identity(suite):
    span = traced_echo_span(suite)
    errors = resource_errors(span.resource)
    if errors:
        raise Mismatch("resource breaks the architecture's identity rules: " + "; ".join(errors)
                       + f" (resource: {span.resource})")


@check("RES-002", "MUST", "service.name comes from OTEL_SERVICE_NAME",
       "OTel SDK environment variables §OTEL_SERVICE_NAME (wins over OTEL_RESOURCE_ATTRIBUTES)",
       "resource", killed_by=("ignore-service-name",), launch_only=True, zero_contract=True,
       fix="Take service.name from OTEL_SERVICE_NAME: build the Resource on the SDK's default environment detection "
           "and use a name set in code only as the fallback when the variable is unset, never as an override.")
def test_res_002_service_name_from_environment(suite):
    if suite.service_name is None:
        pytest.skip("needs --target-cmd: the suite must set OTEL_SERVICE_NAME itself")
    span = traced_echo_span(suite)
    expect_equal("service.name", suite.service_name, span.resource.get("service.name"))
