"""The Faust application: topics, tables and agents, wired to the steps.

    mentions ──score──► mentions.scored ──index──► search index
        │                     └──fanout──► mentions.by-brand ──detect──► alerts ──dispatch──► out
        └─(malformed)──► deadletter ◄── (every stage: what it cannot process, with the reason)

Agents stay thin: each takes a batch of events (`take_events`, acked after the batch) and hands
plain `Msg` objects to a step, which holds the logic and is unit-tested without Faust.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from alerts import calibration
from alerts.care.conversation import CareTracker
from alerts.care.policies import load_policies
from alerts.delivery_queue import DeliveryQueue
from alerts.engine import DetectionEngine
from alerts.notification import Notifier
from alerts.notifiers.factory import build_notifiers
from alerts.notifiers.webhook import WebhookNotifier
from alerts.routing.config import DEFAULT_ROUTES_PATH, RoutingConfig
from alerts.routing.dispatcher import Dispatcher
from alerts.rules import load_rules
from earful.json_files import JsonFiles
from earful.settings import CACHE_DIR, Settings
from models.analyzer import TextAnalyzer
from streams import faust_consumer, retention, state_codec
from streams.care import CareStep
from streams.care_metrics import CareMetricsStep
from streams.deadletters import DeadLetters
from streams.detection import DetectStep, FanoutStep
from streams.detector_states import SplitStates
from streams.dispatch import DispatchStep
from streams.faust_io import FaustOutbox, TableStates
from streams.health import WorkerHealth
from streams.indexing import IndexStep
from streams.labels import LabelStep
from streams.messages import Msg
from streams.model_versions import ModelVersions
from streams.resources import Analyzer, LazyStore
from streams.rollups import RollupStep
from streams.scoring import ScoreStep
from streams.search import SearchUnavailable
from streams.topic_policy import topic_configs
from streams.watchdogs import install_watchdogs

log = logging.getLogger(__name__)

TOPIC_KEYS = (
    "mentions",
    "inbox",
    "scored",
    "by_brand",
    "alerts",
    "deadletter",
    "care_metrics",
    "notifications",
    "control",
    "care_facts",
    "labels",
)


#: State values are kept small (records per group / bucket / conversation), but a very large
#: brand's detector state can approach Kafka's default 1 MiB per message: the changelogs accept
#: up to the producer's limit (4 MiB), so such a brand is slow to persist rather than lost.
STATE_TOPIC_CONFIG = {"max.message.bytes": str(4 * 1024 * 1024)}


def _raw_topic(app: faust.App, name: str, partitions: int, config: dict[str, str]) -> Any:
    return app.topic(
        name,
        config=config,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )


@dataclass
class Dependencies:
    """What the agents need from outside; tests pass their own."""

    analyzer: Callable[[], TextAnalyzer]
    #: Notifiers per receiver name (built from the routing configuration).
    notifiers: dict[str, list[Notifier]] = field(default_factory=dict)
    routes: RoutingConfig | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass
class EarfulApp:
    app: faust.App
    topics: dict[str, Any]
    steps: dict[str, Any]
    store: LazyStore
    health: WorkerHealth


def default_dependencies(settings: Settings) -> Dependencies:
    from models.registry import load_analyzer

    routes = RoutingConfig.load(settings.routes_file or DEFAULT_ROUTES_PATH)
    notifiers = build_notifiers(routes, console_path=settings.alerts_log)
    if settings.webhook_url is not None:  # one extra webhook that hears everything
        hook = WebhookNotifier(
            settings.webhook_url, secret=settings.webhook_secret, name="global/webhook"
        )
        for receiver in notifiers.values():
            receiver.append(hook)
    return Dependencies(
        analyzer=lambda: load_analyzer(settings.model), notifiers=notifiers, routes=routes
    )


def create_app(settings: Settings, deps: Dependencies | None = None) -> EarfulApp:
    deps = deps or default_dependencies(settings)
    w = settings.worker
    faust_consumer.install()
    state_codec.register()
    if w.store.startswith("rocksdb"):
        from streams.rocksdb_store import register

        register()
    (w.data_dir / w.app_id).parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        w.app_id,
        broker=settings.kafka.broker_url,
        store=w.store,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        broker_session_timeout=w.session_timeout_s,
        broker_heartbeat_interval=min(3.0, w.session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        web_enabled=w.web_enabled,
        web_port=w.web_port,
        datadir=str(w.data_dir / w.app_id),
        table_cleanup_interval=60.0,
        producer_max_request_size=4 * 1024 * 1024,
        stream_wait_empty=False,
    )
    names = settings.topics.model_dump()
    single = settings.topics.SINGLE_PARTITION
    topics = {
        key: _raw_topic(
            app,
            names[key],
            1 if key in single else settings.kafka.partitions,
            topic_configs(settings.kafka, key),
        )
        for key in TOPIC_KEYS
    }
    outbox = FaustOutbox(topics)
    deadletters = DeadLetters(outbox, deps.clock)
    store = LazyStore(settings)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="earful-model")
    analyzer = Analyzer(deps.analyzer)
    # a restart does not simulate the CUSUM thresholds again (seconds)
    calibration.remember_in(JsonFiles(CACHE_DIR / "calibration"))
    engine = DetectionEngine(load_rules(settings.rules_file))
    routes = deps.routes or RoutingConfig.load(settings.routes_file or DEFAULT_ROUTES_PATH)
    care_policies = load_policies(settings.care_policies_file)

    def json_table(name: str, partitions: int) -> Any:
        """A state table of JSON values by str key. use_partitioner: the changelog is
        partitioned by key with the same (murmur2) partitioner that places the brand on
        `mentions.by-brand`, so state and input stay co-partitioned even when a batch mixes
        partitions, and a timer may update state outside stream iteration."""
        return app.Table(
            name,
            default=None,
            partitions=partitions,
            schema=faust.Schema(
                key_type=str,
                value_type=None,
                key_serializer="raw",
                value_serializer=state_codec.NAME,
            ),
            use_partitioner=True,
            extra_topic_configs=STATE_TOPIC_CONFIG,
        )

    detector_table = json_table("detector-state", settings.kafka.partitions)
    # what changed since the brand's last whole state (open buckets, offsets, the buckets
    # closed since), on the same key and so the same partition (streams/detector_states.py)
    detector_open_table = json_table("detector-open", settings.kafka.partitions)
    # The dispatcher's state is on one partition, as small records (see streams/dispatch.py).
    dispatch_table = json_table("dispatcher-state", 1)
    conversations = json_table("care-conversations", settings.kafka.partitions)
    care_metrics_table = json_table("care-metrics-state", 1)

    rollups = RollupStep(store)

    async def flush_producer() -> None:
        # looked up when called: Faust makes the producer when the app starts
        await app.producer.flush()

    steps: dict[str, Any] = {
        "score": ScoreStep(
            analyzer,
            outbox,
            deadletters,
            executor,
            store_embeddings=settings.search.store_embeddings,
        ),
        "index": IndexStep(
            store,
            deadletters,
            clock=deps.clock,
            with_embeddings=settings.search.store_embeddings,
            rollups=rollups,
            apply_labels=True,
        ),
        "labels": LabelStep(store, deadletters),
        "fanout": FanoutStep(outbox, deadletters),
        # steps that record their alerts in their state wait for them on their own outbox
        "detect": DetectStep(
            engine,
            SplitStates(
                TableStates(detector_table),
                TableStates(detector_open_table),
                flush=flush_producer,
                engine=engine,
            ),
            FaustOutbox(topics),
            deadletters,
        ),
        "dispatch": DispatchStep(
            Dispatcher(routes, public_url=settings.public_url),
            TableStates(dispatch_table),
            store,
            deps.notifiers,
            outbox,
            deadletters,
            deps.clock,
            queue=DeliveryQueue(
                cap=timedelta(seconds=w.notify_retry_cap_s),
                max_age=timedelta(seconds=w.notify_retry_max_age_s),
            ),
        ),
        "care": CareStep(
            CareTracker(care_policies),
            TableStates(conversations),
            analyzer,
            executor,
            FaustOutbox(topics),
            deadletters,
        ),
        "care_metrics": CareMetricsStep(
            care_policies, TableStates(care_metrics_table), store, FaustOutbox(topics), deadletters
        ),
    }
    batch, within = w.batch_size, w.batch_timeout_s

    def agent(step_name: str, topic_key: str, agent_name: str, method: str = "handle") -> None:
        handle = getattr(steps[step_name], method)

        async def run(stream: Any) -> None:
            async for events in stream.take_events(batch, within=within):
                await handle([Msg.from_event(e) for e in events])

        run.__name__ = run.__qualname__ = agent_name
        app.agent(topics[topic_key], name=agent_name)(run)

    agent("score", "mentions", "score")
    agent("index", "scored", "index")
    agent("fanout", "scored", "fanout")
    agent("detect", "by_brand", "detect")
    agent("dispatch", "alerts", "notify", "handle_alerts")
    agent("dispatch", "control", "control", "handle_control")
    agent("care", "inbox", "care")
    agent("care_metrics", "care_facts", "care-metrics")
    agent("labels", "labels", "labels")

    @app.task  # type: ignore[untyped-decorator]
    async def warm_up_model() -> None:
        await steps["score"].warm_up()
        log.info("model ready: %s", analyzer().name)

    model_versions = ModelVersions(settings, analyzer, executor, store, deps.clock)

    @app.timer(interval=settings.model.reload_interval_s)  # type: ignore[untyped-decorator]
    async def follow_model_version() -> None:
        try:
            await model_versions.follow()
        except Exception:  # a bad version on disk must not stop scoring with the current one
            log.exception("model version not followed (checked again at the next interval)")

    if settings.model.adapt_interval_h > 0:

        @app.timer(interval=settings.model.adapt_interval_h * 3600.0)  # type: ignore[untyped-decorator]
        async def adapt_model() -> None:
            try:
                await model_versions.adapt()
            except Exception:  # scheduled training is optional; the stream is not
                log.exception("scheduled model adapt failed (tried again at the next interval)")

    health = WorkerHealth(stall_after_s=w.stall_after_s)

    @app.timer(interval=w.tick_interval_s)  # type: ignore[untyped-decorator]
    async def close_idle_lanes() -> None:
        await steps["detect"].tick()

    #: At start and after each rebalance, the hours a killed worker may have left short are
    #: marked again (streams/rollups.py: `RollupStep.recover`).
    recover_rollups = [True]

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def update_rollups() -> None:
        # the mentions are safe in the index and rollups can always be rebuilt from it: no
        # failure here may stop the worker (the marks stay; the next tick retries)
        try:
            if recover_rollups[0]:
                hours = await rollups.recover()
                recover_rollups[0] = False
                log.info("trend rollups: %d recent hours marked for a rebuild", hours)
            await rollups.flush()
        except SearchUnavailable as exc:
            log.warning("trend rollups not updated: %s", exc)
        except Exception:
            log.exception("trend rollups not updated (retried in 5 s)")

    @app.timer(interval=3600.0)  # type: ignore[untyped-decorator]
    async def apply_retention() -> None:
        """Drop months and prune alerts past their retention (streams/retention.py)."""
        try:
            done = await retention.apply(await store(), settings.search.retention, deps.clock())
        except SearchUnavailable as exc:
            log.warning("retention not applied: %s", exc)
            return
        except Exception:  # housekeeping: never a reason to stop the stream
            log.exception("retention not applied (tried again in an hour)")
            return
        for action in done:
            log.info("retention: %s %s (%s)", action.what, action.target, action.detail)

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]
    async def deliver_notifications() -> None:
        await steps["dispatch"].tick()

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def reindex_sla_clocks(sender: Any, *args: Any, **kwargs: Any) -> None:
        steps["care"].invalidate()
        steps["detect"].invalidate()
        steps["dispatch"].invalidate()
        steps["care_metrics"].invalidate()
        recover_rollups[0] = True

    @app.timer(interval=w.tick_interval_s)  # type: ignore[untyped-decorator]
    async def check_sla_clocks() -> None:
        await steps["care"].tick()

    install_watchdogs(app, settings, health, steps)

    return EarfulApp(app=app, topics=topics, steps=steps, store=store, health=health)
