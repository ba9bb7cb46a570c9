"""The Slack stand-in's documented behaviours, driven by the real slack-sdk clients.

Each test names the behaviour of production Slack that the stand-in reproduces (the source is
cited next to the code in standins/slack.py and standins/blockkit.py): membership and
not_in_channel, Block Kit limits and their error names, 429 with Retry-After, uploads shared as
thread messages, dropped Socket Mode connections. If the stand-in got kinder than Slack, one of
these fails.
"""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from standins.slack import BOT_SCOPES, SlackStandin
from tests.contract.slack_fixtures import client, standin  # noqa: F401 - fixtures

CHANNEL = "C0TRACTION"



async def error_of(call) -> tuple[int, str, dict]:
    with pytest.raises(SlackApiError) as raised:
        await call
    response = raised.value.response
    return response.status_code, response["error"], response.data


def section(text: str, **extra) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(**overrides) -> dict:
    return {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}, "value": "1", **overrides}


def confirm(**overrides) -> dict:
    return {"title": {"type": "plain_text", "text": "Sure?"}, "text": {"type": "mrkdwn", "text": "Really"},
            "confirm": {"type": "plain_text", "text": "Yes"}, "deny": {"type": "plain_text", "text": "No"},
            **overrides}


def plain(n: int) -> dict:
    return {"type": "plain_text", "text": "x" * n}


# ---------------------------------------------------------------------- channel membership


async def test_a_bot_that_is_not_a_member_gets_not_in_channel_everywhere_it_writes_or_reads(standin, client):
    parent = await client.chat_postMessage(channel=CHANNEL, text="posted while a member")
    standin.remove_bot(CHANNEL)

    assert (await error_of(client.chat_postMessage(channel=CHANNEL, text="x")))[:2] == (200, "not_in_channel")
    assert (await error_of(client.chat_postMessage(channel="#_traction", text="x")))[1] == "not_in_channel"
    assert (await error_of(client.chat_update(channel=CHANNEL, ts=parent["ts"], text="y")))[1] == "not_in_channel"
    assert (await error_of(client.chat_postEphemeral(channel=CHANNEL, user="U0OPERATOR", text="x")))[1] == "not_in_channel"
    assert (await error_of(client.files_upload_v2(channel=CHANNEL, content=b"a,b\n", filename="plan.csv")))[1] == "not_in_channel"
    assert (await error_of(client.conversations_history(channel=CHANNEL)))[1] == "not_in_channel"
    assert (await error_of(client.conversations_replies(channel=CHANNEL, ts=parent["ts"])))[1] == "not_in_channel"
    assert [m.text for m in standin.messages] == ["posted while a member"]  # nothing else landed
    assert standin.message_by_ts(CHANNEL, parent["ts"]).edits == []
    assert {r["error"] for r in standin.refusals} == {"not_in_channel"}

    # What the bot can still read about the channel says so, as on Slack.
    assert (await client.conversations_info(channel=CHANNEL))["channel"]["is_member"] is False
    [listed] = (await client.conversations_list())["channels"]
    assert (listed["id"], listed["is_member"]) == (CHANNEL, False)
    assert "U0BOT" not in (await client.conversations_members(channel=CHANNEL))["members"]

    await standin.invite_bot(CHANNEL)
    assert (await client.conversations_info(channel=CHANNEL))["channel"]["is_member"] is True
    assert "U0BOT" in (await client.conversations_members(channel=CHANNEL))["members"]
    assert (await client.chat_postMessage(channel=CHANNEL, text="after the invite"))["ok"]


async def test_conversations_join_needs_channels_join_which_the_manifest_does_not_grant(standin, client):
    standin.remove_bot(CHANNEL)
    status, error, body = await error_of(client.conversations_join(channel=CHANNEL))
    assert (status, error, body["needed"]) == (200, "missing_scope", "channels:join")
    assert "channels:join" not in body["provided"] and "chat:write.public" not in body["provided"]
    assert not standin.is_member(CHANNEL)

    joinable = SlackStandin(scopes=BOT_SCOPES + ",channels:join")
    await joinable.start()
    try:
        joinable.remove_bot(CHANNEL)
        other = AsyncWebClient(token=joinable.bot_token, base_url=joinable.api_url)
        assert (await other.conversations_join(channel=CHANNEL))["channel"]["is_member"] is True
        assert (await other.chat_postMessage(channel=CHANNEL, text="joined"))["ok"]
    finally:
        await joinable.stop()


async def test_chat_write_public_lets_a_bot_post_without_being_a_member_but_not_read(client):
    public = SlackStandin(scopes=BOT_SCOPES + ",chat:write.public")
    await public.start()
    try:
        public.remove_bot(CHANNEL)
        other = AsyncWebClient(token=public.bot_token, base_url=public.api_url)
        assert (await other.chat_postMessage(channel=CHANNEL, text="public post"))["ok"]
        assert (await error_of(other.conversations_history(channel=CHANNEL)))[1] == "not_in_channel"
    finally:
        await public.stop()


async def test_the_oauth_scopes_header_is_the_manifests(standin, client):
    response = await client.auth_test()
    scopes = set(response.headers["x-oauth-scopes"].split(","))
    assert {"chat:write", "channels:history", "files:write"} <= scopes
    assert not scopes & {"chat:write.public", "channels:join"}


async def test_an_invite_sends_member_joined_channel_over_socket_mode(standin):
    received: list[dict] = []
    web = AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)
    socket = SocketModeClient(app_token=standin.app_token, web_client=AsyncWebClient(base_url=standin.api_url))

    async def listener(client: SocketModeClient, request: SocketModeRequest) -> None:
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        received.append(request.payload["event"])

    socket.socket_mode_request_listeners.append(listener)
    await socket.connect()
    try:
        await standin.wait_connected()
        standin.remove_bot(CHANNEL)
        envelope = await standin.invite_bot(CHANNEL, inviter="U0OPERATOR")
        await standin.wait_ack(envelope)
        await standin.wait_for(lambda: received)
        assert received[0] | {"event_ts": None} == {
            "type": "member_joined_channel", "user": "U0BOT", "channel": CHANNEL, "channel_type": "C",
            "team": standin.team_id, "inviter": "U0OPERATOR", "event_ts": None}
        assert (await web.chat_postMessage(channel=CHANNEL, text="hello again"))["ok"]
    finally:
        await socket.close()

    # An app that does not subscribe to the event is told nothing: it has to look.
    quiet = SlackStandin(bot_events=("app_home_opened",))
    await quiet.start()
    try:
        quiet.remove_bot(CHANNEL)
        assert await quiet.invite_bot(CHANNEL) is None and quiet.is_member(CHANNEL)
    finally:
        await quiet.stop()


# ---------------------------------------------------------------------- Block Kit limits

TOO_BIG = [
    ("51 blocks", [{"type": "divider"}] * 51, "/blocks"),
    ("section text 3001", [section("x" * 3001)], "/blocks/0/text/text"),
    ("11 fields", [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "/blocks/0/fields"),
    ("field text 2001", [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}], "/blocks/0/fields/0/text"),
    ("empty section text", [section("")], "/blocks/0/text/text"),
    ("header 151", [{"type": "header", "text": plain(151)}], "/blocks/0/text/text"),
    ("context 11 elements", [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "/blocks/0/elements"),
    ("context text 3001", [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3001}]}], "/blocks/0/elements/0/text"),
    ("block_id 256", [section("x", block_id="b" * 256)], "/blocks/0/block_id"),
    ("duplicate block_id", [section("x", block_id="same"), section("y", block_id="same")], "/blocks/1/block_id"),
    ("button text 76", [{"type": "actions", "elements": [button(text=plain(76))]}], "/blocks/0/elements/0/text/text"),
    ("button value 2001", [{"type": "actions", "elements": [button(value="v" * 2001)]}], "/blocks/0/elements/0/value"),
    ("action_id 256", [{"type": "actions", "elements": [button(action_id="a" * 256)]}], "/blocks/0/elements/0/action_id"),
    ("26 buttons", [{"type": "actions", "elements": [button(action_id=f"a{i}") for i in range(26)]}], "/blocks/0/elements"),
    ("confirm title 101", [{"type": "actions", "elements": [button(confirm=confirm(title=plain(101)))]}],
     "/blocks/0/elements/0/confirm/title/text"),
    ("confirm text 301", [{"type": "actions", "elements": [button(confirm=confirm(text={"type": "mrkdwn", "text": "t" * 301}))]}],
     "/blocks/0/elements/0/confirm/text/text"),
    ("confirm button 31", [{"type": "actions", "elements": [button(confirm=confirm(confirm=plain(31)))]}],
     "/blocks/0/elements/0/confirm/confirm/text"),
    ("deny button 31", [{"type": "actions", "elements": [button(confirm=confirm(deny=plain(31)))]}],
     "/blocks/0/elements/0/confirm/deny/text"),
    ("unknown block type", [{"type": "banner"}], "/blocks/0"),
]

AT_THE_LIMIT = [
    ("50 blocks", [section(f"line {i}") for i in range(50)]),
    ("section text 3000", [section("x" * 3000)]),
    ("10 fields of 2000", [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10}]),
    ("header 150", [{"type": "header", "text": plain(150)}]),
    ("button at every limit", [{"type": "actions", "block_id": "b" * 255, "elements": [
        button(text=plain(75), value="v" * 2000, action_id="a" * 255,
               confirm=confirm(title=plain(100), text={"type": "mrkdwn", "text": "t" * 300},
                               confirm=plain(30), deny=plain(30), style="danger"))]}]),
]


@pytest.mark.parametrize("what,blocks,pointer", TOO_BIG, ids=[case[0] for case in TOO_BIG])
async def test_a_block_over_a_limit_refuses_the_whole_message_with_invalid_blocks(standin, client, what, blocks, pointer):
    status, error, body = await error_of(client.chat_postMessage(channel=CHANNEL, text="fallback", blocks=blocks))
    assert (status, error) == (200, "invalid_blocks")
    messages = body["response_metadata"]["messages"]
    assert any(f"[json-pointer:{pointer}]" in m and m.startswith("[ERROR]") for m in messages), messages
    assert standin.messages == []
    assert standin.refusals[-1]["error"] == "invalid_blocks"


@pytest.mark.parametrize("what,blocks", AT_THE_LIMIT, ids=[case[0] for case in AT_THE_LIMIT])
async def test_blocks_exactly_at_a_limit_are_accepted(standin, client, what, blocks):
    assert (await client.chat_postMessage(channel=CHANNEL, text="fallback", blocks=blocks))["ok"]
    assert standin.messages[0].blocks == blocks and standin.refusals == []


async def test_message_text_over_40000_characters_is_msg_too_long(standin, client):
    assert (await error_of(client.chat_postMessage(channel=CHANNEL, text="x" * 40_001)))[:2] == (200, "msg_too_long")
    assert (await client.chat_postMessage(channel=CHANNEL, text="x" * 40_000))["ok"]


async def test_a_refused_update_changes_nothing(standin, client):
    posted = await client.chat_postMessage(channel=CHANNEL, text="v1", blocks=[section("v1")])
    assert (await error_of(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v2",
                                              blocks=[section("x" * 3001)])))[1] == "invalid_blocks"
    assert (await error_of(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="y" * 40_001)))[1] == "msg_too_long"
    message = standin.message_by_ts(CHANNEL, posted["ts"])
    assert (message.text, message.blocks, message.edits) == ("v1", [section("v1")], [])


async def test_views_over_a_limit_are_refused_with_invalid_arguments(standin, client):
    home = {"type": "home", "blocks": [section(f"row {i}") for i in range(101)]}
    status, error, body = await error_of(client.views_publish(user_id="U0OPERATOR", view=home))
    assert (status, error) == (200, "invalid_arguments")
    assert any("[json-pointer:/view/blocks]" in m for m in body["response_metadata"]["messages"])
    long_section = {"type": "home", "blocks": [section("x" * 3001)]}
    assert (await error_of(client.views_publish(user_id="U0OPERATOR", view=long_section)))[1] == "invalid_arguments"
    assert standin.home_views == {}
    home["blocks"] = home["blocks"][:100]
    assert (await client.views_publish(user_id="U0OPERATOR", view=home))["ok"]


async def test_response_url_refuses_invalid_blocks_like_a_webhook(standin):
    envelope = standin._new_envelope_id(with_response_url=True)  # a command's response_url, no app needed
    webhook = AsyncWebhookClient(url=standin._response_url(envelope))
    refused = await webhook.send(text="fallback", blocks=[section("x" * 3001)])
    assert (refused.status_code, refused.body) == (400, "invalid_blocks")
    assert standin.responses == [] and standin.refusals[-1]["method"] == "response_url"
    accepted = await webhook.send(text="fallback", blocks=[section("x" * 3000)])
    assert (accepted.status_code, accepted.body) == (200, "ok")
    assert len(standin.responses) == 1


# ---------------------------------------------------------------------- uploads, rate limits, errors, sockets


async def test_files_upload_v2_shares_the_file_as_a_thread_message(standin, client):
    parent = await client.chat_postMessage(channel=CHANNEL, text="Round 1 report")
    result = await client.files_upload_v2(content=b"png bytes", filename="chart.png", title="Rates",
                                          channel=CHANNEL, thread_ts=parent["ts"], initial_comment="The chart")
    [upload] = standin.uploads
    assert result["file"]["id"] == upload["file_id"]
    assert (upload["filename"], upload["bytes"], upload["length"]) == ("chart.png", b"png bytes", 9)
    assert (upload["channel_id"], upload["thread_ts"]) == (CHANNEL, parent["ts"])
    replies = (await client.conversations_replies(channel=CHANNEL, ts=parent["ts"]))["messages"]
    assert [m["text"] for m in replies] == ["Round 1 report", "The chart"]
    assert replies[1]["files"] == [{"id": upload["file_id"], "name": "chart.png", "title": "Rates", "size": 9}]
    assert upload["ts"] == replies[1]["ts"]


async def test_rate_limit_is_honoured_by_sdk_retry_handler(standin):
    client = AsyncWebClient(token=standin.bot_token, base_url=standin.api_url,
                            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    standin.fail_next("chat.postMessage", status=429, retry_after=1)
    response = await client.chat_postMessage(channel=CHANNEL, text="after the limit")
    assert response["ok"]
    assert [m for m, _ in standin.calls].count("chat.postMessage") == 2
    assert [m.text for m in standin.messages] == ["after the limit"]

    standin.fail_next("chat.postMessage", status=429, retry_after=7)
    plain_client = AsyncWebClient(token=standin.bot_token, base_url=standin.api_url, retry_handlers=[])
    status, error, _ = await error_of(plain_client.chat_postMessage(channel=CHANNEL, text="x"))
    assert (status, error) == (429, "ratelimited")


async def test_api_errors_look_like_slack(standin, client):
    assert (await error_of(client.chat_postMessage(channel="#nowhere", text="x")))[:2] == (200, "channel_not_found")
    with pytest.warns(UserWarning, match="text"):  # slack-sdk warns too; Slack itself refuses the message
        assert (await error_of(client.chat_postMessage(channel=CHANNEL)))[:2] == (200, "no_text")
    assert (await error_of(client.chat_postMessage(channel=CHANNEL, text="x", thread_ts="1.000001")))[:2] == (
        200, "thread_not_found")
    assert (await error_of(client.chat_update(channel=CHANNEL, ts="1.000001", text="x")))[:2] == (200, "message_not_found")
    assert (await error_of(client.api_call("nope.never")))[:2] == (200, "unknown_method")
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=standin.api_url)
    assert (await error_of(wrong.auth_test()))[:2] == (200, "invalid_auth")
    assert (await error_of(AsyncWebClient(base_url=standin.api_url).auth_test()))[:2] == (200, "not_authed")
    assert (await error_of(client.views_open(trigger_id="made-up", view={"type": "modal"})))[:2] == (
        200, "invalid_trigger_id")

    standin.fail_next("auth.test", error="account_inactive")
    standin.fail_next("auth.test", status=503)
    assert (await error_of(client.auth_test()))[:2] == (200, "account_inactive")
    assert (await error_of(client.auth_test()))[:2] == (503, "internal_error")
    assert (await client.auth_test())["user_id"] == "U0BOT"


async def test_a_dropped_socket_is_reconnected_by_the_sdk_client(standin):
    socket = SocketModeClient(app_token=standin.app_token, web_client=AsyncWebClient(base_url=standin.api_url),
                              ping_interval=0.2)
    await socket.connect()
    try:
        await standin.wait_connected()
        await standin.drop_connections()  # a network cut: no polite "disconnect" first
        await standin.wait_for(lambda: [m for m, _ in standin.calls].count("apps.connections.open") == 2, timeout=10)
        await standin.wait_connected()
        assert await socket.is_connected()
    finally:
        await socket.close()
