"""What a detector sees of one mention for one brand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from earful.records import ScoredMention
from earful.text import terms


# Not frozen: a replay builds one for every mention, and a frozen dataclass sets each field
# through object.__setattr__ (compiled too). Nothing changes one after it is made; alternated
# replays of the bench stream, best of 3 each: 23.0-25.5k mentions/s against 21.7-24.4k, and
# the same alerts byte for byte. The `__init__` is written out: the one `dataclass` generates
# is Python code even in a compiled module (650 ns a call against tens written here).
@dataclass(slots=True, init=False)
class Observation:
    id: str
    brand: str
    at: datetime
    sentiment: str  # negative | neutral | positive
    score: float
    followers: int = 0
    topics: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    text: str = ""
    author: str = ""
    url: str | None = None
    platform: str = ""
    lang: str | None = None

    def __init__(
        self,
        id: str,
        brand: str,
        at: datetime,
        sentiment: str,
        score: float,
        followers: int = 0,
        topics: tuple[str, ...] = (),
        terms: tuple[str, ...] = (),
        text: str = "",
        author: str = "",
        url: str | None = None,
        platform: str = "",
        lang: str | None = None,
    ) -> None:
        self.id = id
        self.brand = brand
        self.at = at
        self.sentiment = sentiment
        self.score = score
        self.followers = followers
        self.topics = topics
        self.terms = terms
        self.text = text
        self.author = author
        self.url = url
        self.platform = platform
        self.lang = lang


def observations_from(mention: ScoredMention) -> list[Observation]:
    """One observation per brand the mention matched (a mention of two brands counts for both)."""
    words = () if mention.text.startswith("RT @") else tuple(terms(mention.text))
    return [
        Observation(
            id=mention.id,
            brand=brand,
            at=mention.created_at,
            sentiment=mention.sentiment.label,
            score=mention.sentiment.score,
            followers=mention.author.followers,
            topics=tuple(mention.topics),
            terms=words,
            text=mention.text[:500],
            author=mention.author.handle,
            url=mention.url,
            platform=mention.platform,
            lang=mention.lang,
        )
        for brand in mention.brands
    ]


def observation_to_dict(obs: Observation) -> dict[str, Any]:
    return {
        "id": obs.id,
        "brand": obs.brand,
        "at": obs.at.isoformat(),
        "s": obs.sentiment,
        "sc": obs.score,
        "f": obs.followers,
        "tp": list(obs.topics),
        "tm": list(obs.terms),
        "x": obs.text,
        "a": obs.author,
        "u": obs.url,
        "p": obs.platform,
        "l": obs.lang,
    }


def observation_from_dict(d: dict[str, Any]) -> Observation:
    return Observation(
        id=str(d["id"]),
        brand=str(d["brand"]),
        at=datetime.fromisoformat(d["at"]),
        sentiment=str(d["s"]),
        score=float(d["sc"]),
        followers=int(d["f"]),
        topics=tuple(d["tp"]),
        terms=tuple(d["tm"]),
        text=str(d["x"]),
        author=str(d["a"]),
        url=d["u"],
        platform=str(d["p"]),
        lang=d["l"],
    )
