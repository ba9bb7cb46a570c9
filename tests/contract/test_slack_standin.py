"""The Slack stand-in driven by the real slack-bolt AsyncApp, Socket Mode handler and slack-sdk clients.

Slack's error answers, limits, membership and rate limits are in tests/contract/test_slack_contract.py."""

import json

import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from standins.slack import SlackStandin
from tests.contract.slack_fixtures import client, standin  # noqa: F401 - fixtures

CHANNEL = "C0TRACTION"
APPROVE_BUTTON = {
    "type": "actions",
    "block_id": "round-actions",
    "elements": [{"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"}}],
}



async def connect(standin: SlackStandin, app: AsyncApp) -> AsyncSocketModeHandler:
    # The handler opens an aiohttp session in __init__, so it must be built inside the running loop.
    handler = AsyncSocketModeHandler(app, app_token=standin.app_token)
    await handler.connect_async()
    await standin.wait_connected()
    return handler


def build_app(standin: SlackStandin, seen: list) -> AsyncApp:
    app = AsyncApp(client=AsyncWebClient(token=standin.bot_token, base_url=standin.api_url))

    @app.command("/campaign")
    async def campaign(ack, respond, client, command):
        await ack(f"Working on {command['text']}")
        seen.append(command)
        await respond("Round scheduled")
        posted = await client.chat_postMessage(
            channel="#_traction",
            text=f"Campaign {command['text']}",
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "Round 1"}}, APPROVE_BUTTON],
            metadata={"event_type": "x", "event_payload": {"a": 1}},
        )
        await client.chat_postMessage(channel=posted["channel"], thread_ts=posted["ts"], text="Round 1 queued")
        running = f"Campaign {command['text']} (running)"
        await client.chat_update(channel=posted["channel"], ts=posted["ts"], text=running)

    @app.action("approve")
    async def approve(ack, body, respond, client):
        await ack()
        seen.append(body)
        if body["container"]["type"] == "view":
            await client.views_open(
                trigger_id=body["trigger_id"],
                view={"type": "modal", "callback_id": "confirm", "title": {"type": "plain_text", "text": "Sure?"},
                      "blocks": []},
            )
        else:
            await respond(text=f"Approved by <@{body['user']['id']}>", replace_original=False)

    @app.view("confirm")
    async def confirm(ack, view):
        await ack(response_action="clear")
        seen.append(view)

    return app


@pytest.fixture
async def bot(standin):
    seen: list = []
    handler = await connect(standin, build_app(standin, seen))
    yield seen
    await handler.close_async()


async def test_slash_command_round_trip(standin, bot):
    envelope_id = await standin.send_slash_command("start spring")
    ack = await standin.wait_ack(envelope_id)
    assert ack["payload"] == {"text": "Working on start spring"}
    assert ack["latency"] < 3

    parent = await standin.wait_for(lambda: standin.messages and standin.messages[0].edits and standin.messages[0])
    assert parent.channel == CHANNEL
    assert parent.metadata == {"event_type": "x", "event_payload": {"a": 1}}
    assert parent.text == "Campaign start spring (running)"
    assert parent.edits[0]["text"] == "Campaign start spring (running)"
    [reply] = standin.channel_messages(CHANNEL, thread_ts=parent.ts)
    assert reply.text == "Round 1 queued"
    assert standin.channel_messages(CHANNEL, top_level_only=True) == [parent]
    assert float(reply.ts) > float(parent.ts)

    via = {(r["via"], r["text"], r["response_type"]) for r in standin.responses}
    assert via == {("ack", "Working on start spring", "ephemeral"), ("response_url", "Round scheduled", "ephemeral")}
    # Bolt authorizes lazily with auth.test on the first request, and tokens never land in `calls`.
    methods = [method for method, _ in standin.calls]
    assert methods[:2] == ["apps.connections.open", "auth.test"]
    assert all("token" not in params for _, params in standin.calls)


async def test_history_and_replies_follow_slack_shapes(standin, bot, client):
    await standin.wait_ack(await standin.send_slash_command("shapes"))
    await standin.wait_for(lambda: standin.messages and standin.messages[0].edits)
    parent = standin.messages[0]

    history = await client.conversations_history(channel=CHANNEL)
    [shown] = history["messages"]
    assert shown["reply_count"] == 1 and shown["thread_ts"] == parent.ts and "metadata" not in shown
    with_metadata = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)
    assert with_metadata["messages"][0]["metadata"]["event_payload"] == {"a": 1}
    replies = await client.conversations_replies(channel=CHANNEL, ts=parent.ts)
    assert [m["text"] for m in replies["messages"]] == ["Campaign shapes (running)", "Round 1 queued"]


async def test_block_action_round_trip(standin, bot):
    await standin.wait_ack(await standin.send_slash_command("spring"))
    parent = await standin.wait_for(lambda: standin.messages and standin.messages[0].edits and standin.messages[0])

    envelope_id = await standin.send_block_action("approve", "round-1", message_ts=parent.ts)
    assert (await standin.wait_ack(envelope_id))["payload"] is None
    response = await standin.wait_for(
        lambda: next((r for r in standin.responses if r["envelope_id"] == envelope_id), None)
    )
    assert response["text"] == "Approved by <@U0OPERATOR>" and response["via"] == "response_url"

    body = bot[-1]
    assert body["message"]["metadata"]["event_payload"] == {"a": 1}
    assert body["container"] == {
        "type": "message", "message_ts": parent.ts, "channel_id": CHANNEL, "is_ephemeral": False
    }
    [action] = body["actions"]
    assert (action["block_id"], action["text"]["text"], action["value"]) == ("round-actions", "Approve", "round-1")


async def test_app_home_button_opens_modal_and_submission_is_acked(standin, bot, client):
    await client.views_publish(user_id="U0OPERATOR", view={"type": "home", "blocks": [APPROVE_BUTTON]})
    envelope_id = await standin.send_block_action("approve", "home", container_type="view")
    await standin.wait_ack(envelope_id)
    opened = await standin.wait_for(lambda: standin.opened_views and standin.opened_views[0])
    assert opened["view"]["callback_id"] == "confirm"
    assert "response_url" not in bot[-1]

    submission = await standin.send_view_submission(opened["view"], values={"b": {"a": {"value": "yes"}}})
    assert (await standin.wait_ack(submission))["payload"] == {"response_action": "clear"}
    assert bot[-1]["state"]["values"] == {"b": {"a": {"value": "yes"}}}


async def test_form_encoded_bodies_are_decoded(standin, client):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    await client.api_call("chat.postMessage", data={"channel": "_traction", "blocks": json.dumps(blocks)})
    assert standin.messages[0].blocks == blocks and standin.messages[0].channel == CHANNEL


async def test_disconnect_makes_the_client_reconnect(standin, bot):
    await standin.disconnect_clients()
    envelope_id = await standin.send_slash_command("after reconnect")
    assert (await standin.wait_ack(envelope_id))["payload"] == {"text": "Working on after reconnect"}
    assert [m for m, _ in standin.calls].count("apps.connections.open") == 2


async def test_envelopes_are_split_between_replicas(standin):
    seen_a: list = []
    seen_b: list = []
    handlers = [await connect(standin, build_app(standin, seen)) for seen in (seen_a, seen_b)]
    await standin.wait_for(lambda: standin.connection_count == 2)
    try:
        for text in ("one", "two"):
            await standin.wait_ack(await standin.send_slash_command(text))
        assert len(seen_a) == len(seen_b) == 1
    finally:
        for handler in handlers:
            await handler.close_async()
