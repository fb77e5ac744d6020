"""What an owner reads: the Slack card and the email for a move."""

from __future__ import annotations

from datetime import date

from ew.cards import email_content, slack_card
from ew.chain import Move, PingRef
from ew.items import Item
from ew.voice import Voice, parse_voice

ITEM = Item(
    item_id="ACME-001",
    item="Lease <Harbour St> & parking",
    expiry_date=date(2027, 3, 31),
    owner="U04LEASE01",
    row=2,
    category="contract",
    notice_date=date(2026, 12, 31),
    notes="Landlord needs <b>3 months</b> notice",
    renewal_link="https://portal.example/lease/14",
)
MOVE = Move("ACME-001", "first_alert", "U04LEASE01", 38, date(2026, 12, 31), date(2027, 3, 31), 0)


def test_the_card_escapes_sheet_text_and_carries_the_ping_in_every_button() -> None:
    voice = parse_voice("[first_alert]\n*{item}*: {days_left} days. {notes}\n")
    text, blocks = slack_card(ITEM, MOVE, voice)
    assert (
        text
        == "*Lease &lt;Harbour St&gt; &amp; parking*: 38 days. Landlord needs &lt;b&gt;3 months&lt;/b&gt; notice"
    )
    section, context, actions = blocks
    assert section["text"]["text"] == text
    assert context["elements"][0]["text"] == (
        "Expires 31 Mar 2027 · notice by 31 Dec 2026 · 38 days left · contract · "
        "<https://portal.example/lease/14|renewal page>"
    )
    assert actions["block_id"] == "ew_ping"
    assert [(b["action_id"], b["text"]["text"], b.get("style")) for b in actions["elements"]] == [
        ("renew", "Renew", "primary"),
        ("snooze", "Snooze", None),
        ("ack_only", "Ack only", None),
    ]
    assert {PingRef.from_value(b["value"]) for b in actions["elements"]} == {
        PingRef("ACME-001", date(2027, 3, 31), 0)
    }


def test_an_overdue_item_says_how_many_days_overdue() -> None:
    overdue = Move(
        "ACME-001", "escalate", "ops@example.com", -4, date(2026, 12, 31), date(2027, 3, 31), 3, "U04LEASE01"
    )
    _, blocks = slack_card(ITEM, overdue, Voice())
    assert "4 days overdue" in blocks[1]["elements"][0]["text"]
    assert "It was with U04LEASE01" in blocks[0]["text"]["text"]


def test_the_email_has_plain_text_links_and_escaped_html() -> None:
    voice = parse_voice("[first_alert]\n*{item}* is due.\n[email_subject]\nDue: {item}\n")
    links = {"renew": "https://act.example/email?t=R", "snooze": "https://act.example/email?t=S",
             "ack_only": "https://act.example/email?t=A"}  # fmt: skip
    mail = email_content(ITEM, MOVE, voice, links)
    assert mail.subject == "Due: Lease <Harbour St> & parking"
    assert mail.text == (
        "Lease <Harbour St> & parking is due.\n\n"
        "Expires 31 Mar 2027 · notice by 31 Dec 2026 · 38 days left · contract · https://portal.example/lease/14\n\n"
        "Renew: https://act.example/email?t=R\nSnooze: https://act.example/email?t=S\n"
        "Ack only: https://act.example/email?t=A"
    )
    assert "Lease &lt;Harbour St&gt; &amp; parking is due." in mail.html
    assert '<a href="https://act.example/email?t=S">Snooze</a>' in mail.html
    assert "<Harbour St>" not in mail.html


def test_an_email_without_configured_links_still_carries_the_message() -> None:
    mail = email_content(ITEM, MOVE, Voice(), {})
    assert "Renew:" not in mail.text and mail.text.startswith(
        "Lease <Harbour St> & parking (contract) expires"
    )
