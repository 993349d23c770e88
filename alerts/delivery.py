"""Deliver a notification with retries: exponential backoff with full jitter, Retry-After honoured.

`deliver` never raises for a receiver's failure: it returns the last `Delivery`, and the caller
dead-letters what was given up on. The sleep function is injected so tests need not wait.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from alerts.notification import Delivery, Notification, Notifier, Outcome
from alerts.notifiers.base import classify_error

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_s: float = 1.0
    cap_s: float = 60.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        backoff = rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        return max(backoff, min(retry_after or 0.0, self.cap_s))


async def deliver(
    notifier: Notifier,
    notification: Notification,
    policy: RetryPolicy | None = None,
    *,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> tuple[Delivery, int]:
    """Returns the final delivery and the number of attempts made."""
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    result = Delivery(Outcome.GIVE_UP, "not attempted")
    for attempt in range(policy.attempts):
        try:
            result = await notifier.notify(notification)
        except Exception as exc:  # a notifier bug must not stop the others
            result = classify_error(exc)
        if result.outcome is not Outcome.RETRY:
            return result, attempt + 1
        if attempt + 1 < policy.attempts:
            pause = policy.delay(attempt, rng, result.retry_after)
            log.warning(
                "%s: %s; retry %d in %.1fs", notifier.name, result.detail, attempt + 1, pause
            )
            await sleep(pause)
    return result, policy.attempts
