"""Forwarding a notification by email (:class:`SmtpForwarder`, :func:`format_email`).

Plain SMTP through the standard library (:mod:`smtplib` in a worker thread, so the sink's event
loop never blocks). With ``username``/``password`` the forwarder logs in (``AUTH``) after EHLO;
there is no STARTTLS: use a relay on the local host or a trusted network.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from quantlab.errors import ParameterError
from quantlab.serve.alert_forward import ForwardError, TransientForwardError
from quantlab.serve.alert_payload import Alert, Notification

__all__ = ["SmtpForwarder", "format_email", "parse_smtp_address"]


def parse_smtp_address(text: str) -> tuple[str, int]:
    """``"host:port"`` (or ``"host"``, port 25) as ``(host, port)``.

    Raises
    ------
    ParameterError
        No host, or a port that is not an integer in 1..65535.
    """
    host, sep, port_text = str(text).strip().rpartition(":")
    if not sep:
        host, port_text = port_text, "25"
    host = host.strip("[]")
    if not host:
        raise ParameterError(f"--smtp must be HOST:PORT, got {text!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ParameterError(f"--smtp port must be an integer, got {port_text!r}") from None
    if not 1 <= port <= 65535:
        raise ParameterError(f"--smtp port must be in 1..65535, got {port}")
    return host, port


def _check_address(value: str, name: str) -> str:
    value = str(value).strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(c in value for c in " \r\n,<>"):
        raise ParameterError(f"{name} must be an email address like ops@example.com, "
                             f"got {value!r}")
    return value


def _subject(notification: Notification) -> str:
    firing, resolved = len(notification.firing()), len(notification.resolved())
    state = f"FIRING:{firing}" if firing else f"RESOLVED:{resolved}"
    labels = notification.group_labels or notification.common_labels
    name = labels.get("alertname") or (notification.alerts[0].name if notification.alerts
                                       else "alerts")
    rest = " ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
    return f"[quantlab] [{state}] {name}" + (f" ({rest})" if rest else "")


def _alert_text(alert: Alert) -> list[str]:
    lines = [f"[{alert.status.upper()}] {alert.name}"
             + (f"  severity={alert.labels['severity']}" if "severity" in alert.labels else "")]
    for key in ("summary", "description"):
        if alert.annotations.get(key):
            lines.append(f"  {alert.annotations[key]}")
    shown = {k: v for k, v in sorted(alert.labels.items()) if k not in ("alertname", "severity")}
    if shown:
        lines.append("  labels: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    lines.append(f"  since {alert.starts_at}"
                 + (f", ended {alert.ends_at}" if alert.status == "resolved" else ""))
    if alert.generator_url:
        lines.append(f"  source: {alert.generator_url}")
    return lines


def format_email(notification: Notification, sender: str,
                 recipients: Sequence[str]) -> EmailMessage:
    """The email of one notification: subject ``[quantlab] [FIRING:n] alertname (labels)``,
    a plain-text body with one paragraph per alert (summary, description, labels, times)."""
    msg = EmailMessage()
    msg["Subject"] = _subject(notification)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="quantlab.alerts")
    head = (f"{len(notification.firing())} firing, {len(notification.resolved())} resolved"
            + (f" (receiver {notification.receiver})" if notification.receiver else "")
            + (f", {notification.truncated} more not shown" if notification.truncated else ""))
    body = [head, ""]
    for alert in notification.alerts:
        body += [*_alert_text(alert), ""]
    if notification.external_url:
        body.append(f"Alertmanager: {notification.external_url}")
    msg.set_content("\n".join(body).rstrip() + "\n")
    return msg


class SmtpForwarder:
    """Email each notification through an SMTP server.

    Parameters
    ----------
    host : str
    port : int
    sender : str
        ``From`` address.
    recipients : sequence of str
        ``To`` addresses (at least one).
    username, password : str, optional
        Log in after EHLO when both are given.
    timeout_s : float, default 10.0
        Socket timeout.

    Raises
    ------
    ParameterError
        A malformed address, no recipient, or only one of username/password.
    """

    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], *,
                 username: str | None = None, password: str | None = None,
                 timeout_s: float = 10.0) -> None:
        if not host or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ParameterError(f"SMTP server must be a host and a port in 1..65535, "
                                 f"got {host!r}:{port!r}")
        self.sender = _check_address(sender, "--smtp-from")
        self.recipients = [_check_address(r, "--smtp-to") for r in recipients]
        if not self.recipients:
            raise ParameterError("--smtp needs at least one --smtp-to address")
        if bool(username) != bool(password):
            raise ParameterError("SMTP login needs both a username and a password")
        self.host, self.port = host, port
        self._login = (username, password) if username and password else None
        self._timeout = float(timeout_s)
        self.target = f"smtp://{host}:{port}"

    def _send_sync(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
            smtp.ehlo()
            if self._login is not None:
                smtp.login(*self._login)
            smtp.send_message(msg, from_addr=self.sender, to_addrs=self.recipients)

    async def send(self, notification: Notification) -> None:
        """Send the email of ``notification`` (:func:`format_email`)."""
        msg = format_email(notification, self.sender, self.recipients)
        try:
            await asyncio.to_thread(self._send_sync, msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = f"{self.target} refused the recipients: {exc.recipients}"
            if all(400 <= c < 500 for c in codes):
                raise TransientForwardError(error) from None
            raise ForwardError(error) from None
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)
            error = f"{self.target} answered {exc.smtp_code} {text}"
            if 400 <= exc.smtp_code < 500:
                raise TransientForwardError(error) from None
            raise ForwardError(error) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ForwardError(f"{self.target}: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientForwardError(
                f"{self.target}: {type(exc).__name__}: {exc}".rstrip(": ")) from None
