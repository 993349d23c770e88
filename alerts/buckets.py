"""Event-time buckets: the panes every window is assembled from.

Observations are summed into fixed buckets (5 minutes by default) per series. A tumbling or
sliding window of any multiple of the bucket length is the sum of consecutive buckets, so each
observation is aggregated once however many rules look at it. Buckets are plain data and
serialize to JSON-safe dicts (they live in Faust tables).

    time ──►  |b0|b1|b2|b3|b4|b5|b6|
    window 15m, slide 5m:  [b0 b1 b2] [b1 b2 b3] [b2 b3 b4] ...
    a data gap:             [b3 is gap] -> summed over b2, b4 only, and counted in `gaps`
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from math import log1p  # a global: compiled, `math.log1p` is an attribute lookup each call
from typing import Any

from alerts.observation import Observation

#: Posts kept per bucket as evidence (highest reach first).
TOP_POSTS = 5
#: Distinct terms counted per bucket; the rarest are dropped first when it overflows.
MAX_TERMS = 400


# The `__init__`s of the classes below are written out: the one `dataclass` generates is
# Python code even in a compiled module, and a replay makes these for every mention and bucket.
@dataclass(init=False)
class Post:
    id: str
    followers: int
    sentiment: str
    text: str
    author: str = ""
    url: str | None = None
    at: int = 0

    def __init__(
        self,
        id: str,
        followers: int,
        sentiment: str,
        text: str,
        author: str = "",
        url: str | None = None,
        at: int = 0,
    ) -> None:
        self.id = id
        self.followers = followers
        self.sentiment = sentiment
        self.text = text
        self.author = author
        self.url = url
        self.at = at

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


@dataclass(init=False)
class Counts:
    """What buckets and windows have in common: additive counts and evidence."""

    n: int = 0
    neg: int = 0
    neu: int = 0
    pos: int = 0
    score_sum: float = 0.0
    reach: int = 0
    reach_neg: int = 0
    #: Reach weights w = log(1 + followers): sum, sum over negatives, sum of squares.
    w: float = 0.0
    wn: float = 0.0
    w2: float = 0.0
    topics: dict[str, int] = field(default_factory=dict)
    topics_neg: dict[str, int] = field(default_factory=dict)
    terms: dict[str, int] = field(default_factory=dict)
    top: list[Post] = field(default_factory=list)
    top_neg: list[Post] = field(default_factory=list)

    def __init__(
        self,
        n: int = 0,
        neg: int = 0,
        neu: int = 0,
        pos: int = 0,
        score_sum: float = 0.0,
        reach: int = 0,
        reach_neg: int = 0,
        w: float = 0.0,
        wn: float = 0.0,
        w2: float = 0.0,
        topics: dict[str, int] | None = None,
        topics_neg: dict[str, int] | None = None,
        terms: dict[str, int] | None = None,
        top: list[Post] | None = None,
        top_neg: list[Post] | None = None,
    ) -> None:
        self.n = n
        self.neg = neg
        self.neu = neu
        self.pos = pos
        self.score_sum = score_sum
        self.reach = reach
        self.reach_neg = reach_neg
        self.w = w
        self.wn = wn
        self.w2 = w2
        self.topics = {} if topics is None else topics
        self.topics_neg = {} if topics_neg is None else topics_neg
        self.terms = {} if terms is None else terms
        self.top = [] if top is None else top
        self.top_neg = [] if top_neg is None else top_neg

    @property
    def neg_share(self) -> float:
        return self.neg / self.n if self.n else 0.0

    def top_terms(self, k: int = 10) -> list[tuple[str, int]]:
        return sorted(self.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


@dataclass(init=False)
class Bucket(Counts):
    start: int = 0  # epoch seconds, a multiple of the bucket length
    #: Nothing arrived from anywhere in the stream: unknown, not zero.
    gap: bool = False

    def __init__(
        self,
        n: int = 0,
        neg: int = 0,
        neu: int = 0,
        pos: int = 0,
        score_sum: float = 0.0,
        reach: int = 0,
        reach_neg: int = 0,
        w: float = 0.0,
        wn: float = 0.0,
        w2: float = 0.0,
        topics: dict[str, int] | None = None,
        topics_neg: dict[str, int] | None = None,
        terms: dict[str, int] | None = None,
        top: list[Post] | None = None,
        top_neg: list[Post] | None = None,
        start: int = 0,
        gap: bool = False,
    ) -> None:
        super().__init__(
            n, neg, neu, pos, score_sum, reach, reach_neg, w, wn, w2,
            topics, topics_neg, terms, top, top_neg,
        )  # fmt: skip
        self.start = start
        self.gap = gap

    def add(self, obs: Observation) -> None:
        self.n += 1
        reach = obs.followers if obs.followers > 0 else 0
        weight = log1p(reach)
        self.reach += reach
        self.w += weight
        self.w2 += weight * weight
        negative = obs.sentiment == "negative"
        if negative:
            self.neg += 1
            self.reach_neg += reach
            self.wn += weight
        elif obs.sentiment == "positive":
            self.pos += 1
        else:
            self.neu += 1
        self.score_sum += obs.score
        topics = self.topics
        for topic in obs.topics:
            topics[topic] = topics.get(topic, 0) + 1
            if negative:
                self.topics_neg[topic] = self.topics_neg.get(topic, 0) + 1
        terms = self.terms
        for term in obs.terms:
            terms[term] = terms.get(term, 0) + 1
        if len(terms) > MAX_TERMS:
            self._trim_terms()
        # Build evidence posts only for mentions that make a top list (most do not).
        if len(self.top) < TOP_POSTS or reach > self.top[-1].followers:
            keep_top(self.top, _post(obs, reach))
        if negative and (len(self.top_neg) < TOP_POSTS or reach > self.top_neg[-1].followers):
            keep_top(self.top_neg, _post(obs, reach))

    def _trim_terms(self) -> None:
        keep = sorted(self.terms.items(), key=lambda kv: -kv[1])[: MAX_TERMS * 3 // 4]
        self.terms = dict(keep)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "gap": self.gap,
            "n": self.n,
            "neg": self.neg,
            "neu": self.neu,
            "pos": self.pos,
            "ss": round(self.score_sum, 6),
            "r": self.reach,
            "rn": self.reach_neg,
            "w": round(self.w, 6),
            "wn": round(self.wn, 6),
            "w2": round(self.w2, 6),
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
            gap=d.get("gap", False),
            n=d["n"],
            neg=d["neg"],
            neu=d["neu"],
            pos=d["pos"],
            score_sum=d["ss"],
            reach=d["r"],
            reach_neg=d["rn"],
            w=d.get("w", 0.0),
            wn=d.get("wn", 0.0),
            w2=d.get("w2", 0.0),
            topics=dict(d["tp"]),
            topics_neg=dict(d["tpn"]),
            terms=dict(d["tm"]),
            top=[Post.from_dict(p) for p in d["top"]],
            top_neg=[Post.from_dict(p) for p in d["topn"]],
        )


def _post(obs: Observation, reach: int) -> Post:
    return Post(
        obs.id, reach, obs.sentiment, obs.text[:280], obs.author, obs.url, int(obs.at.timestamp())
    )


def keep_top(posts: list[Post], post: Post) -> None:
    if len(posts) < TOP_POSTS:
        posts.append(post)
    elif post.followers > posts[-1].followers:
        posts[-1] = post
    else:
        return
    posts.sort(key=lambda p: -p.followers)


def drop_outranked_posts(closed: Iterable[Bucket]) -> None:
    """Drop the evidence posts of held buckets that no later window can show.

    Every window a rule or an alert's evidence asks for ends at the newest closed bucket, so a
    post outranked by `TOP_POSTS` posts in its own or later buckets never makes a window's top
    list again: on merging (`keep_top`, oldest bucket first) a post ranks below every post with
    more followers, and below the posts ahead of it in its own bucket's list; an older post wins
    a tie. What is left is the same top list for every such window, at a fraction of the size:
    a 3-hour window of a busy brand holds ~20 of its 180 posts (about a third of its state).
    `closed` is in time order."""
    buckets = list(closed)
    for negative in (False, True):  # `top`, then `top_neg` (not by name: compiled, a
        # getattr by name is a lookup, and this runs at every bucket close)
        later: list[int] = []  # the TOP_POSTS highest follower counts in later buckets
        for bucket in reversed(buckets):
            posts = bucket.top_neg if negative else bucket.top
            if not posts:
                continue
            kept: list[Post] = []
            for ahead, p in enumerate(posts):
                above = ahead  # posts ahead of it here, then those with more followers later
                for f in later:  # highest first: stop at the first that does not outrank it
                    if f <= p.followers:
                        break
                    above += 1
                if above < TOP_POSTS:
                    kept.append(p)
            if len(kept) < len(posts):
                if negative:
                    bucket.top_neg = kept
                else:
                    bucket.top = kept
            if kept:
                later = sorted([*later, *[p.followers for p in kept]], reverse=True)[:TOP_POSTS]
