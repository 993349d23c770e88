"""Prometheus metrics of the worker (served by `earful worker --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SCORED = Counter("earful_mentions_scored_total", "Mentions scored")
INDEXED = Counter(
    "earful_documents_indexed_total", "Documents written to the search index", ["kind"]
)
DEADLETTERS = Counter(
    "earful_deadletters_total", "Messages sent to the dead-letter topic", ["stage", "error"]
)
ALERTS = Counter(
    "earful_alerts_total", "Alerts emitted by the detection engine", ["kind", "status"]
)
NOTIFICATIONS = Counter(
    "earful_notifications_total", "Notifications delivered", ["receiver", "outcome"]
)
SCORE_SECONDS = Histogram(
    "earful_score_batch_seconds",
    "Model time per scoring batch",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
LATE = Counter("earful_late_observations_total", "Observations dropped as later than allowed")
REPLAYED = Counter(
    "earful_replayed_observations_total",
    "Observations read again after a restart and left out: their brand's state already had them",
)
WATERMARK = Gauge(
    "earful_detect_watermark_seconds", "Event-time watermark of detection", ["partition"]
)
CONSUMER_LAG = Gauge(
    "earful_consumer_lag_messages",
    "Messages on the worker's input topics not yet committed by its consumer group",
    ["topic", "partition"],
)
OFFSETS_LOST = Counter(
    "earful_offsets_lost_total",
    "Messages the broker deleted before the worker read them (out-of-range offset resets)",
    ["topic", "partition"],
)
INDEX_RETRIES = Counter(
    "earful_index_retries_total", "Bulk index attempts that found the search engine unavailable"
)
INDEX_BACKLOG = Gauge(
    "earful_index_backlog_documents", "Documents held by the index step, waiting for the engine"
)
NOTIFICATIONS_PENDING = Gauge(
    "earful_notifications_pending", "Deliveries waiting to be retried (receiver unreachable)"
)
STALE_RECORDS = Counter(
    "earful_stale_records_dropped_total",
    "Records fetched before a rebalance's seek, dropped and read again in order",
    ["topic"],
)
PARTITIONS_REREAD = Counter(
    "earful_partitions_reread_total",
    "Partitions re-read from their committed offset after making no progress",
    ["topic"],
)
CORRECTIONS = Counter(
    "earful_corrections_applied_total", "People's corrections laid over mentions in the index"
)
MODEL_VERSION = Gauge(
    "earful_model_version_loaded",
    "The adapted sentiment version the worker scores with (1 on the loaded one)",
    ["version"],
)
