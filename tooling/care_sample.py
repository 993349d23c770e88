"""Inbox streams for demos and tests: real customer messages, realistic agent behaviour.

Customer messages are real airline customer-service tweets (texts passed in). Agents work the
calendar's opening hours and answer after a log-normal delay; a minority is slow enough to
breach the first-reply SLA and a few conversations are never answered, so warnings and breaches
happen for a reason a care lead would recognise.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from alerts.care.calendar import BusinessCalendar

CHANNELS = (("twitter", 0.5), ("email", 0.3), ("chat", 0.2))
AGENTS = (("ann", "tier1"), ("bob", "tier1"), ("eva", "tier2"))
REPLIES = (
    "Sorry to hear that — could you DM us your booking reference?",
    "Thanks for reaching out, we're looking into it right now.",
    "We've rebooked you on the next available flight; details are in your email.",
)


def inbox_stream(
    texts: Sequence[str],
    calendar: BusinessCalendar,
    *,
    start: datetime,
    days: float,
    per_day: float,
    seed: int = 3,
    brand: str = "Skyway Air",
    slow_share: float = 0.12,
    unanswered_share: float = 0.04,
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    n = int(per_day * days)
    for i in range(n):
        # customers write around the clock, more by day
        day = rng.uniform(0, days)
        hour = rng.choices(
            range(24),
            weights=[1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 7, 6, 5, 4, 3, 2],
        )[0]
        opened = start + timedelta(days=int(day), hours=hour, seconds=rng.uniform(0, 3600))
        conv = f"c{seed}-{i:05d}"
        channel = rng.choices([c for c, _ in CHANNELS], weights=[w for _, w in CHANNELS])[0]
        customer = f"cust{rng.randrange(10**6)}"
        agent, team = rng.choice(AGENTS)

        def event(
            kind: str, at: datetime, conv: str = conv, channel: str = channel, **extra: Any
        ) -> None:
            events.append(
                {
                    "type": kind,
                    "event_id": f"{conv}-{len(events)}",
                    "conversation_id": conv,
                    "at": at.isoformat(),
                    "channel": channel,
                    "brand": brand,
                    **extra,
                }
            )

        text = rng.choice(texts)
        event(
            "message_received",
            opened,
            customer={"id": customer, "handle": customer},
            text=text,
            lang="en",
        )
        if rng.random() < unanswered_share:
            continue
        slow = rng.random() < slow_share
        delay_min = rng.uniform(70, 150) if slow else min(rng.lognormvariate(2.8, 0.6), 45)
        replied = calendar.add_business(opened, delay_min * 60)
        event("conversation_assigned", opened + (replied - opened) / 2, agent=agent, team=team)
        event("reply_sent", replied, agent=agent, team=team, text=rng.choice(REPLIES))
        last = replied
        if rng.random() < 0.3:  # the customer answers; another wait starts
            follow = last + timedelta(minutes=rng.uniform(5, 180))
            event(
                "message_received",
                follow,
                customer={"id": customer, "handle": customer},
                text=rng.choice(texts),
                lang="en",
            )
            last = calendar.add_business(follow, min(rng.lognormvariate(3.2, 0.7), 200) * 60)
            event("reply_sent", last, agent=agent, team=team, text=rng.choice(REPLIES))
        closed = last + timedelta(minutes=rng.uniform(1, 60))
        event("conversation_closed", closed, by=agent)
        # a third answer the survey, happier the faster they were answered (its own random
        # stream, so the rest of the sample stays as it was)
        survey = random.Random(f"{seed}-{conv}-csat")
        if survey.random() < 0.35:
            base = 4.6 if not slow else 2.4
            score = min(5, max(1, round(survey.gauss(base, 0.8))))
            event("csat_received", closed + timedelta(minutes=survey.uniform(5, 120)), score=score)
    events.sort(key=lambda e: e["at"])
    return events
