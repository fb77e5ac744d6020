"""The ack-handler service (DESIGN.md §8, §9): Slack clicks and email-link clicks in, acks out.

Nothing is parsed before the Slack signature is checked. Every action acts once (a conditional put in
the state table), whoever clicks twice and however often Slack retries. The sheet write-back of a
renewal runs later, in an asynchronous invocation of this same function, so Slack always gets its
answer within 3 seconds however slow Google is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from slack_sdk.signature import SignatureVerifier

from ew import clicks, pages, proposals
from ew.audit import AuditLog
from ew.cards import PingRef
from ew.chain import ACK_ONLY, ACTIONS, RENEW, SNOOZE, Ack
from ew.settings import Settings
from ew.store import ChainStore
from opskit.once import OnceTable
from opskit.signed_links import LinkError, LinkExpired, verify
from opskit.slack import SlackGateway, SlackUnavailable, text_section

log = logging.getLogger(__name__)

MAX_BODY = 128 * 1024  # Slack's interactivity payloads are a few KB; anything far bigger is not Slack
SHEET_TASK = "sheet_renewal"
APPEND_TASK = "sheet_append"
ONE_YEAR = timedelta(days=365)


class Rejected(Exception):
    """A request refused before anything was read or written."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str = ""
    content_type: str = "application/json"


@dataclass
class AckDeps:
    store: ChainStore
    audit: AuditLog
    once: OnceTable
    slack: SlackGateway | None
    signing_secret: str
    link_secret: bytes | None
    settings: Settings
    defer: Callable[[dict[str, Any]], None]  # runs a task in an asynchronous invocation
    clock: Callable[[], datetime]
    verification_failures: list[str] = field(default_factory=list)  # for the metric

    def today(self) -> date:
        return self.clock().astimezone(ZoneInfo(self.settings.timezone)).date()


# -- acting once -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Acted:
    first: bool  # False: someone acted before; `line` says who and what
    line: str


def act(deps: AckDeps, ref: PingRef, action: str, by: str, value: date | None) -> Acted:
    """Record one answer to one ping: the ack, the audit row, and for a renewal the closed chain and
    the sheet write-back (later, asynchronously)."""
    now = deps.clock()
    today = deps.today()
    # A renewal closes the whole cycle, so it is once per cycle; the others once per ping.
    sk = RENEW if action == RENEW else f"{ref.chain_index}#{action}"
    record = {
        "action": action,
        "by": by,
        "on": today.isoformat(),
        "value": value.isoformat() if value else None,
    }
    done = deps.once.claim(f"act#{ref.item_id}#{ref.cycle_expiry.isoformat()}", sk, record, now)
    if done is not None:
        first = done.data
        when = date.fromisoformat(first["on"])
        picked = date.fromisoformat(first["value"]) if first.get("value") else None
        return Acted(False, clicks.answer_line(first["action"], first["by"], when, picked))

    deps.store.record_ack(
        Ack(
            ref.item_id,
            ref.cycle_expiry,
            action,
            now,
            by=by,
            snooze_until=value if action == SNOOZE else None,
            new_expiry=value if action == RENEW else None,
        ),
        chain_index=ref.chain_index,
        old_expiry=ref.cycle_expiry,
    )
    before, after = clicks.audit_change(action, ref.cycle_expiry, value)
    deps.audit.record(ref.item_id, action, by, before, after, now)
    if action == RENEW and value:
        chain = [
            r.ping for r in deps.store.chain_pings(ref.item_id) if r.ping.cycle_expiry == ref.cycle_expiry
        ]
        deps.store.archive(chain)
        deps.defer(
            {
                "task": SHEET_TASK,
                "item_id": ref.item_id,
                "old_expiry": ref.cycle_expiry.isoformat(),
                "new_expiry": value.isoformat(),
                "renewed_on": today.isoformat(),
                "by": by,
            }
        )
    return Acted(True, clicks.answer_line(action, by, today, value))


# -- Slack -------------------------------------------------------------------------------------------


def verify_slack(body: bytes, headers: Mapping[str, str], deps: AckDeps) -> None:
    """Refuse anything Slack did not sign in the last 5 minutes, before reading a byte of it."""
    if len(body) > MAX_BODY:
        raise Rejected(413, "request body too large")
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    now = int(deps.clock().timestamp())

    class Clock:
        def now(self) -> float:
            return now

    if not timestamp or not signature or not timestamp.isdigit():
        reason = "missing signature"
    elif abs(now - int(timestamp)) > 5 * 60:
        reason = "stale timestamp"
    elif not SignatureVerifier(deps.signing_secret, clock=Clock()).is_valid(body, timestamp, signature):  # type: ignore[arg-type]
        reason = "bad signature"
    else:
        return
    deps.verification_failures.append(reason)
    raise Rejected(401, reason)


def handle_slack(body: bytes, headers: Mapping[str, str], deps: AckDeps) -> HttpAnswer:
    verify_slack(body, headers, deps)
    try:
        payload = json.loads(parse_qs(body.decode("utf-8"))["payload"][0])
    except (KeyError, ValueError, UnicodeDecodeError):
        return HttpAnswer(400, json.dumps({"error": "expected a Slack interactivity payload"}))
    retry = headers.get("x-slack-retry-num")
    kind = payload.get("type")
    if kind == "block_actions":
        return _block_action(payload, deps, retried=bool(retry))
    if kind == "view_submission":
        return _view_submission(payload, deps)
    return HttpAnswer(200)


def _block_action(payload: dict[str, Any], deps: AckDeps, retried: bool) -> HttpAnswer:
    action = payload["actions"][0]
    action_id = action.get("action_id")
    if action_id in proposals.ACTIONS:
        return _proposal_button(payload, deps, retried)
    if action_id not in ACTIONS:
        return HttpAnswer(200)
    value = json.loads(action["value"])
    ref = PingRef.from_value(action["value"])
    user = payload["user"]["id"]
    channel = payload.get("container", {}).get("channel_id") or payload.get("channel", {}).get("id", "")
    ts = payload.get("container", {}).get("message_ts", "")
    if action_id == ACK_ONLY:
        acted = act(deps, ref, ACK_ONLY, user, None)
        _mark_answered(deps, channel, ts, payload.get("message", {}), acted.line)
        return HttpAnswer(200)
    if retried:
        # The first delivery already opened the modal; its trigger_id has expired anyway.
        return HttpAnswer(200)
    initial = date.fromisoformat(value["d"]) if action_id == RENEW and value.get("d") else None
    if initial is None or initial <= deps.today():
        initial = (
            clicks.snooze_default(deps.today()) if action_id == SNOOZE else deps.today() + timedelta(days=365)
        )
    blocks = tuple(payload.get("message", {}).get("blocks") or ())
    context = clicks.ModalContext(ref, channel, ts, value.get("x") or ref.item_id, blocks)
    if deps.slack is not None:
        try:
            deps.slack.open_view(payload["trigger_id"], clicks.date_modal(action_id, context, initial))
        except SlackUnavailable as exc:
            log.warning("could not open the %s modal: %s", action_id, exc)
    return HttpAnswer(200)


def _view_submission(payload: dict[str, Any], deps: AckDeps) -> HttpAnswer:
    view = payload["view"]
    action = view.get("callback_id")
    if action == proposals.EDIT:
        return _proposal_edited(payload, deps)
    if action not in (RENEW, SNOOZE):
        return HttpAnswer(200)
    context = clicks.ModalContext.loads(view["private_metadata"])
    picked, error = clicks.check_date(action, clicks.picked_date(view["state"]["values"]), deps.today())
    if error is None and picked is not None:
        acted = act(deps, context.ref, action, payload["user"]["id"], picked)
        if acted.first:
            message = {"blocks": list(context.blocks)} if context.blocks else None
            _mark_answered(deps, context.channel, context.ts, message, acted.line)
            return HttpAnswer(200, json.dumps({"response_action": "clear"}))
        error = "Already answered. " + acted.line
    return HttpAnswer(200, json.dumps({"response_action": "errors", "errors": {clicks.DATE_BLOCK: error}}))


def _mark_answered(deps: AckDeps, channel: str, ts: str, message: dict[str, Any] | None, line: str) -> None:
    """Replace the buttons with who did what. A failure here loses nothing: the ack is recorded."""
    if deps.slack is None or not channel or not ts:
        return
    blocks = (message or {}).get("blocks")
    updated = clicks.answered_blocks(blocks, line) if blocks else [text_section(line)]
    try:
        deps.slack.update(channel, ts, line, updated)
    except SlackUnavailable as exc:
        log.warning("could not update the message after a click: %s", exc)


# -- proposals ---------------------------------------------------------------------------------------


def decide(
    deps: AckDeps, proposal: proposals.Proposal, decision: str, by: str, fields: Mapping[str, str],
    channel: str, ts: str,
) -> Acted:  # fmt: skip
    """Approve (as proposed or edited) or discard, once; an approval appends the row asynchronously."""
    now = deps.clock()
    key = proposals.store_key(proposal.proposal_id)
    done = deps.once.claim(key, "decision", {"decision": decision, "by": by, "at": now.isoformat()}, now)
    if done is not None:
        first = done.data
        return Acted(
            False,
            proposals.decision_line(first["decision"], first["by"], datetime.fromisoformat(first["at"])),
        )
    audit_id = f"proposal:{proposal.proposal_id}"
    if decision == proposals.DISCARD:
        deps.audit.record(audit_id, decision, by, {"fields": dict(proposal.fields)}, {"discarded": True}, now)
        return Acted(True, proposals.decision_line(decision, by, now))
    deps.audit.record(
        audit_id, decision, by, {"fields": dict(proposal.fields)}, {"fields": dict(fields)}, now
    )
    deps.defer(
        {
            "task": APPEND_TASK,
            "proposal_id": proposal.proposal_id,
            "decision": decision,
            "fields": dict(fields),
            "source": proposal.source,
            "by": by,
            "channel": channel,
            "ts": ts,
        }
    )
    return Acted(True, proposals.decision_line(decision, by, now, ": adding it to the sheet"))


def _proposal_button(payload: dict[str, Any], deps: AckDeps, retried: bool) -> HttpAnswer:
    action = payload["actions"][0]
    user = payload["user"]["id"]
    channel = payload.get("container", {}).get("channel_id") or payload.get("channel", {}).get("id", "")
    ts = payload.get("container", {}).get("message_ts", "")
    message = payload.get("message", {})
    proposal = proposals.load(deps.once, str(action.get("value")))
    if proposal is None:
        _mark_answered(deps, channel, ts, message, "This proposal has expired; forward the document again.")
        return HttpAnswer(200)
    decision = action["action_id"]
    # An approval of a proposal that would not make a valid row opens the editor instead.
    if decision == proposals.APPROVE and proposals.check_fields(proposal.fields):
        decision = proposals.EDIT
    if decision == proposals.EDIT:
        decided = deps.once.get(proposals.store_key(proposal.proposal_id), "decision")
        if decided is not None:
            first = decided.data
            line = proposals.decision_line(
                first["decision"], first["by"], datetime.fromisoformat(first["at"])
            )
            _mark_answered(deps, channel, ts, message, line)
        elif not retried and deps.slack is not None:
            try:
                deps.slack.open_view(payload["trigger_id"], proposals.edit_modal(proposal, channel, ts))
            except SlackUnavailable as exc:
                log.warning("could not open the proposal editor: %s", exc)
        return HttpAnswer(200)
    acted = decide(deps, proposal, decision, user, proposal.fields, channel, ts)
    _mark_answered(deps, channel, ts, message, acted.line)
    return HttpAnswer(200)


def _proposal_edited(payload: dict[str, Any], deps: AckDeps) -> HttpAnswer:
    view = payload["view"]
    meta = json.loads(view["private_metadata"])
    proposal = proposals.load(deps.once, meta["id"])
    if proposal is None:
        return _errors({"item": "This proposal has expired; forward the document again."})
    fields = proposals.edited_fields(view["state"]["values"])
    problems = proposals.check_fields(fields)
    if problems:
        return _errors(problems)
    acted = decide(deps, proposal, proposals.EDIT, payload["user"]["id"], fields, meta["channel"], meta["ts"])
    if not acted.first:
        return _errors({"item": "Already decided. " + acted.line})
    _, blocks = proposals.card(proposals.Proposal(proposal.proposal_id, fields, proposal.source))
    _mark_answered(deps, meta["channel"], meta["ts"], {"blocks": blocks}, acted.line)
    return HttpAnswer(200, json.dumps({"response_action": "clear"}))


def _errors(errors: Mapping[str, str]) -> HttpAnswer:
    return HttpAnswer(200, json.dumps({"response_action": "errors", "errors": dict(errors)}))


# -- email links -------------------------------------------------------------------------------------


def _verified(token: str, deps: AckDeps) -> dict[str, Any] | HttpAnswer:
    """The link's claims, or the page that says why the link cannot be used."""
    if not deps.link_secret:
        return _page(
            503, pages.problem_page("Email links are switched off", "Use the Slack message instead.")
        )
    try:
        return verify(deps.link_secret, token, deps.clock())
    except LinkExpired as exc:
        return _page(410, pages.problem_page("This link has expired", str(exc)))
    except LinkError as exc:
        return _page(400, pages.problem_page("This link does not work", str(exc)))


def email_page(token: str, deps: AckDeps) -> HttpAnswer:
    """GET: only a confirmation page. Mail scanners fetch links; a GET never acts."""
    claims = _verified(token, deps)
    if isinstance(claims, HttpAnswer):
        return claims
    if deps.once.get(f"link#{claims['jti']}", "used"):
        return _page(409, pages.problem_page("This link was already used", "Nothing more to do."))
    return _page(200, pages.confirm_page(claims, token, _default_date(claims, deps), error=None))


def email_post(form: Mapping[str, str], deps: AckDeps) -> HttpAnswer:
    """POST from the confirmation page: act once."""
    token = form.get("t", "")
    claims = _verified(token, deps)
    if isinstance(claims, HttpAnswer):
        return claims
    action = claims.get("a")
    value: date | None = None
    if action in (RENEW, SNOOZE):
        value, error = clicks.check_date(action, form.get("date"), deps.today())
        if error:
            return _page(400, pages.confirm_page(claims, token, _default_date(claims, deps), error=error))
    if action not in ACTIONS:
        return _page(400, pages.problem_page("This link does not work", "this link is not valid"))
    if deps.once.claim(f"link#{claims['jti']}", "used", {"a": action}, deps.clock()):
        return _page(409, pages.problem_page("This link was already used", "Nothing more to do."))
    ref = PingRef(str(claims["i"]), date.fromisoformat(str(claims["c"])), int(claims["n"]))
    acted = act(deps, ref, str(action), str(claims.get("b") or "email link"), value)
    return _page(200, pages.done_page(claims, acted.line, acted.first))


def _default_date(claims: Mapping[str, Any], deps: AckDeps) -> date | None:
    if claims.get("a") == RENEW and claims.get("d"):
        return date.fromisoformat(str(claims["d"]))
    if claims.get("a") == SNOOZE:
        return clicks.snooze_default(deps.today())
    return None


def _page(status: int, html: str) -> HttpAnswer:
    return HttpAnswer(status, html, "text/html; charset=utf-8")
