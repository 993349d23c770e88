"""Routing configuration (YAML, validated): receivers, the route tree, inhibition rules.

    receivers:
      - name: default
        console: {}
      - name: pr-slack
        slack: {url_env: EARFUL_SLACK_PR_URL}
        quiet_hours: {timezone: Europe/Ljubljana, start: "22:00", end: "07:00", except: critical}
      - name: pr-pagerduty
        pagerduty: {routing_key_env: EARFUL_PAGERDUTY_KEY}
    route:
      receiver: default
      group_by: [brand, kind]
      routes:
        - matchers: ["team=pr"]
          receiver: pr-slack
          continue: true
          escalate: {after: 15m, to: pr-pagerduty}
    inhibit_rules:
      - source_matchers: ["kind=volume_spike", "severity=critical"]
        target_matchers: ["kind=sentiment_dip", "severity=warning"]
        equal: [brand]

Secrets (webhook URLs, keys, passwords) are never written in the file: `*_env` names the
environment variable that holds them, read into `SecretStr` at load.
"""

from __future__ import annotations

import os
import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

from earful.configfile import SemanticChecks
from earful.types import DAYS, Duration, TimeZoneName, Weekday

_MATCHER = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(=~|!~|!=|=)\s*\"?(.*?)\"?\s*$")


class Matcher(BaseModel):
    """`name=value`, `name!=value`, `name=~regex`, `name!~regex` (Alertmanager syntax)."""

    model_config = ConfigDict(frozen=True)

    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        m = _MATCHER.match(text)
        if not m:
            raise ValueError(
                f"invalid matcher {text!r}: write name=value, name!=value, "
                "name=~regex or name!~regex"
            )
        name, op, value = m.groups()
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex in {text!r}: {exc}") from None
        return cls(name=name, op=op, value=value)

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        full = re.fullmatch(self.value, actual) is not None
        return full if self.op == "=~" else not full

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


def _matchers(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):  # {team: pr} shorthand for equality
        value = [f"{k}={v}" for k, v in value.items()]
    return [Matcher.parse(v) if isinstance(v, str) else v for v in value or []]


Matchers = Annotated[tuple[Matcher, ...], BeforeValidator(_matchers)]


def matches_all(matchers: tuple[Matcher, ...], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _secret_from_env(name: str | None) -> SecretStr | None:
    if not name:
        return None
    value = os.environ.get(name)
    if value is None:
        raise ValueError(f"environment variable {name} is not set")
    return SecretStr(value)


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackConfig(_Channel):
    url_env: str
    channel: str | None = None

    def url(self) -> SecretStr:
        return _secret_from_env(self.url_env)  # type: ignore[return-value]


class TeamsConfig(_Channel):
    url_env: str

    def url(self) -> SecretStr:
        return _secret_from_env(self.url_env)  # type: ignore[return-value]


class WebhookConfig(_Channel):
    url_env: str
    secret_env: str | None = None

    def url(self) -> SecretStr:
        return _secret_from_env(self.url_env)  # type: ignore[return-value]

    def secret(self) -> SecretStr | None:
        return _secret_from_env(self.secret_env)


class PagerDutyConfig(_Channel):
    routing_key_env: str
    #: Events API endpoint (override for tests or EU accounts).
    url: str = "https://events.pagerduty.com/v2/enqueue"

    def routing_key(self) -> SecretStr:
        return _secret_from_env(self.routing_key_env)  # type: ignore[return-value]


class EmailConfig(_Channel):
    to: tuple[str, ...] = Field(min_length=1)
    sender: str = Field(alias="from")
    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None

    def password(self) -> SecretStr | None:
        return _secret_from_env(self.password_env)


class ConsoleConfig(_Channel):
    path: Path | None = None


class QuietHours(_Channel):
    timezone: TimeZoneName = "UTC"
    start: time
    end: time
    days: tuple[Weekday, ...] = DAYS
    #: Alerts at this severity or above are delivered even in quiet hours.
    except_: Literal["critical", "warning", "none"] = Field(default="critical", alias="except")


class Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    slack: SlackConfig | None = None
    email: EmailConfig | None = None
    webhook: WebhookConfig | None = None
    teams: TeamsConfig | None = None
    pagerduty: PagerDutyConfig | None = None
    console: ConsoleConfig | None = None
    quiet_hours: QuietHours | None = None

    def channels(self) -> list[str]:
        return [
            c
            for c in ("slack", "email", "webhook", "teams", "pagerduty", "console")
            if getattr(self, c) is not None
        ]


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    after: Duration
    to: str
    severities: tuple[str, ...] = ("critical",)


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    receiver: str | None = None
    matchers: Matchers = ()
    group_by: tuple[str, ...] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(default=False, alias="continue")
    escalate: Escalation | None = None
    routes: tuple[Route, ...] = ()


class InhibitRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: Matchers
    target_matchers: Matchers
    equal: tuple[str, ...] = ("brand",)


class RoutingConfig(BaseModel, SemanticChecks):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: tuple[Receiver, ...] = Field(min_length=1)
    route: Route
    inhibit_rules: tuple[InhibitRule, ...] = ()

    def receiver(self, name: str) -> Receiver:
        for r in self.receivers:
            if r.name == name:
                return r
        raise KeyError(name)

    def semantic_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        names = [r.name for r in self.receivers]
        for i, name in enumerate(names):
            if names.index(name) != i:
                problems.append((("receivers", i, "name"), f"receiver '{name}' is defined twice"))
        for i, r in enumerate(self.receivers):
            if not r.channels():
                problems.append((("receivers", i), f"receiver '{r.name}' has no channel"))
        if self.route.receiver is None:
            problems.append((("route", "receiver"), "the root route needs a receiver"))

        def walk(route: Route, path: tuple[str | int, ...]) -> None:
            if route.receiver is not None and route.receiver not in names:
                problems.append(((*path, "receiver"), f"unknown receiver '{route.receiver}'"))
            if route.escalate is not None and route.escalate.to not in names:
                problems.append(
                    ((*path, "escalate", "to"), f"unknown receiver '{route.escalate.to}'")
                )
            for j, child in enumerate(route.routes):
                walk(child, (*path, "routes", j))

        walk(self.route, ("route",))
        return problems


DEFAULT_ROUTES_PATH = Path(__file__).resolve().parents[1] / "defaults" / "routes.yaml"

#: Alertmanager's defaults for timing.
GROUP_WAIT = timedelta(seconds=30)
GROUP_INTERVAL = timedelta(minutes=5)
REPEAT_INTERVAL = timedelta(hours=4)
