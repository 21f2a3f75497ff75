"""The on-disk spool: recovery, torn writes, corruption, the lock, offsets across restarts, and
segment retirement; through the Spool itself and through the Producer."""

import json
import logging
import os
import time

import pytest

from fakes import AckingTransport, FakeKafka, FakeRegistry, HoldingTransport
from murron_producer import BufferLimits, KeyRing, Producer, Routes, SpoolConfig, SpoolLocked, Uid
from murron_producer import envelope
from murron_producer.spool import MAGIC, Spool, SpooledRecord
from murron_producer.transport_kafka import KafkaTransport

KEYS = KeyRing({"default": b"k"})


def records(event_type, offsets, host="web-1", pid=1, topic="events"):
    out = []
    for o in offsets:
        value = envelope.encode(1, KEYS, timestamp=1, host=host, event_type=event_type, offset=o, pid=pid,
                                message=envelope.frame(2, b"datum"))
        out.append(SpooledRecord(topic, f"{host}:{pid}".encode(), value, Uid(host, pid, event_type, o)))
    return out


def config(d, **kw):
    return SpoolConfig(d, fsync="never", **kw)


def abandon(spool):
    """What a killed process leaves: the files as they are, and the lock gone with its descriptor."""
    if spool._open_fd is not None:
        os.close(spool._open_fd)
    os.close(spool._lock_fd)
    spool._lock_fd = spool._open_fd = None


def crash(producer):
    """Stops a producer the way SIGKILL would: no flush, no spool release."""
    producer._stop.set()
    producer._pump.join()
    abandon(producer._spool)


def segment(d, n=0):
    return d / f"{n:020}.seg"


def test_unacknowledged_records_come_back_with_their_bytes_and_offsets_continue(tmp_path):
    sent = records("a", range(5))
    spool, recovered = Spool.open(config(tmp_path), "web-1", 1)
    assert recovered.records == []
    spool.append(0, sent[:3])
    spool.append(3, sent[3:])
    spool.resolve([0, 1])
    abandon(spool)
    spool, recovered = Spool.open(config(tmp_path), "other-host", 99)
    # Resolved records are still in the segment (it is not drained), so all five come back.
    assert recovered.records == sent
    assert (recovered.host, recovered.pid) == ("web-1", 1)
    assert spool.next_offsets("web-1", 1) == {"a": 5}


def test_a_torn_tail_is_truncated_and_the_records_before_it_survive(tmp_path):
    sent = records("a", range(3))
    spool, _ = Spool.open(config(tmp_path / "orig"), "web-1", 1)
    spool.append(0, sent)
    abandon(spool)
    data = segment(tmp_path / "orig").read_bytes()
    last_len = 8 + 1 + 2 + len(b"events") + 2 + len(sent[2].key) + len(sent[2].value)
    # Every cut inside the last record loses that record only.
    for cut in [1, 7, 8, 9, 20, last_len - 1]:
        d = tmp_path / f"cut-{cut}"
        d.mkdir()
        segment(d).write_bytes(data[:len(data) - cut])
        spool, recovered = Spool.open(config(d), "web-1", 1)
        assert recovered.records == sent[:2], f"cut {cut}"
        assert recovered.corrupt == 0
        assert segment(d).stat().st_size == len(data) - last_len, "truncated where the torn record began"
        assert spool.next_offsets("web-1", 1) == {"a": 2}
        abandon(spool)


def test_a_torn_header_of_a_new_segment_is_not_corruption(tmp_path):
    segment(tmp_path).write_bytes(MAGIC[:3])
    spool, recovered = Spool.open(config(tmp_path), "web-1", 1)
    assert (recovered.records, recovered.corrupt) == ([], 0)
    assert not segment(tmp_path).exists(), "an empty segment is removed"
    abandon(spool)


def test_a_bad_crc_inside_the_log_skips_that_record_only(tmp_path, caplog):
    sent = records("a", range(3))
    spool, _ = Spool.open(config(tmp_path), "web-1", 1)
    spool.append(0, sent)
    abandon(spool)
    data = bytearray(segment(tmp_path).read_bytes())
    first_end = len(MAGIC) + 8 + 1 + 2 + len(b"events") + 2 + len(sent[0].key) + len(sent[0].value)
    data[first_end - 1] ^= 0xFF  # the last byte of the first record's value
    segment(tmp_path).write_bytes(data)
    with caplog.at_level(logging.ERROR, logger="murron_producer"):
        spool, recovered = Spool.open(config(tmp_path), "web-1", 1)
    assert recovered.records == sent[1:]
    assert recovered.corrupt == 1
    assert any(r.levelno == logging.ERROR and "skipped" in r.getMessage() for r in caplog.records)
    assert spool.next_offsets("web-1", 1) == {"a": 3}


def test_a_bad_record_in_an_older_segment_is_skipped_and_the_newer_segment_read(tmp_path):
    sent = records("a", range(4))
    spool, _ = Spool.open(config(tmp_path, segment_bytes=1), "web-1", 1)
    for i, r in enumerate(sent):
        spool.append(i, [r])
    abandon(spool)
    data = segment(tmp_path, 1).read_bytes()
    segment(tmp_path, 1).write_bytes(data[:-3])  # torn, but not the newest: corrupt
    _, recovered = Spool.open(config(tmp_path), "web-1", 1)
    assert recovered.records == [sent[0], sent[2], sent[3]]
    assert recovered.corrupt == 1


def test_a_second_producer_cannot_open_a_spool_in_use(tmp_path):
    spool, _ = Spool.open(config(tmp_path), "web-1", 1)
    with pytest.raises(SpoolLocked, match="in use by another producer"):
        Spool.open(config(tmp_path), "web-1", 1)
    p = Producer(registry=FakeRegistry(), keys=KEYS, transport=AckingTransport(), spool=config(tmp_path / "p"))
    with pytest.raises(SpoolLocked):
        Producer(registry=FakeRegistry(), keys=KEYS, transport=AckingTransport(), spool=config(tmp_path / "p"))
    p.close(5)
    Producer(registry=FakeRegistry(), keys=KEYS, transport=AckingTransport(), spool=config(tmp_path / "p")).close(5)
    spool.release()
    Spool.open(config(tmp_path), "web-1", 1)


def test_drained_segments_are_deleted_and_their_offsets_kept_in_streams(tmp_path):
    sent = records("a", range(4))
    spool, _ = Spool.open(config(tmp_path, segment_bytes=1), "web-1", 1)
    for i, r in enumerate(sent):
        spool.append(i, [r])
    assert spool.segments == 4
    spool.resolve([0, 1, 2])
    assert spool.segments == 1
    assert sorted(p.name for p in tmp_path.glob("*.seg")) == [segment(tmp_path, 3).name]
    streams = json.loads((tmp_path / "streams").read_text())
    assert streams["streams"] == [{"type": "a", "host": "web-1", "pid": 1, "next": 4}], \
        "streams was written before the segments went"
    abandon(spool)
    spool, recovered = Spool.open(config(tmp_path), "web-1", 1)
    assert recovered.records == sent[3:]
    spool.resolve([0])
    spool.release()  # retires the drained segment
    assert list(tmp_path.glob("*.seg")) == []
    spool, recovered = Spool.open(config(tmp_path), "web-1", 1)
    assert recovered.records == []
    assert spool.next_offsets("web-1", 1) == {"a": 4}, "only streams remembers the stream now"


def test_a_producer_restarted_on_its_spool_resends_first_then_continues_its_streams(tmp_path):
    first = HoldingTransport()
    p = Producer(registry=FakeRegistry(), keys=KEYS, host="web-1", pid=1, transport=first,
                 spool=SpoolConfig(tmp_path, fsync="always"))
    for i in range(5):
        p.send("a.one", b"datum-%d" % i)
    p.send("b.two", b"other")
    for rec in first.sent[:2]:
        first.ledger.acked(rec.seq)
    crash(p)

    second = HoldingTransport()
    # A container restart: pid 1 again (or any pid): the spool's identity wins.
    q = Producer(registry=FakeRegistry(), keys=KEYS, host="elsewhere", pid=1234, transport=second,
                 spool=SpoolConfig(tmp_path))
    assert (q.host, q.pid) == ("web-1", 1)
    resent = [r.value for r in second.sent]
    assert resent == [r.value for r in first.sent], "every spooled record again, the same bytes, in order"
    assert q.next_offsets() == {"a.one": 5, "b.two": 1}
    assert q.send("a.one", b"new").offset == 5
    assert second.sent[-1].uid == Uid("web-1", 1, "a.one", 5)
    assert [r.seq for r in second.sent] == list(range(7))
    second.ack_all()
    report = q.close(5)
    assert (report.acked, report.pending) == (7, 0)
    assert list(tmp_path.glob("*.seg")) == [], "a fully acknowledged spool keeps no segment"

    third = HoldingTransport()
    r = Producer(registry=FakeRegistry(), keys=KEYS, transport=third, spool=SpoolConfig(tmp_path))
    assert third.sent == []
    assert r.send("a.one", b"x").offset == 6
    assert r.send("b.two", b"x").offset == 1
    third.ack_all()
    r.close(5)


def test_close_with_a_spool_keeps_what_is_pending_for_the_next_start(tmp_path):
    p = Producer(registry=FakeRegistry(), keys=KEYS, host="web-1", pid=3, transport=HoldingTransport(),
                 spool=config(tmp_path))
    p.send("a.one", b"x")
    report = p.close(0.1)  # no UnsentEvents: the event is in the spool
    assert report.pending == 1
    t = AckingTransport()
    q = Producer(registry=FakeRegistry(), keys=KEYS, transport=t, spool=config(tmp_path))
    assert q.close(5).acked == 1
    assert [r.uid for r in t.sent_all] == [Uid("web-1", 3, "a.one", 0)]


def test_segments_roll_and_drain_while_the_producer_runs(tmp_path):
    t = AckingTransport()
    p = Producer(registry=FakeRegistry(), keys=KEYS, transport=t,
                 spool=SpoolConfig(tmp_path, fsync="interval", interval=0.05, segment_bytes=2000))
    for i in range(200):
        p.send("a.one", b"datum-%d" % i)
    p.flush(5)
    # Acknowledged segments go as soon as they are drained; the open one once idle (1 s).
    deadline = time.monotonic() + 5
    while list(tmp_path.glob("*.seg")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob("*.seg")) == []
    assert json.loads((tmp_path / "streams").read_text())["streams"][0]["next"] == 200
    p.close(5)


def test_records_spooled_for_the_server_are_refused_straight_to_kafka_not_given_a_topic(tmp_path):
    p = Producer(registry=FakeRegistry(), keys=KEYS, host="web-1", pid=1, transport=HoldingTransport(),
                 spool=config(tmp_path))
    p.send("a.one", b"x")
    crash(p)
    FakeKafka.instances.clear()
    kafka = KafkaTransport("broker:9092", producer_factory=lambda conf: FakeKafka(conf, lambda v, a: None))
    q = Producer(registry=FakeRegistry(), keys=KEYS, transport=kafka, routes=Routes(default="events"),
                 spool=config(tmp_path))
    assert q.send("a.one", b"y").offset == 1
    report = q.close(5)
    assert report.acked == 1
    assert [(r.reason, r.uid) for r in report.refused] == [("unrouted_type", Uid("web-1", 1, "a.one", 0))]
    assert [topic for topic, _, _ in FakeKafka.instances[0].produced] == ["events"]
    assert list(tmp_path.glob("*.seg")) == []


def test_a_bad_identity_is_refused_before_a_new_spool_records_it(tmp_path):
    with pytest.raises(ValueError):
        Producer(registry=FakeRegistry(), keys=KEYS, host="bad\0host", pid=1, transport=AckingTransport(),
                 spool=config(tmp_path))
    assert not (tmp_path / "streams").exists()
    p = Producer(registry=FakeRegistry(), keys=KEYS, host="web-1", pid=2, transport=AckingTransport(),
                 spool=config(tmp_path))
    assert (p.host, p.pid) == ("web-1", 2)
    p.close(5)


def test_a_producer_that_fails_to_start_releases_its_spool(tmp_path):
    class Unreachable(AckingTransport):
        def start(self, ledger):
            raise OSError("no route to Kafka")

    with pytest.raises(OSError, match="no route"):
        Producer(registry=FakeRegistry(), keys=KEYS, transport=Unreachable(), spool=config(tmp_path))
    Producer(registry=FakeRegistry(), keys=KEYS, transport=AckingTransport(), spool=config(tmp_path)).close(5)


def test_a_send_the_spool_cannot_record_fails_without_taking_an_offset_or_room(tmp_path):
    t = HoldingTransport()
    p = Producer(registry=FakeRegistry(), keys=KEYS, transport=t, spool=config(tmp_path),
                 buffer=BufferLimits(max_events=1))
    real = p._spool.append

    def full(*args):
        raise OSError(28, "No space left on device")

    p._spool.append = full
    with pytest.raises(OSError, match="No space"):
        p.send("a.one", b"x")
    assert t.sent == [] and p.next_offsets() == {"a.one": 0}
    p._spool.append = real
    assert p.try_send("a.one", b"x").offset == 0, "the failed send gave its room back"
    t.ack_all()
    p.close(5)
