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
    click_once,
    mark_answered,
    modal_errors,
    recording,
)
from ew.calendar_plan import withdrawn_line
from opskit.http_answer import HttpAnswer
from opskit.slack import SlackUnavailable, message_location
from opskit.state import Done

log = logging.getLogger(__name__)

EXPIRED = "This proposal has expired; forward the document again."


def decide_proposal(
    deps: AckDeps, proposal: proposals.Proposal, decision: str, by: str, fields: Mapping[str, str],
    channel: str, ts: str,
) -> Acted:  # fmt: skip
    """Approve (as proposed or edited) or discard, once; an approval appends the row asynchronously.
    Raises NotRecorded when the decision could not be recorded."""
    now = deps.clock()
    key = proposals.store_key(proposal.proposal_id)
    record = {"decision": decision, "by": by, "at": now.isoformat(), "fields": dict(fields),
              "channel": channel, "ts": ts}  # fmt: skip
    with recording():
        claimed = deps.state.claim(key, "decision", record, now, lease=CLAIM_LEASE)
        if isinstance(claimed, Done):
            return Acted(False, _line(claimed.data))
        with deps.state.holding(claimed):
            # The claim's data and time: after a takeover this finishes the decision first recorded.
            _carry_out(deps, proposal, claimed.data, claimed.at)
    detail = "" if claimed.data["decision"] == proposals.DISCARD else ": adding it to the sheet"
    return Acted(True, _line(claimed.data, detail))


def _carry_out(deps: AckDeps, proposal: proposals.Proposal, record: Mapping[str, Any], at: datetime) -> None:
    decision, by = record["decision"], record["by"]
    audit_id = f"proposal:{proposal.proposal_id}"
    before = {"fields": dict(proposal.fields)}
    if decision == proposals.DISCARD:
        deps.audit.record(audit_id, decision, by, before, {"discarded": True}, at)
        return
    fields = dict(record.get("fields") or proposal.fields)
    deps.audit.record(audit_id, decision, by, before, {"fields": fields}, at)
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
    message = slack_payload.message(payload)
    decision = clicked["action_id"]
    trigger = slack_payload.trigger(payload) if decision != proposals.DISCARD else ""
    proposal = proposals.load(deps.state, proposal_id)
    if proposal is None:
        mark_answered(deps, channel, ts, message, EXPIRED)
        return HttpAnswer(200)
    # An approval of a proposal that would not make a valid row opens the editor instead.
    if decision == proposals.APPROVE and proposals.check_fields(proposal.fields):
        decision = proposals.EDIT
    held = click_once(deps, request)
    if held is None:
        return HttpAnswer(200)  # a replay: the first delivery answered (or is answering) it
    with recording(), deps.state.holding(held):
        if decision != proposals.EDIT:
            acted = decide_proposal(deps, proposal, decision, user, proposal.fields, channel, ts)
            mark_answered(deps, channel, ts, message, acted.line)
        elif (decided := deps.state.get(proposals.store_key(proposal.proposal_id), "decision")) is not None:
            mark_answered(deps, channel, ts, message, _line(decided.data))
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
    acted = decide_proposal(deps, proposal, proposals.EDIT, user, fields, channel, ts)
    if not acted.first:
        return modal_errors({"item": "Already decided. " + acted.line})
    _, blocks = proposals.card(proposals.Proposal(proposal.proposal_id, fields, proposal.source))
    mark_answered(deps, channel, ts, {"blocks": blocks}, acted.line)
    return HttpAnswer(200, json.dumps({"response_action": "clear"}))
