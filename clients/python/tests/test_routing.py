"""The type-to-topic table: the same cases as the Rust table (wire/src/route.rs), so that both
producers and the server route a type identically."""

import pytest

from murron_producer import RouteError, Routes
from murron_producer.routes import Pattern


def test_exact_names_beat_patterns_and_longer_prefixes_beat_shorter():
    r = Routes([("billing.*", "t1"), ("billing.member_active", "t0"), ("*", "t2"), ("billing.invoice.*", "t3"),
                ("*.audit", "t4"), ("client.*.v2", "t5")], default="t9")
    for name, want in [("billing.member_active", "t0"), ("billing.refund", "t1"), ("billing.invoice.paid", "t3"),
                       ("billing.invoice", "t1"), ("client.api.v2", "t5"), ("client.api.v3", "t2"),
                       # "*" and "*.audit" share the empty prefix: the longer literal is tried first.
                       ("x.audit", "t4")]:
        assert r.route(name) == want, name


def test_the_default_takes_what_nothing_claims_and_without_one_the_type_is_unrouted():
    with_default = Routes({"a.b": "t0", "c.*": "t1"}, default="t2")
    without = Routes({"a.b": "t0", "c.*": "t1"})
    for name, a, b in [("a.b", "t0", "t0"), ("a.bc", "t2", None), ("c.", "t1", "t1"), ("c", "t2", None), ("", "t2", None)]:
        assert with_default.route(name) == a, name
        assert without.route(name) == b, name


@pytest.mark.parametrize("pattern,name,matches", [
    ("billing.*", "billing.x", True), ("billing.*", "billing.", True), ("billing.*", "billing", False),
    ("billing.*", "xbilling.y", False), ("*.v2", "api.v2", True), ("*.v2", "api.v20", False),
    ("a*b*c", "abc", True), ("a*b*c", "axxbyyc", True), ("a*b*c", "acb", False), ("a*a", "a", False),
    ("a*a", "aa", True), ("*", "", True), ("**", "anything", True),
])
def test_patterns_match_as_globs(pattern, name, matches):
    assert Pattern(pattern).matches(name) is matches


def test_two_topics_claiming_one_name_or_pattern_are_refused():
    r = Routes()
    r.add("a.b", "t0")
    r.add("a.b", "t0")
    with pytest.raises(RouteError):
        r.add("a.b", "t1")
    r.add("a.*", "t0")
    with pytest.raises(RouteError):
        r.add("a.*", "t1")
    with pytest.raises(RouteError):
        r.add("", "t0")
