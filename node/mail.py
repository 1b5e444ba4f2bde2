"""Outbound mail over SMTP (issue 14 item 7, docs/claims.md): the claim messages.

A message to send is a journal mark (`PENDING_PREFIX` + its key → the message as JSON),
written in the same batch as what made it; the work queue's `mail` topic sends it and
deletes the mark. An SMTP server that refuses or is down fails the attempt, and the queue
retries it with its backoff (node/work.py), so the issue that wrote it succeeds anyway.

The stdlib's smtplib, run in a thread: one short blocking exchange per message needs no
extra dependency, and the socket timeout bounds it. With `starttls` the session is upgraded
before the login, checked against the system's roots plus the node's CA file.

Stable codes: `smtp_not_configured`, `smtp_unreachable` (down, timed out), `smtp_refused`
(an SMTP error answer, a login refused, a needed extension missing), `smtp_tls_failed` (no
STARTTLS offered, a certificate that does not check out), `smtp_password_*`, `tls_ca_invalid`.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
import stat
from email.message import EmailMessage
from pathlib import Path
from typing import Final

from badgechain.storage import Kind

from .config import SmtpConfig
from .errors import NodeError
from .outbound import tls_context, why_unreachable
from .pipeline import Op
from .records import PendingMail
from .services import Services

__all__ = [
    "MAIL_TOPIC",
    "PASSWORD_ENV",
    "PENDING_PREFIX",
    "MailError",
    "mail_writes",
    "send",
    "smtp_password",
]

MAIL_TOPIC: Final = "mail"
PENDING_PREFIX: Final = b"mail/"
PASSWORD_ENV: Final = "BADGECHAIN_SMTP_PASSWORD"  # noqa: S105 (a variable's name)
MAX_SUBJECT_CHARS: Final = 200
MAX_MAIL_BODY_CHARS: Final = 8 * 1024
_MAX_PASSWORD_BYTES: Final = 1024
_MAX_REWRITES: Final = 3  # sends of one mark rewritten meanwhile before the queue retries it


class MailError(NodeError):
    code = "smtp_failed"  # 503 (node/errors.py), whatever the code it is raised with


def mail_writes(key: bytes, to: str, subject: str, body: str) -> list[Op]:
    """The journal write that queues a message (the caller queues `MAIL_TOPIC` `key`)."""
    message = PendingMail(
        to=to, subject=subject[:MAX_SUBJECT_CHARS], body=body[:MAX_MAIL_BODY_CHARS]
    )
    return [(Kind.JOURNAL, PENDING_PREFIX + key, message.to_bytes())]


async def send(services: Services, key: bytes) -> bool:
    """The `mail` topic's handler: send the message marked under `key`, then drop the mark
    unless it was rewritten meanwhile (then send that). Raises MailError (the queue
    retries) when the server is down or refuses."""
    store = services.store
    for _ in range(_MAX_REWRITES):
        raw = store.get(Kind.JOURNAL, PENDING_PREFIX + key)
        if raw is None:
            return True  # sent already
        await _send_one(services, PendingMail.from_bytes(raw))
        if store.get(Kind.JOURNAL, PENDING_PREFIX + key) == raw:
            store.delete(Kind.JOURNAL, PENDING_PREFIX + key)
            return True
        # Rewritten while it went out (a new code, node/mail_claims.py): send that one too.
    return False


async def _send_one(services: Services, message: PendingMail) -> None:
    smtp = services.config.smtp
    if not smtp.host:
        raise MailError("no [smtp] host in config.toml", code="smtp_not_configured")
    password = smtp_password(services.home, smtp)
    email = _message(smtp, message)
    context = _starttls_context(services) if smtp.starttls else None
    timeout_s = services.settings.smtp_timeout_s
    await asyncio.to_thread(_deliver, smtp, password, email, context, timeout_s)


def _message(smtp: SmtpConfig, message: PendingMail) -> EmailMessage:
    if message.to is None:  # a mark no node wrote: left dead on the queue for the operator
        raise MailError("the message to send names no recipient", code="mail_invalid")
    email = EmailMessage()
    email["From"] = smtp.sender or smtp.user or f"badgechain@{smtp.host}"
    email["To"] = message.to
    email["Subject"] = message.subject or ""
    email.set_content(message.body or "")
    return email


def _starttls_context(services: Services) -> ssl.SSLContext:
    """The context STARTTLS checks the server with: the system's roots plus the node's CA
    file (config `tls_ca_file` or BADGECHAIN_TLS_CA_FILE, as outbound HTTPS); certificate
    and host name always checked."""
    context = tls_context(services.config)
    return context if isinstance(context, ssl.SSLContext) else ssl.create_default_context()


def _deliver(
    smtp: SmtpConfig,
    password: str | None,
    email: EmailMessage,
    tls: ssl.SSLContext | None,
    timeout_s: float,
) -> None:
    """One SMTP exchange (blocking: run in a thread). Every failure is a MailError."""
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout_s) as client:
            if tls is not None:
                _starttls(client, tls)
            if smtp.user:
                client.login(smtp.user, password or "")
            client.send_message(email)
    except smtplib.SMTPResponseException as exc:
        said = exc.smtp_error
        detail = (said.decode(errors="replace") if isinstance(said, bytes) else said)[:200]
        raise MailError(
            f"the SMTP server refused: {exc.smtp_code} {detail}", code="smtp_refused"
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError("the SMTP server refused the recipient", code="smtp_refused") from exc
    except MailError:
        raise
    except smtplib.SMTPNotSupportedError as exc:  # e.g. no AUTH offered (before STARTTLS)
        raise MailError(f"the SMTP server refused: {exc}"[:300], code="smtp_refused") from exc
    except (OSError, smtplib.SMTPException) as exc:
        # (smtplib's own errors are OSErrors too: a server that hung up mid-exchange)
        smtp_said = isinstance(exc, smtplib.SMTPException)
        why = "it broke off the exchange" if smtp_said else why_unreachable(exc)
        raise MailError(f"the SMTP server is unreachable: {why}", code="smtp_unreachable") from exc


def _starttls(client: smtplib.SMTP, tls: ssl.SSLContext) -> None:
    """Upgrade to TLS before anything else is said: a server that offers no STARTTLS, or
    whose certificate does not check out, gets no password and no mail."""
    try:
        client.starttls(context=tls)
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError("the SMTP server offers no STARTTLS", code="smtp_tls_failed") from exc
    except ssl.SSLError as exc:  # a certificate that does not check out, a bad handshake
        raise MailError(f"STARTTLS failed: {why_unreachable(exc)}", code="smtp_tls_failed") from exc


def smtp_password(home: Path, smtp: SmtpConfig) -> str | None:
    """The SMTP password: BADGECHAIN_SMTP_PASSWORD, else the 0600 `password_file`, else None."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not smtp.password_file:
        return None
    path = home / smtp.password_file
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()[: _MAX_PASSWORD_BYTES + 1]
    except OSError as exc:
        raise MailError(f"{path}: {exc.strerror}", code="smtp_password_missing") from exc
    if stat.S_IMODE(mode) & 0o077:
        raise MailError(
            f"{path} must be readable by its owner only (chmod 600)", code="smtp_password_file_open"
        )
    if len(data) > _MAX_PASSWORD_BYTES:
        raise MailError(f"{path} is over {_MAX_PASSWORD_BYTES} bytes", code="smtp_password_missing")
    return data.decode(errors="replace").strip()
