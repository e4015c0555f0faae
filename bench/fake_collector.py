"""The suite's fake collector alone in a process, set up as a conformance session sets it up.

Same retention rules (the contract's span names kept whole, the default memory cap), the same
credential listener, OTLP/gRPC on the given port. Prints ``ready`` once it listens; when its
stdin closes it prints one JSON line (exports kept, spans dropped by the cap) and exits. Used by
``ingest.py``; a bench helper, not a test.

    .venv/bin/python bench/fake_collector.py --port 4317
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conformance.contract import KEEP_WHOLE  # noqa: E402
from conformance.redaction import Redactor  # noqa: E402
from fixtures.collector import FakeCollector  # noqa: E402
from fixtures.retention import DEFAULT_CAP_BYTES  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--memory-mib", type=float, default=DEFAULT_CAP_BYTES / 2**20,
                        help="the retention cap, as --collector-memory (default %(default)g)")
    args = parser.parse_args()
    collector = FakeCollector(grpc_port=args.port, memory_cap_bytes=int(args.memory_mib * 2**20),
                              keep_whole=KEEP_WHOLE)
    collector.metadata_listener = Redactor().learn
    collector.start()
    print("ready", flush=True)
    sys.stdin.read()
    dropped = collector.dropped()
    print(json.dumps({"exports_kept": len(collector.exports()), "spans_dropped": dropped.items["traces"]}),
          flush=True)
    collector.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
