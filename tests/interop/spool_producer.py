"""A producer process for test_producer_python_spool.py: sends `billing.member_active` events straight
to Kafka with a spool until its stream's next offset is COUNT, printing each offset as it is sent;
started again on the same spool, it resends what the spool holds and finishes the stream.

usage: spool_producer.py REGISTRY_URL BROKERS TOPIC SPOOL_DIR COUNT
"""

import sys
import time

from murron_producer import KeyRing, Producer, Routes, SchemaRef, SpoolConfig

from test_producer_python import BILLING, KEYS, ROOT, billing_datum


def main() -> None:
    registry, brokers, topic, spool, count = sys.argv[1:6]
    producer = Producer(registry=registry, keys=KeyRing(KEYS), key_id="2026-11", host="py-spool", kafka=brokers,
                        routes=Routes(default=topic), spool=SpoolConfig(spool))
    print(f"identity {producer.host} {producer.pid}", flush=True)
    billing = producer.event_type(BILLING, SchemaRef.register((ROOT / "schemas/billing/member_active.avsc").read_text()))
    while (n := producer.next_offsets().get(BILLING, 0)) < int(count):
        ticket = producer.send(billing, billing_datum(n))
        print(f"sent {ticket.offset}", flush=True)
        time.sleep(0.001)  # a stream that lasts a few seconds, for the kill to land in the middle
    report = producer.close(60)
    print(f"done acked={report.acked} refused={len(report.refused)} pending={report.pending}", flush=True)


if __name__ == "__main__":
    main()
