"""What a notification says: short Vietnamese + English titles and the webhook JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract import utc_iso
from control_room.alerts.model import Transition

# rule -> (Vietnamese, English): short enough for a phone's lock screen
TITLES: dict[str, tuple[str, str]] = {
    "gateway_offline": ("Mất kết nối gateway", "Gateway offline"),
    "gateway_stopped": ("Gateway đã dừng", "Gateway stopped"),
    "camera_offline": ("Camera mất tín hiệu", "Camera offline"),
    "light_not_due": ("Đèn không đúng lịch", "Light not in its scheduled state"),
    "light_driver_error": ("Lỗi rơ-le đèn", "Light relay error"),
    "hotspot_down": ("Điểm wifi mất kết nối", "Wifi hotspot down"),
    "hotspot_degraded": ("Điểm wifi kém chất lượng", "Wifi hotspot degraded"),
    "clock_unsynced": ("Đồng hồ chưa đồng bộ", "Clock not synchronised"),
    "outbox_backlog": ("Dữ liệu tồn đọng chưa gửi", "Outbox backlog"),
    "disk_low": ("Sắp hết dung lượng đĩa", "Disk space low"),
    "seq_loss": ("Mất dữ liệu", "Messages lost"),
}
_KIND = {"fired": ("Cảnh báo", "Alert"), "resolved": ("Đã khắc phục", "Resolved"),
         "pending": ("Theo dõi", "Pending"), "cancelled": ("Đã huỷ", "Cancelled")}


def titles(transition: Transition) -> tuple[str, str]:
    """(Vietnamese, English) title, e.g. ("Cảnh báo: Camera mất tín hiệu — xa-a/gw1 gate",
    "Alert: Camera offline — xa-a/gw1 gate")."""
    alert = transition.alert
    vi, en = TITLES.get(alert.rule, (alert.rule, alert.rule))
    kind_vi, kind_en = _KIND[transition.kind]
    subject = alert.subject_name or alert.subject  # "Cổng làng", not "cong-lang"
    where = f"{alert.site}/{alert.gateway}" + (f" {subject}" if subject else "")
    return f"{kind_vi}: {vi} — {where}", f"{kind_en}: {en} — {where}"


def notification_id(transition: Transition) -> str:
    """Stable per alert life and kind: a receiver de-duplicates on it (Idempotency-Key)."""
    return f"{transition.alert.incident}:{transition.kind}"


def _iso(moment: datetime | None) -> str | None:
    return utc_iso(moment) if moment is not None else None


def payload(transition: Transition) -> dict[str, Any]:
    """The webhook's JSON body."""
    alert = transition.alert
    vi, en = titles(transition)
    return {
        "id": notification_id(transition), "kind": transition.kind, "rule": alert.rule,
        "key": alert.key, "incident": alert.incident, "site": alert.site,
        "gateway": alert.gateway, "subject": alert.subject,
        "subject_name": alert.subject_name, "severity": alert.severity,
        "status": alert.status, "message": alert.message, "since": _iso(alert.since),
        "fired_at": _iso(alert.fired_at), "resolved_at": _iso(alert.resolved_at),
        "at": _iso(transition.at), "acked_by": alert.acked_by, "ack_note": alert.ack_note,
        "title": f"{vi} / {en}", "title_vi": vi, "title_en": en,
        "extra": dict(transition.extra),
    }


def body_text(transition: Transition) -> str:
    """Plain text for apprise (Telegram, e-mail, ntfy): the detail line and the times."""
    alert = transition.alert
    lines = [alert.message, f"{alert.site}/{alert.gateway} · {alert.severity}",
             f"since {_iso(alert.since)}"]
    if alert.resolved_at is not None:
        lines.append(f"resolved {_iso(alert.resolved_at)}")
    if alert.acked_by:
        lines.append(f"acknowledged by {alert.acked_by}" +
                     (f": {alert.ack_note}" if alert.ack_note else ""))
    return "\n".join(lines)
