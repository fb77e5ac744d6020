"""The weekly digest and the monthly summary tried the way they fail: the admin reached differently from
everywhere else, a click between one digest and the next, an empty archive, a month that ends a year."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from reports import EXAMPLE, LONDON, digest, summary

from ew.answers import act
from ew.chain import ACK_ONLY, PingRef
from ew.items import load_registry
from ew_local.cloud import LocalCloud
from ew_local.simulate import Simulation

SETTINGS = {"timezone": "Europe/London", "holidays": "GB-ENG", "admin": "ops@acme.example"}
CHANNEL = "C0EWDIGEST"


def example(cloud: LocalCloud) -> Simulation:
    cloud.mirror(*((EXAMPLE / name).read_bytes() for name in ("registry.csv", "rules.txt", "voice.txt")))
    return Simulation(cloud, load_registry((EXAMPLE / "registry.csv").read_bytes()).items, "Europe/London")


# -- who hears it -----------------------------------------------------------------------------------


def test_without_a_digest_channel_an_admin_slack_knows_gets_the_digest_as_a_dm_like_every_notice() -> None:
    with LocalCloud(SETTINGS, slack_users={"ops@acme.example": "U04OPS0001"}) as cloud:
        example(cloud).tick(date(2026, 11, 23))
        before = len(cloud.slack.messages()), len(cloud.sent_emails())
        result = digest(date(2026, 11, 29))
        assert (result["status"], result["via"], result["fell_back"]) == ("sent", "slack", False)
        [dm] = cloud.slack.messages()[before[0] :]
        assert dm["channel"] == "U04OPS0001" and dm["text"].startswith("Weekly digest 23-29 Nov 2026:")
        assert len(cloud.sent_emails()) == before[1]  # not also by email


def test_the_admin_slack_cannot_look_up_gets_the_digest_by_email() -> None:
    with LocalCloud(SETTINGS, slack_users={"ops@acme.example": "U04OPS0001"}) as cloud:
        example(cloud).tick(date(2026, 11, 23))
        cloud.slack.fail("users.lookupByEmail", status=500, times=10)
        before = len(cloud.sent_emails())
        result = digest(date(2026, 11, 29))
        assert (result["status"], result["via"], result["fell_back"]) == ("sent", "email", True)
        assert len(cloud.sent_emails()) == before + 1


# -- what is counted ---------------------------------------------------------------------------------


def test_a_click_on_sunday_evening_after_the_digest_is_in_the_next_weeks_answers() -> None:
    with LocalCloud({**SETTINGS, "digest_channel": CHANNEL}) as cloud:
        sim = example(cloud)
        sim.tick(date(2026, 11, 23))
        assert digest(date(2026, 11, 29))["figures"]["answers"] == {}
        # Sunday 20:30, after the 18:00 digest: the owner answers the first alert of ACME-002.
        evening = datetime(2026, 11, 29, 20, 30, tzinfo=LONDON)
        deps = replace(cloud.ack_handler_module.deps(), clock=lambda: evening)
        act(deps, PingRef("ACME-002", date(2026, 12, 15), 0), ACK_ONLY, "U04FIN0001", None)
        assert digest(date(2026, 12, 6))["figures"]["answers"] == {ACK_ONLY: 1}


def test_an_empty_archive_still_gets_a_digest_and_a_summary_saying_so() -> None:
    with LocalCloud({**SETTINGS, "digest_channel": CHANNEL}) as cloud:
        example(cloud)  # a sheet, and nothing sent or answered yet
        result = digest(date(2026, 11, 29))
        assert result["status"] == "sent" and result["figures"]["pings_by_move"] == {}
        [posted] = cloud.slack.messages()
        assert "*Pings sent:* 0" in posted["blocks"][1]["text"]["text"]
        sent = summary(datetime(2027, 1, 4, 9, tzinfo=LONDON))  # first Monday of 2027: December 2026
        assert (sent["status"], sent["month"], sent["figures"]["alerts sent"]) == ("sent", "2026-12", "0")
        assert summary(datetime(2027, 1, 4, 9, 2, tzinfo=LONDON))["status"] == "duplicate"
        assert len(cloud.sent_emails()) == 1
