"""Routing by event type to Kafka topics, the same table the server uses (docs/INGESTION.md,
"Routing"; wire/src/route.rs): an exact name first, then `*` patterns with the longest literal prefix
first (ties: the longer literal text, then the order they were added), then the default.

The UID of an event includes its topic, so a type must be routed the same way on every path; the
producer resolves a type's topic once, and every retry of an event goes to that same topic.
"""

from __future__ import annotations

from typing import Iterable, Mapping


class RouteError(ValueError):
    """Two routes claim one name, one pattern, or the default; or a name is empty."""


class Pattern:
    """Literal text with `*` standing for any run of characters (dots included)."""

    def __init__(self, text: str):
        if "*" not in text:
            raise ValueError(f"{text!r} holds no '*': it is an exact name")
        self.text = text
        self.pieces = text.split("*")

    @property
    def literal_prefix(self) -> str:
        return self.pieces[0]

    def literal_len(self) -> int:
        return sum(len(p) for p in self.pieces)

    def matches(self, name: str) -> bool:
        """The first piece is a prefix, the last a suffix, the middle ones appear in order between
        them (leftmost match each, which is exact for `*` globs)."""
        first, *middle, last = self.pieces
        if not name.startswith(first):
            return False
        tail = name[len(first):]
        for piece in middle:
            at = tail.find(piece)
            if at < 0:
                return False
            tail = tail[at + len(piece):]
        return len(tail) >= len(last) and tail.endswith(last)

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


class Routes:
    """Type -> topic. Built from a mapping of names and `*` patterns to topics, and a default topic
    for the types nothing else claims (none: such types are unrouted)."""

    def __init__(self, table: Mapping[str, str] | Iterable[tuple[str, str]] = (), default: str | None = None):
        self._exact: dict[str, str] = {}
        self._patterns: list[tuple[Pattern, str]] = []
        self.default = default
        items = table.items() if isinstance(table, Mapping) else table
        for name, topic in items:
            self.add(name, topic)

    def add(self, name_or_pattern: str, topic: str) -> None:
        """Routes a name or `*` pattern to `topic`; the same entry twice for one topic is harmless."""
        if not name_or_pattern:
            raise RouteError("an empty type name is not a route")
        if "*" not in name_or_pattern:
            first = self._exact.setdefault(name_or_pattern, topic)
            if first != topic:
                raise RouteError(f"type {name_or_pattern!r} is claimed by topics {first!r} and {topic!r}")
            return
        for p, first in self._patterns:
            if p.text == name_or_pattern:
                if first != topic:
                    raise RouteError(f"pattern {name_or_pattern!r} is claimed by topics {first!r} and {topic!r}")
                return
        self._patterns.append((Pattern(name_or_pattern), topic))
        # Stable: equal keys keep the order they were added in.
        self._patterns.sort(key=lambda e: (-len(e[0].literal_prefix), -e[0].literal_len()))

    def route(self, event_type: str) -> str | None:
        """The topic of `event_type`, or None when nothing claims it and there is no default."""
        topic = self._exact.get(event_type)
        if topic is not None:
            return topic
        for p, topic in self._patterns:
            if p.matches(event_type):
                return topic
        return self.default
