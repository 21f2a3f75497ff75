"""Offsets, the bounded buffer and retries, through the Producer with stand-in transports."""

import threading
import time
from collections import Counter, defaultdict

import pytest
from confluent_kafka import KafkaError

from fakes import AckingTransport, FakeKafka, FakeRegistry, HoldingTransport
from murron_producer import BufferFull, BufferLimits, KeyRing, Producer, Routes, Unrouted, UnsentEvents
from murron_producer.transport_kafka import KafkaTransport, producer_config

KEYS = KeyRing({"default": b"k", "2026-11": b"new"})


def producer(transport, **kw):
    return Producer(registry=FakeRegistry(), keys=KEYS, host="unit", pid=77, transport=transport, **kw)


def test_offsets_are_contiguous_per_type_from_zero_across_threads():
    t = AckingTransport()
    p = producer(t)
    per_thread = 250

    def worker(i):
        for n in range(per_thread):
            p.send("a.one" if (i + n) % 3 else "b.two", b"datum")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    report = p.close(10)
    assert (report.acked, report.refused, report.pending) == (4 * per_thread, [], 0)
    offsets = defaultdict(list)
    for rec in t.sent_all:
        offsets[rec.uid.type].append(rec.uid.offset)
        assert rec.key == b"unit:77"
    assert set(offsets) == {"a.one", "b.two"}
    for name, got in offsets.items():
        assert got == list(range(len(got))), f"{name}: handed over in offset order, each offset once"
    assert sum(map(len, offsets.values())) == 4 * per_thread
    assert p.next_offsets() == {k: len(v) for k, v in offsets.items()}


def test_start_offsets_continue_a_stream():
    t = AckingTransport()
    p = producer(t, start_offsets={"a.one": 41})
    assert [p.send("a.one", b"x").offset for _ in range(3)] == [41, 42, 43]
    assert p.send("b.two", b"x").offset == 0
    p.close(5)


def test_a_full_buffer_pushes_back_without_burning_an_offset():
    t = HoldingTransport()
    p = producer(t, buffer=BufferLimits(max_events=3, max_bytes=1 << 20))
    assert [p.send("a.one", b"x").offset for _ in range(3)] == [0, 1, 2]
    with pytest.raises(BufferFull):
        p.try_send("a.one", b"x")
    started = time.monotonic()
    with pytest.raises(BufferFull):
        p.send("a.one", b"x", timeout=0.2)
    assert time.monotonic() - started >= 0.2
    threading.Timer(0.2, t.ack_all).start()
    assert p.send("a.one", b"x", timeout=5).offset == 3, "refused sends took no offset"
    t.ack_all()
    assert p.close(5).acked == 4


def test_the_byte_budget_counts_encoded_sizes():
    t = HoldingTransport()
    p = producer(t, buffer=BufferLimits(max_events=1000, max_bytes=4000))
    p.send("a.one", b"x" * 1500)
    p.send("a.one", b"x" * 1500)
    with pytest.raises(BufferFull):
        p.try_send("a.one", b"x" * 1500)
    t.ack_all()
    p.close(5)


def test_close_with_events_still_pending_says_so():
    p = producer(HoldingTransport())
    p.send("a.one", b"x")
    with pytest.raises(UnsentEvents) as e:
        p.close(0.2)
    assert e.value.report.pending == 1


def test_the_key_id_is_written_as_the_murron_key_tag():
    t = AckingTransport()
    p = producer(t, key_id="2026-11")
    p.send("a.one", b"x", tags={"region": "eu"})
    p.close(5)
    assert b"\x14murron.key\x0e2026-11" in t.sent_all[0].value


def kafka_producer(outcome, routes=Routes({"a.*": "topic-a"}, default="topic-default")):
    FakeKafka.instances.clear()
    transport = KafkaTransport("broker:9092", producer_factory=lambda conf: FakeKafka(conf, outcome))
    return Producer(registry=FakeRegistry(), keys=KEYS, host="unit", pid=77, transport=transport, routes=routes)


def test_retriable_delivery_failures_resend_the_same_bytes():
    timed_out = KafkaError(KafkaError._MSG_TIMED_OUT)
    transport_error = KafkaError(KafkaError._TRANSPORT)
    p = kafka_producer(lambda value, attempt: [timed_out, transport_error, None][min(attempt, 2)])
    for i in range(20):
        p.send("a.one" if i % 2 else "z.other", f"datum-{i}".encode())
    report = p.close(20)
    assert (report.acked, report.refused, report.pending) == (20, [], 0)
    (kafka,) = FakeKafka.instances
    sent = Counter(kafka.produced)
    assert len(sent) == 20, "every resend is a copy of the first send: same topic, key and value"
    assert set(sent.values()) == {3}
    assert {topic for topic, _, _ in sent} == {"topic-a", "topic-default"}
    assert {key for _, key, _ in sent} == {b"unit:77"}


def test_permanent_delivery_failures_are_refused_not_retried():
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    p = kafka_producer(lambda value, attempt: too_large if b"big" in value else None)
    p.send("a.one", b"fine")
    p.send("a.one", b"big")
    report = p.close(10)
    assert report.acked == 1 and report.pending == 0
    [refused] = report.refused
    assert (refused.reason, refused.uid.offset, refused.uid.type) == ("kafka_refused", 1, "a.one")
    assert "MSG_SIZE_TOO_LARGE" in refused.detail
    assert len(FakeKafka.instances[0].produced) == 2


def test_a_fatal_error_replaces_the_producer_and_resends_what_is_pending():
    fatal = KafkaError(KafkaError._FATAL, "fenced", fatal=True)
    seen = set()

    def outcome(value, attempt):
        # The first producer fails fatally once; its replacement delivers everything.
        if len(FakeKafka.instances) == 1 and not seen:
            seen.add(value)
            return fatal
        return None

    p = kafka_producer(outcome)
    for i in range(5):
        p.send("a.one", bytes([i]))
    report = p.close(10)
    assert (report.acked, report.pending) == (5, 0)
    assert len(FakeKafka.instances) == 2
    second = {value for _, _, value in FakeKafka.instances[1].produced}
    assert seen <= second, "the failed event was sent again, the same bytes"


def test_an_unrouted_type_is_refused_before_it_takes_an_offset():
    p = kafka_producer(lambda v, a: None, routes=Routes({"a.*": "topic-a"}))
    with pytest.raises(Unrouted):
        p.send("b.one", b"x")
    assert p.next_offsets() == {}
    p.close(5)


def test_kafka_settings_are_idempotent_with_acks_from_all_and_the_caller_wins():
    conf = producer_config({"bootstrap.servers": "b:9092", "linger.ms": 50}, 64 << 20)
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"
    assert conf["linger.ms"] == 50
    assert conf["queue.buffering.max.kbytes"] == 65536
