"""Held buckets keep only the evidence posts a later window can still show."""

import random
from datetime import UTC, datetime, timedelta

from alerts.buckets import TOP_POSTS, Bucket, drop_outranked_posts
from alerts.observation import Observation
from alerts.windows import summarize

T0 = datetime(2026, 11, 16, tzinfo=UTC)


def _bucket(rng: random.Random, start: int, size: int) -> Bucket:
    bucket = Bucket(start=start)
    for i in range(size):
        # few distinct follower counts, so ties (an older post wins them) are common
        bucket.add(
            Observation(
                id=f"m{start}-{i}",
                brand="acme",
                at=T0 + timedelta(seconds=start + i),
                sentiment=rng.choice(["negative", "neutral", "positive"]),
                score=0.0,
                followers=rng.choice([0, 5, 5, 40, 300, 300, 2_000, rng.randrange(10_000)]),
                text=f"post {start}-{i}",
            )
        )
    return bucket


def _tops(buckets: dict[int, Bucket], end: int) -> dict[int, tuple[list[str], list[str]]]:
    """Every window ending at `end` (what rules and evidence ask for): its two top lists."""
    out = {}
    for since in buckets:
        window = summarize((b for t, b in buckets.items() if t >= since), since, end)
        out[since] = ([p.id for p in window.top], [p.id for p in window.top_neg])
    return out


def test_every_window_ending_now_shows_the_same_posts_after_pruning() -> None:
    for seed in range(30):
        rng = random.Random(seed)
        full: dict[int, Bucket] = {}
        pruned: dict[int, Bucket] = {}
        for k in range(40):
            start = k * 300
            size = rng.choice([0, 1, 3, 8, 20])
            full[start] = _bucket(random.Random(seed * 1000 + k), start, size)
            pruned[start] = _bucket(random.Random(seed * 1000 + k), start, size)
            for held in (full, pruned):  # the engine holds a horizon of 36 buckets
                for old in [t for t in held if t < start - 35 * 300]:
                    del held[old]
            drop_outranked_posts(pruned.values())  # after every close, as the engine does
            assert _tops(pruned, start + 300) == _tops(full, start + 300), (seed, k)


def test_a_busy_brand_keeps_a_fraction_of_its_posts() -> None:
    rng = random.Random(7)
    buckets = [_bucket(rng, k * 300, 25) for k in range(36)]
    before = sum(len(b.top) + len(b.top_neg) for b in buckets)
    drop_outranked_posts(buckets)
    after = sum(len(b.top) + len(b.top_neg) for b in buckets)
    assert before > 300
    assert after < before / 3
    assert len(buckets[-1].top) == TOP_POSTS  # the newest bucket is never outranked
