import json
import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ew_local.fake_slack import FakeSlack, render_card

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Lease* ends soon"}}]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(users={"Ann@Example.com": "U0ANN"}) as fake:
        yield fake


def _client(fake: FakeSlack, token: str | None = "xoxb-test") -> WebClient:
    # No retry handlers: these tests look at the fake's raw answers.
    return WebClient(token=token, base_url=fake.url, retry_handlers=[])


def _error(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


def test_post_message_is_recorded_with_decoded_blocks_and_headers(fake):
    _client(fake).chat_postMessage(channel="C0OPS", text="Lease ends soon", blocks=BLOCKS)
    [call] = fake.calls("chat.postMessage")
    assert call.params == {"channel": "C0OPS", "text": "Lease ends soon", "blocks": BLOCKS}
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert fake.messages() == [call.params]


def test_form_encoded_bodies_are_parsed_and_json_fields_decoded(fake):
    params = {"channel": "C0OPS", "text": "hi", "blocks": json.dumps(BLOCKS)}
    _client(fake).api_call("chat.postMessage", params=params)
    [call] = fake.calls()
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.params["blocks"] == BLOCKS


def test_a_user_id_channel_posts_to_a_dm_derived_from_it(fake):
    client = _client(fake)
    first = client.chat_postMessage(channel="U0ANN", text="one")
    second = client.chat_postMessage(channel="C0OPS", text="two")
    assert first["channel"] == "D0ANN"
    assert second["channel"] == "C0OPS"
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["text"] == "one"
    assert client.conversations_open(users="U0ANN")["channel"]["id"] == "D0ANN"


def test_calls_without_a_bearer_token_are_not_authed(fake):
    assert _error(lambda: _client(fake, token=None).auth_test()).response["error"] == "not_authed"
    assert _client(fake).auth_test()["user_id"] == "U0BOT"


def test_a_configured_token_rejects_others():
    with FakeSlack(token="xoxb-right") as fake:
        assert _error(lambda: _client(fake, "xoxb-wrong").auth_test()).response["error"] == "invalid_auth"
        assert _client(fake, "xoxb-right").auth_test()["ok"]


def test_unknown_methods_are_refused_but_recorded(fake):
    assert _error(lambda: _client(fake).api_call("pins.add")).response["error"] == "unknown_method"
    assert [c.method for c in fake.calls()] == ["pins.add"]


def test_lookup_by_email_is_case_insensitive_and_unknown_users_are_not_found(fake):
    client = _client(fake)
    assert client.users_lookupByEmail(email="ann@example.COM")["user"]["id"] == "U0ANN"
    assert _error(lambda: client.users_lookupByEmail(email="bob@example.com")).response["error"] == (
        "users_not_found"
    )
    fake.add_user("bob@example.com", "U0BOB")
    assert client.users_lookupByEmail(email="bob@example.com")["user"]["id"] == "U0BOB"


def test_chat_update_changes_the_posted_message_and_needs_the_real_channel(fake):
    client = _client(fake)
    posted = client.chat_postMessage(channel="U0ANN", text="Renew?", blocks=BLOCKS)
    client.chat_update(channel=posted["channel"], ts=posted["ts"], text="Renewed by Ann", blocks=[])
    assert fake.message(posted["channel"], posted["ts"]) == {
        **posted["message"],
        "text": "Renewed by Ann",
        "blocks": [],
    }
    error = _error(lambda: client.chat_update(channel="U0ANN", ts=posted["ts"], text="x"))
    assert error.response["error"] == "message_not_found"


def test_posted_lists_every_message_as_it_stands_now_in_posting_order(fake):
    client = _client(fake)
    first = client.chat_postMessage(channel="U0ANN", text="Renew?", blocks=BLOCKS)
    client.chat_postMessage(channel="C0DIGEST", text="Digest")
    client.chat_update(channel=first["channel"], ts=first["ts"], text="Renewed", blocks=[])
    assert [(channel, m["text"]) for channel, m in fake.posted()] == [
        ("D0ANN", "Renewed"),
        ("C0DIGEST", "Digest"),
    ]


def test_views_open_and_update_and_ephemeral_messages(fake):
    client = _client(fake)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Renew"}, "blocks": []}
    opened = client.views_open(trigger_id="1.2.abc", view=view)["view"]
    assert opened["id"].startswith("V") and opened["title"] == view["title"]
    assert fake.calls("views.open")[0].params["view"] == view
    updated = client.views_update(view_id=opened["id"], view={**view, "blocks": BLOCKS})["view"]
    assert updated == {**view, "blocks": BLOCKS, "id": opened["id"]}
    assert client.chat_postEphemeral(channel="C0OPS", user="U0ANN", text="only you")["message_ts"]


def test_scripted_ok_false_answers_then_recovers(fake):
    fake.fail("chat.postMessage", error="channel_not_found", times=2)
    client = _client(fake)
    for _ in range(2):
        error = _error(lambda: client.chat_postMessage(channel="C0OPS", text="x"))
        assert (error.response.status_code, error.response["error"]) == (200, "channel_not_found")
    assert client.chat_postMessage(channel="C0OPS", text="x")["ok"]
    assert len(fake.messages()) == 3


def test_scripted_http_errors_and_rate_limits(fake):
    fake.fail("chat.postMessage", status=503)
    fake.rate_limit("chat.postMessage", retry_after=7)
    client = _client(fake)
    assert _error(lambda: client.chat_postMessage(channel="C0OPS", text="x")).response.status_code == 503
    limited = _error(lambda: client.chat_postMessage(channel="C0OPS", text="x")).response
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert client.chat_postMessage(channel="C0OPS", text="x")["ok"]


def test_delay_slows_only_that_method(fake):
    fake.delay("chat.postMessage", 1)  # far above a request's own time, even on a busy machine
    client = _client(fake)
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started < 0.9
    started = time.monotonic()
    client.chat_postMessage(channel="C0OPS", text="x")
    assert time.monotonic() - started >= 1


def test_reset_forgets_calls_and_scripts_but_keeps_users(fake):
    client = _client(fake)
    fake.fail("users.lookupByEmail")
    client.auth_test()
    fake.reset()
    assert fake.calls() == []
    assert client.users_lookupByEmail(email="ann@example.com")["ok"]


def test_explicit_start_and_stop():
    fake = FakeSlack().start()
    url = fake.url
    assert _client(fake).auth_test()["ok"]
    fake.stop()
    with pytest.raises(RuntimeError):
        _ = fake.url
    with pytest.raises(OSError):
        WebClient(token="xoxb-test", base_url=url, retry_handlers=[], timeout=1).auth_test()


def test_render_card_shows_blocks_readably():
    def mrkdwn(text):
        return {"type": "mrkdwn", "text": text}

    def button(label):
        return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": label.lower()}

    card = {
        "channel": "U0ANN",
        "text": "fallback only",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Office lease"}},
            {"type": "section", "text": mrkdwn("Ends *1 Mar 2026*, <@U0ANN>: <https://x.test/l|open>")},
            {"type": "section", "fields": [mrkdwn("*Owner:* Ann")]},
            {"type": "divider"},
            {"type": "context", "elements": [mrkdwn("Reminder 2 of 3"), mrkdwn("<!here>")]},
            {"type": "actions", "elements": [button("Renew"), button("Snooze"), button("Ack only")]},
        ],
    }
    assert render_card(card) == "\n".join(
        [
            "Office lease",
            "============",
            "Ends *1 Mar 2026*, @U0ANN: open (https://x.test/l)",
            "*Owner:* Ann",
            "-" * 76,
            "  Reminder 2 of 3  |  @here",
            "[ Renew ] [ Snooze ] [ Ack only ]",
        ]
    )


def test_render_card_without_blocks_wraps_the_text():
    text = "word " * 30
    rendered = render_card({"channel": "C1", "text": text.strip(), "blocks": "[]"})
    assert rendered.split() == text.split()
    assert max(len(line) for line in rendered.splitlines()) <= 76
