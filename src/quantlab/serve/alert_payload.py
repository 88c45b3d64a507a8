"""Alertmanager's webhook payload (version 4), parsed and checked (:func:`parse_notification`).

Alertmanager POSTs one JSON document per notification::

    {"version": "4", "groupKey": "...", "truncatedAlerts": 0, "status": "firing",
     "receiver": "quantlab-sink", "groupLabels": {...}, "commonLabels": {...},
     "commonAnnotations": {...}, "externalURL": "http://127.0.0.1:9093",
     "alerts": [{"status": "firing", "labels": {"alertname": "...", ...},
                 "annotations": {...}, "startsAt": "2024-01-01T00:00:00.000Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "...",
                 "fingerprint": "c0ffee..."}]}

Timestamps are kept as the strings Alertmanager sent: an alert is identified by
``(fingerprint, status, startsAt)``, and Alertmanager repeats those exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from quantlab.errors import ParameterError

__all__ = ["ALERT_STATUSES", "Alert", "AlertPayloadError", "Notification", "label_fingerprint",
           "parse_notification"]

#: The two states of an alert in a notification.
ALERT_STATUSES = ("firing", "resolved")


class AlertPayloadError(ParameterError):
    """A webhook body is not an Alertmanager (version 4) notification; the message names the
    first bad field (the sink answers HTTP 400 with it)."""


@dataclass(frozen=True)
class Alert:
    """One alert of a notification.

    Attributes
    ----------
    status : str
        ``"firing"`` or ``"resolved"``.
    labels, annotations : dict of str to str
        As Alertmanager sent them (``labels["alertname"]`` names the rule).
    starts_at, ends_at : str
        RFC 3339 timestamps as sent (``ends_at`` is ``"0001-01-01T00:00:00Z"`` while firing).
    fingerprint : str
        Alertmanager's label-set hash (computed from the labels when a sender omits it).
    generator_url : str
        Link to the Prometheus expression ("" when absent).
    """

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str
    fingerprint: str
    generator_url: str = ""

    @property
    def name(self) -> str:
        """The ``alertname`` label ("" when missing)."""
        return self.labels.get("alertname", "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict in Alertmanager's field names."""
        return {"status": self.status, "labels": dict(self.labels),
                "annotations": dict(self.annotations), "startsAt": self.starts_at,
                "endsAt": self.ends_at, "generatorURL": self.generator_url,
                "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class Notification:
    """One webhook notification: a group of alerts sent together.

    Attributes
    ----------
    status : str
        ``"firing"`` when at least one alert fires, else ``"resolved"``.
    receiver, group_key, external_url : str
        Alertmanager's receiver name, group key and own URL ("" when absent).
    group_labels, common_labels, common_annotations : dict of str to str
        Labels shared by the group.
    alerts : tuple of Alert
    truncated : int
        Alerts left out by ``max_alerts``.
    raw : dict
        The document as received (what is forwarded to a URL).
    """

    status: str
    receiver: str
    group_key: str
    external_url: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    alerts: tuple[Alert, ...]
    truncated: int = 0
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def firing(self) -> list[Alert]:
        """The alerts of this notification that fire."""
        return [a for a in self.alerts if a.status == "firing"]

    def resolved(self) -> list[Alert]:
        """The alerts of this notification that are resolved."""
        return [a for a in self.alerts if a.status == "resolved"]


def _text(obj: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if value is None:
        raise AlertPayloadError(f"{where}: missing {key!r}")
    if not isinstance(value, str):
        raise AlertPayloadError(f"{where}: {key!r} must be a string, got {type(value).__name__}")
    return value


def _labels(obj: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = obj.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AlertPayloadError(f"{where}: {key!r} must be an object, got {type(value).__name__}")
    for k, v in value.items():
        if not isinstance(v, str):
            raise AlertPayloadError(f"{where}: {key}[{k!r}] must be a string, "
                                    f"got {type(v).__name__}")
    return dict(value)


def _status(obj: dict[str, Any], where: str) -> str:
    status = _text(obj, "status", where)
    if status not in ALERT_STATUSES:
        raise AlertPayloadError(f"{where}: status must be 'firing' or 'resolved', got {status!r}")
    return status


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stable fingerprint of a label set (16 hex digits of the SHA-256 of its sorted JSON),
    used when a sender gives no ``fingerprint``."""
    text = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _alert(obj: Any, i: int) -> Alert:
    where = f"alerts[{i}]"
    if not isinstance(obj, dict):
        raise AlertPayloadError(f"{where} must be an object, got {type(obj).__name__}")
    labels = _labels(obj, "labels", where)
    if not labels:
        raise AlertPayloadError(f"{where}: 'labels' must name the alert (alertname)")
    fingerprint = _text(obj, "fingerprint", where, "") or label_fingerprint(labels)
    return Alert(status=_status(obj, where), labels=labels,
                 annotations=_labels(obj, "annotations", where),
                 starts_at=_text(obj, "startsAt", where),
                 ends_at=_text(obj, "endsAt", where, ""),
                 fingerprint=fingerprint,
                 generator_url=_text(obj, "generatorURL", where, ""))


def parse_notification(doc: Any) -> Notification:
    """Check an Alertmanager webhook document and return it as a :class:`Notification`.

    Parameters
    ----------
    doc : Any
        The decoded JSON body.

    Returns
    -------
    Notification

    Raises
    ------
    AlertPayloadError
        Not an object, a ``version`` other than ``"4"``, no ``alerts`` list, or an alert
        without labels, a valid status or ``startsAt`` (the message names the field).
    """
    if not isinstance(doc, dict):
        raise AlertPayloadError(f"notification must be a JSON object, got {type(doc).__name__}")
    version = doc.get("version", "4")
    if version != "4":
        raise AlertPayloadError(f"notification version {version!r} is not supported (only '4')")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise AlertPayloadError("notification: 'alerts' must be a list")
    parsed = tuple(_alert(a, i) for i, a in enumerate(alerts))
    status = _text(doc, "status", "notification",
                   "firing" if any(a.status == "firing" for a in parsed) else "resolved")
    if status not in ALERT_STATUSES:
        raise AlertPayloadError(f"notification: status must be 'firing' or 'resolved', "
                                f"got {status!r}")
    truncated = doc.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise AlertPayloadError(f"notification: 'truncatedAlerts' must be an integer >= 0, "
                                f"got {truncated!r}")
    return Notification(
        status=status, receiver=_text(doc, "receiver", "notification", ""),
        group_key=_text(doc, "groupKey", "notification", ""),
        external_url=_text(doc, "externalURL", "notification", ""),
        group_labels=_labels(doc, "groupLabels", "notification"),
        common_labels=_labels(doc, "commonLabels", "notification"),
        common_annotations=_labels(doc, "commonAnnotations", "notification"),
        alerts=parsed, truncated=truncated, raw=doc)
