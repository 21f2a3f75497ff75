"""The gRPC transport against an in-process Ingest server that answers as the test scripts it."""

from collections import Counter
from concurrent import futures

import grpc
import pytest

from fakes import FakeRegistry
from murron_producer import KeyRing, Producer
from murron_producer._proto import ingest_pb2, ingest_pb2_grpc


class ScriptedIngest(ingest_pb2_grpc.IngestServicer):
    """Refuses events whose datum holds b"forged", asks once for a retry of those holding b"later",
    fails the first whole call with UNAVAILABLE, and accepts the rest; records every event."""

    def __init__(self):
        self.received = []
        self.calls = 0
        self.retried = set()

    def Publish(self, request, context):
        self.calls += 1
        if self.calls == 1:
            context.set_trailing_metadata((("retry-after-ms", "10"),))
            context.abort(grpc.StatusCode.UNAVAILABLE, "Kafka is not answering")
        response = ingest_pb2.PublishResponse(batch_id=request.batch_id)
        for i, event in enumerate(request.events):
            self.received.append(event)
            if b"forged" in event:
                response.status.append(ingest_pb2.STATUS_REFUSED)
                response.refusals.add(index=i, reason="bad_signature", detail="HMAC mismatch")
            elif b"later" in event and event not in self.retried:
                self.retried.add(event)
                response.status.append(ingest_pb2.STATUS_RETRY)
                response.refusals.add(index=i, reason="rate_limited")
                response.retry_after_ms = 20
            else:
                response.status.append(ingest_pb2.STATUS_ACCEPTED)
        return response


@pytest.fixture
def ingest_server():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = ScriptedIngest()
    ingest_pb2_grpc.add_IngestServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(0)


def test_statuses_become_outcomes_and_retries_resend_the_same_bytes(ingest_server):
    target, servicer = ingest_server
    p = Producer(registry=FakeRegistry(), keys=KeyRing({"default": b"k"}), host="g", pid=5, server=target)
    datums = [b"ok-%d" % i for i in range(30)] + [b"forged", b"later-1", b"later-2"]
    for d in datums:
        p.send("a.one", d)
    report = p.close(20)
    assert report.acked == 32 and report.pending == 0
    [refused] = report.refused
    assert (refused.reason, refused.detail, refused.uid.offset) == ("bad_signature", "HMAC mismatch", 30)
    counts = Counter(servicer.received)
    assert len(counts) == 33, "every resend carried bytes already sent once"
    assert sorted(n for e, n in counts.items() if b"later" in e) == [2, 2]
    assert servicer.calls >= 3, "the call that failed whole was sent again"


def test_an_unreachable_server_fails_at_start():
    from murron_producer import Unreachable

    with pytest.raises(Unreachable):
        from murron_producer.transport_grpc import GrpcTransport

        Producer(registry=FakeRegistry(), keys=KeyRing({"default": b"k"}), host="g", pid=5,
                 transport=GrpcTransport("127.0.0.1:1", connect_timeout=0.5))


class SmallBatchIngest(ingest_pb2_grpc.IngestServicer):
    """Refuses whole calls of more than 3 events, as a server with max_batch_events = 3 does."""

    def __init__(self):
        self.sizes = []

    def Publish(self, request, context):
        self.sizes.append(len(request.events))
        if len(request.events) > 3:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "batch over max_batch_events")
        return ingest_pb2.PublishResponse(batch_id=request.batch_id,
                                          status=[ingest_pb2.STATUS_ACCEPTED] * len(request.events))


def test_a_batch_over_the_server_limit_is_split_until_it_fits():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = SmallBatchIngest()
    ingest_pb2_grpc.add_IngestServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        from murron_producer.transport_grpc import GrpcTransport

        p = Producer(registry=FakeRegistry(), keys=KeyRing({"default": b"k"}), host="g", pid=5,
                     transport=GrpcTransport(f"127.0.0.1:{port}", batch_events=16, linger=0.05))
        for i in range(16):
            p.send("a.one", b"%d" % i)
        report = p.close(20)
    finally:
        server.stop(0)
    assert (report.acked, report.refused, report.pending) == (16, [], 0)
    assert servicer.sizes[0] == 16 and servicer.sizes[-1] <= 3, servicer.sizes


class UntrustingIngest(ingest_pb2_grpc.IngestServicer):
    """Fails every call as grpcio reports a reconnect whose server certificate is not trusted."""

    def Publish(self, request, context):
        context.abort(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: UNKNOWN: "
                      "Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1000007d:SSL routines:"
                      "OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate")


def test_an_untrusted_certificate_on_reconnect_refuses_the_batch_instead_of_retrying_it():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    ingest_pb2_grpc.add_IngestServicer_to_server(UntrustingIngest(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        p = Producer(registry=FakeRegistry(), keys=KeyRing({"default": b"k"}), host="g", pid=5,
                     server=f"127.0.0.1:{port}")
        for i in range(3):
            p.send("a.one", b"%d" % i)
        report = p.close(10)
    finally:
        server.stop(0)
    assert (report.acked, report.pending) == (0, 0)
    assert [r.reason for r in report.refused] == ["tls"] * 3
