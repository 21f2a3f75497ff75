"""Stand-ins for the registry, librdkafka and a transport, for unit tests without services."""

import threading
from types import SimpleNamespace


class FakeRegistry:
    """Answers every subject with a fixed id; counts the calls (the package must cache)."""

    def __init__(self, ids=None):
        self.ids = ids or {}
        self.calls = 0

    def _answer(self, subject):
        self.calls += 1
        return SimpleNamespace(schema_id=self.ids.get(subject, 1 if subject == "murron.Envelope" else 9))

    def lookup_schema(self, subject, schema):
        return self._answer(subject)

    def get_latest_version(self, subject):
        return self._answer(subject)

    def register_schema(self, subject, schema):
        return self._answer(subject).schema_id


class HoldingTransport:
    """Keeps every record it is given; the test decides when each is acknowledged."""

    routes_itself = True

    def __init__(self):
        self.sent = []
        self.lock = threading.Lock()

    def start(self, ledger):
        self.ledger = ledger

    def send(self, rec):
        with self.lock:
            self.sent.append(rec)

    def poll(self, timeout):
        threading.Event().wait(timeout)

    def close(self, timeout):
        pass

    def ack_all(self):
        with self.lock:
            for rec in self.sent:
                self.ledger.acked(rec.seq)


class AckingTransport(HoldingTransport):
    """Acknowledges everything on its next poll."""

    def poll(self, timeout):
        with self.lock:
            sent, self.sent_all = self.sent, getattr(self, "sent_all", []) + self.sent
            self.sent = []
        for rec in sent:
            self.ledger.acked(rec.seq)
        threading.Event().wait(0.005)


class FakeKafka:
    """librdkafka's Producer surface the transport uses. `outcome(value, attempt)` returns the
    KafkaError of a delivery, or None for success."""

    instances = []

    def __init__(self, conf, outcome):
        self.conf = conf
        self.outcome = outcome
        self.queue = []
        self.produced = []  # (topic, key, value), every attempt
        self.attempts = {}
        self.lock = threading.Lock()
        FakeKafka.instances.append(self)

    def list_topics(self, timeout):
        return {}

    def produce(self, topic, value, key, on_delivery):
        with self.lock:
            self.produced.append((topic, key, value))
            self.queue.append((value, on_delivery))

    def poll(self, timeout):
        with self.lock:
            queue, self.queue = self.queue, []
        for value, cb in queue:
            attempt = self.attempts.get(value, 0)
            self.attempts[value] = attempt + 1
            cb(self.outcome(value, attempt), None)
        threading.Event().wait(0.002)

    def flush(self, timeout):
        return 0
