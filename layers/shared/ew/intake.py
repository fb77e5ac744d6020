"""intake-parser's service (DESIGN.md §3, §8, §9): a forwarded mail, as SES stored it in the raw-mime
bucket, becomes one proposal card in the intake channel.

    raw MIME → read_mail → claim the Message-ID (once per mail) → spam/virus FAIL? recorded, dropped
    → copy each source file to the source-files bucket → a scanned PDF? Textract reads it and its
    notice resumes the mail (resume_after_ocr) → extract (Bedrock when configured, else or on any
    failure the offline reader) → the proposal card, with the evidence quote and the files' places

Untrusted input never makes a crash loop: the readers never raise, what could not be read goes on the
card as a warning, and a mail the code chokes on is recorded and answered with a card saying so. Only a
failure of our own services (S3, DynamoDB, Slack) raises, so Lambda retries it twice and then the DLQ.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ew import proposals
from ew.extraction import ProposalModel, Source, extract, source_from_mail, to_draft
from ew.items import Item
from ew.settings import Settings
from opskit.dates import human_date
from opskit.documents import LIMITS, PDF, read_mail
from opskit.slack import SlackGateway
from opskit.state import Done, StateTable

log = logging.getLogger(__name__)

PK = "mail"  # state rows: ("mail", "<message id>") — one per forwarded mail, whatever happened to it
# Longer than the function's 60 s timeout: a live attempt is never taken over (opskit.state.claim).
LEASE = timedelta(seconds=90)
KEEP = timedelta(days=400)  # SES may deliver the same mail again days later; a year of memory is cheap
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9._-]+")

# What happened to a mail (the state row's "outcome"; also the handler's answer).
PROPOSED, DROPPED, DUPLICATE, WAITING_FOR_OCR = "proposed", "dropped", "duplicate", "waiting for OCR"
SKIPPED = "skipped"  # not a mail at all (SES's setup notice, a console folder) or gone before it was read
SES_SETUP_NOTICE = "AMAZON_SES_SETUP_NOTIFICATION"  # SES writes it under the rule's prefix once, on set-up
OCR, OCR_DONE = "ocr", "ocr-done"  # state rows: a Textract job and the mail waiting for it; its card posted
OCR_KEEP = timedelta(days=7)  # Textract keeps a job's results for 7 days
OCR_NOTE = "{} was read by OCR (check the text it gives)"
OCR_NOT_STARTED = "the scanned PDF could not be sent to OCR (Textract refused the job)"


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
    # The registry's items, read once per card: the people it names (owners, owner emails) are the only
    # owners a model may guess besides the sender, and an item already there gets a warning.
    registry: Callable[[], Sequence[Item]] = field(default=lambda: ())
    textract: Any | None = None  # with ocr_topic_arn: scanned PDFs go to Textract (else "needs OCR")
    ocr_topic_arn: str = ""
    ocr_role_arn: str = ""
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


def not_a_mail(key: str, raw: bytes) -> str:
    """Why an object created under the SES prefix is no forwarded mail ("" when it may be one): each
    would otherwise make an empty card in the intake channel."""
    if key.rpartition("/")[2] == SES_SETUP_NOTICE:
        return "SES's setup notice, not a forwarded mail"
    if key.endswith("/"):
        return "a folder, not a forwarded mail"  # the S3 console's "Create folder"
    if not raw.strip():
        return "an empty object, not a forwarded mail"
    return ""


def run_intake(deps: IntakeDeps, bucket: str, key: str) -> IntakeResult:
    try:
        raw = bytes(deps.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        # Deleted (by hand, or by a second event's late copy) before this event was handled: retrying
        # cannot bring it back, and the DLQ would only alarm about a mail nobody can read.
        if exc.response.get("Error", {}).get("Code") != "NoSuchKey":
            raise
        return IntakeResult(SKIPPED, "", why="no longer in the bucket (deleted before it was read)")
    skip = not_a_mail(key, raw)
    if skip:
        return IntakeResult(SKIPPED, "", why=skip)
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
    # Busy (raised) while another attempt reads this very mail: Lambda retries, and by then it is done
    # (a duplicate), or it died and its lease has run out (that attempt is taken over).
    claimed = deps.state.claim(PK, message_id, record, now, lease=LEASE, keep=KEEP)
    if isinstance(claimed, Done):
        log.info("mail %s was already taken (%s)", message_id, claimed.data.get("outcome"))
        return IntakeResult(DUPLICATE, message_id, str(claimed.data.get("proposal_id", "")))
    with deps.state.holding(claimed):
        source = source_from_mail(mail)
        # The same mail always gets the same proposal id: a retry after a crash reposts that card.
        proposal_id = hashlib.sha256(message_id.encode()).hexdigest()[:12]
        if source.refused:
            result = IntakeResult(DROPPED, message_id, why=source.refused)
            log.warning("mail %s dropped: %s", message_id, source.refused)
        else:
            links = _keep_sources(deps, source, raw, proposal_id)
            # Kept before the job starts: its notice can arrive before this attempt's next line.
            waiting = {**record, "message_id": message_id, "proposal_id": proposal_id,
                       "document": job_document(source), "links": links}  # fmt: skip
            if _wants_ocr(deps, source, links):
                deps.state.put(OCR, proposal_id, waiting, now, OCR_KEEP)
            job = _start_ocr(deps, source, links, proposal_id)
            if job:
                result = IntakeResult(WAITING_FOR_OCR, message_id, proposal_id)
            else:
                warnings = (OCR_NOT_STARTED,) if job is None else ()
                result, record["ts"] = _post(deps, source, links, proposal_id, message_id, now, warnings)
        # What happened, for the next delivery of this mail and for whoever asks: written with the
        # claim's completion (one write; an OCR notice that recorded the card first is not overwritten).
        deps.state.remember(claimed, {**record, **result.as_dict()})
    return result


def _post(
    deps: IntakeDeps, source: Source, links: dict[str, str], proposal_id: str, message_id: str,
    now: datetime, warnings: tuple[str, ...] = (),
) -> tuple[IntakeResult, str]:  # fmt: skip
    """Post the card: the result, and the card's ts."""
    assert deps.slack is not None
    proposal = _proposal(deps, source, proposal_id, list(links.values()))
    proposal = replace(proposal, warnings=proposal.warnings + warnings)
    ts = proposals.propose(deps.state, deps.slack, deps.settings.intake_channel, proposal, now)
    return IntakeResult(PROPOSED, message_id, proposal_id, proposal.fields.get("expiry_date", "")), ts


def _proposal(deps: IntakeDeps, source: Source, proposal_id: str, links: list[str]) -> proposals.Proposal:
    # Read before the reader's guard below: the registry's problems are not the mail's.
    items = deps.registry()
    known = tuple(people(items)) if deps.model is not None else ()
    try:
        extraction = extract(
            source, model=deps.model, known_people=known, date_order=deps.settings.date_order
        )
        draft = to_draft(extraction, source, source.sender)
    except Exception as exc:  # a reader bug on crafted input: say so on the card, never a retry loop
        log.exception("extraction failed for proposal %s", proposal_id)
        fields = {"owner": source.sender} if source.sender else {}
        why = f"the mail could not be read ({type(exc).__name__}); fill in the row by hand"
        return proposals.Proposal(proposal_id, fields, source.description, (why,))
    described = draft.source
    if draft.evidence:
        described += f" · Evidence: “{draft.evidence}”"
    if links:
        described += " · Source: " + ", ".join(links)
    base = draft.proposal(proposal_id)
    warnings = base.warnings + already_in_registry(base.fields, items)
    return proposals.Proposal(proposal_id, base.fields, described, warnings)


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def already_in_registry(fields: Mapping[str, str], items: Sequence[Item]) -> tuple[str, ...]:
    """The warning for a proposal whose item the sheet already has (a second mail about the same
    contract has its own Message-ID, so it makes its own card): as calendar-sync does for a moved event,
    the card says so and Approve still works. Matched by name alone, so a renewal notice (same name, a
    later expiry) is caught too: approving it would leave the old row alerting beside the new one."""
    name = _name_key(fields.get("item", ""))
    # a retired row is no longer watched: a new contract of the same name is a new row
    same = [i for i in items if name and _name_key(i.item) == name and i.status != "retired"]
    if not same:
        return ()
    try:
        proposed: date | None = date.fromisoformat(fields.get("expiry_date", ""))
    except ValueError:
        proposed = None
    found = next((i for i in same if i.expiry_date == proposed), same[0])
    where = f"{found.item_id} (row {found.row}, expiry {human_date(found.expiry_date)})"
    if found.expiry_date == proposed:
        return (f"this item is already in the sheet as {where}: Approve adds a second row; Discard this",)
    return (
        f"an item with this name is already in the sheet as {where}: Approve adds a second row; if this "
        "is its renewal, change that row's expiry_date in the sheet and Discard this",
    )


# -- scans: Textract, asynchronously -----------------------------------------------------------------


def job_document(source: Source) -> str:
    """The one scanned document of a mail that goes to OCR (the first: a forwarded contract is one)."""
    return source.needs_ocr[0].name if source.needs_ocr else ""


def _wants_ocr(deps: IntakeDeps, source: Source, links: Mapping[str, str]) -> bool:
    name = job_document(source)
    configured = deps.textract is not None and bool(deps.ocr_topic_arn)
    # Images would need the synchronous API: they stay "needs OCR" on the card.
    return configured and name in links and source.needs_ocr[0].kind == PDF


def _start_ocr(deps: IntakeDeps, source: Source, links: dict[str, str], proposal_id: str) -> str | None:
    """The Textract job reading the mail's scanned PDF, its completion announced on the SNS topic;
    "" when there is nothing to OCR (or OCR is not configured), None when Textract refused the job."""
    if not _wants_ocr(deps, source, links):
        return ""
    assert deps.textract is not None
    bucket, _, key = links[job_document(source)].removeprefix("s3://").partition("/")
    try:
        started = deps.textract.start_document_text_detection(
            DocumentLocation={"S3Object": {"Bucket": bucket, "Name": key}},
            ClientRequestToken=proposal_id,  # the same mail retried starts no second job
            JobTag=proposal_id,
            NotificationChannel={"SNSTopicArn": deps.ocr_topic_arn, "RoleArn": deps.ocr_role_arn},
        )
    except (ClientError, BotoCoreError) as exc:
        log.warning("Textract refused the OCR job for %s: %s", proposal_id, exc)
        return None
    return str(started["JobId"])


def resume_after_ocr(deps: IntakeDeps, notice: Mapping[str, Any]) -> IntakeResult | None:
    """Textract's completion notice (the SNS message): read the mail again with the scan's text in
    place of "needs OCR", and post its card once however often SNS delivers the notice."""
    job, proposal_id = str(notice.get("JobId", "")), str(notice.get("JobTag", ""))
    waiting = deps.state.get(OCR, proposal_id) if proposal_id else None
    if waiting is None:
        log.warning("no mail waits for the OCR job %s (tag %r)", job, proposal_id)
        return None
    data = waiting.data
    now = deps.clock()
    claimed = deps.state.claim(OCR_DONE, proposal_id, {"job": job}, now, lease=LEASE, keep=OCR_KEEP)
    if isinstance(claimed, Done):
        return IntakeResult(DUPLICATE, data["message_id"], data["proposal_id"])
    with deps.state.holding(claimed):
        bucket, _, key = str(data["object"]).removeprefix("s3://").partition("/")
        raw = bytes(deps.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        mail = read_mail(raw)
        warnings: tuple[str, ...] = ()
        if notice.get("Status") == "SUCCEEDED":
            text = ocr_text(deps.textract, job)
            mail = replace(mail, attachments=tuple(
                replace(d, text=text, problem="", needs_ocr=False, notes=(*d.notes, OCR_NOTE.format(d.name)))
                if d.name == data["document"] and d.needs_ocr and text.strip() else d
                for d in mail.attachments
            ))  # fmt: skip
            if not text.strip():
                warnings = (f"OCR found no text in {data['document']}",)
        else:
            warnings = (f"OCR could not read {data['document']} (Textract: {notice.get('Status')})",)
        links = dict(data.get("links") or {})
        ids = data["proposal_id"], data["message_id"]
        result, ts = _post(deps, source_from_mail(mail), links, *ids, now, warnings)
    record = {key: data.get(key) for key in ("object", "sender", "subject")}
    record = {**record, "ts": ts, **result.as_dict()}
    deps.state.put(PK, data["message_id"], record, now, KEEP)
    return result


def ocr_text(textract: Any, job: str) -> str:
    """The detected lines, page after page (GetDocumentTextDetection pages with NextToken)."""
    lines: list[str] = []
    params: dict[str, Any] = {"JobId": job, "MaxResults": 1000}
    while True:
        page = textract.get_document_text_detection(**params)
        lines += [b["Text"] for b in page.get("Blocks", []) if b.get("BlockType") == "LINE" and "Text" in b]
        if sum(map(len, lines)) > LIMITS.text_chars or not page.get("NextToken"):
            return "\n".join(lines)[: LIMITS.text_chars]
        params["NextToken"] = page["NextToken"]


def _keep_sources(deps: IntakeDeps, source: Source, raw: bytes, proposal_id: str) -> dict[str, str]:
    """Copy each attachment (or the mail itself when it has none) to the source-files bucket; the card
    names where (an s3:// address: a presigned link would expire, and Slack cannot open either without
    AWS access). Returns document name → s3:// address."""
    files = [(d.name, d.data, d.content_type) for d in source.documents if d.data]
    if not files:
        files = [("mail.eml", raw, "message/rfc822")]
    links, keys = {}, set()
    for name, data, content_type in files:
        # Distinct names can make one key once unsafe characters go ("scan (2).pdf", "scan_2_.pdf"):
        # number the later one, in the mail's order, so a retry writes the same keys.
        stem = _UNSAFE_KEY.sub("_", name).strip("._") or "file"
        key, n = f"{proposal_id}/{stem}", 2
        while key in keys:
            key, n = f"{proposal_id}/{n}-{stem}", n + 1
        keys.add(key)
        deps.s3.put_object(
            Bucket=deps.source_bucket,
            Key=key,
            Body=data,
            ContentType=content_type or "application/octet-stream",
        )
        links[name] = f"s3://{deps.source_bucket}/{key}"
    return links


def registry_read(s3: Any, bucket: str, date_order: str | None) -> list[Item]:
    """The mirrored registry's items; none when it cannot be read (the sender is then the only owner a
    model may name, and no card warns of a second row: a registry problem is the sheet's, never the
    mail's)."""
    from ew.daily_tick import UnreadableInput
    from ew.reporting import registry_items

    try:
        items, _ = registry_items(s3, bucket, date_order)
    except UnreadableInput as exc:
        log.warning("the registry could not be read for known owners and items: %s", exc)
        return []
    return items


def people(items: Sequence[Item]) -> list[str]:
    """Owners and owner emails the registry names."""
    return sorted({p for i in items for p in (i.owner, i.owner_email) if p})


def registry_people(s3: Any, bucket: str, date_order: str | None) -> list[str]:
    return people(registry_read(s3, bucket, date_order))
