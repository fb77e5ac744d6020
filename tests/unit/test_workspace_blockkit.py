"""Block Kit as HTML for the local workspace: what the handlers send, shown safely."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

from ew import proposals
from ew.cards import slack_card
from ew.chain import Move, PingRef
from ew.click_rules import ModalContext, date_modal, picked_date
from ew.items import Item
from ew.voice import parse_voice
from ew_local.workspace.blockkit import link_button, mrkdwn, render_blocks, render_view, state_values

HOSTILE = '<script>alert("pwned")</script> O\'Brien & Sons <img src=x onerror=alert(1)>'


def visible(html: str) -> str:
    """The text a browser would show."""
    return unescape(re.sub(r"<[^>]+>", "", html.replace("<br>", "\n")))


def test_text_is_escaped_before_slack_marks_are_applied() -> None:
    html = mrkdwn("*Lease* ends _soon_ ~never~ `now` & 3 > 2\nnext line")
    assert html == "<b>Lease</b> ends <i>soon</i> <s>never</s> <code>now</code> &amp; 3 &gt; 2<br>next line"
    assert mrkdwn("2*3*4 and snake_case_name stay as typed") == "2*3*4 and snake_case_name stay as typed"


def test_slack_entities_show_as_the_characters_they_stand_for_and_stay_escaped() -> None:
    html = mrkdwn("Keane &amp; Co &lt;script&gt;alert(1)&lt;/script&gt; \"quoted\" 'single'")
    assert "<script" not in html
    assert (
        html == "Keane &amp; Co &lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &#x27;single&#x27;"
    )
    assert visible(html) == "Keane & Co <script>alert(1)</script> \"quoted\" 'single'"


def test_links_mentions_and_emoji() -> None:
    html = mrkdwn(
        "<https://broker.example/p?a=1&amp;b=2|renewal *page*> by <@U04FIN0001> <!here> :white_check_mark:"
    )
    assert '<a href="https://broker.example/p?a=1&amp;b=2" rel="noopener noreferrer" target="_blank">' in html
    assert "renewal <b>page</b></a>" in html
    assert '<span class="mention">@U04FIN0001</span>' in html and '<span class="mention">@here</span>' in html
    assert html.endswith("\u2705")
    assert mrkdwn("<https://plain.example>") == (
        '<a href="https://plain.example" rel="noopener noreferrer" target="_blank">https://plain.example</a>'
    )


def test_hostile_links_lose_their_link_and_cannot_break_out_of_the_attribute() -> None:
    # Raw tags (a handler that forgot escape_mrkdwn) read as Slack tokens: words at most, never HTML.
    assert mrkdwn("<script>alert(1)</script>") == "scriptalert(1)/script"
    assert mrkdwn("<javascript:alert(1)|click me>") == "click me"
    assert mrkdwn("<data:text/html,x|x>") == "x"
    html = mrkdwn('<https://x.example/" onmouseover="alert(1)|label>')
    assert 'href="https://x.example/&quot; onmouseover=&quot;alert(1)"' in html
    assert html.count('"') == 6  # href, rel and target: no attribute smuggled in


def test_a_real_card_with_a_hostile_sheet_cell_renders_as_typed_and_harmless() -> None:
    item = Item(
        "ACME-9", HOSTILE, date(2026, 12, 15), "U04FIN0001", 2, category="insurance",
        notes='Broker: "Keane" & Co', renewal_link="https://broker.example/?q=<x>&r=1",
    )  # fmt: skip
    move = Move("ACME-9", "first_alert", "U04FIN0001", 22, date(2026, 12, 15), date(2026, 12, 15), 0)
    voice = parse_voice("[first_alert]\nHeads up: *{item}* ({category}), {days_left} days. {notes}\n")
    _, blocks = slack_card(item, move, voice)

    html = render_blocks(blocks)
    assert "<script" not in html and "<img" not in html
    text = visible(html)
    assert f'Heads up: {HOSTILE} (insurance), 22 days. Broker: "Keane" & Co' in text
    assert "Renew" in text and "Snooze" in text and "Ack only" in text
    assert '<button type="button" class="btn btn-primary" disabled>Renew</button>' in html


def test_blocks_each_kind_and_a_button_maker_of_the_page() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Weekly <digest>"}},
        {"type": "divider"},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Acks*"}, {"type": "plain_text", "text": "3"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "_small_"}, {"type": "image", "alt_text": "logo"}]},
        {"type": "actions", "elements": [{"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}]},
        {"type": "rich_text"},
    ]  # fmt: skip
    html = render_blocks(blocks, lambda element, block: f"<button>{element['action_id']}</button>")
    assert '<div class="block header">Weekly &lt;digest&gt;</div>' in html
    assert '<hr class="block divider">' in html
    assert '<div class="fields"><div><b>Acks</b></div><div>3</div></div>' in html
    assert "<i>small</i>" in html and "[logo]" in html
    assert '<div class="block actions"><button>go</button></div>' in html
    assert "[rich_text block]" in html


def test_a_button_with_a_url_is_a_link_and_only_to_a_web_page() -> None:
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open"},
        "url": "https://x.example/?a=1&b=2",
    }
    assert link_button(button) == (
        '<a class="btn" href="https://x.example/?a=1&amp;b=2" rel="noopener noreferrer" target="_blank">Open</a>'
    )
    assert link_button({**button, "url": "javascript:alert(1)"}) == (
        '<button type="button" class="btn" disabled>Open</button>'
    )


def renew_modal() -> dict:
    context = ModalContext(PingRef("ACME-002", date(2026, 12, 15), 0), "D04FIN0001", "1.1", HOSTILE)
    return date_modal("renew", context, date(2027, 12, 15))


def test_a_modal_becomes_a_form_with_a_date_input_prefilled() -> None:
    html = render_view(renew_modal(), "/modal/m1", cancel="/?c=D04FIN0001")
    assert '<form class="modal" method="post" action="/modal/m1">' in html
    assert '<label for="field-date">New expiry date</label>' in html
    assert '<input type="date" id="field-date" name="date" value="2027-12-15">' in html
    assert '<p class="hint">The date the renewed item next expires.</p>' in html
    assert '<a class="btn" href="/?c=D04FIN0001">Cancel</a>' in html
    assert 'id="modal-submit">Renew</button>' in html
    assert "<script" not in html and HOSTILE in visible(html)


def test_errors_show_next_to_their_field_with_what_was_typed() -> None:
    errors = {"date": "The new expiry date must be after today (23 Nov 2026).", "elsewhere": "Sheet <busy>"}
    html = render_view(renew_modal(), "/modal/m1", {"date": "2026-11-20"}, errors)
    field = re.search(r'<div class="field has-error">.*?</div>', html)
    assert field, html
    assert 'aria-invalid="true" aria-describedby="error-date" value="2026-11-20"' in field.group(0)
    assert (
        '<p class="field-error" id="error-date" role="alert">The new expiry date must be after today'
        in field.group(0)
    )
    assert '<p class="field-error" role="alert">Sheet &lt;busy&gt;</p>' in html  # no such field: on top


def test_the_form_goes_back_as_the_state_values_the_handlers_read() -> None:
    view = renew_modal()
    assert state_values(view, {"date": "2028-01-31"}) == {
        "date": {"picked": {"type": "datepicker", "selected_date": "2028-01-31"}}
    }
    assert picked_date(state_values(view, {"date": "2028-01-31"})) == "2028-01-31"
    assert picked_date(state_values(view, {"date": " "})) is None
    assert picked_date(state_values(view, {})) is None


def test_a_proposal_edit_modal_round_trips_text_and_date_fields() -> None:
    fields = {"item": "Van <lease>", "expiry_date": "2027-03-01", "owner": "U04OPS0001"}
    proposal = proposals.Proposal("p1", fields, "email from ana@acme.example")
    view = proposals.edit_modal(proposal, "C04INTAKE1", "1.2")
    html = render_view(view, "/modal/m2")
    assert '<input type="text" id="field-item" name="item" value="Van &lt;lease&gt;">' in html
    assert '<input type="date" id="field-expiry_date" name="expiry_date" value="2027-03-01">' in html
    assert "<textarea" in html and '<span class="optional">(optional)</span>' in html
    form = {"item": "Van lease", "expiry_date": "2027-04-01", "owner": "U04OPS0001", "notes": ""}
    assert proposals.edited_fields(state_values(view, form)) == {
        "item": "Van lease", "expiry_date": "2027-04-01", "owner": "U04OPS0001"
    }  # fmt: skip
