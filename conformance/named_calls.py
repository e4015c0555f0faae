"""Zero-contract mode: the calls a team names with ``--call``, resolved and made.

A service that does not implement the suite's control contract can still be judged on the
telemetry of its own calls: ``--call 'pkg.Svc/Method={"field": "value"} -> CODE'`` names
one. Its request and response types come from the server's reflection service, from a
descriptor set file, or from the service's ``.proto`` (compiled here by grpcio-tools' protoc into
a descriptor set), so the suite needs no code generated for the team's protos.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import importlib.resources
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_database, descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

EXAMPLE = """--call 'helloworld.Greeter/SayHello={"name": "x"}'"""
EXAMPLE_FAILING = """--call 'helloworld.Greeter/SayHello={"name": ""} -> INVALID_ARGUMENT'"""
PROTOC_HINT = "protoc --include_imports --descriptor_set_out=FILE your.proto"
# Infrastructure every server may serve; not what a team means to have judged.
HIDDEN_SERVICE_PREFIXES = ("grpc.reflection.", "grpc.health.")
# v1 is v1alpha renamed (the messages are the same on the wire); servers serve either or both.
REFLECTION_METHODS = ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")

_NAME = re.compile(r"/?(?P<service>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)/(?P<method>[A-Za-z_]\w*)")
_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
_CODE_ALIASES = {"CANCELED": grpc.StatusCode.CANCELLED}  # Go's and Rust's spelling
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}
_SCALAR_NAMES = {number: name[5:].lower() for name, number in vars(FieldDescriptor).items() if name.startswith("TYPE_")}


class CallSpecError(ValueError):
    """A --call that does not parse; the message quotes it and shows a correct one."""


class CallResolutionError(Exception):
    """A --call that cannot be made against this server; the message says why and what to do."""


@dataclass(frozen=True)
class CallSpec:
    service: str  # full name, package included: "helloworld.Greeter"
    method: str
    request: dict[str, Any] = field(hash=False)  # the request as proto3 JSON
    expected_status: grpc.StatusCode = grpc.StatusCode.OK
    text: str = ""  # as the user wrote it, to quote in messages

    @property
    def full_method(self) -> str:
        return f"{self.service}/{self.method}"

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of repeated keys silently; a user who typed a field twice meant one.
    keys = [key for key, _ in pairs]
    if len(set(keys)) < len(keys):
        raise _DuplicateKey(next(key for key in keys if keys.count(key) > 1))
    return dict(pairs)


def _bad(spec: str, expected: str, got: str) -> CallSpecError:
    return CallSpecError(f"--call {spec!r}: expected {expected}, got {got}; "
                         f"for example {EXAMPLE} or {EXAMPLE_FAILING}")


def parse_call(spec: str) -> CallSpec:
    """``<package.Service>/<Method>[=<JSON object>] [-> <STATUS>]`` as a CallSpec."""
    text = spec.strip()
    match = _NAME.match(text)
    if match is None:
        head = re.split(r"[=\s]", text, maxsplit=1)[0]
        hint = ""
        if re.fullmatch(r"/?\w+(\.\w+)+", head):
            hint = f" (the method goes after a slash: {head.rsplit('.', 1)[0]}/{head.rsplit('.', 1)[1]})"
        raise _bad(spec, "<package.Service>/<Method> first (the service's full name, a slash, the method)",
                   f"{head!r}{hint}" if head else "nothing")
    rest = text[match.end():].lstrip()
    request: dict[str, Any] = {}
    if rest.startswith("="):
        body = rest[1:].lstrip()
        if not body:
            raise _bad(spec, "a JSON object after '='", "nothing")
        try:
            request, end = json.JSONDecoder(object_pairs_hook=_no_duplicates).raw_decode(body)
        except json.JSONDecodeError as err:
            raise _bad(spec, "a JSON object after '='",
                       f"invalid JSON ({err.msg} at character {err.pos + 1} of {body!r})") from None
        except _DuplicateKey as err:
            raise _bad(spec, "each field once in the JSON object", f"{str(err)!r} twice") from None
        if not isinstance(request, dict):
            raise _bad(spec, "a JSON object ({...}) after '='", f"a JSON {_JSON_TYPES[type(request)]}: {body[:end]}")
        rest = body[end:].strip()
    status = grpc.StatusCode.OK
    if rest.startswith("->"):
        status = _status(spec, rest[2:].strip())
    elif rest:
        raise _bad(spec, "'=' and a JSON object after the method, then optionally '-> STATUS'", repr(rest))
    return CallSpec(match["service"], match["method"], request, status, spec)


def _status(spec: str, token: str) -> grpc.StatusCode:
    names = ", ".join(code.name for code in grpc.StatusCode)
    if not token:
        raise _bad(spec, "a status code after '->' (a name such as NOT_FOUND, or its number)", "nothing")
    if token.isdigit():
        if int(token) in _CODES_BY_NUMBER:
            return _CODES_BY_NUMBER[int(token)]
        raise _bad(spec, "a status code number from 0 to 16 after '->'", token)
    # Also NotFound, as Go, Rust and Java users know the codes.
    name = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", token).upper()
    if name in _CODE_ALIASES:
        return _CODE_ALIASES[name]
    try:
        return grpc.StatusCode[name]
    except KeyError:
        raise _bad(spec, f"a gRPC status code after '->' (one of {names}, or its number)", repr(token)) from None


# -- resolution ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ResolvedCall:
    spec: CallSpec
    method: MethodDescriptor
    request: Message
    response_class: type

    @property
    def path(self) -> str:
        return self.spec.path


class _ReflectionChannel:
    """The one thing ProtoReflectionDescriptorDatabase asks of a channel, ``stream_stream``,
    with every call ending by one deadline for the whole resolution (the database sets none,
    so a server that never answers would block it forever) and sent to the reflection
    version the server answers. Once closed, a lookup finds nothing instead of calling."""

    def __init__(self, channel: grpc.Channel, method: str, deadline: float):
        self._channel, self._method, self._deadline = channel, method, deadline
        self.closed = False

    def stream_stream(self, _method, request_serializer=None, response_deserializer=None, **_):
        rpc = self._channel.stream_stream(self._method, request_serializer, response_deserializer)

        def call(requests, **_kw):
            if self.closed:
                raise KeyError("not among the descriptors loaded from server reflection")
            return rpc(requests, timeout=max(self._deadline - time.monotonic(), 0.001))
        return call


DESCRIPTOR_SET_ADVICE = f"pass the service's descriptors with --descriptor-set FILE (generate one with `{PROTOC_HINT}`)"


def _reflection_failure(err: grpc.RpcError, target: str, timeout: float) -> CallResolutionError:
    code, details = err.code(), err.details() or ""
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return CallResolutionError(
            f"{target} does not serve gRPC server reflection (grpc.reflection.v1alpha and grpc.reflection.v1 "
            f"both answered UNIMPLEMENTED), so the suite cannot learn the request and response types of the "
            f"calls to make: enable server reflection in the service's test build, or {DESCRIPTOR_SET_ADVICE}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return CallResolutionError(f"server reflection of {target} did not answer within {timeout:g}s; "
                                   f"is the service stuck? Otherwise {DESCRIPTOR_SET_ADVICE}")
    if code == grpc.StatusCode.UNAVAILABLE:
        return CallResolutionError(f"could not reach {target} to ask its server reflection ({details}); "
                                   f"is the service running and listening there, with TLS as the suite expects?")
    return CallResolutionError(f"server reflection of {target} failed with {code.name} ({details}); "
                               f"allow the suite's calls to it, or {DESCRIPTOR_SET_ADVICE}")


class Resolver:
    """The services one server offers, with their message types, from one source."""

    def __init__(self, services: dict[str, ServiceDescriptor], source: str, broken: dict[str, str] | None = None):
        self.services = services  # full name -> descriptor
        self.source = source  # for messages: "server reflection of 127.0.0.1:50051"
        self._broken = broken or {}  # listed but not describable -> why

    @classmethod
    def from_reflection(cls, channel: grpc.Channel, timeout: float = 10.0, target: str = "the service") -> "Resolver":
        """Every listed service loaded at once, all within ``timeout``: later lookups make no call."""
        deadline = time.monotonic() + timeout
        for method in REFLECTION_METHODS:
            proxy = _ReflectionChannel(channel, method, deadline)
            database = ProtoReflectionDescriptorDatabase(proxy)
            try:
                names = list(database.get_services())
                break
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNIMPLEMENTED or method == REFLECTION_METHODS[-1]:
                    raise _reflection_failure(err, target, timeout) from None
            except (StopIteration, AssertionError, KeyError):  # the database's way of saying "odd answer"
                raise CallResolutionError(f"server reflection of {target} did not list its services (it ended "
                                          f"the call without an answer); {DESCRIPTOR_SET_ADVICE}") from None
        pool = descriptor_pool.DescriptorPool(descriptor_db=database)
        services, broken = {}, {}
        for name in names:
            try:
                services[name] = pool.FindServiceByName(name)
            except grpc.RpcError as err:
                raise _reflection_failure(err, target, timeout) from None
            except (KeyError, TypeError, AssertionError, StopIteration, RuntimeError) as err:
                # Listed but not described: a NOT_FOUND (KeyError), a file missing, an odd answer.
                broken[name] = ("its reflection answers NOT_FOUND for it" if isinstance(err, KeyError)
                                else f"its reflection does not describe it ({err})")
        # Resolving a --call (an Any's "@type" too) must not reach the network after this.
        proxy.closed = True
        return cls(services, f"server reflection of {target}", broken)

    @classmethod
    def from_descriptor_set(cls, path: str | Path) -> "Resolver":
        """A FileDescriptorSet, binary (protoc, ``buf build -o x.binpb``) or JSON (``-o x.json``)."""
        path = Path(path)
        advice = f"generate it with `{PROTOC_HINT}`"
        files = descriptor_pb2.FileDescriptorSet()
        try:
            data = path.read_bytes()
            json_format.Parse(data, files) if data.lstrip().startswith(b"{") else files.ParseFromString(data)
        except OSError as err:
            raise CallResolutionError(f"cannot read the descriptor set {path}: {err.strerror}; {advice}") from None
        except (DecodeError, json_format.ParseError) as err:
            raise CallResolutionError(f"{path} is not a FileDescriptorSet ({err}); {advice}") from None
        database = descriptor_database.DescriptorDatabase()
        try:
            for file in files.file:
                database.Add(file)
        except descriptor_database.Error as err:
            raise CallResolutionError(f"the descriptor set {path} is inconsistent ({err}); {advice}") from None
        pool = descriptor_pool.DescriptorPool(descriptor_db=database)
        services = {}
        for file in files.file:
            for service in file.service:
                name = f"{file.package}.{service.name}" if file.package else service.name
                try:
                    services[name] = pool.FindServiceByName(name)
                except TypeError as err:  # an import left out
                    raise CallResolutionError(f"the descriptor set {path} cannot describe {name} ({err}); "
                                              f"generate it with --include_imports: `{PROTOC_HINT}`") from None
        if not services:
            raise CallResolutionError(f"the descriptor set {path} defines no service (it has "
                                      f"{', '.join(f.name for f in files.file) or 'no file'}); {advice} "
                                      f"from the .proto file that defines your service")
        return cls(services, f"the descriptor set {path}")

    @classmethod
    def from_proto(cls, path: str | Path) -> "Resolver":
        """A ``.proto`` file, compiled with grpcio-tools' protoc: its own folder and the well-known
        types are the import path, so a proto importing from elsewhere needs a descriptor set."""
        path = Path(path)
        if not path.is_file():
            raise CallResolutionError(f"cannot read {path}: no such file; give the .proto that defines the "
                                      f"service, or a descriptor set (`{PROTOC_HINT}`)")
        well_known = importlib.resources.files("grpc_tools") / "_proto"
        with tempfile.TemporaryDirectory(prefix="otelconform-proto-") as scratch:
            out = Path(scratch) / "descriptors.binpb"
            proc = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{path.resolve().parent}",
                                   f"-I{well_known}", "--include_imports", f"--descriptor_set_out={out}", path.name],
                                  capture_output=True, text=True, timeout=60)
            if proc.returncode != 0:
                said = " ".join(proc.stderr.split())[:600] or f"exit status {proc.returncode}"
                # Where to look depends on what failed: a missing import is the import path's
                # doing, anything else (syntax, an undefined type) is in the file itself.
                if "was not found or had errors" in proc.stderr:
                    advice = (f"its imports are looked up in its own folder and the well-known types: for others, "
                              f"make a descriptor set with `{PROTOC_HINT}` (with your -I folders) and pass that")
                else:
                    advice = (f"correct it where protoc points, or pass a descriptor set made from the .proto "
                              f"your service is built from (`{PROTOC_HINT}`)")
                raise CallResolutionError(f"protoc could not compile {path}: {said.rstrip('.')}; {advice}")
            resolver = cls.from_descriptor_set(out)
        resolver.source = f"{path} (compiled with protoc)"
        return resolver

    def methods(self) -> list[MethodDescriptor]:
        """The methods of the team's own services (not reflection's or health's)."""
        return [method for name, service in sorted(self.services.items())
                if not name.startswith(HIDDEN_SERVICE_PREFIXES) for method in service.methods]

    def resolve(self, spec: CallSpec) -> ResolvedCall:
        quoted = f"--call {spec.text or spec.full_method!r}"
        service = self.services.get(spec.service)
        if service is None:
            if spec.service in self._broken:
                raise CallResolutionError(f"{quoted}: {self.source} lists {spec.service}, but "
                                          f"{self._broken[spec.service]}; {DESCRIPTOR_SET_ADVICE}")
            offer = "".join(f"\n  {m.containing_service.full_name}/{m.name}" for m in self.methods()) or " nothing"
            raise CallResolutionError(f"{quoted}: {self.source} offers no service {spec.service}; it offers:{offer}"
                                      f"\nname one of these (the full name, package included)")
        method = service.methods_by_name.get(spec.method)
        if method is None:
            raise CallResolutionError(f"{quoted}: service {spec.service} has no method {spec.method}; its methods: "
                                      f"{', '.join(m.name for m in service.methods)}")
        if kind := _kind(method):
            unary = [f"{spec.service}/{m.name}" for m in service.methods if not _kind(m)]
            raise CallResolutionError(f"{quoted}: {spec.full_method} is a {kind} method, and the suite makes "
                                      f"only unary calls; name a unary method"
                                      f"{' (' + ', '.join(unary) + ')' if unary else ''}")
        request = message_factory.GetMessageClass(method.input_type)()
        try:  # an Any's "@type" is looked up among the service's types, not the suite's
            json_format.ParseDict(spec.request, request, descriptor_pool=method.input_type.file.pool)
        except (json_format.ParseError, ValueError, TypeError) as err:
            fields = ", ".join(f"{f.name} ({_type_name(f)})" for f in method.input_type.fields) or "none"
            # protobuf's own list of fields comes without their types: ours replaces it.
            reason = " ".join(str(err).split()).split(" Available Fields")[0].rstrip(".")
            raise CallResolutionError(f"{quoted}: the request JSON does not fit {method.input_type.full_name}: "
                                      f"{reason}; its fields: {fields}") from None
        return ResolvedCall(spec, method, request, message_factory.GetMessageClass(method.output_type))


def _kind(method: MethodDescriptor) -> str | None:
    """Which streaming method it is; None for a unary one."""
    if method.client_streaming and method.server_streaming:
        return "bidirectional-streaming"
    if method.client_streaming:
        return "client-streaming"
    return "server-streaming" if method.server_streaming else None


def _map_entry(f: FieldDescriptor) -> tuple[FieldDescriptor, FieldDescriptor] | None:
    if f.message_type is None or not f.message_type.GetOptions().map_entry:
        return None
    return f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]


def _repeated(f: FieldDescriptor) -> bool:
    # protobuf 7 dropped ``label`` for ``is_repeated``, which older releases lack.
    return f.is_repeated if hasattr(f, "is_repeated") else f.label == FieldDescriptor.LABEL_REPEATED


def _type_name(f: FieldDescriptor) -> str:
    if entry := _map_entry(f):
        return f"map<{_type_name(entry[0])}, {_type_name(entry[1])}>"
    named = f.message_type or f.enum_type
    name = named.full_name if named is not None else _SCALAR_NAMES[f.type]
    return f"repeated {name}" if _repeated(f) else name


def list_services(channel: grpc.Channel, timeout: float = 10.0, target: str = "the service") -> list[str]:
    """``pkg.Svc/Method`` for every method the server's reflection lists, but its infrastructure's."""
    methods = Resolver.from_reflection(channel, timeout, target).methods()
    return [f"{m.containing_service.full_name}/{m.name}" for m in methods]


# -- the "what to pass" text ---------------------------------------------------------------

_WKT_EXAMPLES: dict[str, Any] = {
    "google.protobuf.Timestamp": "1970-01-01T00:00:00Z", "google.protobuf.Duration": "0s",
    "google.protobuf.FieldMask": "", "google.protobuf.Struct": {}, "google.protobuf.ListValue": [],
    "google.protobuf.Value": None, "google.protobuf.Any": {}, "google.protobuf.Empty": {},
}
_SCALAR_EXAMPLES = {FieldDescriptor.TYPE_STRING: "", FieldDescriptor.TYPE_BYTES: "", FieldDescriptor.TYPE_BOOL: False,
                    FieldDescriptor.TYPE_DOUBLE: 0.0, FieldDescriptor.TYPE_FLOAT: 0.0}


def example_request(message: Descriptor, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object with every field of ``message`` (one per oneof) and a placeholder value."""
    out: dict[str, Any] = {}
    for f in message.fields:
        oneof = f.containing_oneof
        if oneof is not None and oneof.fields[0] is not f:
            continue  # setting two fields of one oneof is an error
        seen = _seen + (message.full_name,)
        if entry := _map_entry(f):
            key = _example_value(entry[0], seen)
            out[f.name] = {"key" if key == "" else json.dumps(key): _example_value(entry[1], seen)}
        else:
            value = _example_value(f, seen)
            out[f.name] = [value] if _repeated(f) else value
    return out


def _example_value(f: FieldDescriptor, seen: tuple[str, ...]) -> Any:
    if f.enum_type is not None:
        return f.enum_type.values[0].name
    if f.message_type is None:
        return _SCALAR_EXAMPLES.get(f.type, 0)
    name = f.message_type.full_name
    if name in _WKT_EXAMPLES:
        return _WKT_EXAMPLES[name]
    if name.startswith("google.protobuf.") and name.endswith("Value"):  # the wrappers
        return _example_value(f.message_type.fields_by_name["value"], seen)
    if name in seen or len(seen) > 3:
        return {}  # a recursive type: one level is enough to show its shape
    return example_request(f.message_type, seen)


def what_to_pass(resolver: Resolver, target: str = "the service") -> str:
    """What the service offers and one example --call per unary method, for a user who passed none."""
    methods = resolver.methods()
    if not methods:
        return (f"{target} offers no service of its own through {resolver.source} (only "
                f"{', '.join(sorted(resolver.services)) or 'nothing'}); is this the right address?")
    lines = [f"{target} offers these methods ({resolver.source}):"]
    for m in methods:
        lines.append(f"  {m.containing_service.full_name}/{m.name}"
                     + (f"  ({kind}: not supported, the suite makes only unary calls)" if (kind := _kind(m)) else ""))
    unary = [m for m in methods if not _kind(m)]
    if not unary:
        return "\n".join(lines + ["None of them is unary, and the suite makes only unary calls."])
    lines.append("Name the calls for the suite to make with --call, one option per call; for example "
                 "(every request field with a placeholder value: put real ones, leave out the rest):")
    for m in unary:
        body = json.dumps(example_request(m.input_type))
        lines.append(f"  --call {shlex.quote(f'{m.containing_service.full_name}/{m.name}={body}')}")
    lines.append(f"A call expected to fail ends with '-> CODE', e.g. {EXAMPLE_FAILING}.")
    return "\n".join(lines)


# -- making the call -----------------------------------------------------------------------

@dataclass(frozen=True)
class CallOutcome:
    call: ResolvedCall
    code: grpc.StatusCode
    details: str
    response: Message | None  # None unless OK
    duration: float  # seconds on time.monotonic, the suite's clock
    started_at: float  # time.time(), to find the call's spans by when they happened
    ended_at: float
    metadata_sent: tuple[tuple[str, str | bytes], ...] = ()
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = ()

    @property
    def as_expected(self) -> bool:
        return self.code == self.call.spec.expected_status

    def mismatch(self) -> str | None:
        """None when the call ended as --call said, else a sentence saying how it ended instead."""
        if self.as_expected:
            return None
        details = f" ({self.details})" if self.details else ""
        return (f"{self.call.spec.full_method} ended {self.code.name}{details} after {self.duration:.2f}s, but "
                f"--call {self.call.spec.text!r} expects {self.call.spec.expected_status.name}; fix the request, "
                f"or say the status it should end with: -> {self.code.name}")


def _pairs(metadata) -> tuple[tuple[str, str | bytes], ...]:
    return tuple((m[0], m[1]) for m in metadata or ())


def invoke(channel: grpc.Channel, resolved: ResolvedCall, metadata=(), timeout: float = 10.0) -> CallOutcome:
    """Make the call; an RPC error (a timeout is DEADLINE_EXCEEDED) is an outcome, never raised."""
    if not timeout or timeout <= 0:
        raise ValueError(f"invoke needs a positive timeout (got {timeout!r}): no call may wait forever")
    rpc = channel.unary_unary(resolved.path, request_serializer=type(resolved.request).SerializeToString,
                              response_deserializer=resolved.response_class.FromString)
    metadata = _pairs(metadata)
    started_at, started = time.time(), time.monotonic()
    try:
        response, call = rpc.with_call(resolved.request, metadata=metadata, timeout=timeout)
    except grpc.RpcError as err:  # grpcio's is also the grpc.Call that ended
        response, call = None, err
    duration = time.monotonic() - started
    return CallOutcome(resolved, call.code(), call.details() or "", response, duration, started_at, time.time(),
                       metadata, _pairs(call.trailing_metadata()))
