"""Pairwise scoring of identity clusters against a ground truth."""

from __future__ import annotations

from dlt_sources.sample_world.evaluation import pairwise_score, as_the_records_show


def test_pairwise_precision_and_recall() -> None:
    truth = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B"}
    # one A record split off, one B record merged into A's customer
    predicted = {"a1": "c1", "a2": "c1", "a3": "c2", "b1": "c1", "b2": "c3"}
    score = pairwise_score(truth, predicted)
    assert (score.true_pairs, score.predicted_pairs, score.correct_pairs) == (4, 3, 1)
    assert score.precision == 1 / 3 and score.recall == 1 / 4
    # an unresolved record is its own customer
    assert pairwise_score({"x": "A", "y": "A"}, {"x": None, "y": None}).recall == 0.0


def test_device_only_events_are_scored_as_the_person_their_device_shows() -> None:
    truth = {"e1": "A", "e2": "A", "e3": "A", "e4": "B", "e5": "C", "e6": "B", "e7": "H"}
    identifiers = [
        ("e1", "anonymous_id", "anonymous_id:d1"), ("e1", "user_id", "user_id:u1"),  # d1 identifies A
        ("e2", "anonymous_id", "anonymous_id:d1"),
        ("e7", "anonymous_id", "anonymous_id:d1"),  # H browses logged out on A's tablet
        ("e3", "anonymous_id", "anonymous_id:d2"),                                    # d2 never identifies
        ("e4", "anonymous_id", "anonymous_id:d3"), ("e4", "user_id", "user_id:u2"),  # d3 shared by two users
        ("e5", "anonymous_id", "anonymous_id:d3"), ("e5", "email", "email:c@x.org"),
        ("e6", "anonymous_id", "anonymous_id:d3"),
    ]
    adjusted = as_the_records_show(truth, identifiers)
    assert adjusted == {"e1": "A", "e2": "A", "e7": "A", "e3": "device:anonymous_id:d2", "e4": "B", "e5": "C",
                        "e6": "device:anonymous_id:d3"}
    # records the truth does not name are left out, and the truth itself is not changed
    assert truth["e7"] == "H" and "x" not in as_the_records_show(truth, [("x", "anonymous_id", "anonymous_id:d1")])
