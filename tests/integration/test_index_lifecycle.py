"""Index lifecycle against the real OpenSearch: months past their retention are dropped whole,
old alerts and audit entries pruned, everything recent kept; a dry run changes nothing."""

import asyncio
from datetime import UTC, datetime

from earful.records import Alert, Evidence
from earful.settings import RetentionSettings, SearchSettings
from streams import retention
from streams.dispatch import alert_document
from streams.search import open_store
from streams.search.base import Doc

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def alert(fp: str, at: datetime) -> Doc:
    a = Alert(
        kind="volume_spike",
        brand="A",
        rule="r",
        status="firing",
        severity="warning",
        fingerprint=fp,
        fired_at=at,
        window_start=at,
        window_end=at,
        evidence=Evidence(observed=1, expected=1),
    )
    return Doc(a.id, alert_document(a))


def test_old_months_dropped_old_alerts_pruned_recent_kept(real_services, run_id):
    async def go() -> None:
        store = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
        try:
            await store.ensure_setup()
            old, recent = datetime(2024, 1, 15, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
            for i, at in enumerate((old, recent)):
                await store.bulk_index(
                    "mentions", [Doc(f"m{i}", {"id": f"m{i}", "created_at": at.isoformat()}, at)]
                )
                await store.bulk_index(
                    "rollups", [Doc(f"r{i}", {"bucket": at.isoformat(), "count": 1}, at)]
                )
            await store.bulk_index(
                "alerts", [alert("old", datetime(2023, 6, 1, tzinfo=UTC)), alert("new", recent)]
            )
            await store.bulk_index(
                "audit",
                [
                    Doc("a-old", {"at": "2023-01-01T00:00:00+00:00", "action": "ack"}),
                    Doc("a-new", {"at": recent.isoformat(), "action": "ack"}),
                ],
            )
            for kind in ("mentions", "rollups", "alerts", "audit"):
                await store.refresh(kind)
            keep = RetentionSettings()  # mentions 400 days, rollups 1830, alerts and audit 730

            planned = await retention.apply(store, keep, NOW, dry_run=True)
            assert sorted((a.what, a.target) for a in planned) == [
                ("drop index", f"{run_id}-mentions-2024.01"),
                ("prune", "alerts"),
                ("prune", "audit"),
            ]
            assert await store.count("mentions") == 2  # the dry run changed nothing

            await retention.apply(store, keep, NOW)
            for kind in ("mentions", "rollups", "alerts", "audit"):
                await store.refresh(kind)
            assert await store.indices("mentions") == [f"{run_id}-mentions-2026.11"]
            assert len(await store.indices("rollups")) == 2  # kept five years
            alerts = await store.search("alerts", {"size": 10})
            assert [h["_source"]["fingerprint"] for h in alerts["hits"]["hits"]] == ["new"]
            assert await store.count("audit") == 1
            assert await retention.apply(store, keep, NOW) == []  # nothing left to do
        finally:
            await store.delete_all()
            await store.close()

    asyncio.run(go())
