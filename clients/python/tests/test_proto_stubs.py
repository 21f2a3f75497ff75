"""The committed gRPC stubs are what grpc_tools.protoc makes of the published .proto today."""

import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def test_committed_stubs_match_a_fresh_generation(tmp_path):
    spec = importlib.util.spec_from_file_location("gen_proto", HERE / "gen_proto.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.generate(tmp_path)
    for name in gen.FILES:
        fresh = (tmp_path / name).read_text()
        committed = (HERE / "murron_producer/_proto" / name).read_text()
        assert fresh == committed, f"{name} is stale: run python clients/python/gen_proto.py"
