"""Button clicks: approve_launch, hold_round, resume_round, cancel_round, apply_cleanup
(PRODUCT.md section 8).

Each listener acks at once, re-checks the clicker's role on the server, then asks the
control to act; the control re-checks the round's state, so a stale or repeated click
changes nothing and the clicker is told why (ephemeral).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot import controls
from bot.logs import get_logger
from bot.metrics import ACTIONS
from bot.reasons import cancel_reason
from bot.services import Services
from handlers.blocks import CANCEL_REASON_PREFIX
from handlers.home import publish_home
from jobs.cleanup import CleanupRefused, apply_plan
from storage.queries import Q

log = get_logger(__name__)


def _click(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return body["user"]["id"], body["actions"][0]


async def _tell(services: Services, client: Any, respond: Any, body: dict[str, Any], text: str) -> None:
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


def register_actions(app: AsyncApp, services: Services) -> None:
    async def handle(action_id: str, body: dict[str, Any], respond: Any, client: Any) -> None:
        user, action = _click(body)
        if not services.roles.may(user, action_id):
            ACTIONS.labels(action_id, "refused").inc()
            await _tell(services, client, respond, body, services.roles.refusal(user, action_id))
            return
        try:
            round_id = int(action["value"])
            async with services.pool.acquire() as connection:
                target = await controls.find_round(connection, round_id=round_id)
            text = await _perform(action_id, services, target, user, action)
            ACTIONS.labels(action_id, "ok").inc()
            await _tell(services, client, respond, body, f":white_check_mark: {text}")
        except (controls.Refused, CleanupRefused, ValueError) as exc:
            ACTIONS.labels(action_id, "refused").inc()
            await _tell(services, client, respond, body, f":no_entry_sign: {exc}")
        except Exception as exc:  # noqa: BLE001 - the clicker is told; the log has the detail
            ACTIONS.labels(action_id, "crash").inc()
            log.exception("action failed", action=action_id)
            await _tell(services, client, respond, body, f":boom: That failed unexpectedly ({type(exc).__name__}); nothing was changed by the failed step.")

    for action_id in ("approve_launch", "hold_round", "resume_round", "cancel_round", "apply_cleanup", "override_bounce"):
        def make(action_id: str = action_id) -> Any:
            async def listener(ack: Any, body: dict[str, Any], respond: Any, client: Any) -> None:
                await ack()
                await handle(action_id, body, respond, client)

            return listener

        app.action(action_id)(make())


async def _perform(action_id: str, services: Services, target: controls.Target, user: str, action: dict[str, Any]) -> str:
    block_id = action.get("block_id") or ""
    if action_id == "apply_cleanup":
        if not block_id.startswith("cleanup:"):
            raise controls.Refused("this button does not name a cleanup plan")
        plan_id = int(block_id.split(":", 1)[1])
        async with services.pool.acquire() as connection:
            plan = await connection.fetchrow(Q.cleanup_by_id, plan_id)
        if plan is None or plan["round_id"] != target.round["id"]:
            raise controls.Refused("that cleanup plan does not belong to this round")
        return await apply_plan(services, plan_id, user)
    if action_id == "override_bounce":
        return await controls.override_bounce(services, target, user)
    if action_id == "approve_launch":
        run_id = int(block_id.split(":", 1)[1]) if block_id.startswith("preflight:") else None
        return await controls.approve(services, target, user, preflight_run_id=run_id)
    if action_id == "hold_round":
        return await controls.hold(services, target.campaign, [target.round], user, None)
    if action_id == "resume_round":
        return await controls.resume(services, target.campaign, [target.round], user)
    if block_id.startswith(CANCEL_REASON_PREFIX):  # a button from before cancel requests were stored
        reason = block_id[len(CANCEL_REASON_PREFIX):] or None
    else:
        reason = await cancel_reason(services.pool, block_id, target.round["id"])
    return await controls.cancel(services, target, user, reason)
