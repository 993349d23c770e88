"""Email over SMTP (STARTTLS and login when configured), plain text + HTML alternative.

The standard library's smtplib runs in a worker thread so the event loop never blocks. SMTP
4xx replies and network errors are worth retrying; 5xx replies (bad address, auth) are not.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
from email.message import EmailMessage

from pydantic import SecretStr

from alerts.notification import Delivery, Notification, Outcome
from alerts.notifiers.render import links, observed_line, plain_text, post_lines, window_line


def build_message(n: Notification, sender: str, to: tuple[str, ...]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = n.title
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["X-Earful-Group"] = n.group_key
    msg["X-Earful-Idempotency-Key"] = n.idempotency_key
    link_map = links(n.public_url, n.silence_url if n.status == "firing" else "")
    msg.set_content(plain_text(n.alerts, n.title, link_map))
    parts = [f"<h2>{html.escape(n.title)}</h2>"]
    for a in n.alerts:
        colour = (
            "#166534"
            if a.status == "resolved"
            else ("#991b1b" if a.severity == "critical" else "#92400e")
        )
        parts.append(
            f'<h3 style="color:{colour}">{html.escape(a.summary)}</h3>'
            f"<p>{html.escape(window_line(a))}<br>{html.escape(observed_line(a))}</p>"
        )
        posts = "".join(f"<li>{html.escape(p)}</li>" for p in post_lines(a))
        if posts and a.status == "firing":
            parts.append(f"<ul>{posts}</ul>")
        if a.evidence.search_url:
            parts.append(f'<p><a href="{html.escape(a.evidence.search_url)}">The mentions</a></p>')
    parts += [
        f'<p><a href="{html.escape(u)}">{html.escape(k)}</a></p>' for k, u in link_map.items() if u
    ]
    msg.add_alternative("\n".join(parts), subtype="html")
    return msg


class EmailNotifier:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        to: tuple[str, ...],
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = True,
        name: str = "email",
        timeout_s: float = 20.0,
    ):
        self.name = name
        self.host, self.port = host, port
        self.sender, self.to = sender, to
        self.username, self._password = username, password
        self.starttls = starttls
        self.timeout_s = timeout_s

    def _send(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls()
                smtp.ehlo()
            if self.username and self._password is not None:
                smtp.login(self.username, self._password.get_secret_value())
            smtp.send_message(msg)

    async def notify(self, notification: Notification) -> Delivery:
        return await self.send(build_message(notification, self.sender, self.to))

    async def send(self, msg: EmailMessage) -> Delivery:
        """Send any message (alerts, reports) and classify the outcome."""
        try:
            await asyncio.to_thread(self._send, msg)
        except smtplib.SMTPResponseException as exc:
            outcome = Outcome.RETRY if 400 <= exc.smtp_code < 500 else Outcome.GIVE_UP
            return Delivery(outcome, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {addr: code for addr, (code, _) in exc.recipients.items()}
            # 4xx for every refused recipient is temporary (greylisting, full mailbox)
            temporary = all(400 <= code < 500 for code in codes.values())
            return Delivery(
                Outcome.RETRY if temporary else Outcome.GIVE_UP, f"recipients refused: {codes}"
            )
        except (OSError, smtplib.SMTPException) as exc:
            return Delivery(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
        return Delivery(Outcome.SENT, f"sent to {len(self.to)} recipients")
