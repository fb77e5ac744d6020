"""Block Kit as HTML, for the local workspace page: pure functions, no I/O.

Everything that comes from a message is untrusted (sheet cells end up in cards), so text is escaped
first and only then given Slack's few marks: *bold*, _italic_, ~strike~, `code`, <url|label> links
(http, https and mailto only), mentions and newlines. A modal (`views.open`) becomes an HTML form whose
field names are the input blocks' block_ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from html import escape
from typing import Any

Block = Mapping[str, Any]
ButtonHtml = Callable[[Block, Block], str]  # (button element, its actions block) -> HTML

_TOKEN = re.compile(r"<([^<>\n]*)>")  # Slack's own markup: links, mentions, special mentions
_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_EMOJI = {
    "white_check_mark": "\u2705",
    "zzz": "\U0001f4a4",
    "ok_hand": "\U0001f44c",
    "warning": "\u26a0\ufe0f",
    "x": "\u274c",
    "bell": "\U0001f514",
    "calendar": "\U0001f4c5",
    "inbox_tray": "\U0001f4e5",
    "page_facing_up": "\U0001f4c4",
    "hourglass": "\u231b",
    "rotating_light": "\U0001f6a8",
}
# Marks apply to escaped text, so their delimiters are never part of an entity or a tag.
_MARKS = (
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), "b"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"), "i"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])"), "s"),
    (re.compile(r"`([^`\n]+)`"), "code"),
)
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")


def _unslack(text: str) -> str:
    """Slack's three entities back to the characters they stand for (Slack reads no others)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _marked(text: str) -> str:
    """Plain mrkdwn text (no <…> tokens) as HTML: escaped, then marked."""
    html = escape(_unslack(text), quote=True)
    for pattern, tag in _MARKS:
        html = pattern.sub(rf"<{tag}>\1</{tag}>", html)
    html = _EMOJI_CODE.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), html)
    return html.replace("\n", "<br>")


def _token(inner: str) -> str:
    """One <…> token: a link, a user/channel mention, or a special mention like <!here>."""
    target, _, label = inner.partition("|")
    if target[:1] in ("@", "#"):
        return f'<span class="mention">{escape(target[0] + (_unslack(label) or target[1:]))}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{escape(_unslack(label) or target[1:])}</span>'
    url = _unslack(target)
    text = _marked(label) if label else escape(url)
    if not url.lower().startswith(_SAFE_SCHEMES):
        return text  # javascript:, data: and the like: keep the words, drop the link
    return f'<a href="{escape(url, quote=True)}" rel="noopener noreferrer" target="_blank">{text}</a>'


def mrkdwn(text: str) -> str:
    """Slack mrkdwn as safe HTML."""
    parts: list[str] = []
    last = 0
    for match in _TOKEN.finditer(text):
        parts.append(_marked(text[last : match.start()]))
        parts.append(_token(match.group(1)))
        last = match.end()
    parts.append(_marked(text[last:]))
    return "".join(parts)


def text_html(obj: Any) -> str:
    """A text object (mrkdwn or plain_text) as HTML; a bare string is plain text."""
    if isinstance(obj, Mapping):
        text = str(obj.get("text", ""))
        if obj.get("type") == "mrkdwn":
            return mrkdwn(text)
        return _EMOJI_CODE.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), escape(text)).replace(
            "\n", "<br>"
        )
    return escape(str(obj or ""))


def button_class(element: Block) -> str:
    """The CSS classes for a button element (primary and danger styles as Slack shows them)."""
    style = element.get("style")
    return f"btn btn-{style}" if style in ("primary", "danger") else "btn"


def disabled_button(element: Block, block: Block) -> str:
    label = text_html(element.get("text"))
    return f'<button type="button" class="{button_class(element)}" disabled>{label}</button>'


def link_button(element: Block) -> str:
    """A button with a `url` (Slack opens the page and still sends the click): here, a link."""
    url = str(element.get("url", ""))
    if not url.lower().startswith(_SAFE_SCHEMES):
        return disabled_button(element, {})
    return (
        f'<a class="{button_class(element)}" href="{escape(url, quote=True)}" rel="noopener noreferrer" '
        f'target="_blank">{text_html(element.get("text"))}</a>'
    )


def _element(element: Block, block: Block, button: ButtonHtml) -> str:
    kind = element.get("type")
    if kind == "button":
        return button(element, block)
    if kind in ("mrkdwn", "plain_text"):
        return f"<span>{text_html(element)}</span>"
    if kind == "image":
        return f'<span class="image">[{escape(str(element.get("alt_text", "image")))}]</span>'
    label = text_html(element.get("placeholder")) or escape(str(kind or "element"))
    return f'<span class="unsupported">[{label}]</span>'


def render_blocks(blocks: list[Block], button: ButtonHtml = disabled_button) -> str:
    """A message's blocks as HTML; `button` makes each button (a form that clicks it, on the page)."""
    return "".join(_block(block, button) for block in blocks)


def _block(block: Block, button: ButtonHtml) -> str:
    kind = block.get("type")
    if kind == "section":
        parts = [f'<div class="text">{text_html(block["text"])}</div>'] if block.get("text") else []
        if block.get("fields"):
            cells = "".join(f"<div>{text_html(f)}</div>" for f in block["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        if block.get("accessory"):
            parts.append(f'<div class="accessory">{_element(block["accessory"], block, button)}</div>')
        return f'<div class="block section">{"".join(parts)}</div>'
    if kind == "context":
        items = " ".join(_element(e, block, button) for e in block.get("elements", []))
        return f'<div class="block context">{items}</div>'
    if kind == "actions":
        items = "".join(_element(e, block, button) for e in block.get("elements", []))
        return f'<div class="block actions">{items}</div>'
    if kind == "header":
        return f'<div class="block header">{text_html(block.get("text"))}</div>'
    if kind == "divider":
        return '<hr class="block divider">'
    if kind == "image":
        return f'<div class="block image">[{escape(str(block.get("alt_text", "image")))}]</div>'
    return f'<div class="block unsupported">[{escape(str(kind))} block]</div>'


# -- modals ----------------------------------------------------------------------------------------


def input_blocks(view: Block) -> list[Block]:
    """The view's input blocks (each one field of the form, named by its block_id)."""
    return [b for b in view.get("blocks", []) if b.get("type") == "input" and b.get("block_id")]


def render_view(
    view: Block,
    action: str,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    cancel: str = "/",
) -> str:
    """A modal view as an HTML form posting to `action`. `values` are what the person typed (else the
    elements' initial values); `errors` map a block_id to the message shown next to its field."""
    values, errors = values or {}, errors or {}
    fields = {b["block_id"] for b in input_blocks(view)}
    body = []
    stray = [msg for block_id, msg in errors.items() if block_id not in fields]
    for message in stray:  # an error for a field the view lacks still reaches the person
        body.append(f'<p class="field-error" role="alert">{escape(message)}</p>')
    for block in view.get("blocks", []):
        if block.get("type") == "input" and block.get("block_id"):
            body.append(_field(block, values, errors.get(block["block_id"])))
        else:
            body.append(_block(block, disabled_button))
    submit = text_html(view.get("submit")) or "Submit"
    close = text_html(view.get("close")) or "Cancel"
    return (
        f'<form class="modal" method="post" action="{escape(action, quote=True)}">'
        f'<h2 class="modal-title">{text_html(view.get("title"))}</h2>{"".join(body)}'
        f'<div class="modal-buttons"><a class="btn" href="{escape(cancel, quote=True)}">{close}</a>'
        f'<button type="submit" class="btn btn-primary" id="modal-submit">{submit}</button></div></form>'
    )


def _field(block: Block, values: Mapping[str, str], error: str | None) -> str:
    block_id = str(block["block_id"])
    field_id = f"field-{block_id}"
    element = block.get("element", {})
    optional = ' <span class="optional">(optional)</span>' if block.get("optional") else ""
    parts = [f'<label for="{escape(field_id, quote=True)}">{text_html(block.get("label"))}{optional}</label>']
    parts.append(_control(element, field_id, block_id, values.get(block_id), error is not None))
    if block.get("hint"):
        parts.append(f'<p class="hint">{text_html(block["hint"])}</p>')
    if error:
        error_id = escape(f"error-{block_id}", quote=True)
        parts.append(f'<p class="field-error" id="{error_id}" role="alert">{escape(error)}</p>')
    return f'<div class="field{" has-error" if error else ""}">{"".join(parts)}</div>'


def _control(element: Block, field_id: str, name: str, typed: str | None, invalid: bool) -> str:
    kind = element.get("type")
    attrs = f'id="{escape(field_id, quote=True)}" name="{escape(name, quote=True)}"'
    if invalid:
        attrs += f' aria-invalid="true" aria-describedby="{escape("error-" + name, quote=True)}"'
    if kind == "datepicker":
        value = typed if typed is not None else element.get("initial_date") or ""
        return f'<input type="date" {attrs} value="{escape(str(value), quote=True)}">'
    if kind == "plain_text_input":
        value = typed if typed is not None else element.get("initial_value") or ""
        if element.get("multiline"):
            return f'<textarea {attrs} rows="3">{escape(str(value))}</textarea>'
        return f'<input type="text" {attrs} value="{escape(str(value), quote=True)}">'
    if kind == "static_select":
        initial = (element.get("initial_option") or {}).get("value")
        chosen = typed if typed is not None else initial
        options = "".join(
            f'<option value="{escape(str(o.get("value")), quote=True)}"'
            f"{' selected' if o.get('value') == chosen else ''}>{text_html(o.get('text'))}</option>"
            for o in element.get("options", [])
        )
        return f'<select {attrs}><option value=""></option>{options}</select>'
    return f'<span class="unsupported">[{escape(str(kind))} field: not shown locally]</span>'


def state_values(view: Block, form: Mapping[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """The `view.state.values` Slack would send for this form: per block_id, per action_id."""
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for block in input_blocks(view):
        element = block.get("element", {})
        kind, action_id = element.get("type"), str(element.get("action_id", ""))
        typed = (form.get(block["block_id"]) or "").strip() or None
        if kind == "datepicker":
            state: dict[str, Any] = {"type": kind, "selected_date": typed}
        elif kind == "plain_text_input":
            state = {"type": kind, "value": typed}
        elif kind == "static_select":
            option = next((o for o in element.get("options", []) if o.get("value") == typed), None)
            state = {"type": kind, "selected_option": option}
        else:
            continue
        values[block["block_id"]] = {action_id: state}
    return values
