"""The local workspace's state: a LocalCloud, a simulated clock, and what a person did on the page.

A click is what Slack would send: a signed block_actions payload through the real ack-handler; a
modal the handler opened (`views.open` on the fake Slack) waits here until the person submits it as a
view_submission. A file forwarded from the page lands in the raw-mime bucket as SES would store the
mail, and S3's event runs the real intake-parser, whose proposal card arrives in the intake channel.
"Next day" fires the one-off schedules due by 08:00 of the next day, then runs the tick, as simulate.py
does. The handlers read their clock through `ew.runtime.utc_now`, so while the workspace runs that is
the simulated clock (clicks are signed with its timestamps, forwarded mails dated by it).

Not thread-safe on its own: callers hold `lock` (the HTTP server serves one request at a time).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from ew import proposals, runtime
from ew.audit import AuditEntry
from ew.intake import DROPPED, DUPLICATE, PROPOSED, IntakeNotConfigured
from ew.items import is_email
from ew_local.cloud import LocalCloud
from ew_local.slack_payloads import button_click, view_submission
from ew_local.workspace.blockkit import state_values
from ew_local.workspace.clock import SimClock
from ew_local.workspace.forwarding import INBOUND, Refused, Upload, as_mail, check
from ew_local.workspace.records import SentEmail, audit_entries, sent_emails
from opskit.dates import human_date

log = logging.getLogger(__name__)

CHANNEL_USER = "U0YOU00001"  # who clicks a button in a channel (in a DM it is the DM's person)


@dataclass
class Modal:
    """A modal the ack-handler opened, as the person sees it until they submit or cancel it."""

    key: str
    view: dict[str, Any]
    user: str
    channel: str
    values: dict[str, str] = field(default_factory=dict)  # what was typed, kept when errors come back
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Happening:
    at: datetime
    text: str
    problem: bool = False


@dataclass(frozen=True)
class Forwarded:
    """What became of a file forwarded from the page, as the page says it once, after the upload."""

    key: str
    text: str
    problem: bool
    channel: str = ""  # the intake channel ("" when none is configured)
    ts: str = ""  # the proposal card the forward brought, if any


@dataclass(frozen=True)
class SheetChange:
    cells: frozenset[tuple[int, int]]  # (data row index, column index) that changed
    why: str


@dataclass(frozen=True)
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    at: datetime | None  # simulated time it first appeared on the page
    new: bool  # appeared with the latest action


@dataclass(frozen=True)
class Conversation:
    channel: str
    label: str
    kind: str  # "channel" or "dm"
    messages: list[Message]


class Workspace:
    def __init__(
        self,
        cloud: LocalCloud,
        day: date,
        timezone: str,
        channels: Mapping[str, str] | None = None,
    ):
        """`channels` names the channels the settings post to, e.g. {"C04DIGEST1": "digest"}."""
        self.cloud = cloud
        self.clock = SimClock(day, ZoneInfo(timezone))
        self.channels = dict(channels or {})
        self.lock = threading.RLock()
        self.modals: dict[str, Modal] = {}
        self.happened: list[Happening] = []
        self.sheet_change: SheetChange | None = None
        self.forwards: dict[str, Forwarded] = {}
        self._first_seen: dict[tuple[str, str], datetime] = {}
        self._latest: set[tuple[str, str]] = set()
        self._stack = ExitStack()
        self._clicks = 0

    def __enter__(self) -> Workspace:
        # The handlers call runtime.utc_now() whenever they need the time: let them live on our clock.
        self._stack.enter_context(
            mock.patch.object(runtime, "utc_now", lambda: self.clock.now().astimezone(UTC))
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # -- the clock ---------------------------------------------------------------------------------

    def first_tick(self) -> None:
        """The start day's 08:00 tick (what the page shows first)."""
        with self.observing("the daily tick", new_day=True):
            self._tick(self.clock.morning, fired=[])

    def next_day(self) -> None:
        now = self.clock.next_day()
        with self.observing("the daily tick", new_day=True):
            fired = self.cloud.fire_schedules(until=now)  # deferrals due by this morning go out first
            self._tick(now, fired)

    def _tick(self, now: datetime, fired: list[dict[str, Any]]) -> None:
        report, outcomes = self.cloud.tick(now)
        moves = (
            ", ".join(f"{n} {move.replace('_', ' ')}" for move, n in report["moves"].items()) or "no moves"
        )
        sent = [o for o in fired + outcomes if o["status"] == "sent"]
        waiting = sum(1 for o in outcomes if o["status"] == "scheduled")
        text = f"Daily tick over {report['items']} items: {moves}. "
        if sent:
            text += f"Sent {_count(sent, 'slack')} on Slack and {_count(sent, 'email')} by email"
        else:
            text += "Nothing sent"
        if fired:
            text += f" ({len(fired)} of them deferred from earlier)"
        if waiting:
            text += f"; {waiting} wait for the next business morning"
        if report["skipped"]:
            text += f"; {len(report['skipped'])} sheet rows skipped"
        self._note(text + ".", at=now)

    # -- clicks ------------------------------------------------------------------------------------

    def click(self, channel: str, ts: str, action_id: str) -> str | None:
        """Press a button on a message; returns the key of the modal it opened, if any."""
        posted = self.cloud.slack.message(channel, ts)
        user = dm_user(channel) or CHANNEL_USER
        message = {"channel": channel, "ts": ts, "text": (posted or {}).get("text", ""),
                   "blocks": (posted or {}).get("blocks", [])}  # fmt: skip
        try:
            payload = button_click(message, action_id, user)
        except (StopIteration, KeyError):  # no such button on the message as it stands now
            self._note("That button is gone: the message was updated in the meantime.", problem=True)
            return None
        self._clicks += 1
        trigger = f"local-trigger-{self._clicks}"
        payload["trigger_id"] = trigger  # to find the modal this click opened
        label = payload["actions"][0]["text"].get("text", action_id)
        with self.observing(f"{self.who(user)}'s {label}"):
            answer = self._send(payload)
        if answer["statusCode"] != 200:
            self._note(f"ack-handler answered {answer['statusCode']}: {answer.get('body')}", problem=True)
            return None
        opened = [c for c in self.cloud.slack.calls("views.open") if c.params.get("trigger_id") == trigger]
        if not opened:
            self._note(f"{self.who(user)} pressed {label} on {_item_label(payload)}.")
            return None
        key = f"m{self._clicks}"
        self.modals[key] = Modal(key, dict(opened[-1].params["view"]), user, channel)
        return key

    def submit(self, key: str, form: Mapping[str, str]) -> bool:
        """Submit a modal as a view_submission; True when it closed, False when errors came back."""
        modal = self.modals[key]
        payload = view_submission(modal.view, state_values(modal.view, form), modal.user)
        title = modal.view.get("title", {}).get("text", "modal")
        with self.observing(f"{self.who(modal.user)}'s {title}"):
            answer = self._send(payload)
        reply = _json(answer.get("body"))
        if answer["statusCode"] != 200:
            modal.errors = {"": f"ack-handler answered {answer['statusCode']}: {answer.get('body')}"}
        elif reply.get("response_action") == "errors":
            modal.errors = {str(k): str(v) for k, v in (reply.get("errors") or {}).items()}
        elif reply.get("response_action") in ("update", "push") and isinstance(reply.get("view"), dict):
            modal.view, modal.errors = reply["view"], {}
        else:
            del self.modals[key]
            self._note(f"{self.who(modal.user)} submitted {title}.")
            return True
        modal.values = dict(form)
        return False

    def _send(self, payload: dict[str, Any]) -> dict[str, Any]:
        # Signed at the simulated moment (LocalCloud signs at runtime.utc_now(), patched to our clock).
        answer = self.cloud.slack_click(payload, run_tasks=False)
        # The work the click queued (the sheet write-back) runs right after the answer, as on Lambda;
        # if it fails, AWS would retry it and then park it in the dead-letter queue: say so on the page.
        try:
            self.cloud.tasks_run.extend(self.cloud.run_tasks())
        except Exception as exc:
            log.exception("an asynchronous ack-handler task failed")
            self._note(f"The asynchronous write-back failed (AWS would retry it, then dead-letter it): {exc}",
                       problem=True)  # fmt: skip
        return answer

    # -- a file forwarded to the inbound address ---------------------------------------------------

    @property
    def intake_channel(self) -> str:
        return self.cloud.settings.get("intake_channel", "")

    @property
    def intake_label(self) -> str:
        """The intake channel as the page names it ("#intake"), "" when none is configured."""
        channel = self.intake_channel
        return f"#{self.channels.get(channel, channel)}" if channel else ""

    @property
    def forwarder(self) -> str:
        """Who the forwarded mail is from (the proposal's default owner): the admin, when an email."""
        admin = self.cloud.settings.get("admin", "")
        return admin if is_email(admin) else "you@acme.example"

    def forward(self, upload: Upload) -> Forwarded:
        """Mail `upload` to the inbound address and run intake-parser on it, as SES and S3 would."""
        try:
            check(upload)
        except Refused as exc:
            return self.refuse_forward(str(exc))
        channel, name = self.intake_channel, upload.name
        before = len(self.cloud.slack.in_channel(channel)) if channel else 0
        key = f"inbound/workspace-{len(self.forwards) + 1:04d}"  # where the SES rule would store it
        sent = f"{name} reached {INBOUND}"
        with self.observing(f"your forward of {name}"):
            try:
                answer = self.cloud.forward_mail(as_mail(upload, self.forwarder, self.clock.now()), key)
            except IntakeNotConfigured as exc:
                return self._forwarded(f"{sent} (the raw-mime bucket keeps it), but intake-parser cannot "
                                       f"post a proposal: {exc}.", problem=True)  # fmt: skip
            except Exception as exc:
                log.exception("intake-parser failed on a forwarded file")
                return self._forwarded(
                    f"{sent}, but intake-parser failed: {exc}. On AWS, Lambda retries it twice, then "
                    "parks the event in the dead-letter queue; the mail stays in the raw-mime bucket.",
                    problem=True,
                )
        (taken,) = answer["mails"]
        cards = self.cloud.slack.in_channel(channel)[before:] if channel else []
        text, problem = self._intake_words(sent, taken)
        return self._forwarded(text, problem, str(cards[-1]["ts"]) if cards else "")

    def refuse_forward(self, text: str) -> Forwarded:
        return self._forwarded(text, problem=True)

    def _intake_words(self, sent: str, taken: Mapping[str, str]) -> tuple[str, bool]:
        where = self.intake_label
        outcome = taken.get("outcome")
        if outcome == PROPOSED:
            stored = proposals.load(runtime.state_table(), taken.get("proposal_id", ""))
            warnings = stored.warnings if stored else ()
            if warnings:
                return (f"{sent}: intake-parser's proposal in {where} needs a look: {'; '.join(warnings)}. "
                        "Fix it with Edit before approving, or forward a readable copy."), True  # fmt: skip
            if taken.get("expiry_date"):
                expiry = human_date(date.fromisoformat(taken["expiry_date"]))
                return (f"{sent}: intake-parser proposes a row expiring {expiry} in {where}. "
                        "Approve adds it to the sheet."), False  # fmt: skip
            return f"{sent}: intake-parser found no expiry date; complete its proposal in {where}.", True
        if outcome == DROPPED:
            return f"{sent}, but intake-parser dropped it: {taken.get('why', '')}. No proposal posted.", True
        if outcome == DUPLICATE:
            return (f"{sent}, but intake-parser had already taken this mail (the same Message-ID): no "
                    f"second proposal; the first is in {where}."), False  # fmt: skip
        return f"{sent}: intake-parser says {outcome}; its proposal arrives in {where} when ready.", False

    def _forwarded(self, text: str, problem: bool, ts: str = "") -> Forwarded:
        key = f"f{len(self.forwards) + 1}"
        self.forwards[key] = Forwarded(key, text, problem, self.intake_channel, ts)
        self._note(text, problem=problem)
        return self.forwards[key]

    # -- watching what an action changed -----------------------------------------------------------

    @contextmanager
    def observing(self, why: str, new_day: bool = False) -> Iterator[None]:
        """Marks the messages that appear and the sheet cells that change during the block; the
        messages are "new" until the next day's tick."""
        before = self.cloud.sheet_rows()
        seen = {(channel, m["ts"]) for channel, m in self.cloud.slack.posted()}
        try:
            yield
        finally:
            now = self.clock.now()
            fresh = {(channel, m["ts"]) for channel, m in self.cloud.slack.posted()} - seen
            for key in fresh:
                self._first_seen.setdefault(key, now)
            self._latest = fresh if new_day else self._latest | fresh
            cells = _changed(before[1:], self.cloud.sheet_rows()[1:])
            if cells:
                self.sheet_change = SheetChange(frozenset(cells), f"Changed by {why}, {now:%a %d %b %H:%M}.")

    def _note(self, text: str, problem: bool = False, at: datetime | None = None) -> None:
        self.happened.append(Happening(at or self.clock.now(), text, problem))

    # -- what the page shows -----------------------------------------------------------------------

    def conversations(self) -> list[Conversation]:
        """The configured channels first, then one DM per person who got a message."""
        by_channel: dict[str, list[Message]] = {channel: [] for channel in self.channels}
        for channel, posted in self.cloud.slack.posted():
            key = (channel, str(posted["ts"]))
            message = Message(channel, key[1], str(posted.get("text", "")), list(posted.get("blocks") or []),
                              self._first_seen.get(key), key in self._latest)  # fmt: skip
            by_channel.setdefault(channel, []).append(message)
        names = self._people()
        found = []
        for channel, messages in by_channel.items():
            user = dm_user(channel)
            if user:
                label = f"{names[user]} ({user})" if user in names else user
                found.append(Conversation(channel, label, "dm", messages))
            else:
                found.append(Conversation(channel, self.channels.get(channel, channel), "channel", messages))
        channels = [c for c in found if c.kind == "channel"]
        return channels + sorted((c for c in found if c.kind == "dm"), key=lambda c: c.label.lower())

    def _people(self) -> dict[str, str]:
        """A readable name per Slack user ID: the email the directory or the sheet gives for them."""
        names = {user: address for address, user in self.cloud.slack.users.items()}
        header, *rows = self.cloud.sheet_rows() or [[]]
        for row in rows:
            values = dict(zip(header, row, strict=False))
            owner, address = values.get("owner", ""), values.get("owner_email", "")
            if owner.startswith(("U", "W")) and address:
                names.setdefault(owner, address)
        return names

    def who(self, user: str) -> str:
        return "You" if user == CHANNEL_USER else self._people().get(user, user)

    def waiting(self) -> list[datetime]:
        """When each deferred message (a one-off schedule not yet fired) is due."""
        return [when for when, _, _ in self.cloud.pending_schedules()]

    def sheet(self) -> tuple[list[str], list[list[str]]]:
        header, *rows = self.cloud.sheet_rows() or [[]]
        return header, rows

    def audit(self) -> list[AuditEntry]:
        return audit_entries(self.cloud)

    def outbox(self) -> list[SentEmail]:
        return sent_emails(self.cloud)


def dm_user(channel: str) -> str | None:
    """The person a DM channel is with (the fake Slack derives D… from the user's U…)."""
    return "U" + channel[1:] if channel.startswith("D") else None


def _changed(before: list[list[str]], after: list[list[str]]) -> set[tuple[int, int]]:
    cells = set()
    for r, row in enumerate(after):
        old = before[r] if r < len(before) else []
        for c, value in enumerate(row):
            if (old[c] if c < len(old) else "") != value:
                cells.add((r, c))
    return cells


def _count(outcomes: list[dict[str, Any]], channel: str) -> int:
    return sum(1 for o in outcomes if o.get("channel") == channel)


def _json(body: Any) -> dict[str, Any]:
    try:
        value = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _item_label(payload: Mapping[str, Any]) -> str:
    if str(payload["actions"][0].get("action_id", "")) in proposals.ACTIONS:
        return "a proposal"  # its value is the proposal's id, not an item
    try:
        value = json.loads(payload["actions"][0]["value"])
    except (KeyError, TypeError, ValueError):
        return "a message"
    return str(value.get("x") or value.get("i") or "a message") if isinstance(value, dict) else "a message"
