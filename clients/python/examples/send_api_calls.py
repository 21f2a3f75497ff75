"""Sends `client.api_call` events with murron-producer, through murron-server (--server) or straight
to Kafka (--brokers with --topic). The payload is Avro (schemas/client/api_call.avsc), written with
fastavro here: the package takes the datum's bytes, whatever wrote them.

    python clients/python/examples/send_api_calls.py --registry http://127.0.0.1:8081 \\
        --server 127.0.0.1:9480 --key-id default --key secret --count 1000

Prints one line: sent, acknowledged, refused (by reason) and pending; exits 1 unless all were
acknowledged.
"""

import argparse
import io
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import fastavro

from murron_producer import KeyRing, Producer, Routes, SchemaRef, random_pid

SCHEMA = Path(__file__).resolve().parents[3] / "schemas/client/api_call.avsc"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registry", required=True)
    ap.add_argument("--server", help="murron-server gRPC address, host:port")
    ap.add_argument("--brokers", help="Kafka bootstrap servers (straight to Kafka)")
    ap.add_argument("--topic", help="the topic, straight to Kafka")
    ap.add_argument("--token", help="bearer token for the server")
    ap.add_argument("--key-id", default="default")
    ap.add_argument("--key", default=os.environ.get("MURRON_KEY"), help="the HMAC secret (or $MURRON_KEY)")
    ap.add_argument("--host", default="py-example")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--schema", type=Path, default=SCHEMA)
    a = ap.parse_args()
    if not a.key or (a.server is None) == (a.brokers is None) or (a.brokers and not a.topic):
        ap.error("give --key, and either --server or --brokers with --topic")

    text = a.schema.read_text()
    schema = fastavro.parse_schema(json.loads(text))
    transport = {"server": a.server, "token": a.token} if a.server else {"kafka": a.brokers, "routes": Routes(default=a.topic)}
    producer = Producer(registry=a.registry, keys=KeyRing({a.key_id: a.key}),
                        key_id=None if a.key_id == "default" else a.key_id, host=a.host, pid=random_pid(), **transport)
    api_call = producer.event_type("client.api_call", SchemaRef.register(text))
    for i in range(a.count):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, {
            "request_id": str(uuid.uuid4()), "workspace_id": f"w{i % 7}", "user_id": f"u{random.randrange(500)}",
            "method": random.choice(["chat.postMessage", "conversations.list", "users.info"]),
            "http_method": "POST", "status": 200 if i % 20 else 500, "latency_ms": random.uniform(1, 200),
            "bytes_in": random.randrange(100, 2000), "bytes_out": random.randrange(100, 20000),
            "region": random.choice(["eu-west-1", "us-east-1"]), "error_code": None if i % 20 else "internal",
            "ts": time.time_ns() // 1000, "attributes": {"client": "python"}})
        producer.send(api_call, buf.getvalue())
    try:
        report = producer.close(60)
    except Exception as e:  # UnsentEvents carries the report
        report = e.report
    reasons = Counter(r.reason for r in report.refused)
    print(f"python producer: sent {a.count} client.api_call events as {producer.host}:{producer.pid}: "
          f"acked {report.acked}, refused {len(report.refused)} {dict(reasons)}, pending {report.pending}")
    return 0 if report.ok and report.acked == a.count else 1


if __name__ == "__main__":
    sys.exit(main())
