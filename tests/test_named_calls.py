"""Zero-contract mode's named calls: parsing --call, resolving it through server reflection or
a descriptor set, and making it, against real grpcio servers on 127.0.0.1."""
from __future__ import annotations

import contextlib
import importlib.resources
import shlex
import socket
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_database, descriptor_pb2, descriptor_pool, json_format, message_factory
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_tools import protoc

from otelconform.named_calls import (EXAMPLE, CallSpecError, CallResolutionError, Resolver, invoke, list_services,
                                     parse_call, what_to_pass)

from .conftest import PYTHON_REFERENCE, run_suite

OK, NOT_FOUND, INVALID_ARGUMENT = grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT

DEMO_PROTO = """
syntax = "proto3";
package demo.v1;
import "google/protobuf/timestamp.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/any.proto";

enum Mood { MOOD_UNSPECIFIED = 0; MOOD_HAPPY = 1; }
message Node { string label = 1; repeated Node children = 2; }
message HelloRequest {
  string name = 1;
  google.protobuf.Timestamp at = 2;
  repeated string tags = 3;
  map<string, int32> counts = 4;
  Mood mood = 5;
  oneof target { string person = 6; int64 team_id = 7; }
  optional bool loud = 8;
  Node tree = 9;
  google.protobuf.Any extra = 10;
}
message HelloReply { string message = 1; }
service Greeter {
  rpc SayHello(HelloRequest) returns (HelloReply);
  rpc Chat(stream HelloRequest) returns (stream HelloReply);
  rpc Updates(HelloRequest) returns (stream HelloReply);
}
service Admin { rpc Ping(google.protobuf.Empty) returns (google.protobuf.Empty); }
"""
DEMO_METHODS = ["demo.v1.Admin/Ping", "demo.v1.Greeter/SayHello", "demo.v1.Greeter/Chat", "demo.v1.Greeter/Updates"]
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


def _compile(tmp: Path, out: str, *extra: str) -> Path:
    (tmp / "demo.proto").write_text(DEMO_PROTO)
    includes = importlib.resources.files("grpc_tools") / "_proto"
    rc = protoc.main(["protoc", f"-I{tmp}", f"-I{includes}", f"--descriptor_set_out={tmp / out}", *extra, "demo.proto"])
    assert rc == 0
    return tmp / out


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory) -> Path:
    return _compile(tmp_path_factory.mktemp("demo"), "demo.binpb", "--include_imports")


class DemoServer:
    """demo.v1.Greeter and Admin over generic handlers, from the descriptor set alone, with
    reflection as asked: "v1alpha" (grpcio's), "v1" only, "hang" (never answers) or None."""

    def __init__(self, descriptor_set: Path, reflection_kind: str | None):
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
        health_file = descriptor_pb2.FileDescriptorProto()
        health_pb2.DESCRIPTOR.CopyToProto(health_file)
        database = descriptor_database.DescriptorDatabase()
        for file in [*files.file, health_file]:
            database.Add(file)
        self.pool = descriptor_pool.DescriptorPool(descriptor_db=database)
        self.request_class = message_factory.GetMessageClass(self.pool.FindMessageTypeByName("demo.v1.HelloRequest"))
        self.reply_class = message_factory.GetMessageClass(self.pool.FindMessageTypeByName("demo.v1.HelloReply"))
        self.release = threading.Event()  # lets a "slow" call end
        self.metadata: list[tuple] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[("grpc.so_reuseport", 0)])
        self.server.add_generic_rpc_handlers([self._handlers()])
        health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), self.server)
        # Ghost is listed but has no descriptor, as servers whose services come without one list them.
        names = ["demo.v1.Greeter", "demo.v1.Admin", "demo.v1.Ghost", HEALTH, reflection.SERVICE_NAME]
        if reflection_kind == "v1alpha":
            reflection.enable_server_reflection(names, self.server, pool=self.pool)
        elif reflection_kind in ("v1", "hang"):
            servicer = reflection.ReflectionServicer(names, pool=self.pool)
            handler = servicer.ServerReflectionInfo if reflection_kind == "v1" else self._never_answer
            service = REFLECTION_V1 if reflection_kind == "v1" else reflection.SERVICE_NAME
            self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, {
                "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                    handler, reflection_pb2.ServerReflectionRequest.FromString,
                    reflection_pb2.ServerReflectionResponse.SerializeToString)})])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def _never_answer(self, requests, context):
        self.release.wait(10)
        return iter(())

    def _say_hello(self, request, context):
        self.metadata.append(tuple(context.invocation_metadata()))
        if not request.name:
            context.abort(INVALID_ARGUMENT, "name is required")
        if request.name == "slow":
            self.release.wait(10)
        context.set_trailing_metadata([("x-demo", "1")])
        return self.reply_class(message=f"hello {request.name}")

    def _handlers(self) -> grpc.GenericRpcHandler:
        empty = message_factory.GetMessageClass(self.pool.FindMessageTypeByName("google.protobuf.Empty"))
        say_hello = grpc.unary_unary_rpc_method_handler(self._say_hello, self.request_class.FromString,
                                                        self.reply_class.SerializeToString)
        greeter = grpc.method_handlers_generic_handler("demo.v1.Greeter", {"SayHello": say_hello})
        admin = grpc.method_handlers_generic_handler("demo.v1.Admin", {"Ping": grpc.unary_unary_rpc_method_handler(
            lambda request, context: empty(), empty.FromString, empty.SerializeToString)})

        class Both(grpc.GenericRpcHandler):
            def service(self, details):
                return greeter.service(details) or admin.service(details)
        return Both()

    def stop(self) -> None:
        self.release.set()
        self.channel.close()
        self.server.stop(None).wait(5)


@pytest.fixture(scope="module")
def reflecting(descriptor_set):
    server = DemoServer(descriptor_set, "v1alpha")
    yield server
    server.stop()


@pytest.fixture
def server_of(descriptor_set):
    started: list[DemoServer] = []

    def start(kind: str | None) -> DemoServer:
        started.append(DemoServer(descriptor_set, kind))
        return started[-1]
    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def resolver(reflecting) -> Resolver:
    return Resolver.from_reflection(reflecting.channel, timeout=10, target="demo")


# -- parsing -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, service, method, request_json, status", [
    ('helloworld.Greeter/SayHello={"name": "x"}', "helloworld.Greeter", "SayHello", {"name": "x"}, OK),
    ('/helloworld.Greeter/SayHello={"name": "x"}', "helloworld.Greeter", "SayHello", {"name": "x"}, OK),
    ("helloworld.Greeter/SayHello", "helloworld.Greeter", "SayHello", {}, OK),
    ("helloworld.Greeter/SayHello -> NOT_FOUND", "helloworld.Greeter", "SayHello", {}, NOT_FOUND),
    ('  a.b.v1.Svc/M = {"a": {"b": [1, 2]}}  ->  invalid_argument ', "a.b.v1.Svc", "M", {"a": {"b": [1, 2]}},
     INVALID_ARGUMENT),
    ('pkg.Svc/M={"a":1}->5', "pkg.Svc", "M", {"a": 1}, NOT_FOUND),
    ("Svc/M={} -> 0", "Svc", "M", {}, OK),
    ("pkg.Svc/M={} -> NotFound", "pkg.Svc", "M", {}, NOT_FOUND),
    ("pkg.Svc/M={} -> canceled", "pkg.Svc", "M", {}, grpc.StatusCode.CANCELLED),
    ("pkg.Svc/M={} -> 16", "pkg.Svc", "M", {}, grpc.StatusCode.UNAUTHENTICATED),
])
def test_parse_good_forms(text, service, method, request_json, status):
    spec = parse_call(text)
    assert (spec.service, spec.method, spec.request, spec.expected_status, spec.text) == \
        (service, method, request_json, status, text)
    assert spec.path == f"/{service}/{method}" and spec.full_method == f"{service}/{method}"
    hash(spec)  # usable as a key (of outcomes, of reports)


def test_arrows_and_equals_inside_json_strings_are_json():
    spec = parse_call('pkg.Svc/M={"q": "a -> b = c", "r": "-> NOT_FOUND"} -> UNAVAILABLE')
    assert spec.request == {"q": "a -> b = c", "r": "-> NOT_FOUND"}
    assert spec.expected_status == grpc.StatusCode.UNAVAILABLE
    assert parse_call('pkg.Svc/M={"q": "x -> NOT_FOUND"}').expected_status == OK


@pytest.mark.parametrize("text, says", [
    ("", "got nothing"),
    ("Greeter", "<package.Service>/<Method>"),
    ("pkg.Svc.Method={}", "the method goes after a slash: pkg.Svc/Method"),
    ("pkg.Svc/={}", "<package.Service>/<Method>"),
    ('pkg.Svc/M {"a": 1}', "'=' and a JSON object after the method"),
    ("pkg.Svc/M=", "a JSON object after '=', got nothing"),
    ('pkg.Svc/M={"a": }', "invalid JSON (Expecting value at character 7"),
    ("pkg.Svc/M=[1]", "a JSON object ({...}) after '=', got a JSON array: [1]"),
    ('pkg.Svc/M="x"', "got a JSON string"),
    ("pkg.Svc/M={}{}", "got '{}'"),
    ("pkg.Svc/M={} NOT_FOUND", "optionally '-> STATUS', got 'NOT_FOUND'"),
    ("pkg.Svc/M={} ->", "a status code after '->'"),
    ("pkg.Svc/M={} -> NOPE", "(one of OK, CANCELLED, UNKNOWN"),
    ("pkg.Svc/M={} -> NOT_FOUND extra", "got 'NOT_FOUND extra'"),
    ("pkg.Svc/M={} -> 17", "a status code number from 0 to 16"),
    ('pkg.Svc/M={"a": 1, "a": 2}', "each field once in the JSON object, got 'a' twice"),
])
def test_bad_specs_say_what_was_expected_and_show_a_correct_one(text, says):
    with pytest.raises(CallSpecError) as caught:
        parse_call(text)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert message.startswith(f"--call {text!r}: expected ")
    assert says in message and EXAMPLE in message
    assert "Traceback" not in message and "\n" not in message


# -- resolution ----------------------------------------------------------------------------

def test_reflection_resolves_request_and_response_types(resolver):
    call = resolver.resolve(parse_call('demo.v1.Greeter/SayHello={"name": "x", "at": "2024-01-02T03:04:05Z", '
                                       '"counts": {"a": 2}, "mood": "MOOD_HAPPY"}'))
    assert call.path == "/demo.v1.Greeter/SayHello"
    assert call.method.full_name == "demo.v1.Greeter.SayHello"
    assert call.request.DESCRIPTOR.full_name == "demo.v1.HelloRequest"
    assert (call.request.name, call.request.at.seconds, dict(call.request.counts)) == ("x", 1704164645, {"a": 2})
    assert call.response_class.DESCRIPTOR.full_name == "demo.v1.HelloReply"


def test_reflection_v1_alone_is_enough(server_of):
    server = server_of("v1")
    assert list_services(server.channel, timeout=10) == DEMO_METHODS


def test_an_any_takes_the_services_own_types(resolver):
    call = resolver.resolve(parse_call(
        'demo.v1.Greeter/SayHello={"extra": {"@type": "type.googleapis.com/demo.v1.Node", "label": "n"}}'))
    assert call.request.extra.type_url.endswith("/demo.v1.Node")
    with pytest.raises(CallResolutionError, match="does not fit demo.v1.HelloRequest: .*demo.v1.Nope"):
        resolver.resolve(parse_call('demo.v1.Greeter/SayHello={"extra": {"@type": "example.com/demo.v1.Nope"}}'))


def test_unknown_service_lists_what_the_server_offers(resolver):
    with pytest.raises(CallResolutionError) as caught:
        resolver.resolve(parse_call("demo.v1.Greter/SayHello"))
    message = str(caught.value)
    assert "server reflection of demo offers no service demo.v1.Greter" in message
    assert all(f"  {line}" in message for line in DEMO_METHODS)
    assert "grpc.reflection" not in message and "grpc.health" not in message


def test_unknown_method_lists_the_services_methods(resolver):
    with pytest.raises(CallResolutionError, match="service demo.v1.Greeter has no method SayHi; its methods: "
                                                  "SayHello, Chat, Updates"):
        resolver.resolve(parse_call("demo.v1.Greeter/SayHi"))


def test_a_listed_service_without_descriptor_says_so(resolver):
    with pytest.raises(CallResolutionError, match="server reflection of demo lists demo.v1.Ghost, but its reflection "
                                                  "answers NOT_FOUND for it; pass the service's descriptors with "
                                                  "--descriptor-set FILE"):
        resolver.resolve(parse_call("demo.v1.Ghost/Boo"))


@pytest.mark.parametrize("method, kind", [("Chat", "bidirectional-streaming"), ("Updates", "server-streaming")])
def test_streaming_methods_are_refused(resolver, method, kind):
    with pytest.raises(CallResolutionError) as caught:
        resolver.resolve(parse_call(f"demo.v1.Greeter/{method}"))
    assert f"demo.v1.Greeter/{method} is a {kind} method, and the suite makes only unary calls" in str(caught.value)
    assert "(demo.v1.Greeter/SayHello)" in str(caught.value)


@pytest.mark.parametrize("request_json, says", [
    ('{"nmae": "x"}', 'Message type "demo.v1.HelloRequest" has no field named "nmae"'),
    ('{"name": 5}', "name"),
    ('{"person": "a", "team_id": 1}', "oneof"),
])
def test_a_request_that_does_not_fit_names_the_field_and_type(resolver, request_json, says):
    with pytest.raises(CallResolutionError) as caught:
        resolver.resolve(parse_call(f"demo.v1.Greeter/SayHello={request_json}"))
    message = str(caught.value)
    assert "the request JSON does not fit demo.v1.HelloRequest" in message and says in message
    assert "its fields: name (string), at (google.protobuf.Timestamp), tags (repeated string), " \
           "counts (map<string, int32>), mood (demo.v1.Mood)" in message


def test_no_reflection_says_enable_it_or_pass_a_descriptor_set(server_of):
    server = server_of(None)
    with pytest.raises(CallResolutionError) as caught:
        Resolver.from_reflection(server.channel, timeout=10, target="127.0.0.1:1234")
    message = str(caught.value)
    assert message.startswith("127.0.0.1:1234 does not serve gRPC server reflection")
    assert "enable server reflection" in message and "--descriptor-set FILE" in message
    assert "`protoc --include_imports --descriptor_set_out=FILE your.proto`" in message


def test_reflection_that_never_answers_is_bounded(server_of):
    server = server_of("hang")
    started = time.monotonic()
    with pytest.raises(CallResolutionError, match=r"server reflection of the service did not answer within 0.5s"):
        Resolver.from_reflection(server.channel, timeout=0.5)
    assert time.monotonic() - started < 5


@contextlib.contextmanager
def _unused_port():
    """A port nothing listens on (bound without listen, so no other test takes it meanwhile)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def test_an_unreachable_server_is_named():
    with _unused_port() as port, grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(CallResolutionError, match=f"could not reach 127.0.0.1:{port} to ask its server reflection"):
            Resolver.from_reflection(channel, timeout=5, target=f"127.0.0.1:{port}")


def test_descriptor_set_resolves_and_calls_without_reflection(server_of, descriptor_set, tmp_path):
    server = server_of(None)
    json_set = tmp_path / "demo.json"  # buf build -o demo.json
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    json_set.write_text(json_format.MessageToJson(files))
    for path in (descriptor_set, json_set):
        resolver = Resolver.from_descriptor_set(path)
        assert [f"{m.containing_service.full_name}/{m.name}" for m in resolver.methods()] == DEMO_METHODS
        outcome = invoke(server.channel, resolver.resolve(parse_call('demo.v1.Greeter/SayHello={"name": "d"}')))
        assert (outcome.code, outcome.response.message) == (OK, "hello d")


def test_bad_descriptor_sets_say_how_to_make_one(tmp_path, descriptor_set):
    garbage = tmp_path / "demo.proto.txt"
    garbage.write_bytes(b"\xff\xff\xff\xff not a descriptor set")
    only_imports = tmp_path / "wkt.binpb"
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    only_imports.write_bytes(descriptor_pb2.FileDescriptorSet(
        file=[f for f in files.file if f.name.startswith("google/")]).SerializeToString())
    without_imports = _compile(tmp_path, "bare.binpb")
    for path, says in [(tmp_path / "missing.binpb", "cannot read the descriptor set"),
                       (garbage, "is not a FileDescriptorSet"),
                       (only_imports, "defines no service (it has google/protobuf/"),
                       (without_imports, "cannot describe demo.v1.Greeter")]:
        with pytest.raises(CallResolutionError) as caught:
            Resolver.from_descriptor_set(path)
        assert str(caught.value).startswith((f"cannot read the descriptor set {path}", f"{path} is not",
                                             f"the descriptor set {path}"))
        assert says in str(caught.value) and "protoc --include_imports --descriptor_set_out=FILE" in str(caught.value)


def test_a_proto_file_resolves_and_calls_as_its_descriptor_set_does(server_of, tmp_path):
    server = server_of(None)
    proto = tmp_path / "demo.proto"
    proto.write_text(DEMO_PROTO)  # imports three well-known types, found without an -I of the user's
    resolver = Resolver.from_proto(proto)
    assert resolver.source == f"{proto} (compiled with protoc)"
    assert [f"{m.containing_service.full_name}/{m.name}" for m in resolver.methods()] == DEMO_METHODS
    call = parse_call('demo.v1.Greeter/SayHello={"name": "p", "at": "2024-05-01T00:00:00Z"}')
    outcome = invoke(server.channel, resolver.resolve(call))
    assert (outcome.code, outcome.response.message) == (OK, "hello p")


BROKEN_PROTO = """syntax = "proto3";
package demo.v1;
message HelloRequest { string name = 1 }
service Greeter { rpc SayHello(HelloRequest) returns (HelloRequest); }
"""


def test_a_proto_that_does_not_compile_says_where_and_what_to_do(tmp_path):
    broken, importing = tmp_path / "broken.proto", tmp_path / "importing.proto"
    broken.write_text(BROKEN_PROTO)
    importing.write_text(DEMO_PROTO.replace('import "google/protobuf/any.proto";', 'import "team/common.proto";'))
    with pytest.raises(CallResolutionError) as caught:
        Resolver.from_proto(broken)
    said = str(caught.value)
    assert said.startswith(f"protoc could not compile {broken}: {broken}:3:40: Expected \";\"; correct it"), said
    assert "imports are looked up" not in said  # a syntax error is not the import path's doing
    with pytest.raises(CallResolutionError) as caught:
        Resolver.from_proto(importing)
    assert 'Import "team/common.proto" was not found' in str(caught.value)
    assert "make a descriptor set with `protoc --include_imports" in str(caught.value)
    # Given to the suite, it is the session's one error, with protoc's words and no traceback.
    run = run_suite(tmp_path, f"--target-cmd={PYTHON_REFERENCE}", f"--descriptor-set={broken}",
                    '--call=demo.v1.Greeter/SayHello={"name": "x"}', "-k", "PROP-001")
    assert run.returncode == 6 and run.meta["session_error"] == said, run.output[-2000:]
    assert "Traceback" not in run.output and f"session error: {said}" in run.output


# -- listing -------------------------------------------------------------------------------

def test_list_services_leaves_out_reflection_and_health(reflecting):
    assert list_services(reflecting.channel, timeout=10) == DEMO_METHODS


def test_what_to_pass_gives_a_working_call_per_unary_method(resolver):
    text = what_to_pass(resolver, target="127.0.0.1:50051")
    assert text.startswith("127.0.0.1:50051 offers these methods (server reflection of demo):")
    assert "  demo.v1.Greeter/Chat  (bidirectional-streaming: not supported" in text
    examples = [line.strip()[len("--call "):] for line in text.splitlines() if line.startswith("  --call ")]
    assert len(examples) == 2
    for example in examples:
        call = resolver.resolve(parse_call(shlex.split(example)[0]))  # parses and fits, placeholders and all
        assert call.method.name in ("SayHello", "Ping")
    hello = next(e for e in examples if "SayHello" in e)
    assert '"tree": {"label": "", "children": [{}]}' in hello  # a recursive type, shown one level deep
    assert '"person": ""' in hello and "team_id" not in hello  # one field per oneof
    assert '"counts": {"key": 0}' in hello and '"mood": "MOOD_UNSPECIFIED"' in hello
    assert "'-> CODE'" in text


# -- making the call -----------------------------------------------------------------------

def test_invoke_ok_carries_the_response_and_trailers(reflecting, resolver):
    call = resolver.resolve(parse_call('demo.v1.Greeter/SayHello={"name": "x"}'))
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    before = time.time()
    outcome = invoke(reflecting.channel, call, metadata=[("traceparent", traceparent)], timeout=10)
    assert (outcome.code, outcome.details, outcome.response.message) == (OK, "", "hello x")
    assert ("x-demo", "1") in outcome.trailing_metadata
    assert before <= outcome.started_at <= outcome.ended_at <= time.time() and 0 < outcome.duration < 10
    assert outcome.as_expected and outcome.mismatch() is None
    assert ("traceparent", traceparent) in [(m.key, m.value) for m in reflecting.metadata[-1]]


def test_invoke_error_is_an_outcome(reflecting, resolver):
    expected_to_fail = resolver.resolve(parse_call('demo.v1.Greeter/SayHello={"name": ""} -> INVALID_ARGUMENT'))
    outcome = invoke(reflecting.channel, expected_to_fail, timeout=10)
    assert (outcome.code, outcome.details, outcome.response) == (INVALID_ARGUMENT, "name is required", None)
    assert outcome.as_expected
    expected_ok = resolver.resolve(parse_call('demo.v1.Greeter/SayHello={"name": ""}'))
    unexpected = invoke(reflecting.channel, expected_ok, timeout=10)
    assert unexpected.mismatch().startswith("demo.v1.Greeter/SayHello ended INVALID_ARGUMENT (name is required)")
    assert "expects OK" in unexpected.mismatch() and "-> INVALID_ARGUMENT" in unexpected.mismatch()


def test_invoke_timeout_is_deadline_exceeded(server_of, resolver):
    server = server_of("v1alpha")
    slow = resolver.resolve(parse_call('demo.v1.Greeter/SayHello={"name": "slow"}'))
    outcome = invoke(server.channel, slow, timeout=0.3)
    server.release.set()
    assert (outcome.code, outcome.response) == (grpc.StatusCode.DEADLINE_EXCEEDED, None)
    assert 0.25 <= outcome.duration < 5


def test_invoke_refuses_an_unbounded_call(reflecting, resolver):
    call = resolver.resolve(parse_call("demo.v1.Admin/Ping"))
    assert invoke(reflecting.channel, call, timeout=10).code == OK
    for timeout in (None, 0, -1):
        with pytest.raises(ValueError, match="positive timeout"):
            invoke(reflecting.channel, call, timeout=timeout)
