"""Regenerates murron_producer/_proto/ from the published API, schemas/murron/ingest/v1/ingest.proto,
with grpc_tools.protoc (pip install grpcio-tools). Run from anywhere: `python clients/python/gen_proto.py`.
tests/test_proto_stubs.py regenerates into a temporary folder and compares, so the committed stubs
cannot drift from the .proto."""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parents[1] / "schemas"
PROTO = "murron/ingest/v1/ingest.proto"
OUT = HERE / "murron_producer" / "_proto"
FILES = ("ingest_pb2.py", "ingest_pb2_grpc.py")


def generate(out: Path, schemas: Path = SCHEMAS) -> None:
    """Writes ingest_pb2.py and ingest_pb2_grpc.py into `out`, importing each other relatively."""
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "_gen"
    tmp.mkdir(exist_ok=True)
    rc = protoc.main(["grpc_tools.protoc", f"-I{schemas}", f"--python_out={tmp}", f"--grpc_python_out={tmp}", PROTO])
    if rc != 0:
        raise RuntimeError(f"protoc failed with {rc}")
    for name in FILES:
        text = (tmp / "murron/ingest/v1" / name).read_text()
        # protoc writes an absolute import from the .proto's package path; the stubs live in ours.
        text = re.sub(r"^from murron\.ingest\.v1 import ingest_pb2 as", "from . import ingest_pb2 as", text,
                      flags=re.MULTILINE)
        (out / name).write_text(text)
    for p in sorted(tmp.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    tmp.rmdir()


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
