"""The last step of every `/campaign` answer: fitted to Slack's limits, and with a line asking
for an invite while the bot is not a member of the campaign channel (bot/membership.py).

An answer is ephemeral (the ack or response_url), so it reaches the user even when the bot
cannot post in the channel: it is where the user learns what to fix.
"""

from __future__ import annotations

from typing import Any

from bot.services import Services
from bot.slack_text import MESSAGE_BLOCKS, fit_payload


def finish(services: Services, text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``text`` and ``blocks`` for ack/respond: the invite hint added, everything within limits."""
    hint = services.membership.hint()
    if hint:
        text = f"{text}\n\n{hint}"
        if blocks:
            blocks = [*blocks[: MESSAGE_BLOCKS - 1], {"type": "section", "text": {"type": "mrkdwn", "text": hint}}]
    payload, _ = fit_payload({"text": text, "blocks": blocks})
    return {"text": payload["text"], "blocks": payload.get("blocks") or None}
