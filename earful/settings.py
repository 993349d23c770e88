"""Typed settings, bound to environment variables (`EARFUL_KAFKA__BOOTSTRAP_SERVERS`, ...).

Nested groups use `__` as the delimiter. Secrets are `SecretStr`, so they never show in logs,
reprs or error messages. An `.env` file in the working directory is read too.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from earful.types import Duration

CACHE_DIR = Path.home() / ".cache" / "earful"


class TopicNames(BaseModel):
    mentions: str
    inbox: str
    scored: str
    by_brand: str
    alerts: str
    deadletter: str
    care_metrics: str
    notifications: str
    control: str
    care_facts: str
    labels: str

    #: Topics that must keep a total order (grouping, inhibition, silences) have one partition.
    SINGLE_PARTITION: ClassVar[tuple[str, ...]] = ("alerts", "control", "care_facts")
    #: Topics the worker's consumer group reads (their lag is the worker's backlog).
    CONSUMED: ClassVar[tuple[str, ...]] = (
        "mentions",
        "inbox",
        "scored",
        "by_brand",
        "alerts",
        "control",
        "care_facts",
        "labels",
    )


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    #: Prefix for every topic name (lets several deployments or test runs share a cluster).
    topic_prefix: str = ""
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    #: How long the input topics (`mentions`, `inbox`) keep messages, counted from when the
    #: broker *appended* them (never from their event time): a worker may be down this long.
    input_retention_hours: int = Field(default=14 * 24, ge=1)
    #: Internal hand-over topics (`mentions.scored`, `mentions.by-brand`, `care.facts`).
    internal_retention_hours: int = Field(default=7 * 24, ge=1)
    #: Records people look back at (`alerts`, `deadletter`, `notifications`, `control`,
    #: `care.metrics`).
    record_retention_hours: int = Field(default=30 * 24, ge=1)
    #: Start even when an existing topic's settings would lose data (see `earful topics check`).
    allow_unsafe_topics: bool = False

    @property
    def topics(self) -> TopicNames:
        p = self.topic_prefix
        return TopicNames(
            mentions=f"{p}mentions",
            inbox=f"{p}inbox",
            scored=f"{p}mentions.scored",
            by_brand=f"{p}mentions.by-brand",
            alerts=f"{p}alerts",
            deadletter=f"{p}deadletter",
            care_metrics=f"{p}care.metrics",
            notifications=f"{p}notifications",
            control=f"{p}control",
            care_facts=f"{p}care.facts",
            labels=f"{p}labels",
        )

    @property
    def broker_url(self) -> str:
        """Faust's form of the bootstrap list: `kafka://h1:9092;h2:9092`."""
        return ";".join(f"kafka://{h.strip()}" for h in self.bootstrap_servers.split(","))


class RetentionSettings(BaseModel):
    """How long each kind of document is kept (days). Monthly indexes are dropped whole once
    their month ended this long ago; alerts and the audit trail are pruned by date."""

    mentions_days: int = Field(default=400, ge=1)
    rollups_days: int = Field(default=1830, ge=1)
    care_metrics_days: int = Field(default=400, ge=1)
    alerts_days: int = Field(default=730, ge=1)
    audit_days: int = Field(default=730, ge=1)


class SearchSettings(BaseModel):
    #: http(s) URL of the cluster; `opensearch+https://...` / `elasticsearch+http://...` force the
    #: client, otherwise `engine` decides (auto asks the server which product it is).
    url: str = "http://127.0.0.1:9200"
    engine: Literal["auto", "opensearch", "elasticsearch"] = "auto"
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    verify_certs: bool = True
    index_prefix: str = "earful"
    #: Store the mention embedding in the index (off by default: it is large and rarely searched).
    store_embeddings: bool = False
    shards: int = Field(default=1, ge=1)
    replicas: int = Field(default=0, ge=0)
    #: How the dashboard links to the search UI (OpenSearch Dashboards / Kibana Discover), if any.
    discover_url: str | None = None
    retention: RetentionSettings = RetentionSettings()

    @property
    def resolved(self) -> tuple[str, str]:
        """(engine, plain http URL) after reading a `+scheme` hint in the URL."""
        url, engine = self.url, self.engine
        for name in ("opensearch", "elasticsearch"):
            if url.startswith(f"{name}+"):
                return name, url[len(name) + 1 :]
        return engine, url


#: How the CPU encoder spreads over its cores (see `ModelSettings.parallelism`).
Parallelism = Literal["batches", "operators"]


class ModelSettings(BaseModel):
    #: `default` (the offline multilingual model built from packages), a Hugging Face model id,
    #: or a local directory with a saved model.
    name: str = "default"
    #: onnx-int8: the accuracy of torch fp32 here, faster on the CPU (models/MODEL_CARD.md
    #: has both measured).
    backend: Literal["torch", "onnx-int8"] = "onnx-int8"
    #: auto: CUDA when torch sees a GPU (then torch, since the int8 ONNX model is CPU-only),
    #: else the CPU. `cuda` refuses to start without a GPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: Texts per forward pass on a GPU (the CPU uses `batch_size`).
    gpu_batch_size: int = Field(default=256, ge=1, le=4096)
    #: Texts per forward pass for torch on the CPU. onnx-int8 encodes one text per pass, so
    #: that a post's score does not depend on the posts beside it (models/onnx_backend.py).
    batch_size: int = Field(default=64, ge=1, le=1024)
    max_length: int = Field(default=128, ge=8, le=512)
    #: Distinct texts remembered with their scores (retweets and campaigns repeat themselves).
    cache_size: int = Field(default=50_000, ge=0)
    #: Cores the CPU encoder uses (default: every core this process may run on).
    threads: int | None = Field(default=None, ge=1)
    #: How onnx-int8 spreads over `threads`: "batches" runs that many sub-batches side by side
    #: on single-threaded sessions (no thread waits for another; best where the worker shares
    #: its cores with Kafka or the search engine), "operators" splits every operator of one
    #: batch over the threads (models/MODEL_CARD.md has both measured).
    parallelism: Parallelism = "batches"
    cache_dir: Path = CACHE_DIR / "models"
    taxonomy: Path | None = None
    #: Build the default model on first use when it is missing.
    build_if_missing: bool = True
    #: Topics and the stored embedding from the general-purpose embedding ("frozen": the
    #: default model's last layer, which keeps the untouched multilingual encoder's embedding,
    #: from the same pass as sentiment; a model with a separate frozen encoder runs it too) or
    #: from the sentiment embedding ("shared": worse topics, and no faster on the default).
    topic_encoder: Literal["frozen", "shared"] = "frozen"
    #: Mix the sentiment head with a head over the general-purpose embedding (computed for
    #: topics anyway); its weight was chosen on English validation, and what it does per
    #: language is measured in models/MODEL_CARD.md. Languages with a head adapted from
    #: corrections use that head alone.
    blend: bool = True
    #: Shift other languages onto English with the shipped starter shifts (estimated from
    #: parallel text, models/training/starter_shifts.py) until a stream shift or a head adapted
    #: from corrections replaces them for that language.
    starter_shifts: bool = True
    #: Sentiment heads adapted from people's corrections (`earful models adapt`), one directory
    #: per version plus a CURRENT pointer; the worker and the CLI must see the same directory.
    versions_dir: Path = CACHE_DIR / "model-versions"
    #: Seconds between the worker's checks for a newly published or chosen model version.
    reload_interval_s: float = Field(default=10.0, gt=0)
    #: Hours between the worker's own `models adapt` runs (0: only when run by hand). A run that
    #: finds no new corrections since the current version trains no head; it publishes only
    #: if a language shift moved (`adapt_shifts`).
    adapt_interval_h: float = Field(default=24.0, ge=0)
    #: Fewest corrections in one language (training part) before it gets a head of its own.
    adapt_min_corrections: int = Field(default=20, ge=4)
    #: `models adapt` also estimates, per language without a head of its own, a shift onto
    #: English from that language's newest indexed mentions (no labels; models/language_shift.py).
    adapt_shifts: bool = True
    #: Unlabeled texts (distinct, no retweets) a language needs before it gets a shift.
    adapt_shift_min_texts: int = Field(default=300, ge=50)


class WorkerSettings(BaseModel):
    app_id: str = "earful"
    #: Events an agent takes at once (at most; it takes what came within the timeout).
    #: Larger batches mean fewer Kafka sends and search-engine bulk requests per mention and
    #: less waiting on the scoring lanes' slowest text: measured with `make bench` on 2 cores,
    #: end to end 6-24% faster at 256 than at 64 (four alternated pairs). Under full load a
    #: batch waits for the one before it to be scored: about 1 s at 256 on the machine that
    #: measured it, 3-4 s on the slowest one this project has run on.
    batch_size: int = Field(default=256, ge=1)
    batch_timeout_s: float = Field(default=0.5, gt=0)
    #: Faust table store: `memory://` or `rocksdb://`.
    store: str = "memory://"
    web_port: int = 6066
    web_enabled: bool = False
    data_dir: Path = Path("var/worker")
    session_timeout_s: float = 10.0
    #: Seconds between the timer that closes event-time windows of idle brands.
    tick_interval_s: float = 2.0
    #: A partition with unread messages, nothing in flight and no commit for this long is
    #: re-read from its committed offset (streams/faust_consumer.py `heal`).
    heal_after_s: float = Field(default=30.0, gt=0)
    #: Serve `/metrics` and `/healthz` on this port (`earful worker --metrics-port` overrides).
    metrics_port: int | None = None
    #: Bind address of the metrics port (0.0.0.0 in a container, behind the compose network).
    metrics_host: str = "127.0.0.1"
    #: Seconds between consumer-lag samples (lag gauge, lost-offset accounting, `/healthz`).
    lag_interval_s: float = Field(default=5.0, gt=0)
    #: `/healthz` turns unhealthy (503) after this long with lag and no committed progress.
    stall_after_s: float = Field(default=120.0, gt=0)
    #: A notification a receiver could not take is retried with backoff up to this pause...
    notify_retry_cap_s: float = Field(default=300.0, gt=0)
    #: ... for this long, then given up and dead-lettered.
    notify_retry_max_age_s: float = Field(default=24 * 3600.0, gt=0)


Role = Literal["viewer", "operator", "admin"]
#: What each role may do: viewers read, operators also acknowledge and silence, admins also
#: force a silence past the API's guards.
ROLE_RANK: dict[Role, int] = {"viewer": 0, "operator": 1, "admin": 2}


class ApiToken(BaseModel):
    """One bearer token for the API. The name is who did it, in the audit trail."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, pattern=r"^[\w.@-]+$")
    token: SecretStr
    role: Role = "viewer"

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("an API token needs at least 16 characters (use `earful api token`)")
        return value


class ApiSettings(BaseModel):
    #: `EARFUL_API__TOKENS='[{"name": "ann", "token": "...", "role": "operator"}]'`.
    #: With none, the API serves reads and refuses every write.
    tokens: tuple[ApiToken, ...] = ()
    #: Reads without a token (the dashboard, search). Set false to require a viewer token.
    public_read: bool = True
    #: Silences longer than this are refused unless an admin forces them.
    max_silence: Duration = timedelta(days=7)
    #: Request bodies over this many bytes are refused (413).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    #: Origins allowed to call the API from a browser (CORS); none by default.
    cors_origins: tuple[str, ...] = ()


class ReportSettings(BaseModel):
    #: Report definitions (the shipped examples when unset).
    file: Path | None = None
    #: Where rendered reports are kept (HTML, PDF, PNG charts, Slack JSON).
    archive_dir: Path = Path("var/reports")
    #: Signs the chart URLs in Slack messages (served by the API until they expire). Without
    #: it, Slack gets the text only and the charts stay in the archive.
    signing_key: SecretStr | None = None
    link_ttl: Duration = timedelta(days=14)
    #: Sender of report emails (receivers' email blocks give the server and recipients).
    sender: str = "earful@localhost"
    #: A claimed report whose sending never finished (a crash) may be retried after this long.
    stale_claim_after: Duration = timedelta(hours=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EARFUL_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    kafka: KafkaSettings = KafkaSettings()
    search: SearchSettings = SearchSettings()
    model: ModelSettings = ModelSettings()
    worker: WorkerSettings = WorkerSettings()
    rules_file: Path | None = None
    routes_file: Path | None = None
    care_policies_file: Path | None = None
    #: Listening projects (brand, competitors, teams); the shipped example when unset.
    projects_file: Path | None = None
    #: JSONL file the console sink appends every notification to (the demo tails it).
    alerts_log: Path = Path("var/alerts.jsonl")
    #: A generic webhook every alert is posted to, when no routes file is configured.
    webhook_url: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    #: Public URL of the Earful API/dashboard, used for links in notifications.
    public_url: str = "http://127.0.0.1:8000"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api: ApiSettings = ApiSettings()
    reports: ReportSettings = ReportSettings()
    log_level: str = "INFO"
    #: `json`: one event per line, with the mention id / alert fingerprint where there is one.
    log_format: Literal["text", "json"] = "text"

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @cached_property
    def topics(self) -> TopicNames:
        return self.kafka.topics
