"""The offline replay's input and its batch settings (alerts/replay.py)."""

import gc

from alerts.replay import ReplayStats, batch_collection, parse_lines

GOOD = (
    b'{"id": "m1", "created_at": "2026-10-05T00:01:57Z", "text": "late again #wifidown", '
    b'"brands": ["Acme", "Beta"], "sentiment": {"label": "negative", "score": -0.8}, '
    b'"author": {"handle": "ann", "followers": 12}, "topics": ["delays"]}'
)


def test_lines_become_one_observation_per_brand_and_bad_ones_are_reported_not_fatal():
    stats = ReplayStats()
    lines = [
        GOOD,
        b"",
        b"{not json",
        b'{"id": "m2"}',
        b'{"id": "m3", "created_at": "2026-10-05T00:02:00", '
        b'"brands": ["Acme"], "sentiment": "neutral"}',
    ]
    out = list(parse_lines(lines, stats))
    assert [[o.brand for o in batch] for batch in out] == [["Acme", "Beta"]]
    first = out[0][0]
    assert (first.id, first.sentiment, first.score, first.followers) == ("m1", "negative", -0.8, 12)
    assert first.terms == ("#wifidown", "late") and first.topics == ("delays",)
    assert stats.mentions == 1
    # line numbers count the blank line; a naive timestamp is refused, not guessed
    assert [m.split(":")[0] for m in stats.malformed] == ["line 3", "line 4", "line 5"]
    assert "time zone" in stats.malformed[-1]


def test_a_batch_replay_sets_the_collector_for_itself_and_restores_it():
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with batch_collection(threshold=12_345):
        assert gc.get_threshold()[0] == 12_345
        assert gc.get_freeze_count() >= frozen
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
