"""Term extraction shared by detection (emerging terms) and indexing (hashtags)."""

from __future__ import annotations

import re

_HASHTAG = re.compile(r"(?<![\w#])#(\w{2,60})", re.UNICODE)
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_WORD = re.compile(r"[^\W\d_][\w'’-]{2,40}", re.UNICODE)

#: Function words of the languages we listen in most; terms are about content, not grammar.
STOPWORDS = frozenset("""
a an and are as at be been but by can could did do does doing for from get got had has have
he her here him his how i i'm im if in into is it it's its just me more my no not now of on
one or our out so some than that the their them then there these they this to too up us was
we were what when where which who why will with would you your yours all any about after again
also am back been before being both cant can't dont don't each even ever every few first going
good great like make many much must need never new off only other over own really same see
should still such take thank thanks through today very want way well while yes yet rt amp via
""".split()) | frozenset("""
der die das und ist nicht ein eine zu mit auf für von den dem des sie es ich wir ihr
je in na za se da so ne pa tudi ali kot po od do
och att det som en är på med för inte av till har jag de vi
el la los las de que y en un una por con para es no se lo al
le la les des et est une pour pas sur que qui dans au du
""".split())


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
