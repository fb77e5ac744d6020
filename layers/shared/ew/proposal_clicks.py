"""The proposal buttons (DESIGN.md §8): Approve appends the row (asynchronously), Edit opens a prefilled
modal, Discard records it; each decision acts once, however often it is clicked, and a decision whose
writes failed is completed by the next click (the claim is a lease, as for answers)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from ew import proposals, slack_payload
from ew.answers import (
    APPEND_TASK,
    CLAIM_LEASE,
    AckDeps,
    Acted,
    Card,
    card_update,
    click_once,
    mark_answered,
    modal_errors,
    recording,
)
from ew.calendar_plan import withdrawn_line
from opskit.http_answer import HttpAnswer
from opskit.message_versions import MessageUpdate
from opskit.slack import SlackUnavailable, message_location
from opskit.state import Done

log = logging.getLogger(__name__)

EXPIRED = "This proposal has expired; forward the document again."


def decide_proposal(
    deps: AckDeps, proposal: proposals.Proposal, decision: str, by: str, fields: Mapping[str, str],
    card: Card,
) -> Acted:  # fmt: skip
    """Approve (as proposed or edited) or discard, once; an approval appends the row asynchronously.
    Raises NotRecorded when the decision could not be recorded. A first decision records the version
    of `card` (the decision's time) in the same transaction as its audit row (`Acted.card_recorded`)."""
    now = deps.clock()
    key = proposals.store_key(proposal.proposal_id)
    record = {"decision": decision, "by": by, "at": now.isoformat(), "fields": dict(fields),
              "channel": card.channel, "ts": card.ts}  # fmt: skip
    with recording():
        claimed = deps.state.claim(key, "decision", record, now, lease=CLAIM_LEASE)
        if isinstance(claimed, Done):
            return Acted(False, _line(claimed.data), claimed.at)
        detail = "" if claimed.data["decision"] == proposals.DISCARD else ": adding it to the sheet"
        line = _line(claimed.data, detail)
        # As for an answer (ew.answers.act): a takeover shows its card the careful way, as of now.
        version = now if claimed.taken_over else claimed.at
        shown = None
        if deps.slack is not None and not claimed.taken_over:
            shown = card_update(card, line, version)
        with deps.state.holding(claimed):
            # The claim's data and time: after a takeover this finishes the decision first recorded.
            _carry_out(deps, proposal, claimed.data, claimed.at, shown)
    return Acted(True, line, version, card_recorded=shown is not None)


def _carry_out(
    deps: AckDeps,
    proposal: proposals.Proposal,
    record: Mapping[str, Any],
    at: datetime,
    shown: MessageUpdate | None,
) -> None:
    decision, by = record["decision"], record["by"]
    audit_id = f"proposal:{proposal.proposal_id}"
    before = {"fields": dict(proposal.fields)}
    # The card's version goes in the audit row's write: one transaction, no extra round trip.
    also = [deps.cards.record(shown, deps.clock())] if shown is not None else []
    if decision == proposals.DISCARD:
        deps.audit.record(audit_id, decision, by, before, {"discarded": True}, at, also=also)
        return
    fields = dict(record.get("fields") or proposal.fields)
    deps.audit.record(audit_id, decision, by, before, {"fields": fields}, at, also=also)
    deps.defer(
        {
            "task": APPEND_TASK,
            "proposal_id": proposal.proposal_id,
            "decision": decision,
            "fields": fields,
            "source": proposal.source,
            "by": by,
            "channel": record.get("channel", ""),
            "ts": record.get("ts", ""),
        }
    )


def _line(record: Mapping[str, Any], detail: str = "") -> str:
    if record.get("withdrawn"):  # calendar-sync withdrew it: a stale card's click gets that line back
        on = date.fromisoformat(str(record.get("on") or record["at"][:10]))
        return withdrawn_line(str(record["withdrawn"]), on)
    return proposals.decision_line(
        record["decision"], record["by"], datetime.fromisoformat(record["at"]), detail
    )


def button(
    payload: dict[str, Any], clicked: dict[str, Any], deps: AckDeps, request: str, retried: bool
) -> HttpAnswer:
    """Approve / Edit / Discard pressed on a proposal card."""
    user = slack_payload.user(payload)
    proposal_id = slack_payload.proposal_id(clicked)
    channel, ts = message_location(payload)
    card = Card(channel, ts, slack_payload.message(payload))
    decision = clicked["action_id"]
    trigger = slack_payload.trigger(payload) if decision != proposals.DISCARD else ""
    proposal = proposals.load(deps.state, proposal_id)
    if proposal is None:
        mark_answered(deps, card, EXPIRED, None)  # states no fact: a decision outranks it
        return HttpAnswer(200)
    # An approval of a proposal that would not make a valid row opens the editor instead.
    if decision == proposals.APPROVE and proposals.check_fields(proposal.fields):
        decision = proposals.EDIT
    held = click_once(deps, request)
    if held is None:
        return HttpAnswer(200)  # a replay: the first delivery answered (or is answering) it
    with recording(), deps.state.holding(held):
        if decision != proposals.EDIT:
            acted = decide_proposal(deps, proposal, decision, user, proposal.fields, card)
            _show(deps, card, acted, approved=decision != proposals.DISCARD)
        elif (decided := deps.state.get(proposals.store_key(proposal.proposal_id), "decision")) is not None:
            mark_answered(deps, card, _line(decided.data), decided.at)
        elif not retried and deps.slack is not None:
            try:
                deps.slack.open_view(trigger, proposals.edit_modal(proposal, channel, ts))
            except SlackUnavailable as exc:
                log.warning("could not open the proposal editor: %s", exc)
    return HttpAnswer(200)


def edited(payload: dict[str, Any], view: dict[str, Any], deps: AckDeps) -> HttpAnswer:
    """The proposal editor submitted: validate, then approve the edited fields once."""
    proposal_id, channel, ts = slack_payload.proposal_metadata(view)
    values = slack_payload.state_values(view)
    user = slack_payload.user(payload)
    proposal = proposals.load(deps.state, proposal_id)
    if proposal is None:
        return modal_errors({"item": EXPIRED})
    fields = proposals.edited_fields(values)
    problems = proposals.check_fields(fields)
    if problems:
        return modal_errors(problems)
    _, blocks = proposals.card(proposals.Proposal(proposal.proposal_id, fields, proposal.source))
    card = Card(channel, ts, {"blocks": blocks})
    acted = decide_proposal(deps, proposal, proposals.EDIT, user, fields, card)
    if not acted.first:
        return modal_errors({"item": "Already decided. " + acted.line})
    _show(deps, card, acted, approved=True)
    return HttpAnswer(200, json.dumps({"response_action": "clear"}))


def _show(deps: AckDeps, card: Card, acted: Acted, *, approved: bool) -> None:
    """A decision on its card. An approval queued the append, whose own card update ("added to the
    sheet as …") may land before this one: checked after (mark_answered's `followed`)."""
    mark_answered(deps, card, acted.line, acted.at, recorded=acted.card_recorded, followed=approved)
