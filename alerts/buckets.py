"""Event-time buckets: the panes every window is assembled from.

Observations are summed into fixed buckets (5 minutes by default) per brand. A tumbling or
sliding window of any multiple of the bucket length is the sum of consecutive buckets, so each
observation is aggregated once however many rules look at it. Buckets are plain data and
serialize to JSON-safe dicts (they live in Faust tables).

    time ──►  |b0|b1|b2|b3|b4|b5|b6|
    window 15m, slide 5m:  [b0 b1 b2] [b1 b2 b3] [b2 b3 b4] ...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerts.observation import Observation

#: Posts kept per bucket as evidence (highest reach first).
TOP_POSTS = 5
#: Distinct terms counted per bucket; the rarest are dropped first (space-saving style).
MAX_TERMS = 300


@dataclass
class Post:
    id: str
    followers: int
    sentiment: str
    text: str
    author: str = ""
    url: str | None = None
    at: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "f": self.followers,
            "s": self.sentiment,
            "t": self.text,
            "a": self.author,
            "u": self.url,
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Post:
        return cls(d["id"], d["f"], d["s"], d["t"], d.get("a", ""), d.get("u"), d.get("at", 0))


@dataclass
class Bucket:
    start: int  # epoch seconds, a multiple of the bucket length
    n: int = 0
    neg: int = 0
    neu: int = 0
    pos: int = 0
    score_sum: float = 0.0
    reach: int = 0
    reach_neg: int = 0
    topics: dict[str, int] = field(default_factory=dict)
    topics_neg: dict[str, int] = field(default_factory=dict)
    terms: dict[str, int] = field(default_factory=dict)
    top: list[Post] = field(default_factory=list)
    top_neg: list[Post] = field(default_factory=list)

    def add(self, obs: Observation) -> None:
        self.n += 1
        reach = max(obs.followers, 0)
        self.reach += reach
        if obs.sentiment == "negative":
            self.neg += 1
            self.reach_neg += reach
        elif obs.sentiment == "positive":
            self.pos += 1
        else:
            self.neu += 1
        self.score_sum += obs.score
        for topic in obs.topics:
            self.topics[topic] = self.topics.get(topic, 0) + 1
            if obs.sentiment == "negative":
                self.topics_neg[topic] = self.topics_neg.get(topic, 0) + 1
        for term in obs.terms:
            self.terms[term] = self.terms.get(term, 0) + 1
        if len(self.terms) > MAX_TERMS:
            self._trim_terms()
        post = Post(
            obs.id,
            reach,
            obs.sentiment,
            obs.text[:280],
            obs.author,
            obs.url,
            int(obs.at.timestamp()),
        )
        _keep_top(self.top, post)
        if obs.sentiment == "negative":
            _keep_top(self.top_neg, post)

    def _trim_terms(self) -> None:
        keep = sorted(self.terms.items(), key=lambda kv: -kv[1])[: MAX_TERMS * 3 // 4]
        self.terms = dict(keep)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "n": self.n,
            "neg": self.neg,
            "neu": self.neu,
            "pos": self.pos,
            "ss": round(self.score_sum, 6),
            "r": self.reach,
            "rn": self.reach_neg,
            "tp": self.topics,
            "tpn": self.topics_neg,
            "tm": self.terms,
            "top": [p.to_dict() for p in self.top],
            "topn": [p.to_dict() for p in self.top_neg],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Bucket:
        return cls(
            start=d["start"],
            n=d["n"],
            neg=d["neg"],
            neu=d["neu"],
            pos=d["pos"],
            score_sum=d["ss"],
            reach=d["r"],
            reach_neg=d["rn"],
            topics=dict(d["tp"]),
            topics_neg=dict(d["tpn"]),
            terms=dict(d["tm"]),
            top=[Post.from_dict(p) for p in d["top"]],
            top_neg=[Post.from_dict(p) for p in d["topn"]],
        )


def _keep_top(posts: list[Post], post: Post) -> None:
    if len(posts) < TOP_POSTS:
        posts.append(post)
    elif post.followers > posts[-1].followers:
        posts[-1] = post
    else:
        return
    posts.sort(key=lambda p: -p.followers)


@dataclass
class WindowSummary:
    """The sum of consecutive buckets: what a rule evaluates."""

    start: int
    end: int
    n: int = 0
    neg: int = 0
    neu: int = 0
    pos: int = 0
    score_sum: float = 0.0
    reach: int = 0
    reach_neg: int = 0
    topics: dict[str, int] = field(default_factory=dict)
    topics_neg: dict[str, int] = field(default_factory=dict)
    terms: dict[str, int] = field(default_factory=dict)
    top: list[Post] = field(default_factory=list)
    top_neg: list[Post] = field(default_factory=list)

    @property
    def start_dt(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)

    @property
    def end_dt(self) -> datetime:
        return datetime.fromtimestamp(self.end, UTC)

    @property
    def neg_share(self) -> float:
        return self.neg / self.n if self.n else 0.0

    def top_terms(self, k: int = 10) -> list[tuple[str, int]]:
        return sorted(self.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def summarize(buckets: Iterable[Bucket], start: int, end: int) -> WindowSummary:
    w = WindowSummary(start=start, end=end)
    for b in buckets:
        w.n += b.n
        w.neg += b.neg
        w.neu += b.neu
        w.pos += b.pos
        w.score_sum += b.score_sum
        w.reach += b.reach
        w.reach_neg += b.reach_neg
        for src, dst in ((b.topics, w.topics), (b.topics_neg, w.topics_neg), (b.terms, w.terms)):
            for k, v in src.items():
                dst[k] = dst.get(k, 0) + v
        for p in b.top:
            _keep_top(w.top, p)
        for p in b.top_neg:
            _keep_top(w.top_neg, p)
    return w
