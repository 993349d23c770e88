"""Share of voice, emerging terms and topics, trends with reach, and care response times,
against the real OpenSearch with indexed fixtures whose answers are worked out by hand."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from earful.records import Author, Engagement, ScoredMention, Sentiment
from earful.settings import SearchSettings, Settings
from streams.api.app import create_api
from streams.indexing import mention_document
from streams.search import open_store
from streams.search.base import Doc

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 10, tzinfo=UTC)
END = T0 + timedelta(days=12)  # the emerging background (7d + 24h) starts after the SOV days


def m(i, brands, label, text, at, topics=(), followers=100, likes=0):
    return ScoredMention(
        id=f"ins-{i}",
        platform="twitter",
        created_at=at,
        author=Author(id=f"u{i}", handle=f"user{i}", followers=followers),
        text=text,
        lang="en",
        brands=tuple(brands),
        engagement=Engagement(likes=likes, shares=1),
        sentiment=Sentiment(
            label=label, score={"negative": -0.8, "neutral": 0, "positive": 0.8}[label]
        ),
        topics=tuple(topics),
    )


S, N, B = "Skyway Air", "Northwind Airlines", "Bluejay Air"
DAY1 = T0 + timedelta(hours=12)
# Share of voice (day 1): Skyway 6 mentions (4 neg, 1 neu, 1 pos), Northwind 3 (all pos, one of
# them also names Skyway), Bluejay 1 (neutral). Voices: 6 + 3 + 1 = 10.
SOV = [
    m(1, [S], "negative", "lost my bag again", DAY1),
    m(2, [S], "negative", "delayed three hours", DAY1, followers=1000, likes=10),
    m(3, [S], "negative", "rude crew", DAY1),
    m(4, [S, N], "negative", "skyway worse than northwind", DAY1),
    m(5, [S], "neutral", "boarding now", DAY1 + timedelta(days=1)),
    m(6, [S], "positive", "nice lounge", DAY1 + timedelta(days=1)),
    m(7, [N], "positive", "great flight", DAY1),
    m(8, [N], "positive", "smooth landing", DAY1 + timedelta(days=1)),
    m(9, [B], "neutral", "bluejay gate changed", DAY1),
]
# Emerging (for Skyway, window 24h before END, background the 7 days before that): "wifi"
# appears 5 times in the window and never before; "baggage" as often before as now.
BG = [
    m(
        100 + i,
        [S],
        "negative",
        f"baggage belt slow {i}",
        END - timedelta(days=3, hours=i),
        ["baggage"],
    )
    for i in range(8)
]
FG = [
    m(
        200 + i,
        [S],
        "negative",
        f"inflight wifi broken again {i}",
        END - timedelta(hours=i + 1),
        ["wifi"],
        followers=10 * i,
    )
    for i in range(5)
]
FG += [m(300, [S], "negative", "baggage belt slow today", END - timedelta(hours=2), ["baggage"])]


@pytest.fixture()
def api(real_services, run_id, monkeypatch):
    search = SearchSettings(url=real_services["search"], index_prefix=run_id)

    async def seed():
        store = await open_store(search)
        await store.ensure_setup()
        docs = [Doc(x.id, mention_document(x, indexed_at=END), x.created_at) for x in SOV + BG + FG]
        assert (await store.bulk_index("mentions", docs)).failures == []
        care = [
            {
                "at": (T0 + timedelta(hours=h)).isoformat(),
                "scope": "all",
                "key": "all",
                "received": 10 * h,
                "replied": 9 * h,
                "response_rate": 0.9,
                "first_response_median_s": 600.0 * h,
                "first_response_p90_s": 1200.0 * h,
                "backlog": h,
            }
            for h in (1, 2, 3)
        ]
        result = await store.bulk_index(
            "care-metrics",
            [Doc(f"c{i}", c, datetime.fromisoformat(c["at"])) for i, c in enumerate(care)],
        )
        assert result.failures == []
        await store.refresh("mentions")
        await store.refresh("care-metrics")
        await store.close()

    asyncio.run(seed())
    for key in [k for k in __import__("os").environ if k.startswith("EARFUL_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("EARFUL_SEARCH__URL", real_services["search"])
    monkeypatch.setenv("EARFUL_SEARCH__INDEX_PREFIX", run_id)
    with TestClient(create_api(Settings())) as client:
        yield client


def test_share_of_voice_by_hand(api):
    day = {"start": T0.isoformat(), "end": (T0 + timedelta(days=3)).isoformat()}
    sov = api.get("/api/share-of-voice", params={"project": "skyway", **day}).json()
    rows = {r["brand"]: r for r in sov["brands"]}
    assert sov["total"] == 10
    assert [rows[b]["mentions"] for b in (S, N, B)] == [6, 3, 1]
    assert [rows[b]["share"] for b in (S, N, B)] == [0.6, 0.3, 0.1]
    assert rows[S]["net_sentiment"] == pytest.approx((1 - 4) / 6)
    # Northwind: 7 and 8 positive, and the shared negative #4 counts for it too
    assert rows[N]["net_sentiment"] == pytest.approx((2 - 1) / 3)
    assert rows[B]["net_sentiment"] == 0.0
    assert rows[S]["reach"] == 100 * 5 + 1000
    assert rows[S]["engagement"] == 6 * 1 + 10  # shares 1 each, likes 10 on one
    by_day = {p["at"][:10]: p for p in sov["series"]}
    assert by_day["2026-11-10"]["mentions"] == {S: 4, N: 2, B: 1}
    assert by_day["2026-11-11"]["share"] == {S: 2 / 3, N: 1 / 3, B: 0.0}
    assert api.get("/api/share-of-voice", params={"project": "nope"}).status_code == 404


def test_emerging_terms_and_topics(api):
    found = api.get(
        "/api/trends/emerging", params={"brand": S, "end": END.isoformat(), "window": "24h"}
    ).json()
    assert found["mentions"] == 6 and found["background_mentions"] == 8
    [wifi] = [t for t in found["topics"] if t["topic"] == "wifi"]
    # 5 of 6 now, 0 of 8 before (+1 pseudo-mention): (5/6) / (1/9) = 7.5
    assert wifi["mentions"] == 5 and wifi["background"] == 0 and wifi["lift"] == 7.5
    assert all(t["topic"] != "baggage" for t in found["topics"])  # 1/6 vs 9/9: falling
    assert len(wifi["examples"]) == 2 and wifi["examples"][0]["reach"] == 40
    terms = [t["term"] for t in found["terms"]]
    assert "wifi" in terms and "baggage" not in terms
    # with no end given, "now" is the newest mention
    assert (
        api.get("/api/trends/emerging", params={"brand": S})
        .json()["end"]
        .startswith((END - timedelta(hours=1)).isoformat()[:13])
    )
    assert api.get("/api/trends/emerging", params={"window": "soon"}).status_code == 422


def test_trends_carry_reach_and_engagement(api):
    trend = api.get(
        "/api/trends",
        params={
            "brand": S,
            "interval": "1d",
            "start": T0.isoformat(),
            "end": (T0 + timedelta(days=2)).isoformat(),
        },
    ).json()
    assert [p["count"] for p in trend["points"]] == [4, 2]
    assert trend["points"][0]["reach"] == 1300 and trend["points"][0]["engagement"] == 14


def test_care_response_times_with_their_sla(api):
    care = api.get("/api/care/response-times").json()
    assert [p["first_response_median_s"] for p in care["points"]] == [600.0, 1200.0, 1800.0]
    assert [p["backlog"] for p in care["points"]] == [1, 2, 3]
    assert {s["metric"] for s in care["sla"]} >= {"first_response"}


def test_projects_and_the_data_span(api):
    body = api.get("/api/projects").json()
    assert body["projects"][0]["brands"] == [S, N, B]
    assert body["data"]["first"].startswith("2026-11-10T12:00")


def test_topics_over_time(api):
    body = api.get(
        "/api/topics",
        params={"brand": S, "interval": "1d", "start": (END - timedelta(days=4)).isoformat()},
    ).json()
    assert body["topics"] == ["baggage", "wifi"]  # 9 and 5 mentions
    total = {t: sum(p["topics"][t] for p in body["series"]) for t in body["topics"]}
    assert total == {"baggage": 9, "wifi": 5}


def test_rollups_answer_what_the_mentions_answer(api, real_services, run_id):
    from streams.rollups import rebuild

    async def build() -> int:
        store = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
        try:
            await store.refresh("mentions")
            written = await rebuild(store, T0, END)
            await store.refresh("rollups")
            return written
        finally:
            await store.close()

    assert asyncio.run(build()) > 0
    span = {"start": T0.isoformat(), "end": END.isoformat()}
    for path, params in (
        ("/api/trends", {"brand": S, "interval": "1d", **span}),
        ("/api/trends", {"interval": "6h", **span}),
        ("/api/trends", {"brand": S, "topic": "wifi", "interval": "1h", **span}),
        ("/api/share-of-voice", {"project": "skyway", "interval": "1d", **span}),
    ):
        fast = api.get(path, params={**params, "source": "rollups"}).json()
        slow = api.get(path, params={**params, "source": "mentions"}).json()
        assert fast.pop("source") == "rollups" and slow.pop("source") == "mentions"
        for point in fast.get("points", []) + slow.get("points", []):
            point["avg_score"] = round(point["avg_score"], 6) if point["avg_score"] else None
        assert fast == slow, path
    # `auto` reads the mention index for spans under 90 days (fresh, and as fast at 1M
    # mentions: see make bench), the rollups for longer ones when they cover the range
    assert api.get("/api/trends", params={"brand": S, **span}).json()["source"] == "mentions"
    year = {"start": (END - timedelta(days=365)).isoformat(), "end": END.isoformat()}
    assert api.get("/api/trends", params={"brand": S, **year}).json()["source"] == "rollups"
