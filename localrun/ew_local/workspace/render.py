"""The workspace's pages as HTML: Slack (conversations, modals, the Forward box), the sheet, the audit
trail and the email outbox. Server-rendered, plain forms (POST, then a redirect), nothing fetched from
elsewhere, so it works offline. The one script lets a file be dropped anywhere on the Slack page; the
Forward box's file input does the same without it. Every value is escaped here or in blockkit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ew.audit import AuditEntry
from ew_local.workspace.blockkit import (
    Block,
    button_class,
    link_button,
    render_blocks,
    render_view,
    text_html,
)
from ew_local.workspace.records import SentEmail
from ew_local.workspace.session import Conversation, Forwarded, Happening, Message, Modal, SheetChange
from ew_local.workspace.style import CSS

TABS = (("/", "Slack"), ("/sheet", "Sheet"), ("/audit", "Audit trail"), ("/outbox", "Email outbox"))


def document(
    title: str, tab: str, clock: datetime, waiting: Sequence[datetime], body: str, back: str | None = None
) -> str:
    """The page frame: tabs, the simulated clock with its Next day button (which comes `back` to this
    page, by default the tab), and `body`."""
    tabs = "".join(
        f'<a href="{path}"{" class=active" if path == tab else ""}>{label}</a>' for path, label in TABS
    )
    pending = ""
    if waiting:
        pending = f'<span class="waiting">{len(waiting)} deferred, next due {_short(waiting[0])}</span>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Expiry Watcher (local)</title><style>{CSS}</style></head><body>"
        f"<header><h1>Expiry Watcher · local workspace</h1><nav>{tabs}</nav>"
        f'<div class="clock">{pending}<span id="clock" title="simulated time">'
        f"{clock:%a %d %b %Y, %H:%M} {escape(str(clock.tzinfo))}</span>"
        '<form method="post" action="/clock/next">'
        f'<input type="hidden" name="back" value="{escape(back or tab, quote=True)}">'
        '<button class="btn" id="next-day" title="run the 08:00 tick of the next day">Next day \u2192'
        "</button></form></div></header>"
        f"{body}</body></html>"
    )


def _short(when: datetime) -> str:
    return f"{when:%a %d %b %H:%M}"


# -- Slack -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forwarding:
    """The Forward box: where a dropped file goes, as whom, how large it may be, and what became of the
    last one (shown once, right after its upload)."""

    inbound: str
    sender: str
    channel: str  # where proposals arrive, "#intake" ("" when no intake channel is configured)
    limits: str
    result: Forwarded | None = None


def slack_body(
    conversations: Sequence[Conversation],
    selected: Conversation | None,
    modal: Modal | None,
    happened: Sequence[Happening],
    forwarding: Forwarding | None = None,
) -> str:
    side = [_sidebar_group("Channels", [c for c in conversations if c.kind == "channel"], selected)]
    side.append(_sidebar_group("Direct messages", [c for c in conversations if c.kind == "dm"], selected))
    pane = ""
    if forwarding is not None:
        side.append(_forward_box(forwarding))
        pane += _forwarded(forwarding.result)
    pane += _conversation(selected) if selected else "<p>Nothing has been posted to Slack yet.</p>"
    pane += _happened(happened)
    overlay = ""
    if modal is not None:
        back = "/?" + urlencode({"c": modal.channel})
        form = render_view(modal.view, f"/modal/{modal.key}", modal.values, modal.errors, cancel=back)
        overlay = f'<div class="overlay" id="modal">{form}</div>'
    return f'<main><aside>{"".join(side)}</aside><section class="pane">{pane}</section></main>{overlay}'


def _forward_box(forwarding: Forwarding) -> str:
    arrives = escape(forwarding.channel) or "the intake channel (none is configured: intake_channel)"
    return (
        '<form class="lanes" id="forward" method="post" action="/forward" enctype="multipart/form-data">'
        "<h2>Forward a document</h2>"
        '<p id="drop-zone">Drop a contract, policy or certificate on this page (PDF, DOCX, XLSX, text, '
        "HTML, or a saved mail .eml), or choose it here: it is mailed as "
        f"{escape(forwarding.sender)} to <strong>{escape(forwarding.inbound)}</strong>, and intake-parser's "
        f"proposal arrives in {arrives}.</p>"
        '<input type="file" name="file" id="forward-file" aria-label="a file to forward">'
        '<button class="btn" id="forward-submit">Forward</button>'
        f'<p class="limits">{escape(forwarding.limits[:1].upper() + forwarding.limits[1:])}.</p>'
        '<p id="forward-problem" role="alert" hidden></p>'
        "<p>Calendar events tagged <code>#expires</code>: not in this page yet.</p></form>"
        f"<script>{_DROP_SCRIPT}</script>"
    )


# A file dropped anywhere on the page goes into the Forward box's file input, which is then sent as
# the plain form it is (without this script, choosing the file and pressing Forward does the same).
_DROP_SCRIPT = """
(function () {
  var form = document.getElementById("forward"), input = document.getElementById("forward-file");
  var button = document.getElementById("forward-submit");
  function withFiles(e) {
    return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types, "Files") >= 0;
  }
  function sending() { button.textContent = "Forwarding\u2026"; button.disabled = true; }
  form.addEventListener("submit", sending);
  document.addEventListener("dragover", function (e) {
    if (!withFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    form.classList.add("dragging");
  });
  document.addEventListener("dragleave", function (e) {
    if (!e.relatedTarget) form.classList.remove("dragging");
  });
  document.addEventListener("drop", function (e) {
    if (!withFiles(e)) return;
    e.preventDefault();
    form.classList.remove("dragging");
    if (e.dataTransfer.files.length !== 1) {
      var problem = document.getElementById("forward-problem");
      problem.textContent = "Drop one file at a time: each is forwarded as its own mail.";
      problem.hidden = false;
      return;
    }
    input.files = e.dataTransfer.files;
    sending();
    form.submit();
  });
})();
"""


def _forwarded(result: Forwarded | None) -> str:
    if result is None:
        return ""
    kind, role = ("forwarded problem", "alert") if result.problem else ("forwarded", "status")
    return f'<div class="{kind}" id="forwarded" role="{role}">{escape(result.text)}</div>'


def _sidebar_group(title: str, conversations: Sequence[Conversation], selected: Conversation | None) -> str:
    links = []
    for c in conversations:
        active = " class=active" if selected and c.channel == selected.channel else ""
        name = f"# {c.label}" if c.kind == "channel" else c.label
        href = escape("/?" + urlencode({"c": c.channel}), quote=True)
        links.append(
            f'<a href="{href}"{active} data-channel="{escape(c.channel, quote=True)}">'
            f'<span>{escape(name)}</span><span class="count">{len(c.messages) or ""}</span></a>'
        )
    return f"<h2>{escape(title)}</h2>{''.join(links)}"


def _conversation(conversation: Conversation) -> str:
    title = f"# {conversation.label}" if conversation.kind == "channel" else conversation.label
    if not conversation.messages:
        return f"<h2>{escape(title)}</h2><p class=note>No messages here yet.</p>"
    cards = "".join(_message(m) for m in conversation.messages)
    return f'<h2>{escape(title)}</h2><div id="conversation">{cards}</div>'


def _message(message: Message) -> str:
    def button(element: Block, block: Block) -> str:
        if element.get("url"):
            return link_button(element)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{escape(str(value), quote=True)}">'
            for name, value in (("channel", message.channel), ("ts", message.ts),
                                ("action", element.get("action_id", "")))
        )  # fmt: skip
        return (
            f'<form method="post" action="/click">{hidden}<button class="{button_class(element)}">'
            f"{text_html(element.get('text'))}</button></form>"
        )

    content = render_blocks(message.blocks, button) if message.blocks else text_html(message.text)
    when = f'<span class="when">{message.at:%a %H:%M}</span>' if message.at else ""
    badge = '<span class="badge">new</span>' if message.new else ""
    return (
        f'<div class="message{" new" if message.new else ""}" id="m-{escape(message.ts, quote=True)}">'
        f'<div class="avatar">EW</div><div><div><span class="who">Expiry Watcher</span>{when}{badge}</div>'
        f'<div class="card">{content}</div></div></div>'
    )


def _happened(happened: Sequence[Happening]) -> str:
    if not happened:
        return ""
    rows = "".join(
        f"<li{' class=problem' if h.problem else ''}>{_short(h.at)}: {escape(h.text)}</li>"
        for h in reversed(happened[-8:])
    )
    return f'<div class="happened" id="happened"><strong>What happened</strong><ul>{rows}</ul></div>'


# -- the sheet, the audit trail, the outbox --------------------------------------------------------


def sheet_body(header: Sequence[str], rows: Sequence[Sequence[str]], change: SheetChange | None) -> str:
    changed = change.cells if change else frozenset()
    changed_rows = {r for r, _ in changed}
    head = "<th>row</th>" + "".join(f"<th>{escape(h)}</th>" for h in header)
    lines = []
    for r, row in enumerate(rows):
        # The full value on hover: long cells are cut short to keep the table readable.
        cells = "".join(
            f'<td{" class=changed" if (r, c) in changed else ""} title="{escape(v)}">{escape(v)}</td>'
            for c, v in enumerate(row)
        )
        # Row numbers as the sheet shows them: the header is row 1.
        mark = " class=changed" if r in changed_rows else ""
        lines.append(f'<tr{mark} data-row="{r + 2}"><td>{r + 2}</td>{cells}</tr>')
    note = f'<p class="note" id="sheet-change">{escape(change.why)}</p>' if change else ""
    return (
        '<section class="pane"><h2>Registry sheet</h2><p class="note">The sheet as the local Google Sheets '
        f"stand-in holds it; a Renew writes the new expiry and last_renewed back here.</p>{note}"
        f'<div class="wide"><table id="sheet"><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody>'
        "</table></div></section>"
    )


def audit_body(entries: Sequence[AuditEntry], tz: ZoneInfo) -> str:
    if not entries:
        return '<section class="pane"><h2>Audit trail</h2><p class="note">No writes yet.</p></section>'
    rows = "".join(
        f"<tr><td>{escape(_local(e.ts, tz))}</td><td>{escape(e.item_id)}</td><td>{escape(e.action)}</td>"
        f"<td>{escape(e.by_user)}</td><td>{escape(_pairs(e.before))}</td><td>{escape(_pairs(e.after))}</td></tr>"
        for e in entries
    )
    return (
        '<section class="pane"><h2>Audit trail</h2><p class="note">The ew-audit table, newest first.</p>'
        '<table id="audit"><thead><tr><th>when</th><th>item</th><th>action</th><th>by</th><th>before</th>'
        f"<th>after</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _local(ts: str, tz: ZoneInfo) -> str:
    try:
        return f"{datetime.fromisoformat(ts.split('#', 1)[0]).astimezone(tz):%a %d %b %Y %H:%M}"
    except ValueError:
        return ts


def _pairs(values: dict[str, object]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in values.items())


_LINK = re.compile(r"^(Renew|Snooze|Ack only): (/email\?t=\S+)$", re.M)


def outbox_body(emails: Sequence[SentEmail]) -> str:
    intro = (
        '<p class="note">Alerts to people the workspace has no Slack user for go by email. Their links open '
        "the real confirmation pages, served here as ack-handler's Function URL would serve them.</p>"
    )
    if not emails:
        return f'<section class="pane"><h2>Email outbox</h2>{intro}<p>No email sent yet.</p></section>'
    cards = []
    for sent in emails:
        links = "".join(
            f'<a class="btn" href="{escape(path, quote=True)}" target="_blank">{label}</a>'
            for label, path in _LINK.findall(sent.text)
        )
        cards.append(
            f'<div class="email"><div><strong>To:</strong> {escape(sent.to)}</div>'
            f"<div><strong>Subject:</strong> {escape(sent.subject)}</div>"
            f'<pre>{escape(_LINK.sub("", sent.text).rstrip())}</pre><div class="actions">{links}</div></div>'
        )
    return f'<section class="pane"><h2>Email outbox</h2>{intro}{"".join(cards)}</section>'
