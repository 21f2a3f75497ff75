"""The Python producer package with its spool against the real stack: a producer process sending
straight to Kafka is SIGKILLed mid-stream (Kafka up), started again on the same spool, and finishes
the stream; the sink writes every offset 0..N-1 exactly once to Parquet (the resent copies of events
Kafka already had are dropped by UID)."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from test_envelope_interop import create_topic
from test_producer_python import BILLING, sink_to_parquet

N = 20_000 if os.environ.get("MURRON_FAULT_SUITE") == "full" else 3_000
SCRIPT = Path(__file__).with_name("spool_producer.py")


def records_in(kafka: str, topic: str, partitions: int) -> int:
    """How many records the topic holds (copies included)."""
    c = Consumer({"bootstrap.servers": kafka, "group.id": "py-spool-count"})
    try:
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions))
    finally:
        c.close()


def run_producer(registry_url, kafka, topic, spool, kill_at=None):
    """Runs spool_producer.py; with `kill_at`, SIGKILLs it once it has sent that offset. Returns its
    identity (host, pid), the offsets it sent, and its last line."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SCRIPT.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(SCRIPT), registry_url, kafka, topic, str(spool), str(N)],
                            stdout=subprocess.PIPE, text=True, env=env)
    identity, sent, last = None, [], ""
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        last = line.strip()
        if last.startswith("identity "):
            _, host, pid = last.split()
            identity = (host, int(pid))
        elif last.startswith("sent "):
            sent.append(int(last.split()[1]))
            if kill_at is not None and sent[-1] >= kill_at:
                proc.send_signal(signal.SIGKILL)
                break
        assert time.monotonic() < deadline, "the producer took too long"
    proc.stdout.close()
    code = proc.wait(60)
    assert code == (-signal.SIGKILL if kill_at is not None else 0), f"producer exited with {code}: {last}"
    return identity, sent, last


def test_a_producer_killed_mid_stream_finishes_it_from_its_spool_exactly_once(registry_url, kafka, capsys):
    topic = create_topic(kafka, 2)
    spool = Path(tempfile.mkdtemp(prefix="murron-py-spool-"))
    first_id, first, _ = run_producer(registry_url, kafka, topic, spool, kill_at=N // 3)
    assert first == list(range(len(first))) and len(first) > N // 3 - 1

    second_id, second, last = run_producer(registry_url, kafka, topic, spool)
    assert second_id == first_id, "the restarted process continues the spool's stream identity"
    assert second == list(range(len(first), N)), "the offsets continue where the killed process stopped"
    assert last.startswith("done ") and last.endswith("refused=0 pending=0"), last
    assert list(spool.glob("*.seg")) == [], "a fully acknowledged spool keeps no segment"

    in_kafka = records_in(kafka, topic, 2)
    assert in_kafka >= N
    host, pid = first_id
    expected = {(topic, host, pid, o, BILLING) for o in range(N)}
    written = sink_to_parquet(registry_url, [topic], expected)
    counts = Counter(written)
    lost = len(expected - set(counts))
    duplicated = sum(n - 1 for n in counts.values()) + len(set(counts) - expected)
    with capsys.disabled():
        print(f"RELIABILITY | python producer SIGKILL with a spool (Parquet) | 1 | {N} | {lost} | {duplicated} | "
              f"killed after offset {len(first) - 1}; the restart resent the spool ({in_kafka - N} copies in "
              f"Kafka) and sent {len(second)} more",
              file=sys.stderr)
    assert (lost, duplicated) == (0, 0), f"{lost} lost, {duplicated} duplicated"
