"""Render, archive, deliver and schedule reports.

Scheduling: each report fires on its cron in its time zone and covers the newest complete
period. Before sending, a worker *claims* the (report, period) pair by creating a document
with that id in the `reports` index; the search engine lets exactly one create succeed, so a
period is never sent twice — across restarts and with several workers running. A claim whose
sending never finished (a crash between claim and send) is retried after
`reports.stale_claim_after`; the cost is that a crash at exactly that moment may delay a report,
never double it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from croniter import croniter

from alerts.care.policies import CarePolicies
from alerts.notification import Delivery, Outcome
from alerts.notifiers.base import HttpNotifier
from alerts.notifiers.factory import email_notifier
from alerts.routing.config import RoutingConfig
from earful.projects import Projects
from earful.settings import Settings
from reports import charts, render
from reports.compose import Report, compose
from reports.config import ReportDefinition, Reports
from reports.periods import Period, last_complete
from streams.report_facts import fetch_facts
from streams.search.base import Doc, SearchStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    report: Report
    text: str
    html: str
    pdf: bytes
    pngs: dict[str, bytes]


def render_all(report: Report) -> Rendered:
    pngs = charts.pngs(report)
    return Rendered(
        report,
        render.text(report),
        render.html_page(report, {name: f"{name}.png" for name in pngs}),
        charts.pdf(report),
        pngs,
    )


def sign(key: str, path: str, expires: int) -> str:
    return hmac.new(key.encode(), f"{path}|{expires}".encode(), hashlib.sha256).hexdigest()


def signed_url(settings: Settings, name: str, period: str, file: str, now: datetime) -> str | None:
    """A public URL for an archived file that works until it expires (Slack fetches charts by
    URL); None without a signing key."""
    if settings.reports.signing_key is None:
        return None
    path = f"/reports/files/{name}/{period}/{file}"
    expires = int((now + settings.reports.link_ttl).timestamp())
    sig = sign(settings.reports.signing_key.get_secret_value(), path, expires)
    return f"{settings.public_url}{path}?{urlencode({'expires': expires, 'sig': sig})}"


def archive(rendered: Rendered, root: Path, slack: dict[str, Any]) -> Path:
    r = rendered.report
    out = root / r.name / r.period
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.txt").write_text(rendered.text, encoding="utf-8")
    (out / "report.html").write_text(rendered.html, encoding="utf-8")
    (out / "report.pdf").write_bytes(rendered.pdf)
    (out / "slack.json").write_text(
        json.dumps(slack, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    for name, data in rendered.pngs.items():
        (out / f"{name}.png").write_bytes(data)
    meta = {
        "title": r.title,
        "period": r.period,
        "period_text": r.period_text,
        "language": r.language,
        "narrative": r.narrative,
    }
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return out


async def deliver(
    rendered: Rendered,
    definition: ReportDefinition,
    routing: RoutingConfig,
    slack: dict[str, Any],
    settings: Settings,
) -> list[tuple[str, Delivery]]:
    """Send to each receiver's Slack and email channels; console receivers log a line."""
    outcomes: list[tuple[str, Delivery]] = []
    for name in definition.deliver.receivers:
        receiver = routing.receiver(name)
        if receiver.slack is not None:
            payload = {
                **slack,
                **({"channel": receiver.slack.channel} if receiver.slack.channel else {}),
            }
            result = await HttpNotifier(f"{name}/slack").post(
                receiver.slack.url().get_secret_value(), json=payload
            )
            outcomes.append((f"{name}/slack", result))
        if receiver.email is not None:
            e = receiver.email
            message = render.email_message(
                rendered.report,
                rendered.pngs,
                sender=e.sender,
                to=e.to,
                pdf=rendered.pdf if definition.deliver.attach_pdf else None,
            )
            mailer = email_notifier(e, f"{name}/email")
            outcomes.append((f"{name}/email", await mailer.send(message)))
        if receiver.console is not None:
            path = receiver.console.path or settings.alerts_log
            line = {
                "report": definition.name,
                "period": rendered.report.period,
                "receiver": name,
                "title": rendered.report.title,
                "narrative": rendered.report.narrative,
            }
            await asyncio.to_thread(
                _append, path.with_name("reports.jsonl"), json.dumps(line, ensure_ascii=False)
            )
            outcomes.append(
                (f"{name}/console", Delivery(Outcome.SENT, str(path.with_name("reports.jsonl"))))
            )
    return outcomes


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")


class ReportService:
    """Everything a command or the scheduler needs to produce one report."""

    def __init__(
        self,
        settings: Settings,
        store: SearchStore,
        reports: Reports,
        projects: Projects,
        policies: CarePolicies,
        routing: RoutingConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.settings, self.store, self.reports = settings, store, reports
        self.projects, self.policies, self.routing, self.clock = projects, policies, routing, clock

    async def build(self, definition: ReportDefinition, period: Period) -> Rendered:
        project = self.projects.get(definition.project)
        facts = await fetch_facts(
            self.store, definition, project, period, self.policies, self.clock()
        )
        tz = definition.cadence.timezone if definition.cadence else period.tz
        # charts and the PDF take a second or two of CPU: off the event loop
        return await asyncio.to_thread(render_all, compose(definition, facts, tz))

    def slack_for(self, rendered: Rendered) -> dict[str, Any]:
        r = rendered.report
        urls = {
            name: url
            for name in rendered.pngs
            if (url := signed_url(self.settings, r.name, r.period, f"{name}.png", self.clock()))
        }
        return render.slack(r, urls)

    async def produce(
        self, definition: ReportDefinition, period: Period, *, send: bool
    ) -> tuple[Rendered, Path | None, list[tuple[str, Delivery]]]:
        rendered = await self.build(definition, period)
        slack = self.slack_for(rendered)
        where = (
            await asyncio.to_thread(archive, rendered, self.settings.reports.archive_dir, slack)
            if definition.deliver.archive
            else None
        )
        outcomes = (
            await deliver(rendered, definition, self.routing, slack, self.settings) if send else []
        )
        return rendered, where, outcomes

    # -- scheduling ----------------------------------------------------------------------------
    def due(self, definition: ReportDefinition, since: datetime, now: datetime) -> Period | None:
        """The period to send if the report's cron fired in (since, now]."""
        cadence = definition.cadence
        if cadence is None:
            return None
        local_since = since.astimezone(ZoneInfo(cadence.timezone))
        fire = croniter(cadence.cron, local_since).get_next(datetime)
        if fire > now.astimezone(fire.tzinfo):
            return None
        return last_complete(cadence.period, fire, cadence.timezone)

    async def claim(self, definition: ReportDefinition, period: Period, who: str) -> bool:
        doc_id = f"{definition.name}|{period.label}"
        body = {
            "report": definition.name,
            "period": period.label,
            "status": "claimed",
            "claimed_by": who,
            "claimed_at": self.clock().isoformat(),
        }
        if await self.store.create("reports", Doc(doc_id, body)):
            return True
        # taken: by a finished send (never again), or by a worker that died mid-send
        found = await self.store.search("reports", {"size": 1, "query": {"term": {"_id": doc_id}}})
        hits = found["hits"]["hits"]
        if not hits or hits[0]["_source"].get("status") != "claimed":
            return False
        claimed = datetime.fromisoformat(hits[0]["_source"]["claimed_at"])
        if self.clock() - claimed < self.settings.reports.stale_claim_after:
            return False
        stale = f"{doc_id}|retry-{int(claimed.timestamp())}"
        return await self.store.create("reports", Doc(stale, {**body, "status": "retry"}))

    async def record(
        self,
        definition: ReportDefinition,
        period: Period,
        outcomes: list[tuple[str, Delivery]],
        where: Path | None,
    ) -> None:
        failed = [f"{n}: {d.detail}" for n, d in outcomes if d.outcome is not Outcome.SENT]
        body = {
            "report": definition.name,
            "period": period.label,
            "status": "failed" if failed else "sent",
            "sent_at": self.clock().isoformat(),
            "detail": "; ".join(failed),
            "files": {"dir": str(where)} if where else {},
        }
        await self.store.bulk_index("reports", [Doc(f"{definition.name}|{period.label}", body)])
        await self.store.refresh("reports")

    async def run_due(
        self, since: datetime, now: datetime, who: str | None = None
    ) -> list[tuple[str, str, str]]:
        """Send every report whose cron fired in (since, now] and that nobody sent yet."""
        who = who or socket.gethostname()
        done = []
        for definition in self.reports.reports:
            period = self.due(definition, since, now)
            if period is None:
                continue
            if not await self.claim(definition, period, who):
                done.append((definition.name, period.label, "already sent"))
                continue
            _, where, outcomes = await self.produce(definition, period, send=True)
            await self.record(definition, period, outcomes, where)
            state = "sent" if all(d.outcome is Outcome.SENT for _, d in outcomes) else "failed"
            done.append((definition.name, period.label, state))
            log.info("report %s %s: %s", definition.name, period.label, state)
        return done


def Period_tz(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


async def run_scheduler(
    service: ReportService, *, interval_s: float = 30.0, stop: asyncio.Event | None = None
) -> None:
    """Check the schedule every `interval_s` (wall clock) until stopped."""
    stop = stop or asyncio.Event()
    since = service.clock() - timedelta(seconds=interval_s)
    while not stop.is_set():
        now = service.clock()
        try:
            await service.run_due(since, now)
            since = now
        except Exception:  # a bad report or a search outage: log, try again next time
            log.exception("report scheduler: will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
