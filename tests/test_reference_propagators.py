"""W3C Trace Context / Baggage propagation of the two Python references, without servers.

Each reference's own telemetry module is loaded and its propagator driven the way its
server does: extract from request metadata in that stack's carrier (grpcio's sequence of
(key, value) pairs, grpclib's MultiDict), both of which can repeat a key; then a server
span, a client span under it and an inject into the outgoing metadata. The rules are the
ones a receiving gRPC server must follow (W3C Trace Context §3.2/§3.3, W3C Baggage).
"""
from __future__ import annotations

import importlib.util
import sys
from collections import namedtuple
from pathlib import Path
from urllib.parse import unquote

import pytest

multidict = pytest.importorskip("multidict")
pytest.importorskip("opentelemetry.sdk")
from opentelemetry import baggage, propagate, trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    # Both references call their module "telemetry"; load each under a name of its own.
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


pytest.importorskip("opentelemetry.instrumentation.grpc")
GRPCIO = _load("_ref_python_telemetry", ROOT / "reference_services/python/telemetry.py")
GRPCLIB = _load("_ref_python_async_telemetry", ROOT / "reference_services/python_async/telemetry.py")
GRPCLIB_OTEL = _load("_ref_python_async_grpclib_otel", ROOT / "reference_services/python_async/grpclib_otel.py")

Metadatum = namedtuple("Metadatum", "key value")  # what grpcio's invocation_metadata() yields


class Stack:
    def __init__(self, name, module, carrier, getter):
        self.name, self.module, self._carrier, self.getter = name, module, carrier, getter

    def carrier(self, metadata):
        return self._carrier(metadata)

    def __repr__(self):
        return self.name


STACKS = [
    Stack("grpcio", GRPCIO, lambda md: tuple(Metadatum(k, v) for k, v in md), GRPCIO.GRPC_METADATA_GETTER),
    Stack("grpclib", GRPCLIB, lambda md: multidict.MultiDict(md), GRPCLIB_OTEL.METADATA_GETTER),
]
TRACER = TracerProvider().get_tracer("test_reference_propagators")

T = "0af7651916cd43dd8448eb211c80319c"
P = "b7ad6b7169203331"
TP = f"00-{T}-{P}-01"


@pytest.fixture(params=STACKS, ids=repr)
def stack(request):
    return request.param


class Outcome:
    def __init__(self, extracted, server, clients, outgoing):
        self.extracted, self.server, self.clients, self.outgoing = extracted, server, clients, outgoing

    @property
    def parent(self):
        return trace.get_current_span(self.extracted).get_span_context()

    def continued(self) -> bool:
        return self.parent.is_valid

    def out_traceparent(self):
        version, trace_id, span_id, flags = self.outgoing[0]["traceparent"].split("-")
        return version, trace_id, span_id, flags

    def out_tracestate(self):
        return [o.get("tracestate") for o in self.outgoing]


def serve(stack, metadata, calls=1, propagator=None) -> Outcome:
    """One request through the reference's propagator: extract, server span, `calls` outgoing calls."""
    propagator = propagator or stack.module.build_propagator("")
    extracted = propagator.extract(stack.carrier(metadata), getter=stack.getter)
    server = TRACER.start_span("server", context=extracted, kind=SpanKind.SERVER)
    server_ctx = trace.set_span_in_context(server, extracted)
    clients, outgoing = [], []
    for _ in range(calls):
        client = TRACER.start_span("client", context=server_ctx, kind=SpanKind.CLIENT)
        carrier: dict[str, str] = {}
        propagator.inject(carrier, context=trace.set_span_in_context(client, server_ctx))
        clients.append(client)
        outgoing.append(carrier)
    return Outcome(extracted, server, clients, outgoing)


# --- traceparent ---------------------------------------------------------------------

CONTINUE = {
    "sampled": (TP, "01"),
    "unsampled": (f"00-{T}-{P}-00", "00"),
    "future-version": (f"cc-{T}-{P}-01", "01"),
    "future-version-extra-fields": (f"cc-{T}-{P}-01-what-the-future-will-be-like", "01"),
    "leading-space-trailing-tab": (f" {TP}\t", "01"),
    "leading-tab-trailing-space": (f"\t{TP} ", "01"),
    "random-flag": (f"00-{T}-{P}-03", "03"),
}


@pytest.mark.parametrize("value,flags", CONTINUE.values(), ids=CONTINUE.keys())
def test_valid_traceparent_continues_the_trace(stack, value, flags):
    out = serve(stack, [("traceparent", value), ("tracestate", "foo=1")])
    assert out.continued()
    assert out.server.get_span_context().trace_id == int(T, 16)
    assert out.parent.span_id == int(P, 16)
    assert out.server.is_recording() is (flags != "00"), "the incoming sampled bit decides"
    if out.server.is_recording():
        assert out.server.parent.span_id == int(P, 16)
    version, trace_id, span_id, out_flags = out.out_traceparent()
    assert (version, trace_id, out_flags) == ("00", T, flags)
    assert span_id == format(out.clients[0].get_span_context().span_id, "016x") != P
    assert out.out_tracestate() == ["foo=1"]


def _tp(version="00", trace_id=T, parent=P, flags="01", rest=""):
    return f"{version}-{trace_id}-{parent}-{flags}{rest}"


NEW_TRACE = {
    "future-version-dot-suffix": _tp("cc", rest=".what-the-future-will-be-like"),
    "v00-dot-suffix": _tp(rest="."),
    "v00-extra-field": _tp(rest="-extra"),
    "version-ff": _tp("ff"),
    "version-.0": _tp(".0"), "version-0.": _tp("0."), "version-000": _tp("000"),
    "version-0000": _tp("0000"), "version-0": _tp("0"),
    "trace-id-zero": _tp(trace_id="0" * 32),
    "trace-id-illegal-char": _tp(trace_id=T[:-1] + "."),
    "trace-id-33": _tp(trace_id=T + "0"), "trace-id-31": _tp(trace_id=T[:-1]),
    "parent-id-zero": _tp(parent="0" * 16),
    "parent-id-illegal-char": _tp(parent=P[:-1] + "."),
    "parent-id-17": _tp(parent=P + "0"), "parent-id-15": _tp(parent=P[:-1]),
    "flags-.0": _tp(flags=".0"), "flags-0.": _tp(flags="0."),
    "flags-001": _tp(flags="001"), "flags-1": _tp(flags="1"),
    "uppercase-trace-id": _tp(trace_id=T.upper()),
    "uppercase-parent-id": _tp(parent=P.upper()),
    "uppercase-version": _tp("0A"),
    "uppercase-flags": _tp(flags="0A"),
    "trailing-newline": TP + "\n",
}


def assert_new_trace(out: Outcome):
    assert not out.continued()
    server_ctx = out.server.get_span_context()
    assert out.server.parent is None
    assert server_ctx.trace_id not in (0, int(T, 16))
    _, trace_id, _, _ = out.out_traceparent()
    assert trace_id == format(server_ctx.trace_id, "032x")
    assert out.out_tracestate() == [None], "the incoming tracestate goes with the ignored traceparent"


@pytest.mark.parametrize("value", NEW_TRACE.values(), ids=NEW_TRACE.keys())
def test_invalid_traceparent_starts_a_new_trace(stack, value):
    assert_new_trace(serve(stack, [("traceparent", value), ("tracestate", "foo=1")]))


@pytest.mark.parametrize("second", [TP, f"00-{T[::-1]}-{P[::-1]}-01"], ids=["same-value", "other-value"])
def test_two_traceparent_fields_start_a_new_trace(stack, second):
    assert_new_trace(serve(stack, [("traceparent", TP), ("tracestate", "foo=1"), ("traceparent", second)]))


@pytest.mark.parametrize("name", ["trace-parent", "trace.parent"])
def test_misnamed_traceparent_starts_a_new_trace(stack, name):
    assert_new_trace(serve(stack, [(name, TP), ("tracestate", "foo=1")]))


def test_three_outgoing_calls_share_the_trace_with_distinct_parents(stack):
    out = serve(stack, [("traceparent", TP)], calls=3)
    ids = [o["traceparent"].split("-") for o in out.outgoing]
    assert {i[1] for i in ids} == {T}
    assert len({i[2] for i in ids}) == 3 and P not in {i[2] for i in ids}


@pytest.mark.parametrize("metadata", [[], [("traceparent", "garbage")]], ids=["missing", "invalid"])
def test_new_trace_id_is_never_zero(stack, metadata):
    out = serve(stack, metadata, calls=3)
    trace_ids = {o["traceparent"].split("-")[1] for o in out.outgoing}
    assert len(trace_ids) == 1 and "0" * 32 not in trace_ids


# --- tracestate ----------------------------------------------------------------------

def forwarded_tracestate(stack, *values):
    out = serve(stack, [("traceparent", TP)] + [("tracestate", v) for v in values])
    assert out.continued()
    return out.out_tracestate()[0]


def test_tracestate_fields_combine_in_order(stack):
    assert forwarded_tracestate(stack, "foo=1,bar=2", "baz=3", "qux=4") == "foo=1,bar=2,baz=3,qux=4"


def test_tracestate_fields_interleaved_with_other_metadata(stack):
    out = serve(stack, [("tracestate", "foo=1"), ("traceparent", TP), ("x-other", "y"), ("tracestate", "bar=2")])
    assert out.out_tracestate() == ["foo=1,bar=2"]


def test_tracestate_empty_fields_and_members_are_skipped(stack):
    assert forwarded_tracestate(stack, "", "foo=1,,", " , bar=2 ,", "") == "foo=1,bar=2"


def test_tracestate_ows_around_commas_is_ignored(stack):
    assert forwarded_tracestate(stack, "foo=1 ,\tbar=2\t, baz=3 ") == "foo=1,bar=2,baz=3"


def test_tracestate_fourteen_char_system_id_is_kept(stack):
    key = "t" * 241 + "@" + "v" * 14
    assert forwarded_tracestate(stack, f"{key}=1,foo=2") == f"{key}=1,foo=2"


def test_tracestate_longest_key_and_value_are_kept(stack):
    member = "k" * 256 + "=" + "v" * 256
    assert forwarded_tracestate(stack, member) == member


def test_tracestate_32_members_are_kept(stack):
    members = [f"k{i}=v{i}" for i in range(32)]
    assert forwarded_tracestate(stack, ",".join(members[:16]), ",".join(members[16:])) == ",".join(members)


def test_tracestate_33_members_are_discarded(stack):
    members = [f"k{i}=v{i}" for i in range(33)]
    assert forwarded_tracestate(stack, ",".join(members[:16]), ",".join(members[16:])) is None


@pytest.mark.parametrize("bad", ["FOO=1", "foo =1", "foo.bar=1", "@foo=1", "foo=bar=baz", "foo=",
                                 "k" * 257 + "=1", "t" * 241 + "@" + "v" * 15 + "=1", "foo=1 2 ,x"])
def test_tracestate_with_an_invalid_member_is_discarded_whole(stack, bad):
    assert forwarded_tracestate(stack, "ok=1", f"bar=2,{bad}") is None


def test_tracestate_duplicated_key_keeps_propagating(stack):
    forwarded = forwarded_tracestate(stack, "foo=1,bar=2", "foo=2")
    members = forwarded.split(",")
    assert "bar=2" in members and ({"foo=1", "foo=2"} & set(members))


@pytest.mark.parametrize("traceparent", [None, "00-00000000000000000000000000000000-b7ad6b7169203331-01"],
                         ids=["missing", "invalid"])
def test_tracestate_without_a_valid_traceparent_is_ignored(stack, traceparent):
    metadata = [("tracestate", "foo=1")] + ([("traceparent", traceparent)] if traceparent else [])
    out = serve(stack, metadata)
    assert not out.continued() and out.out_tracestate() == [None]


# --- baggage -------------------------------------------------------------------------

def parse_members(header: str) -> list[str]:
    return header.split(",")


def forwarded_baggage(stack, *values, mutate=None):
    propagator = stack.module.build_propagator("")
    extracted = propagator.extract(stack.carrier([("baggage", v) for v in values]), getter=stack.getter)
    if mutate is not None:
        extracted = mutate(extracted)
    carrier: dict[str, str] = {}
    propagator.inject(carrier, context=extracted)
    return extracted, carrier.get("baggage")


def test_baggage_fields_combine(stack):
    ctx, out = forwarded_baggage(stack, "a=1,b=2", "c=3")
    assert dict(baggage.get_all(ctx)) == {"a": "1", "b": "2", "c": "3"}
    assert parse_members(out) == ["a=1", "b=2", "c=3"]


def test_baggage_space_goes_out_as_percent_20(stack):
    ctx, out = forwarded_baggage(stack, "k=a%20b")
    assert baggage.get_baggage("k", ctx) == "a b"
    assert out == "k=a%20b"


def test_baggage_plus_is_a_literal_plus(stack):
    ctx, out = forwarded_baggage(stack, "k=a+b")
    assert baggage.get_baggage("k", ctx) == "a+b"
    assert unquote(out.partition("=")[2]) == "a+b"


def test_baggage_non_ascii_and_percent_round_trip(stack):
    ctx, out = forwarded_baggage(stack, "k=%E2%9C%93%2525")
    assert baggage.get_baggage("k", ctx) == "\u2713%25"
    assert out == "k=%E2%9C%93%2525"


def test_baggage_properties_are_forwarded(stack):
    ctx, out = forwarded_baggage(stack, "k=v;prop;p2=x", "other=1;only")
    assert baggage.get_baggage("k", ctx) == "v", "the API value is the value alone"
    assert parse_members(out) == ["k=v;prop;p2=x", "other=1;only"]


def test_baggage_ows_is_ignored(stack):
    ctx, out = forwarded_baggage(stack, " k = a%20b ; prop ; p2 = x ,\tb\t=\t2 ")
    assert dict(baggage.get_all(ctx)) == {"k": "a b", "b": "2"}
    assert parse_members(out) == ["k=a%20b;prop;p2=x", "b=2"]


def test_baggage_replaced_value_loses_the_old_properties(stack):
    _, out = forwarded_baggage(stack, "k=v;prop,j=w;keep",
                               mutate=lambda ctx: baggage.set_baggage("k", "new", context=ctx))
    assert parse_members(out) == ["k=new", "j=w;keep"]


def test_baggage_malformed_member_is_dropped_alone(stack):
    ctx, out = forwarded_baggage(stack, "a=1,no-equals,b=x y,c=3")
    assert parse_members(out) == ["a=1", "c=3"]


def test_baggage_64_members_within_8192_bytes_are_all_forwarded(stack):
    members = [f"k{i:02d}=" + "v" * 121 + ";p" for i in range(64)]
    assert len(",".join(members)) == 8191
    half = len(members) // 2
    _, out = forwarded_baggage(stack, ",".join(members[:half]), ",".join(members[half:]))
    assert parse_members(out) == members


def test_baggage_beyond_64_members_sends_whole_members_only(stack):
    # W3C only obliges forwarding up to the limits; past them this reference drops whole
    # members, which the spec allows, rather than send what downstreams may refuse.
    members = [f"k{i}=v{i}" for i in range(70)]
    _, out = forwarded_baggage(stack, ",".join(members))
    assert parse_members(out) == members[:64]


# --- OTEL_PROPAGATORS ----------------------------------------------------------------

FULL = [("traceparent", TP), ("tracestate", "foo=1"), ("baggage", "k=a%20b")]


@pytest.mark.parametrize("names,continued,fields", [
    ("", True, {"traceparent", "tracestate", "baggage"}),
    ("tracecontext,baggage", True, {"traceparent", "tracestate", "baggage"}),
    (" tracecontext , baggage ", True, {"traceparent", "tracestate", "baggage"}),
    ("tracecontext", True, {"traceparent", "tracestate"}),
    ("baggage", False, {"baggage"}),
    ("none", False, set()),
    ("tracecontext,none", False, set()),
])
def test_otel_propagators_choose_the_formats(stack, names, continued, fields):
    out = serve(stack, FULL, propagator=stack.module.build_propagator(names))
    assert out.continued() is continued
    assert set(out.outgoing[0]) == fields
    if "baggage" in fields:
        assert out.outgoing[0]["baggage"] == "k=a%20b"


def test_install_propagators_reads_the_environment(stack, monkeypatch):
    before = propagate.get_global_textmap()
    try:
        monkeypatch.setenv("OTEL_PROPAGATORS", "none")
        installed = stack.module.install_propagators()
        assert propagate.get_global_textmap() is installed
        assert installed.fields == set()
        monkeypatch.delenv("OTEL_PROPAGATORS")
        assert stack.module.install_propagators().fields == {"traceparent", "tracestate", "baggage"}
    finally:
        propagate.set_global_textmap(before)


def test_unknown_propagator_name_is_an_error(stack):
    with pytest.raises(ValueError, match="not-a-propagator"):
        stack.module.build_propagator("tracecontext,not-a-propagator")


# --- the grpcio server interceptor's carrier -----------------------------------------

class _ServicerContext:
    def __init__(self, metadata):
        self._metadata = tuple(Metadatum(k, v) for k, v in metadata)

    def invocation_metadata(self):
        return self._metadata


def test_grpcio_interceptor_extracts_from_every_metadata_value():
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(GRPCIO.build_propagator(""))
    try:
        interceptor = GRPCIO.traced_server_interceptor(TracerProvider())
        metadata = [("traceparent", TP), ("tracestate", "foo=1"), ("baggage", "a=1;p"),
                    ("tracestate", "bar=2"), ("baggage", "b=a%20b")]
        with interceptor._set_remote_context(_ServicerContext(metadata)):
            span_context = trace.get_current_span().get_span_context()
            assert span_context.trace_id == int(T, 16)
            assert span_context.trace_state.to_header() == "foo=1,bar=2"
            assert dict(baggage.get_all()) == {"a": "1", "b": "a b"}
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            assert carrier["baggage"] == "a=1;p,b=a%20b"
        assert not trace.get_current_span().get_span_context().is_valid, "context detached afterwards"
    finally:
        propagate.set_global_textmap(before)


def test_grpcio_interceptor_with_propagation_off_still_serves():
    # An empty CompositePropagator hands back context=None, which attach() cannot take.
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(GRPCIO.build_propagator("none"))
    try:
        interceptor = GRPCIO.traced_server_interceptor(TracerProvider())
        with interceptor._set_remote_context(_ServicerContext([("traceparent", TP), ("baggage", "a=1")])):
            assert not trace.get_current_span().get_span_context().is_valid
            assert dict(baggage.get_all()) == {}
    finally:
        propagate.set_global_textmap(before)
