"""Writes the reference datums of the payload tests (tests.rs, `python_datums_*`) with Python's
protobuf and confluent-kafka's message-index framing, so that the Rust reader is checked against
another implementation's writer. Run with the project's venv (grpc_tools, protobuf, confluent-kafka):

    python vectors.py
"""
import os
import subprocess
import sys
import tempfile

import grpc_tools
from confluent_kafka.schema_registry.common.serde import SchemaId
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")


def classes():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", f"-I{HERE}", f"-I{INCLUDE}",
                               f"--descriptor_set_out={out}", "--include_imports", "everything.proto",
                               "legacy.proto"], cwd=HERE)
        fds = descriptor_pb2.FileDescriptorSet.FromString(open(out, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
            for name in ["t.Everything", "t.Everything.Inner", "t.Node", "p2.Legacy"]}


def framed(indexes, message):
    return SchemaId("PROTOBUF", 1, None, indexes).id_to_bytes()[5:] + message.SerializeToString()


def main():
    c = classes()
    e = c["t.Everything"]()
    s = e.scalars
    s.i32, s.i64, s.u32, s.u64 = -5, -(2**40), 2**32 - 1, 2**64 - 1
    s.s32, s.s64, s.f32, s.f64 = -7, -(2**62), 4000000000, 2**63 + 5
    s.sf32, s.sf64, s.fl, s.db = -9, -(2**50), 1.5, -2.25
    s.b, s.s, s.by, s.color, s.opt = True, "héllo \"q\"\n", b"\x00\xff", 5, 0
    e.ints.extend([1, -1, 300])
    e.strings.extend(["a", ""])
    e.items.add(i32=1)
    e.items.add()
    e.by_name["x"] = -1
    e.by_id[-3] = "minus three"
    e.by_flag[True] = 1
    e.by_number[2**64 - 1].s = "max"
    e.number = -42
    e.ts.FromNanoseconds(1764115200123456789)
    e.dur.FromNanoseconds(-1500000000)
    e.w_i32.value = 0
    e.w_str.value = "w"
    e.w_u64.value = 2**64 - 1
    e.w_bool.value = True
    e.w_bytes.value = b"\x01"
    e.st.update({"a": 1.5, "b": [True, None, "s"], "c": {"d": "e"}})
    e.val.string_value = "v"
    e.lv.extend([1, "two"])
    e.any.type_url = "type.googleapis.com/t.Node"
    e.any.value = c["t.Node"](value=3).SerializeToString()
    e.empty.SetInParent()
    e.tree.value = 1
    e.tree.next.value = 2
    e.tree.children.add(value=3)
    e.stamps.add(seconds=0, nanos=1)
    e.colors.extend([0, 5, 1])
    e.json_map["k"].null_value = 0
    e.inner.note = "n"
    print("everything", framed([0], e).hex())
    inner = c["t.Everything.Inner"](note="nested")
    nested = [m.name for m in c["t.Everything"].DESCRIPTOR.nested_types]
    print("inner", framed([0, nested.index("Inner")], inner).hex())
    node = c["t.Node"](value=9)
    print("node", framed([1], node).hex())
    legacy = c["p2.Legacy"](id=1)
    legacy.item.add(label="l")
    legacy.packed.extend([-1, 2])
    legacy.extra.x = 3
    print("legacy", framed([0], legacy).hex())


main()
