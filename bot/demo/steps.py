"""The demo's step language and the context steps act on.

A script is a list of `Step`s: a caption printed first (if any), then an action on the `Demo`
context. Small helpers build them: `type_command`, `click`, `wait_until`, `pause`,
`remember`, `say`, `act`, `only_if`. bot/demo/script.py writes the conversation with them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from bot.demo.transcript import Transcript, element_text, person
from localrun.environment import APPROVER, CHANNEL_ID, OPERATOR
from localrun.process import BotProcess
from localrun.seeding import Account
from standins.mailjet import MailjetStandin
from standins.slack import Message, SlackStandin

COMMAND_REPLY_TIMEOUT = 15.0


class DemoFailure(Exception):
    """The demo cannot go on; the message says why (the bot log's tail is shown with it)."""


T = TypeVar("T")
Resolvable = Union[T, Callable[["Demo"], T]]


def resolve(value: Resolvable[T], demo: Demo) -> T:
    return value(demo) if callable(value) else value  # type: ignore[return-value]


@dataclass(frozen=True)
class Step:
    """One beat of the script: a caption printed first (if any), then an action."""

    caption: Resolvable[str] | None
    action: Callable[[Demo], Awaitable[Any]]

    async def run(self, demo: Demo) -> None:
        if self.caption is not None:
            demo.transcript.caption(resolve(self.caption, demo))
        await self.action(demo)


def type_command(text: Resolvable[str], user: str = OPERATOR, *, caption: Resolvable[str] | None = None,
                 remember: str | None = None, timeout: float = COMMAND_REPLY_TIMEOUT) -> Step:
    """`user` types `/campaign <text>`; the step waits for the bot's (ephemeral) answer."""

    async def action(demo: Demo) -> None:
        reply = await demo.send_command(resolve(text, demo), user, timeout=timeout)
        if remember:
            demo.vars[remember] = reply

    default = lambda demo: f"{person(user)} types: /campaign {resolve(text, demo)}"  # noqa: E731
    return Step(caption if caption is not None else default, action)


def click(action_id: str, value: Resolvable[str | None] = None, user: str = APPROVER,
          message_ts: Resolvable[str | None] = None, *, caption: Resolvable[str] | None = None,
          timeout: float = COMMAND_REPLY_TIMEOUT, answer: bool = True) -> Step:
    """`user` clicks the button `action_id` on the channel message `message_ts` (None: on an
    ephemeral message); `value` defaults to that button's own value (the round id). The step
    waits for the click to be acknowledged and (with `answer`) for the bot's answer to the
    clicker, so it is printed before the next step; what the bot posts shows in the transcript.

    For example: ``click("approve_launch", message_ts=lambda d: d.thread_reply(1, "preflight").ts)``.
    """

    async def action(demo: Demo) -> None:
        ts = resolve(message_ts, demo)
        chosen = resolve(value, demo)
        if chosen is None:
            chosen = demo.button_value(action_id, ts)
        if chosen is None:
            raise DemoFailure(f"no {action_id} button with a value on “{demo.transcript.label_of(ts)}”")
        await demo.click(action_id, chosen, user, ts, timeout=timeout, answer=answer)

    def default(demo: Demo) -> str:
        ts = resolve(message_ts, demo)
        where = f" on “{demo.transcript.label_of(ts)}”" if ts else ""
        return f"{person(user)} clicks {demo.button_label(action_id, ts)}{where}"

    return Step(caption if caption is not None else default, action)


def wait_until(predicate: Callable[[Demo], Any], timeout: Resolvable[float], *, caption: Resolvable[str] | None = None,
               what: str | None = None, remember: str | None = None) -> Step:
    """Wait (real time) until `predicate(demo)` is truthy; a timeout fails the demo."""

    async def action(demo: Demo) -> None:
        value = await demo.wait_for(lambda: predicate(demo), resolve(timeout, demo),
                                    what or (resolve(caption, demo) if caption else "a condition"))
        if remember:
            demo.vars[remember] = value

    return Step(caption, action)


def pause(seconds: float, caption: Resolvable[str] | None = None) -> Step:
    """Let the timeline run for `seconds` (scaled by the demo's speed)."""

    async def action(demo: Demo) -> None:
        await demo.sleep(seconds * demo.speed)

    return Step(caption, action)


def remember(key: str, compute: Callable[[Demo], Any], caption: Resolvable[str] | None = None) -> Step:
    """Compute something at run time (an instant, an id) for later steps: `demo.vars[key]`."""

    async def action(demo: Demo) -> None:
        demo.vars[key] = compute(demo)

    return Step(caption, action)


def say(text: Resolvable[str]) -> Step:
    async def action(demo: Demo) -> None:
        demo.transcript.note(resolve(text, demo))

    return Step(None, action)


def act(do: Callable[[Demo], Any], caption: Resolvable[str] | None = None, *, remember: str | None = None) -> Step:
    """Do something outside Slack (for instance make a stand-in report an outcome); `do` may be
    a coroutine function. Its result is kept in `demo.vars[remember]` when asked."""

    async def action(demo: Demo) -> None:
        result = do(demo)
        if asyncio.iscoroutine(result):
            result = await result
        if remember:
            demo.vars[remember] = result

    return Step(caption, action)


def only_if(condition: Callable[[Demo], Any], steps: Sequence[Step], otherwise: Sequence[Step] = ()) -> Step:
    """Play `steps` when `condition(demo)` holds at this point of the script, else `otherwise`."""

    async def action(demo: Demo) -> None:
        for step in (steps if condition(demo) else otherwise):
            await step.run(demo)

    return Step(None, action)


@dataclass
class Demo:
    """What steps act on: the stand-ins, the bot, the transcript, and `vars` shared between steps."""

    speed: float
    slack: SlackStandin
    mailjet: MailjetStandin
    bot: BotProcess
    account: Account
    transcript: Transcript
    campaign: str = ""  # the campaign the script follows (the default of `lifecycle`)
    vars: dict[str, Any] = field(default_factory=dict)
    dsn: str = ""  # the bot's database, read (only) for the summary

    # -- time

    def scaled(self, seconds: float) -> float:
        return seconds * self.speed

    async def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check_bot()
            await asyncio.sleep(min(left, 0.2))

    # -- acting

    def check_bot(self) -> None:
        if self.bot.exited is not None:
            raise DemoFailure(f"campaign-bot exited unexpectedly with code {self.bot.exited}")

    async def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            self.check_bot()
            if time.monotonic() >= deadline:
                raise DemoFailure(f"timed out after {timeout:.0f} s waiting for {what}")
            await asyncio.sleep(0.05)

    async def send_command(self, text: str, user: str, *, timeout: float) -> dict:
        self.check_bot()
        self.transcript.current_actor = user
        envelope = await self.slack.send_slash_command(text, user_id=user, user_name=person(user))
        self.transcript.envelope_users[envelope] = user
        return await self.wait_for(
            lambda: next((r for r in self.slack.responses
                          if r.get("envelope_id") == envelope and (r.get("text") or r.get("blocks"))), None),
            timeout, f"campaign-bot's answer to `/campaign {text}`")

    async def click(self, action_id: str, value: str, user: str, message_ts: str | None, *, timeout: float,
                    answer: bool = False) -> dict:
        """Click; returns the acknowledgement, or with `answer` the bot's answer to the clicker."""
        self.check_bot()
        self.transcript.current_actor = user
        envelope = await self.slack.send_block_action(action_id, value, user_id=user, channel_id=CHANNEL_ID,
                                                      message_ts=message_ts)
        self.transcript.envelope_users[envelope] = user
        ack = await self.wait_for(lambda: self.slack.acks.get(envelope), timeout,
                                  f"campaign-bot to acknowledge the {action_id} click")
        if not answer:
            return ack
        return await self.wait_for(
            lambda: next((r for r in self.slack.responses
                          if r.get("envelope_id") == envelope and (r.get("text") or r.get("blocks"))), None),
            timeout, f"campaign-bot's answer to the {action_id} click")

    # -- reading the channel

    def lifecycle(self, stage: str, round_number: int | None = None, campaign: str | None = None) -> list[Message]:
        """Channel messages whose `campaign_lifecycle` metadata names this campaign, stage and round."""
        campaign = campaign or self.campaign
        found = []
        for message in self.slack.messages:
            metadata = message.metadata or {}
            payload = metadata.get("event_payload") or {}
            if (metadata.get("event_type") == "campaign_lifecycle" and payload.get("campaign") == campaign
                    and payload.get("stage") == stage and (round_number is None or payload.get("round") == round_number)):
                found.append(message)
        return found

    def round_parent(self, number: int) -> Message | None:
        parents = [m for m in self.lifecycle("prelaunch", number) if m.thread_ts is None]
        return parents[0] if parents else None

    def thread_reply(self, number: int, stage: str) -> Message | None:
        parent = self.round_parent(number)
        if parent is None:
            return None
        return next((m for m in self.lifecycle(stage, number) if m.thread_ts == parent.ts), None)

    def button(self, action_id: str, message_ts: str | None) -> dict | None:
        """The button `action_id` on channel message `message_ts`, as the bot last drew it."""
        message = self.slack.message_by_ts(CHANNEL_ID, message_ts) if message_ts else None
        for block in (message.blocks if message else None) or []:
            for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
                if isinstance(element, dict) and element.get("action_id") == action_id:
                    return element
        return None

    def button_value(self, action_id: str, message_ts: str | None) -> str | None:
        element = self.button(action_id, message_ts)
        return str(element["value"]) if element and element.get("value") is not None else None

    def button_label(self, action_id: str, message_ts: str | None) -> str:
        element = self.button(action_id, message_ts)
        return f"[ {(element_text(element) if element else '') or action_id} ]"
