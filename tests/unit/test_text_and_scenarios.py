from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from earful.text import hashtags, terms
from tooling.scenarios import BrandProfile, Incident, TextPools, generate

POOLS = TextPools(
    by_label={
        "negative": ["{brand} my flight was cancelled", "{brand} {name} lost my bag"],
        "neutral": ["{brand} what time is boarding"],
        "positive": ["{brand} great crew, thanks"],
    }
)
T0 = datetime(2026, 11, 16, tzinfo=UTC)


def test_terms_skip_links_handles_and_stopwords():
    assert terms("RT @x: The #Outage is AWFUL https://t.co/a and the app crashed") == [
        "#outage",
        "awful",
        "app",
        "crashed",
    ]
    assert hashtags("#Outage #cd #outage #x") == ["outage", "cd"]


def _terms_every_pattern_run(text: str, max_terms: int = 40) -> list[str]:
    """`terms` as it was before each pattern was gated on its required character."""
    from earful.text import _HANDLE, _HASHTAG, _URL, _WORD, STOPWORDS

    cleaned = _HANDLE.sub(" ", _URL.sub(" ", text))
    out: dict[str, None] = {f"#{t}": None for t in hashtags(cleaned)}
    for word in _WORD.findall(_HASHTAG.sub(" ", cleaned)):
        w = word.lower().strip("'’-")
        if len(w) >= 3 and w not in STOPWORDS:
            out[w] = None
        if len(out) >= max_terms:
            break
    return list(out)


#: Pieces that make or nearly make each pattern match (links, handles, hashtags).
PIECES = [
    "WWW.x.io/a",
    "www.",
    "Www.b.c",
    "http://t.co/a",
    "HTTPS://X.Y",
    "ſ://q",
    "@bob",
    "a@b.c",
    "@@x",
    "#Tag",
    "#tag",
    "x#y",
    "##cc",
    "#_q",
    "#9",
    "Ｗｗｗ.x",
    "flight",
    "the",
    "can't",
    "world's",
    "crew-",
    "ÄÖÜ",
    "wifi",
    ":",
    "/",
    "w",
]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=8), max_size=30).map(" ".join))
def test_terms_are_the_same_whichever_patterns_are_skipped(text):
    assert terms(text) == _terms_every_pattern_run(text)


def test_generator_is_deterministic_ordered_and_seasonal():
    brand = BrandProfile("Acme", "acme", per_day=2000)
    a = list(generate([brand], POOLS, start=T0, days=2, seed=3))
    b = list(generate([brand], POOLS, start=T0, days=2, seed=3))
    assert a == b
    times = [m["created_at"] for m in a]
    assert times == sorted(times)
    assert 1500 < len(a) / 2 < 2500
    by_hour = Counter(datetime.fromisoformat(t.replace("Z", "+00:00")).hour for t in times)
    assert by_hour[18] > 3 * by_hour[3]  # evenings busy, nights quiet
    assert all("@acme" in m["text"] and "{" not in m["text"] for m in a)


def test_incidents_change_volume_mix_and_gaps_silence():
    brand = BrandProfile("Acme", "acme", per_day=2000, dispersion=1e6)
    crisis = Incident(
        "crisis",
        "Acme",
        T0 + timedelta(hours=14),
        timedelta(hours=1),
        volume_factor=4,
        mix=(0.9, 0.05, 0.05),
    )
    gap = Incident("gap", "Acme", T0 + timedelta(hours=20), timedelta(hours=2))
    ms = list(
        generate(
            [brand],
            POOLS,
            start=T0,
            days=1,
            incidents=[crisis, gap],
            seed=1,
            with_sentiment=True,
            retweet_share=0,
        )
    )

    def window(h0: float, h1: float) -> list[dict]:
        lo, hi = T0 + timedelta(hours=h0), T0 + timedelta(hours=h1)
        return [
            m
            for m in ms
            if lo <= datetime.fromisoformat(m["created_at"].replace("Z", "+00:00")) < hi
        ]

    inside, before = window(14, 15), window(13, 14)
    assert len(inside) > 2.5 * len(before)
    assert sum(m["sentiment"]["label"] == "negative" for m in inside) / len(inside) > 0.7
    assert window(20, 22) == []
