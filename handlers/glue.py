"""What every listener does around its work, written once: check the role on the server, count
the outcome, turn an exception into the answer (bad input and refusals say why and that nothing
changed; anything else is logged and said to be a crash: nothing raises out of a listener), and
fit the answer to Slack's limits with a line asking for an invite while the bot is not in the
campaign channel (an ephemeral answer reaches the user even then).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter

from bot.controls import Refused
from bot.grammar import CommandError
from bot.logs import get_logger
from bot.messages.common import slack_escape
from bot.services import Services
from bot.slack_text import MESSAGE_BLOCKS, fit_payload

log = get_logger(__name__)

T = TypeVar("T")


def role_refusal(services: Services, metric: Counter, user: str, name: str) -> str | None:
    """Why `user` may not do `name` (a subcommand or a button), counted as refused; None when they may."""
    if services.roles.may(user, name):
        return None
    metric.labels(name, "refused").inc()
    return services.roles.refusal(user, name)


def finish(services: Services, text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``text`` and ``blocks`` for ack/respond: the invite hint added, everything within limits."""
    hint = services.membership.hint()
    if hint:
        text = f"{text}\n\n{hint}"
        if blocks:
            blocks = [*blocks[: MESSAGE_BLOCKS - 1], {"type": "section", "text": {"type": "mrkdwn", "text": hint}}]
    payload, _ = fit_payload({"text": text, "blocks": blocks})
    return {"text": payload["text"], "blocks": payload.get("blocks") or None}


async def guarded(metric: Counter, name: str, work: Callable[[], Awaitable[T]], failed: Callable[[str], T], *,
                  crash: str, refusals: tuple[type[Exception], ...] = (Refused,)) -> T:
    """`work()`'s answer, counted ok; else `failed(text)`, counted error, refused or crash.
    `crash` may name the exception's type as `{error}`."""
    try:
        answer = await work()
    except CommandError as exc:
        metric.labels(name, "error").inc()
        return failed(slack_escape(exc.reply_text()))
    except refusals as exc:
        metric.labels(name, "refused").inc()
        return failed(f":no_entry_sign: {exc}")
    except Exception as exc:  # noqa: BLE001 - the user is told; the log has the detail
        metric.labels(name, "crash").inc()
        log.exception("listener failed", listener=name)
        return failed(crash.format(error=type(exc).__name__))
    metric.labels(name, "ok").inc()
    return answer
