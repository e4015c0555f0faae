"""Generate the conformance.v1 Python code (protobuf messages + grpclib stubs)
into the gitignored ``_gen/`` folder from the suite's only copy of the proto.

    python gen.py          # regenerate when missing or older than the proto

Uses grpcio-tools' bundled protoc and grpclib's protoc plugin, run with the
same Python interpreter.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROTO_DIR = REPO / "conformance" / "proto"
PROTO = PROTO_DIR / "conformance_v1.proto"
GEN_DIR = HERE / "_gen"
OUTPUTS = ("conformance_v1_pb2.py", "conformance_v1_grpc.py")


def _up_to_date() -> bool:
    try:
        proto_mtime = PROTO.stat().st_mtime
        return all((GEN_DIR / name).stat().st_mtime >= proto_mtime for name in OUTPUTS)
    except FileNotFoundError:
        return False


def ensure_generated(force: bool = False) -> Path:
    """Generate into _gen/ if needed; returns the folder to put on sys.path."""
    if not force and _up_to_date():
        return GEN_DIR
    from grpc_tools import protoc

    GEN_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grpclib-plugin-") as tmp:
        plugin = Path(tmp) / "protoc-gen-grpclib_python"
        plugin.write_text(
            "#!/bin/sh\n"
            f"exec '{sys.executable}' -c 'from grpclib.plugin.main import main; main()'\n"
        )
        plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
        # generate into a temporary folder and move, so that a concurrent
        # start never sees half-written modules
        out = Path(tempfile.mkdtemp(prefix="gen-", dir=GEN_DIR))
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={out}",
            f"--grpclib_python_out={out}",
            f"--plugin=protoc-gen-grpclib_python={plugin}",
            str(PROTO),
        ]
        rc = protoc.main(args)
        if rc != 0:
            raise SystemExit(f"protoc failed with exit code {rc}")
        for name in OUTPUTS:
            os.replace(out / name, GEN_DIR / name)
        for leftover in out.iterdir():
            leftover.unlink()
        out.rmdir()
    return GEN_DIR


if __name__ == "__main__":
    ensure_generated(force="--force" in sys.argv)
    print(f"generated into {GEN_DIR}", file=sys.stderr)
