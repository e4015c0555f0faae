"""Fuzzes the collector's decode and record path: what a target's export body goes through.

The first byte of an input picks the signal, the transport (OTLP/gRPC, OTLP/HTTP protobuf or
JSON) and whether the body is gzipped; the rest is the body. For every input the collector
must keep the export (decoded, or recorded as undecodable with a reason), never raise, and
every view a check may read of it must be readable.

    .venv/bin/python tests/fuzz/decode_fuzz.py -max_total_time=60 /tmp/corpus tests/fuzz/corpus

(libFuzzer flags; new inputs go to the first directory, so give it a scratch copy.) Without
atheris, ``one_input`` still replays the committed corpus: tests/test_fuzz.py does both.
"""
from __future__ import annotations

import sys
import zlib

SIGNALS = ("traces", "logs", "metrics")
TRANSPORTS = ("grpc", "http/protobuf", "http/json")
# A bomb need not be 64 MiB to prove the bound holds: the fuzzer's limit is smaller.
DECOMPRESSED_LIMIT = 1 << 20


def mode(first: int) -> tuple[str, str, bool]:
    return SIGNALS[first % 3], TRANSPORTS[(first // 3) % 3], bool((first // 9) % 2)


def one_input(data: bytes) -> None:
    from google.protobuf.message import DecodeError

    from otelconform_fixtures.collector import FakeCollector, decode_request, decompress_bounded
    from otelconform_fixtures.otlp_json import OtlpJsonError
    from otelconform_fixtures.retention import flatten

    if not data:
        return
    signal, transport, gzipped = mode(data[0])
    body = data[1:]
    if gzipped:
        try:
            body = decompress_bounded(body, DECOMPRESSED_LIMIT)
        except (OverflowError, zlib.error):
            return  # refused before decoding, as both receivers do
    try:
        decode_request(signal, transport, body)
    except (DecodeError, OtlpJsonError):
        pass  # what an undecodable body may raise; anything else escapes and is a finding
    collector = FakeCollector()
    error = collector.record(signal, transport, body, (("content-type", "application/x-protobuf"),))
    (export,) = collector.exports()  # kept, decodable or not: nothing is silently lost
    if error is not None:
        if not isinstance(error, str) or export.error != error or export.request is not None:
            raise AssertionError(f"undecodable export recorded inconsistently: {error!r}")
        return
    spans, logs, metrics = flatten(export)
    for view in spans:
        view.attributes, view.summary(), view.trace_id, view.resource
    for view in logs:
        view.attributes, view.body, view.trace_id
    for view in metrics:
        view.name, view.resource
    export.request.SerializeToString()  # a capture writes it back


def main() -> None:
    import atheris

    with atheris.instrument_imports():  # the Python code on the path; protobuf's own decoder is C
        import otelconform_fixtures.collector  # noqa: F401
        import otelconform_fixtures.otlp  # noqa: F401
        import otelconform_fixtures.otlp_json  # noqa: F401
        import otelconform_fixtures.retention  # noqa: F401
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
