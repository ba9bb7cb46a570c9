"""Button clicks, registered from one table (BUTTONS): approve_launch, hold_round,
resume_round, cancel_round, override_bounce, apply_cleanup.

Each listener acks at once, re-checks the clicker's role on the server, then asks the
control to act; the control re-checks the round's state, so a stale or repeated click
changes nothing and the clicker is told why (ephemeral).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import controls
from bot.controls import CampaignRound, Refused
from bot.list_cleanup import apply_plan
from bot.logs import get_logger
from bot.messages.rounds import CANCEL_REASON_PREFIX
from bot.metrics import ACTIONS
from bot.reasons import cancel_reason
from bot.services import Services
from handlers.glue import guarded, role_refusal
from handlers.home import publish_home
from storage.queries import Q

log = get_logger(__name__)

# What a click does: (services, the round its value names, the clicker, its block_id) -> the answer.
Button = Callable[[Services, CampaignRound, str, str], Awaitable[str]]


async def _tell(services: Services, client: AsyncWebClient, respond: AsyncRespond, body: dict[str, Any], text: str) -> None:
    """Ephemeral answer: through response_url on a message; on the Home tab, the clicker's tab is
    re-published with the answer on top (Slack gives Home clicks no response_url and no channel)."""
    if body.get("response_url"):
        await respond(text=text, response_type="ephemeral", replace_original=False)
        return
    channel = (body.get("channel") or {}).get("id")
    if channel:
        await client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)
    elif (body.get("view") or {}).get("type") == "home":
        await publish_home(services, body["user"]["id"], notice=text)
    else:
        log.info("click answered without a place to reply", text=text)


async def _apply_cleanup(services: Services, target: CampaignRound, user: str, block_id: str) -> str:
    if not block_id.startswith("cleanup:"):
        raise Refused("this button does not name a cleanup plan")
    plan_id = int(block_id.split(":", 1)[1])
    async with services.pool.acquire() as connection:
        plan = await connection.fetchrow(Q.cleanup_by_id, plan_id)
    if plan is None or plan["round_id"] != target.round["id"]:
        raise Refused("that cleanup plan does not belong to this round")
    return await apply_plan(services, plan_id, user)


async def _approve(services: Services, target: CampaignRound, user: str, block_id: str) -> str:
    run_id = int(block_id.split(":", 1)[1]) if block_id.startswith("preflight:") else None
    return await controls.approve(services, target, user, preflight_run_id=run_id)


async def _cancel(services: Services, target: CampaignRound, user: str, block_id: str) -> str:
    if block_id.startswith(CANCEL_REASON_PREFIX):  # a button from before cancel requests were stored
        reason = block_id[len(CANCEL_REASON_PREFIX):] or None
    else:
        reason = await cancel_reason(services.pool, block_id, target.round["id"])
    return await controls.cancel(services, target, user, reason)


BUTTONS: dict[str, Button] = {
    "approve_launch": _approve,
    "hold_round": lambda services, target, user, _: controls.hold(services, target.campaign, [target.round], user, None),
    "resume_round": lambda services, target, user, _: controls.resume(services, target.campaign, [target.round], user),
    "cancel_round": _cancel,
    "apply_cleanup": _apply_cleanup,
    "override_bounce": lambda services, target, user, _: controls.override_bounce(services, target, user),
}


def register_actions(app: AsyncApp, services: Services) -> None:
    async def handle(action_id: str, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        user, action = body["user"]["id"], body["actions"][0]
        refusal = role_refusal(services, ACTIONS, user, action_id)
        if refusal:
            await _tell(services, client, respond, body, refusal)
            return

        async def click() -> str:
            async with services.pool.acquire() as connection:
                target = await controls.find_round(connection, round_id=int(action["value"]))
            return f":white_check_mark: {await BUTTONS[action_id](services, target, user, action.get('block_id') or '')}"

        text = await guarded(ACTIONS, action_id, click, str, refusals=(Refused, ValueError),
                             crash=":boom: That failed unexpectedly ({error}); nothing was changed by the failed step.")
        await _tell(services, client, respond, body, text)

    for action_id in BUTTONS:
        def make(action_id: str = action_id) -> Callable[..., Awaitable[None]]:
            async def listener(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
                await ack()
                await handle(action_id, body, respond, client)

            return listener

        app.action(action_id)(make())
