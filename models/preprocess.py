"""Normalise social text before it reaches an encoder.

Handles and links carry no sentiment but take tokens and vary endlessly, so they are replaced by
placeholders (as the TweetEval/cardiffnlp models are trained). Hashtags keep their words; emoji
and punctuation stay because they carry much of the sentiment. HTML entities from scrapers are
unescaped, and whitespace is collapsed.
"""

from __future__ import annotations

import html
import re

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,50}")
_RETWEET = re.compile(r"^\s*RT\s+@user:?\s*", re.IGNORECASE)
_HASHTAG = re.compile(r"#(\w+)")
_SPACE = re.compile(r"\s+")
#: Mojibake left by a lossy export of emoji in some corpora ("_�_").
_MOJIBAKE = re.compile(r"_?\ufffd+_?")


def normalize(text: str) -> str:
    text = html.unescape(text)
    text = _URL.sub("http", text)
    text = _HANDLE.sub("@user", text)
    text = _RETWEET.sub("", text)
    text = _HASHTAG.sub(r"#\1", text)
    text = _MOJIBAKE.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


_DEDUP_STRIP = re.compile(r"[^\w]+", re.UNICODE)


def dedup_key(text: str) -> str:
    """Key under which retweets, copy-paste campaigns and trivially edited copies collide."""
    without_links = _URL.sub(" ", html.unescape(text))
    return _DEDUP_STRIP.sub(" ", normalize(without_links).lower().replace("@user", "")).strip()
