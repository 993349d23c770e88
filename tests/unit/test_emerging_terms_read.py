"""What the product view's "Emerging now" lists from a significant_text answer."""

from datetime import UTC, datetime

from streams.api.insights import emerging_body, read_emerging


def _answer(terms: list[tuple[str, int, int]], sampled: int = 2000) -> dict:
    return {
        "aggregations": {
            "foreground": {
                "doc_count": 2535,
                "topics": {"buckets": []},
                "sample": {
                    "doc_count": sampled,
                    "terms": {
                        "buckets": [
                            {"key": k, "doc_count": n, "bg_count": bg, "score": 1.0}
                            for k, n, bg in terms
                        ]
                    },
                },
            },
            "background": {"doc_count": 2559, "topics": {"buckets": []}},
        }
    }


def test_a_common_word_that_barely_rose_is_not_emerging() -> None:
    found = read_emerging(
        _answer([("cancelled", 248, 117), ("flight", 474, 503), ("mechanical", 16, 2)])
    )
    # shares of the 2,000 sampled mentions against the 2,559 before (+1 pseudo-mention):
    # cancelled 12.4% vs 4.6% (x2.69), flight 23.7% vs 19.7% (x1.2), mechanical 0.8% vs 0.1%
    assert [t["term"] for t in found["terms"]] == ["cancelled", "mechanical"]
    assert found["terms"][0]["lift"] == 2.69


def test_function_words_are_never_asked_for() -> None:
    body = emerging_body("Skyway Air", datetime(2026, 11, 18, tzinfo=UTC), 86400, 7 * 86400)
    significant = body["aggs"]["foreground"]["aggs"]["sample"]["aggs"]["terms"]["significant_text"]
    assert {"because", "the", "och", "tudi"} <= set(significant["exclude"])
    assert "down" not in significant["exclude"]  # "the app is down" is news
