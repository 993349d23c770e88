"""Term extraction shared by detection (emerging terms) and indexing (hashtags)."""

from __future__ import annotations

import re
from pathlib import Path

_HASHTAG = re.compile(r"(?<![\w#])#(\w{2,60})", re.UNICODE)
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_WORD = re.compile(r"[^\W\d_][\w'’-]{2,40}", re.UNICODE)

#: Function words of the languages we listen in most; terms are about content, not grammar.
STOPWORDS = frozenset(
    word
    for line in Path(__file__).with_name("stopwords.txt").read_text(encoding="utf-8").splitlines()
    if not line.startswith("#")
    for word in line.split()
)


def hashtags(text: str) -> list[str]:
    return list(dict.fromkeys(tag.lower() for tag in _HASHTAG.findall(text)))


def terms(text: str, max_terms: int = 40) -> list[str]:
    """Distinct lowercase content words and hashtags (as `#tag`), without links or handles."""
    cleaned = _HANDLE.sub(" ", _URL.sub(" ", text))
    out: dict[str, None] = {f"#{t}": None for t in hashtags(cleaned)}
    for word in _WORD.findall(_HASHTAG.sub(" ", cleaned)):
        w = word.lower().strip("'’-")
        if len(w) >= 3 and w not in STOPWORDS:
            out[w] = None
        if len(out) >= max_terms:
            break
    return list(out)
