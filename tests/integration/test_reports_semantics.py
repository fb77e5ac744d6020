"""The weekly digest and the monthly summary read back from the tables as the functions write them:
a ping sent between one digest and the next is in exactly one digest, and a renewal typed into the
sheet is in the month's renewals."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime
from email import policy

from alerts import set_expiry
from reports import EXAMPLE, LONDON, digest, summary

from ew.chain import ESCALATE, Ping
from ew_local.cloud import LocalCloud

SETTINGS = {
    "timezone": "Europe/London",
    "holidays": "GB-ENG",
    "admin": "ops@acme.example",
    "digest_channel": "C0EWDIGEST",
}


def mirror_example(cloud: LocalCloud) -> None:
    cloud.mirror(*((EXAMPLE / name).read_bytes() for name in ("registry.csv", "rules.txt", "voice.txt")))


def test_a_ping_sent_on_sunday_evening_after_the_digest_is_in_the_next_weeks_pings() -> None:
    with LocalCloud(SETTINGS) as cloud:
        mirror_example(cloud)
        assert digest(date(2026, 11, 29))["figures"]["pings_by_move"] == {}
        # Sunday 19:30, after the 18:00 digest: an escalation goes out at once (its notice date is too
        # close to wait for Monday), as dispatch records it.
        evening = datetime(2026, 11, 29, 19, 30, tzinfo=LONDON)
        ping = Ping("ACME-001", date(2027, 3, 31), 0, ESCALATE, evening.date(), "ops@acme.example")
        assert cloud.store.claim(ping, evening, "email", "sending")
        cloud.store.mark_sent("ACME-001", 0, "email", None)
        assert digest(date(2026, 12, 6))["figures"]["pings_by_move"] == {ESCALATE: 1}


def test_a_renewal_typed_into_the_sheet_is_in_the_months_renewals_and_median() -> None:
    sheet = "item_id,item,category,expiry_date,owner,renewal_term\nA-2,Van insurance,insurance,1 Jan 2027,U04FIN0001,1 year\n"
    rules = "[default]\nfirst alert: 60 days before\nreminder: every 14 days\nescalate: 7 days before\n"
    with LocalCloud({**SETTINGS, "summary_recipients": "board@acme.example"}) as cloud:
        cloud.publish(sheet.encode(), rules, "")
        cloud.drive_sync()
        cloud.tick(datetime(2026, 11, 23, 8, tzinfo=UTC))  # A-2's first alert, on 23 Nov
        set_expiry(cloud, "A-2", "1 Jan 2028")  # renewed by typing the new date, on 26 Nov
        with cloud.at(datetime(2026, 11, 26, 10, tzinfo=UTC)):
            assert cloud.drive_sync()["renewals"] == 1
        figures = summary(datetime(2026, 12, 7, 9, tzinfo=LONDON))["figures"]
        assert figures["renewals"] == "1"
        assert figures["median days from first alert to renewal"] == "3"
        [sent] = cloud.sent_emails()
        text = email.message_from_string(sent["raw_data"], policy=policy.default).get_body(("plain",))
        assert text is not None and "Owners renewed 1 item," in text.get_content()
