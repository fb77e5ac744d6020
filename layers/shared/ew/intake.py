"""intake-parser's service (DESIGN.md §3, §8, §9): a forwarded mail, as SES stored it in the raw-mime
bucket, becomes one proposal card in the intake channel.

    raw MIME → read_mail → spam/virus FAIL? recorded, dropped → claim the Message-ID (once per mail)
    → extract (Bedrock when configured, else or on any failure the offline reader) → copy each source
    file to the source-files bucket → the proposal card, with the evidence quote and the file's place

Untrusted input never makes a crash loop: the readers never raise, what could not be read goes on the
card as a warning, and a mail the code chokes on is recorded and answered with a card saying so. Only a
failure of our own services (S3, DynamoDB, Slack) raises, so Lambda retries it twice and then the DLQ.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ew import proposals
from ew.extraction import ProposalModel, Source, extract, source_from_mail, to_draft
from ew.settings import Settings
from opskit.documents import read_mail
from opskit.slack import SlackGateway
from opskit.state import Busy, Done, StateTable

log = logging.getLogger(__name__)

PK = "mail"  # state rows: ("mail", "<message id>") — one per forwarded mail, whatever happened to it
# Longer than the function's 60 s timeout: a live attempt is never taken over (opskit.state.claim).
LEASE = timedelta(seconds=90)
KEEP = timedelta(days=400)  # SES may deliver the same mail again days later; a year of memory is cheap
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9._-]+")

# What happened to a mail (the state row's "outcome"; also the handler's answer).
PROPOSED, DROPPED, DUPLICATE = "proposed", "dropped", "duplicate"


class IntakeNotConfigured(RuntimeError):
    """No intake channel or no Slack token: the mail waits in the bucket (retried, then the DLQ)."""


@dataclass
class IntakeDeps:
    s3: Any
    state: StateTable
    slack: SlackGateway | None
    settings: Settings
    source_bucket: str  # where each source file is copied, for the card to point at
    model: ProposalModel | None = None  # None: the offline reader only
    clock: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())
    config_path: str = "/ew/config/"


@dataclass
class IntakeResult:
    outcome: str
    message_id: str
    proposal_id: str = ""
    expiry_date: str = ""
    why: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def mail_key(raw: bytes, message_id: str) -> str:
    """The claim's key: the Message-ID (the same mail forwarded twice, or delivered twice by SES), or
    the mail's own hash when it has none."""
    return message_id.strip() or "sha256:" + hashlib.sha256(raw).hexdigest()


def run_intake(deps: IntakeDeps, bucket: str, key: str) -> IntakeResult:
    raw = bytes(deps.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return take_mail(deps, raw, f"s3://{bucket}/{key}")


def take_mail(deps: IntakeDeps, raw: bytes, where: str) -> IntakeResult:
    if not deps.settings.intake_channel:
        raise IntakeNotConfigured(f"{deps.config_path}intake_channel is not set: nowhere to post proposals")
    if deps.slack is None:
        raise IntakeNotConfigured("Slack is off (no bot token): the proposal cannot be posted")
    mail = read_mail(raw)
    message_id = mail_key(raw, mail.message_id)
    now = deps.clock()
    record = {"object": where, "sender": mail.sender, "subject": mail.subject}
    try:
        claimed = deps.state.claim(PK, message_id, record, now, lease=LEASE, keep=KEEP)
    except Busy:
        # Another attempt is reading this very mail. Fail, so Lambda retries: by then it is done (a
        # duplicate), or it died and its lease has run out (this attempt takes over).
        raise
    if isinstance(claimed, Done):
        log.info("mail %s was already taken (%s)", message_id, claimed.data.get("outcome"))
        return IntakeResult(DUPLICATE, message_id, str(claimed.data.get("proposal_id", "")))
    with deps.state.holding(claimed):
        source = source_from_mail(mail)
        if source.refused:
            result = IntakeResult(DROPPED, message_id, why=source.refused)
            log.warning("mail %s dropped: %s", message_id, source.refused)
        else:
            # The same mail always gets the same proposal id: a retry after a crash reposts that card.
            proposal_id = hashlib.sha256(message_id.encode()).hexdigest()[:12]
            proposal = _proposal(deps, source, raw, proposal_id)
            ts = proposals.propose(deps.state, deps.slack, deps.settings.intake_channel, proposal, now)
            record["ts"] = ts
            expiry = proposal.fields.get("expiry_date", "")
            result = IntakeResult(PROPOSED, message_id, proposal_id, expiry)
    # What happened, for the next delivery of this mail and for whoever asks (the claim is done now).
    deps.state.put(PK, message_id, {**record, **result.as_dict()}, now, KEEP)
    return result


def _proposal(deps: IntakeDeps, source: Source, raw: bytes, proposal_id: str) -> proposals.Proposal:
    try:
        extraction = extract(source, model=deps.model, date_order=deps.settings.date_order)
        draft = to_draft(extraction, source, source.sender)
    except Exception as exc:  # a reader bug on crafted input: say so on the card, never a retry loop
        log.exception("extraction failed for proposal %s", proposal_id)
        fields = {"owner": source.sender} if source.sender else {}
        why = f"the mail could not be read ({type(exc).__name__}); fill in the row by hand"
        return proposals.Proposal(proposal_id, fields, source.description, (why,))
    links = _keep_sources(deps, source, raw, proposal_id)
    described = draft.source
    if draft.evidence:
        described += f" · Evidence: “{draft.evidence}”"
    if links:
        described += " · Source: " + ", ".join(links)
    base = draft.proposal(proposal_id)
    return proposals.Proposal(proposal_id, base.fields, described, base.warnings)


def _keep_sources(deps: IntakeDeps, source: Source, raw: bytes, proposal_id: str) -> list[str]:
    """Copy each attachment (or the mail itself when it has none) to the source-files bucket; the card
    names where (an s3:// address: a presigned link would expire, and Slack cannot open either without
    AWS access)."""
    files = [(d.name, d.data, d.content_type) for d in source.documents if d.data]
    if not files:
        files = [("mail.eml", raw, "message/rfc822")]
    links = []
    for name, data, content_type in files:
        key = f"{proposal_id}/{_UNSAFE_KEY.sub('_', name).strip('._') or 'file'}"
        deps.s3.put_object(
            Bucket=deps.source_bucket,
            Key=key,
            Body=data,
            ContentType=content_type or "application/octet-stream",
        )
        links.append(f"s3://{deps.source_bucket}/{key}")
    return links
