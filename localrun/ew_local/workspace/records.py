"""What the workspace reads back from the local cloud for its pages: the audit trail and the outbox."""

from __future__ import annotations

import email
import json
from dataclasses import dataclass
from email import policy
from typing import Any

from ew.audit import AuditEntry
from ew_local.cloud import ACTION_URL, NAMES, LocalCloud


@dataclass(frozen=True)
class SentEmail:
    to: str
    subject: str
    text: str  # the action links point at this server's /email pages (relative)


def audit_entries(cloud: LocalCloud) -> list[AuditEntry]:
    """Every ew-audit row, newest first."""
    pages = cloud.dynamodb.get_paginator("scan").paginate(TableName=NAMES["EW_AUDIT_TABLE"])
    entries = [_audit_entry(row) for page in pages for row in page["Items"]]
    return sorted(entries, key=lambda e: e.ts, reverse=True)


def sent_emails(cloud: LocalCloud) -> list[SentEmail]:
    """Every email sent, newest first, its signed links pointing at this server (relative)."""
    sent = []
    for raw in cloud.sent_emails():
        message = email.message_from_string(raw["raw_data"], policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body else ""
        text = text.replace("\r\n", "\n").replace(ACTION_URL.rstrip("/"), "")
        sent.append(SentEmail(str(message["To"]), " ".join(str(message["Subject"]).split()), text))
    return sent[::-1]


def _audit_entry(row: dict[str, Any]) -> AuditEntry:
    def text(name: str) -> str:
        return str(row[name]["S"])

    before, after = json.loads(text("before")), json.loads(text("after"))
    return AuditEntry(text("item_id"), text("ts"), text("action"), text("by_user"), before, after)
