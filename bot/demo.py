"""`campaign-bot demo`: the whole product on this machine, no Slack or Mailjet account needed.

What runs:

* an embedded PostgreSQL in a temporary directory (deleted at the end);
* the Slack and Mailjet stand-ins (standins/), in this process, on 127.0.0.1; the Mailjet one
  is seeded with a small, realistic account (a sender, a master list, a template draft);
* the real bot, `campaign-bot run`, as a subprocess configured through its environment exactly
  as a user runs it, with SEND_MODE=live: its Mailjet is the local stand-in, so a "live" send
  reaches only that stand-in and nothing leaves this machine; its log goes to a file in the
  temporary directory;
* a scripted conversation in the campaign channel, on a compressed timeline, with the channel
  printed as a readable transcript: a second campaign planned days ahead from the same master
  list, a third planned across next Christmas (its public holidays skipped and named), then
  "Winter Letter" with approvals, a refused click, a live send, the stand-in's outcome
  for it, the wrap-up report and chart, the cleanup plan applied (shrinking the other campaign's
  round), a hold and two missed rounds.

The conversation is a list of `Step`s built with small helpers (`type_command`, `click`,
`wait_until`, `pause`, `remember`, `say`, `act`, `only_if`), so later work can extend
`default_script` without touching the machinery.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import textwrap
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar, Union

import aiohttp
import structlog

from bot.logs import configure_logging
from bot.schedule import format_duration
from standins.mailjet import MailjetStandin
from standins.slack import Message, SlackStandin
from storage.queries import Q
from storage.database import EmbeddedPostgres

# --------------------------------------------------------------------------- the demo account

OPERATOR, APPROVER, ADMIN = "U0OPERATOR", "U0APPROVER", "U0ADMIN"
USER_NAMES = {OPERATOR: "operator", APPROVER: "approver", ADMIN: "admin", "U0BOT": "campaign-bot"}
CHANNEL_NAME = "_traction"
CHANNEL_ID = "C0TRACTION"  # the Slack stand-in's default channel
MAILJET_KEY, MAILJET_SECRET = "demo-mailjet-key", "demo-mailjet-secret-0123456789"
SENDER_EMAIL, SENDER_NAME = "letters@example.com", "Example Letters"
CAMPAIGN = "Winter Letter"
# Planned first, from the same master list, sending days after the demo: none of its stages runs
# while the demo plays, but Winter's cleanup reaches its (overlapping) round 1.
OTHER_CAMPAIGN = "Spring Follow-up"
OTHER_CAMPAIGN_IN_DAYS = (3, 4, 5)
SEND_MODE = "live"  # safe: MAILJET_API_URL is the local stand-in
TEMPLATE_HTML = (
    "<h1>Our winter letter</h1>"
    "<p>Hello, here is what happened this season.</p>"
    '<p><a href="https://example.com/winter?utm_source=mailjet">Read the full letter</a></p>'
    '<p style="font-size:small">You get this because you signed up. [[UNSUB_LINK_EN]]</p>'
)
TEMPLATE_TEXT = "Hello, here is what happened this season: https://example.com/winter\n\nUnsubscribe: [[UNSUB_LINK_EN]]"

# The timeline at speed 1: round 1 sends 35 s after it is planned, rounds 10 s apart. Round 1's
# wrap-up comes 2 s after round 3's launch warning, its cleanup 3 s after round 2's window closes
# (so their messages do not interleave) and 7 s before round 3's window closes.
FIRST_ROUND_IN = 35.0
ROUND_SPACING = 10.0
ROUNDS = 3
OFFSETS = {"prelaunch": -20.0, "preflight": -15.0, "warning": -10.0, "wrapup": 12.0, "cleanup": 23.0}
WINDOW = 10.0  # the launch window closes no later than the wrap-up (bot/grammar.py refuses otherwise)

# What the Mailjet stand-in "reports" for round 1's campaign (19 recipients): how many of each,
# and which recipients (by position in round 1's list) hard-bounced, soft-bounced, were blocked
# or complained. Critical on purpose: a bounce rate far over 5%, delivery far under 90%.
ROUND1_OUTCOME = {"delivered": 14, "hard": 3, "soft": 1, "blocked": 1, "spam": 1, "opened": 8, "clicked": 3}
ROUND1_FATES = {1: "hard", 6: "hard", 11: "hard", 4: "soft", 15: "blocked", 8: "spam"}
MIN_SPEED = 0.2  # below this the pre-launch stage would be due before planning (about 1 s) is done

READY_TIMEOUT = 45.0
COMMAND_REPLY_TIMEOUT = 15.0
STAGE_MARGIN = 20.0  # how long past a stage's due instant the demo waits for its message
SHUTDOWN_GRACE_SECONDS = 5.0
LOG_TAIL_LINES = 25


class DemoFailure(Exception):
    """The demo cannot go on; the message says why (the bot log's tail is shown with it)."""


# --------------------------------------------------------------------------- rendering Slack to text

EMOJI = {
    "alarm_clock": "⏰", "bar_chart": "📊", "boom": "💥", "broom": "🧹", "calendar": "📅",
    "construction": "🚧", "email": "📧", "hourglass": "⌛", "hourglass_flowing_sand": "⏳",
    "ice_cube": "🧊", "large_green_circle": "🟢", "mailbox_with_mail": "📬", "no_entry": "⛔",
    "pause_button": "⏸", "rotating_light": "🚨", "spiral_calendar_pad": "🗓", "white_check_mark": "✅",
    "warning": "⚠️", "x": "❌", "tada": "🎉", "lock": "🔒", "bust_in_silhouette": "👤",
    "heavy_check_mark": "✔", "information_source": "ℹ", "chart_with_upwards_trend": "📈",
    "no_entry_sign": "🚫", "test_tube": "🧪", "sunny": "☀️", "rocket": "🚀", "arrow_forward": "▶",
    "large_yellow_circle": "🟡", "red_circle": "🔴", "white_circle": "⚪", "paperclip": "📎",
}
_EMOJI_RE = re.compile(r":([a-z0-9_+\-]+):")
# Slack's control sequences; anything else in angle brackets is left as it is.
_LINK_RE = re.compile(r"<((?:[@#!]|https?://|mailto:)[^<>|]*)(?:\|([^<>]*))?>")


def _slack_markup(text: str) -> str:
    """Slack's <@U…>, <#C…|name>, <url|label> and :emoji: as plain terminal text."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return "@" + USER_NAMES.get(target[1:], label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return f"{label} ({target})" if label and label != target else target

    text = _LINK_RE.sub(link, text)
    text = _EMOJI_RE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element_text(element: Any) -> str:
    if isinstance(element, dict):
        if isinstance(element.get("text"), dict):
            return str(element["text"].get("text") or "")
        if isinstance(element.get("text"), str):
            return element["text"]
        if element.get("type") == "image":
            return f"[image: {element.get('alt_text', '')}]"
        if isinstance(element.get("elements"), list):  # rich_text sections and lists
            return "".join(_element_text(e) for e in element["elements"])
        if element.get("type") == "user":
            return f"<@{element.get('user_id', '')}>"
        if element.get("type") == "link":
            return str(element.get("text") or element.get("url") or "")
    return ""


def _button(element: dict) -> str:
    label = _element_text(element) or element.get("action_id", "button")
    extra = " (asks to confirm)" if element.get("confirm") else ""
    return f"[ {label} ]{extra}"


def render_blocks(blocks: Sequence[dict] | None, text: str | None) -> list[str]:
    """Block Kit as plain lines: section text, fields as `Name: value`, context, buttons."""
    if not blocks:
        return (_slack_markup(text or "")).splitlines() or [""]
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            if block.get("text"):
                lines.extend(_element_text(block).splitlines())
            for item in block.get("fields") or []:
                name, sep, value = _element_text(item).partition("\n")
                if sep:
                    lines.append(f"{name.strip().strip('*')}: {' / '.join(value.splitlines())}")
                else:
                    lines.append(name)
            accessory = block.get("accessory") or {}
            if accessory.get("type") == "button":
                lines.append(_button(accessory))
        elif kind == "header":
            lines.append(f"*{_element_text(block)}*")
        elif kind == "context":
            lines.append(" · ".join(t for t in (_element_text(e) for e in block.get("elements") or []) if t))
        elif kind == "actions":
            buttons = [_button(e) for e in block.get("elements") or [] if e.get("type") == "button"]
            others = [f"[{e.get('type')}]" for e in block.get("elements") or [] if e.get("type") != "button"]
            lines.append(" ".join(buttons + others))
        elif kind == "divider":
            lines.append("─" * 24)
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text') or block.get('title', {}).get('text', '')}]")
        elif kind == "rich_text":
            lines.extend(_element_text(block).splitlines())
        elif kind == "input":
            lines.append(f"[input: {_element_text(block.get('label') or {}) if isinstance(block.get('label'), dict) else ''}]")
        else:
            lines.append(f"[{kind} block]")
    return [_slack_markup(line) for line in lines] or [""]


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(_slack_markup(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Transcript:
    """Prints the channel as it happens: posts, thread replies, updates, ephemeral replies.

    Registered as `SlackStandin.on_event` (and `MailjetStandin.on_event` for a line per object
    the bot creates there). Never raises: a printing problem must not disturb the stand-ins.
    """

    def __init__(self, out: TextIO, *, viewer: str = OPERATOR, width: int | None = None):
        self.out = out
        self.viewer = viewer
        columns = width or shutil.get_terminal_size((100, 24)).columns
        self.width = max(60, min(columns, 120))
        self.envelope_users: dict[str, str] = {}
        self.current_actor = viewer
        self._rendered: dict[str, list[str]] = {}
        self._labels: dict[str, str] = {}
        self._list_names: dict[Any, str] = {}
        self.lines_written = 0

    # -- low level

    def write(self, text: str = "") -> None:
        try:
            self.out.write(text + "\n")
        except UnicodeEncodeError:
            encoding = getattr(self.out, "encoding", None) or "ascii"
            self.out.write(text.encode(encoding, "replace").decode(encoding) + "\n")
        with contextlib.suppress(Exception):
            self.out.flush()
        self.lines_written += 1

    def _entry(self, marker: str, lines: Sequence[str], *, indent: int = 0, at: float | None = None) -> None:
        """`HH:MM:SS <marker> first line`, the rest aligned under the first line, wrapped."""
        stamp = time.strftime("%H:%M:%S", time.localtime(at if at is not None else time.time()))
        head = f"{stamp} {' ' * indent}{marker}"
        hang = " " * (len(head) + 1 if marker else len(head))
        body = list(lines) or [""]
        first = True
        for line in body:
            prefix = (head + " ") if first else hang
            wrapped = textwrap.wrap(line, width=max(self.width - len(hang), 30), break_long_words=False,
                                    break_on_hyphens=False, subsequent_indent="  " if line.startswith(("•", "-")) else "")
            for i, piece in enumerate(wrapped or [""]):
                self.write((prefix if i == 0 else hang) + piece)
            first = False

    # -- what the demo itself says

    def caption(self, text: str) -> None:
        self.write()
        self._entry("▶", [text])

    def note(self, text: str) -> None:
        self._entry("·", [text])

    def ok(self, text: str) -> None:
        self._entry("✔", [text])

    def fail(self, text: str) -> None:
        self._entry("✗", [text])

    def rule(self, title: str = "") -> None:
        self.write()
        self.write(f"── {title} " + "─" * max(self.width - len(title) - 4, 4) if title else "─" * self.width)

    # -- stand-in events

    def on_slack_event(self, kind: str, data: dict) -> None:
        try:
            handler = getattr(self, f"_slack_{kind}", None)
            if handler is not None:
                handler(data)
        except Exception as exc:  # noqa: BLE001 - never break the stand-in over a printing problem
            self.write(f"(could not show a {kind} event: {type(exc).__name__}: {exc})")

    def on_mailjet_event(self, kind: str, data: dict) -> None:
        try:
            if kind == "list_created":
                self._list_names[data.get("ID")] = str(data.get("Name"))
                self._entry("[mailjet]", [f"contacts list “{data.get('Name')}” created (id {data.get('ID')})"], indent=2)
            elif kind == "contacts_changed" and data.get("remove"):
                # Planning's additions are left out (one per round); removals are what a cleanup does.
                name = self._list_names.get(data.get("list_id"), "a list")
                self._entry("[mailjet]", [f"{data['remove']} contacts removed from “{name}” (id {data.get('list_id')}); "
                                          f"{data.get('SubscriberCount')} subscribed remain"], indent=2)
            elif kind == "draft_created":
                self._entry("[mailjet]", [f"draft “{data.get('Title')}” created (id {data.get('ID')}, "
                                          f"list {data.get('ContactsListID')})"], indent=2)
            elif kind == "send":
                self._entry("[mailjet] ✉", [f"send of draft {data.get('draft_id')} accepted: {data.get('recipients')} "
                                            f"recipients of list {data.get('list_id')}, delivered in the background"], indent=2)
            elif kind == "sent":
                self._entry("[mailjet] ✉", [f"campaign {data.get('campaign_id')} SENT from draft {data.get('draft_id')} "
                                            f"to {data.get('recipients')} recipients"], indent=2)
        except Exception as exc:  # noqa: BLE001 - the Mailjet stand-in does not guard its observer
            self.write(f"(could not show a Mailjet {kind} event: {type(exc).__name__}: {exc})")

    def label_of(self, ts: str | None) -> str:
        return self._labels.get(ts or "", "an earlier message")

    def _slack_message(self, data: dict) -> None:
        lines = render_blocks(data.get("blocks"), data.get("text"))
        ts = data.get("ts") or ""
        self._rendered[ts] = lines
        self._labels[ts] = self._label(data, lines)
        at = float(ts) if ts else None
        if data.get("thread_ts"):
            also = " (also sent to the channel)" if data.get("reply_broadcast") else ""
            self._entry("↳", [f"in the thread of “{self.label_of(data['thread_ts'])}”{also}", *lines], indent=2, at=at)
        else:
            self._entry(f"#{self._channel(data.get('channel'))}", lines, at=at)

    @staticmethod
    def _label(data: dict, lines: list[str]) -> str:
        """`Winter Letter · round 1` for a round's parent, `… · preflight` for its thread replies."""
        payload = (data.get("metadata") or {}).get("event_payload") or {}
        if payload.get("campaign") and payload.get("round"):
            label = f"{payload['campaign']} · round {payload['round']}"
            return f"{label} · {payload.get('stage')}" if data.get("thread_ts") else label
        return _short(data.get("text") or lines[0], 50)

    def _slack_update(self, data: dict) -> None:
        ts = data.get("ts") or ""
        lines = render_blocks(data.get("blocks"), data.get("text"))
        before = self._rendered.get(ts, [])
        self._rendered[ts] = lines
        changed = [line for line in lines if line not in before]
        state = ((data.get("metadata") or {}).get("event_payload") or {}).get("state")
        if not changed:
            changed = [f"(no visible change{f'; state {state}' if state else ''})"]
        elif len(changed) > max(3, len(lines) * 2 // 3):
            changed = lines
        indent = 2 if data.get("thread_ts") else 0
        self._entry("✎ updated:", [f"“{self.label_of(ts)}”", *changed], indent=indent)

    def _slack_ephemeral(self, data: dict) -> None:
        lines = render_blocks(data.get("blocks"), data.get("text"))
        self._entry(self._only(data.get("user")), lines, indent=2 if data.get("thread_ts") else 0)

    def _slack_response(self, data: dict) -> None:
        lines = render_blocks(data.get("blocks"), data.get("text"))
        user = self.envelope_users.get(data.get("envelope_id") or "", self.current_actor)
        if data.get("delete_original"):
            self._entry(self._only(user), ["(the message with the button was removed)"])
            return
        marker = "(to the channel)" if data.get("response_type") == "in_channel" else self._only(user)
        if data.get("replace_original"):
            lines = ["(replaces the message with the button)", *lines]
        self._entry(marker, lines)

    def _slack_home(self, data: dict) -> None:
        blocks = (data.get("view") or {}).get("blocks") or []
        self._entry("[home]", [f"App Home of @{self._name(data.get('user_id'))} refreshed ({len(blocks)} blocks)"], indent=2)

    def _slack_view_open(self, data: dict) -> None:
        view = data.get("view") or {}
        title = _element_text({"text": view.get("title")}) if isinstance(view.get("title"), dict) else ""
        self._entry("[form]", [f"a form opened: “{title}”", *render_blocks(view.get("blocks"), "")], indent=2)

    def _slack_upload(self, data: dict) -> None:
        where = f"in the thread of “{self.label_of(data.get('thread_ts'))}”" if data.get("thread_ts") else "in the channel"
        comment = f": {_short(data['initial_comment'], 80)}" if data.get("initial_comment") else ""
        self._entry("📎", [f"{data.get('title') or data.get('filename')} ({data.get('length')} bytes) {where}{comment}"],
                    indent=2 if data.get("thread_ts") else 0)

    def _only(self, user: str | None) -> str:
        return "(only you)" if user in (None, "", self.viewer) else f"(only @{self._name(user)})"

    @staticmethod
    def _name(user: str | None) -> str:
        return USER_NAMES.get(user or "", (user or "someone").lower())

    @staticmethod
    def _channel(channel: str | None) -> str:
        return CHANNEL_NAME if channel in (CHANNEL_ID, None) else str(channel)


# --------------------------------------------------------------------------- the bot subprocess


def _campaign_bot_executable() -> str:
    found = Path(sys.executable).parent / "campaign-bot"
    if found.exists():
        return str(found)
    on_path = shutil.which("campaign-bot")
    if on_path:
        return on_path
    raise DemoFailure(f"cannot find the campaign-bot command next to {sys.executable} or on PATH; "
                      "install the project (pip install -e .) first")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the bot gets SIGTERM if the demo process dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class BotProcess:
    """`campaign-bot run` as a user starts it, configured only through its environment."""

    def __init__(self, *, env: dict[str, str], workdir: Path, port: int):
        self.env = env
        self.workdir = workdir
        self.port = port
        self.log_path = workdir / "bot.log"
        self.process: asyncio.subprocess.Process | None = None
        self.exit_code_problem: str | None = None
        self._log_handle: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def exited(self) -> int | None:
        return None if self.process is None else self.process.returncode

    async def start(self) -> None:
        self._log_handle = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        kwargs: dict[str, Any] = {}
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = _die_with_parent
        self.process = await asyncio.create_subprocess_exec(
            _campaign_bot_executable(), "run", env=self.env, cwd=str(self.workdir),
            stdin=asyncio.subprocess.DEVNULL, stdout=self._log_handle, stderr=self._log_handle,
            # Its own session: Ctrl-C in the terminal reaches the demo only, which then stops
            # the bot in order (before the database it uses).
            start_new_session=True, **kwargs,
        )

    async def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            while time.monotonic() < deadline:
                if self.exited is not None:
                    raise DemoFailure(f"campaign-bot exited during start-up with code {self.exited}")
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                        last = f"{response.status} {await response.text()}"
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    last = type(exc).__name__
                await asyncio.sleep(0.2)
        raise DemoFailure(f"campaign-bot was not ready within {timeout:.0f} s (last /readyz: {last})")

    async def stop(self, timeout: float) -> int | None:
        """SIGTERM, wait; SIGKILL if it does not exit in time. Returns the exit code."""
        code = None
        if self.process is not None:
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
                try:
                    code = await asyncio.wait_for(self.process.wait(), timeout)
                except asyncio.TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        self.process.kill()
                    await self.process.wait()
                    code = None
            else:
                code = self.process.returncode
        self.close_log()
        return code

    def kill_now(self) -> None:
        """Last resort (a second Ctrl-C during clean-up): no waiting."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        self.close_log()

    def close_log(self) -> None:
        if self._log_handle is not None:
            with contextlib.suppress(Exception):
                self._log_handle.close()
            self._log_handle = None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        try:
            raw = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ["(no bot log)"]
        return [_readable_log_line(line) for line in raw]


def _readable_log_line(line: str) -> str:
    """A JSON log line as `HH:MM:SS level event key=value …`; anything else as it is."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    stamp = str(record.pop("timestamp", ""))[11:19]
    level = str(record.pop("level", "")).upper()
    event = record.pop("event", "")
    rest = " ".join(f"{k}={v}" for k, v in record.items() if k not in ("logger",))
    return f"{stamp} {level:<7} {event} {rest}".rstrip()


# --------------------------------------------------------------------------- steps

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

    default = lambda demo: f"{Transcript._name(user)} types: /campaign {resolve(text, demo)}"  # noqa: E731
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
        return f"{Transcript._name(user)} clicks {demo.button_label(action_id, ts)}{where}"

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


# --------------------------------------------------------------------------- the run-time context


@dataclass
class Account:
    sender: str
    master_list: int
    template_draft: int
    contacts: list[int]
    unsubscribed: set[int]
    excluded: set[int]
    partners_list: int = 0   # a small list of its own, for the holiday-aware campaign


def seed_account(mailjet: MailjetStandin) -> Account:
    mailjet.add_sender(SENDER_EMAIL, name=SENDER_NAME)
    mailjet.add_sender("no-reply@example.com", name="Example (no reply)", status="Inactive")
    master = mailjet.create_list("Customers (all)")
    first = 1001
    unsubscribed, excluded = {first + 4, first + 17}, {first + 23}
    contacts = mailjet.add_contacts(master, 60, start_id=first, domain="example.com",
                                    unsubscribed=unsubscribed, excluded=excluded)
    template = mailjet.create_draft(title="Winter letter (template)", subject="Our winter letter",
                                    sender_email=SENDER_EMAIL, sender_name=SENDER_NAME,
                                    html=TEMPLATE_HTML, text=TEMPLATE_TEXT)
    partners = mailjet.create_list("Partners")
    mailjet.add_contacts(partners, 6, start_id=2001, domain="partners.example.com")
    return Account(SENDER_EMAIL, master, template, contacts, unsubscribed, excluded, partners)


@dataclass
class Demo:
    """What steps act on: the stand-ins, the bot, the transcript, and `vars` shared between steps."""

    speed: float
    slack: SlackStandin
    mailjet: MailjetStandin
    bot: BotProcess
    account: Account
    transcript: Transcript
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
        envelope = await self.slack.send_slash_command(text, user_id=user, user_name=Transcript._name(user))
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

    def lifecycle(self, stage: str, round_number: int | None = None, campaign: str = CAMPAIGN) -> list[Message]:
        """Channel messages whose metadata says campaign/round/stage (PRODUCT.md section 8)."""
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
        return f"[ {(_element_text(element) if element else '') or action_id} ]"


# --------------------------------------------------------------------------- the script


def timeline(speed: float, now: datetime | None = None) -> dict[str, Any]:
    """The round instants (whole seconds, UTC) and the `/campaign new` options for `speed`."""
    now = now or datetime.now(UTC)
    first = now.replace(microsecond=0) + timedelta(seconds=math.ceil(FIRST_ROUND_IN * speed) + 1)
    spacing = timedelta(seconds=max(round(ROUND_SPACING * speed), 2))
    instants = [first + spacing * i for i in range(ROUNDS)]
    offsets = {stage: timedelta(seconds=math.copysign(max(round(abs(s) * speed), 1), s)) for stage, s in OFFSETS.items()}
    window = timedelta(seconds=min(max(round(WINDOW * speed), 2), offsets["wrapup"].total_seconds()))
    return {
        "instants": instants,
        "offsets": offsets,
        "at": ",".join(i.strftime("%Y-%m-%dT%H:%M:%SZ") for i in instants),
        "offsets_text": ",".join(f"{stage}:{format_duration(delta)}" for stage, delta in offsets.items()),
        "window": window,
        "window_text": format_duration(window).lstrip("+"),
    }


def _stage_due(demo: Demo, number: int, stage: str) -> datetime:
    plan = demo.vars["timeline"]
    return plan["instants"][number - 1] + plan["offsets"][stage]


def _until(due: datetime) -> float:
    return max((due - datetime.now(UTC)).total_seconds(), 0.0) + STAGE_MARGIN


def _hhmmss(instant: datetime) -> str:
    return instant.astimezone().strftime("%H:%M:%S")


def _planned_announcement(demo: Demo, campaign: str = CAMPAIGN) -> Message | None:
    return next((m for m in demo.slack.messages
                 if m.thread_ts is None and f"*{campaign}* planned" in (m.text or "")), None)


def _new_command(demo: Demo) -> str:
    plan = demo.vars["timeline"]
    return (f'new "{CAMPAIGN}" list={demo.account.master_list} draft={demo.account.template_draft} '
            f'at={plan["at"]} offsets={plan["offsets_text"]} window={plan["window_text"]}')


def other_instants(now: datetime | None = None) -> list[datetime]:
    """The other campaign's round instants: 09:00 UTC, days after today (see OTHER_CAMPAIGN_IN_DAYS)."""
    day = (now or datetime.now(UTC)).replace(hour=9, minute=0, second=0, microsecond=0)
    return [day + timedelta(days=d) for d in OTHER_CAMPAIGN_IN_DAYS]


def _other_command(demo: Demo) -> str:
    at = ",".join(i.strftime("%Y-%m-%dT%H:%M:%SZ") for i in demo.vars["other_instants"])
    return f'new "{OTHER_CAMPAIGN}" list={demo.account.master_list} draft={demo.account.template_draft} at={at}'


def round_list_name(campaign: str, number: int) -> str:
    return f"{campaign}-round-{number}"  # as jobs/planning.py names them


def list_by_name(demo: Demo, name: str) -> dict | None:
    return next((l for l in demo.mailjet.lists() if l.get("Name") == name and not l.get("IsDeleted")), None)


def list_emails(demo: Demo, name: str) -> list[str]:
    """The subscribed members of the stand-in's list `name` ([] when there is no such list)."""
    found = list_by_name(demo, name)
    return demo.mailjet.list_member_emails(found["ID"]) if found else []


def _master_members(demo: Demo) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The master list as (every member, the subscribed ones): a cleanup must change neither."""
    master = demo.account.master_list
    return (tuple(sorted(demo.mailjet.list_member_emails(master, subscribed_only=False))),
            tuple(sorted(demo.mailjet.list_member_emails(master))))


def _baseline(demo: Demo) -> dict[str, Any]:
    other = list_by_name(demo, round_list_name(OTHER_CAMPAIGN, 1))
    if other is None:
        raise DemoFailure(f"no “{round_list_name(OTHER_CAMPAIGN, 1)}” list at the Mailjet stand-in after planning")
    return {"other_list": other["ID"], "other_before": list_emails(demo, other["Name"]), "master": _master_members(demo)}


def _round1_send(demo: Demo) -> dict | None:
    """The stand-in's record of round 1's send (None before it, or in a dry run)."""
    found = list_by_name(demo, round_list_name(CAMPAIGN, 1))
    return next((s for s in demo.mailjet.sends if found and s.get("list_id") == found["ID"]), None)


def _confirmation_has_id(demo: Demo, number: int) -> bool:
    send, confirmation = _round1_send(demo), demo.thread_reply(number, "launch")
    return bool(send and confirmation and str(send["campaign_id"]) in (confirmation.text or ""))


def _report_round1_outcome(demo: Demo) -> dict[str, Any]:
    """The Mailjet stand-in 'reports' what happened to round 1's messages (ROUND1_OUTCOME)."""
    send = _round1_send(demo)
    if send is None:
        raise DemoFailure("round 1 was not sent to the Mailjet stand-in (is SEND_MODE live?)")
    recipients = demo.mailjet.list_member_emails(send["list_id"])
    if len(recipients) <= max(ROUND1_FATES):
        raise DemoFailure(f"round 1 has {len(recipients)} recipients; the scripted outcome needs more")
    fates = {recipients[i]: fate for i, fate in ROUND1_FATES.items()}
    demo.mailjet.set_outcome(send["campaign_id"], **ROUND1_OUTCOME, bounce_emails=fates)
    return {"campaign_id": send["campaign_id"], "recipients": send["recipients"], "fates": fates}


def _outcome_text(demo: Demo) -> str:
    outcome, counts = demo.vars["outcome"], ROUND1_OUTCOME

    def who(kind: str) -> str:
        emails = [e for e, fate in outcome["fates"].items() if fate == kind]
        return f" ({', '.join(emails)})" if emails else ""

    return (f"the Mailjet stand-in now reports campaign {outcome['campaign_id']} (round 1, {outcome['recipients']} "
            f"recipients): {counts['delivered']} delivered, {counts['hard']} hard bounces{who('hard')}, "
            f"{counts['soft']} soft bounce{who('soft')}, {counts['blocked']} blocked{who('blocked')}, "
            f"{counts['spam']} spam complaint{who('spam')}, {counts['opened']} opened, {counts['clicked']} clicked")


def _wrapup_report(demo: Demo, number: int) -> Message | None:
    """The wrap-up report itself (not a "could not be read" note): it states a verdict."""
    return next((m for m in demo.lifecycle("wrapup", number) if "Verdict:" in (m.text or "")), None)


def _verdict(demo: Demo, number: int) -> str | None:
    report = _wrapup_report(demo, number)
    found = re.search(r"Verdict: ([^\n]+)", report.text or "") if report else None
    return _slack_markup(found.group(1)) if found else None


def _chart_upload(demo: Demo, number: int) -> dict | None:
    parent = demo.round_parent(number)
    return next((u for u in demo.slack.uploads if parent and u.get("thread_ts") == parent.ts), None)


def _critical_alert(demo: Demo, number: int) -> Message | None:
    return next((m for m in demo.lifecycle("alert", number) if "critical" in (m.text or "")), None)


def _cleanup_plan(demo: Demo, number: int) -> Message | None:
    """The newest cleanup plan of the round that has its Apply button."""
    plans = [m for m in demo.lifecycle("cleanup", number) if demo.button("apply_cleanup", m.ts)]
    return plans[-1] if plans else None


def _plan_needs_approver(demo: Demo) -> bool:
    plan = _cleanup_plan(demo, 1)
    return bool(plan) and "approver" in demo.button_label("apply_cleanup", plan.ts).lower()


def _cleanup_applied(demo: Demo, number: int) -> Message | None:
    return next((m for m in demo.lifecycle("cleanup", number) if "Cleanup applied" in (m.text or "")), None)


def _other_list_shrank(demo: Demo) -> bool:
    base = demo.vars["baseline"]
    return len(demo.mailjet.list_member_emails(base["other_list"])) < len(base["other_before"])


def _shrink_text(demo: Demo) -> str:
    base, fates = demo.vars["baseline"], demo.vars["outcome"]["fates"]
    after = demo.mailjet.list_member_emails(base["other_list"])
    gone = [e for e in base["other_before"] if e not in after]
    reasons = ", ".join(f"{e} ({fates.get(e, 'not in round 1’s outcome')})" for e in gone) or "nobody"
    return (f"“{round_list_name(OTHER_CAMPAIGN, 1)}” at the Mailjet stand-in: {len(base['other_before'])} → "
            f"{len(after)} contacts; gone: {reasons}")


def _master_text(demo: Demo) -> str:
    before, now = demo.vars["baseline"]["master"], _master_members(demo)
    if now == before:
        return (f"the master list “Customers (all)” did not change: still {len(now[0])} contacts, "
                f"{len(now[1])} of them subscribed")
    return f"the master list CHANGED: {len(before[0])} → {len(now[0])} contacts (it must never change)"


def _kept_text(demo: Demo) -> str:
    base, fates = demo.vars["baseline"], demo.vars["outcome"]["fates"]
    after = set(demo.mailjet.list_member_emails(base["other_list"]))
    parts = []
    for kind, what in (("soft", "soft bounce: counted only, suppressed at the third"),
                       ("blocked", "blocked by Mailjet: recorded, not a bounce")):
        for email in (e for e, fate in fates.items() if fate == kind):
            parts.append(f"{email} ({what}) is {'still' if email in after else 'NOT'} in {OTHER_CAMPAIGN}'s round 1")
    return "; ".join(parts) or "no soft bounce or blocked message this time"


def _wait_round(number: int) -> list[Step]:
    def parent_caption(demo: Demo) -> str:
        return (f"waiting for round {number}'s pre-launch post (due {_hhmmss(_stage_due(demo, number, 'prelaunch'))}) "
                f"and its launch warning in the thread (due {_hhmmss(_stage_due(demo, number, 'warning'))})")

    return [
        wait_until(lambda demo: demo.round_parent(number),
                   lambda demo: _until(_stage_due(demo, number, "prelaunch")),
                   caption=parent_caption, what=f"round {number}'s pre-launch message", remember=f"round{number}_parent"),
        wait_until(lambda demo: demo.thread_reply(number, "warning"),
                   lambda demo: _until(_stage_due(demo, number, "warning")),
                   what=f"round {number}'s launch warning in its thread", remember=f"round{number}_warning"),
    ]


def _plan_other_campaign() -> list[Step]:
    """Another campaign from the same master list, sending days from now: its round 1 overlaps Winter's."""
    return [
        remember("other_instants", lambda demo: other_instants()),
        say(lambda demo: f"first a second campaign from the same master list, “{OTHER_CAMPAIGN}”, sending in "
                         f"{OTHER_CAMPAIGN_IN_DAYS[0]} to {OTHER_CAMPAIGN_IN_DAYS[-1]} days: none of its stages runs during "
                         "the demo. Campaigns planned from the same master list overlap (each splits it by contact id), "
                         f"so a cleanup after {CAMPAIGN}'s round 1 also removes suppressed contacts from "
                         f"{OTHER_CAMPAIGN}'s round 1"),
        type_command(_other_command),
        wait_until(lambda demo: _planned_announcement(demo, OTHER_CAMPAIGN), 30.0,
                   what=f"the channel's “{OTHER_CAMPAIGN} planned” announcement"),
        remember("baseline", _baseline),
        say(lambda demo: f"“{round_list_name(OTHER_CAMPAIGN, 1)}” (list {demo.vars['baseline']['other_list']}) holds "
                         f"{len(demo.vars['baseline']['other_before'])} contacts at the Mailjet stand-in"),
    ]


FESTIVE_CAMPAIGN = "Festive Greetings"


def _festive_command(demo: Demo) -> str:
    year = datetime.now(UTC).year + 1
    return (f'new "{FESTIVE_CAMPAIGN}" list={demo.account.partners_list} draft={demo.account.template_draft} '
            f"rounds=3 start={year}-12-24 days=mon,tue,wed,thu,fri,sat,sun")


def _plan_festive_campaign() -> list[Step]:
    """Planning from days= never picks a public holiday of the campaign's calendar, and says which it skipped."""
    return [
        say("planning never picks a public holiday of the campaign's calendar (holidays=, by default "
            "DEFAULT_HOLIDAYS=GB-ENG): greetings to a small partners list, every day from next Christmas Eve, "
            "skip Christmas Day and Boxing Day, and the answer names them"),
        type_command(_festive_command),
        wait_until(lambda demo: _planned_announcement(demo, FESTIVE_CAMPAIGN), 30.0,
                   what=f"the channel's “{FESTIVE_CAMPAIGN} planned” announcement"),
    ]


def _report_and_cleanup() -> list[Step]:
    """Round 1's numbers: the wrap-up report, its chart, the cleanup plan applied."""
    return [
        wait_until(lambda demo: _wrapup_report(demo, 1), lambda demo: _until(_stage_due(demo, 1, "wrapup")),
                   caption=lambda demo: f"waiting for round 1's wrap-up report and chart (due "
                                        f"{_hhmmss(_stage_due(demo, 1, 'wrapup'))})",
                   what="round 1's wrap-up report"),
        wait_until(lambda demo: _chart_upload(demo, 1), STAGE_MARGIN, what="round 1's rates chart in its thread"),
        only_if(lambda demo: (_verdict(demo, 1) or "").startswith("critical"), [
            wait_until(lambda demo: _critical_alert(demo, 1), STAGE_MARGIN, what="the critical-verdict alert"),
        ]),
        wait_until(lambda demo: _missed_alert(demo, 2), lambda demo: _until(_window_end(demo, 2)),
                   what="round 2's missed alert"),
        wait_until(lambda demo: _cleanup_plan(demo, 1), lambda demo: _until(_stage_due(demo, 1, "cleanup")),
                   caption=lambda demo: f"waiting for round 1's cleanup plan (due {_hhmmss(_stage_due(demo, 1, 'cleanup'))})",
                   what="round 1's cleanup plan with its Apply button"),
        only_if(_plan_needs_approver, [
            say("the plan suppresses over 10% of the round: an operator may not apply it (checked on the server)"),
            click("apply_cleanup", user=OPERATOR, message_ts=lambda demo: _cleanup_plan(demo, 1).ts),
            say("the approver applies it"),
            click("apply_cleanup", user=APPROVER, message_ts=lambda demo: _cleanup_plan(demo, 1).ts),
        ], otherwise=[
            click("apply_cleanup", user=OPERATOR, message_ts=lambda demo: _cleanup_plan(demo, 1).ts),
        ]),
        wait_until(lambda demo: _cleanup_applied(demo, 1), COMMAND_REPLY_TIMEOUT, what="the “Cleanup applied” note"),
        wait_until(_other_list_shrank, COMMAND_REPLY_TIMEOUT, what=f"{OTHER_CAMPAIGN}'s round 1 list to shrink"),
        say(_shrink_text),
        say(_master_text),
        say(_kept_text),
    ]


def default_script() -> list[Step]:
    """The conversation `campaign-bot demo` plays. Extend here."""
    return [
        type_command("help"),
        type_command(lambda demo: f'new "Spring letter" list=abc draft={demo.account.template_draft}'),
        *_plan_other_campaign(),
        *_plan_festive_campaign(),
        remember("timeline", lambda demo: timeline(demo.speed)),
        say(lambda demo: f"the next command plans {ROUNDS} rounds that send at "
                         + ", ".join(_hhmmss(i) for i in demo.vars["timeline"]["instants"])
                         + f" (local time), every stage on a compressed timeline (speed {demo.speed:g})"),
        type_command(_new_command, remember="planning_reply"),
        wait_until(_planned_announcement, 30.0, what=f"the channel's “{CAMPAIGN} planned” announcement",
                   remember="planned"),
        type_command(f'status "{CAMPAIGN}"'),
        type_command("list"),
        *_wait_round(1),
        wait_until(lambda demo: _preflight_with_buttons(demo, 1), lambda demo: _until(_stage_due(demo, 1, "preflight")),
                   what="round 1's pre-flight result with its buttons"),
        say("an operator tries to approve round 1: approvals need the approver role, checked on the server"),
        click("approve_launch", user=OPERATOR, message_ts=lambda demo: _preflight_with_buttons(demo, 1).ts),
        say("the approver clicks Approve launch"),
        click("approve_launch", user=APPROVER, message_ts=lambda demo: _preflight_with_buttons(demo, 1).ts),
        *_wait_round(2),
        wait_until(lambda demo: _preflight_with_buttons(demo, 2), lambda demo: _until(_stage_due(demo, 2, "preflight")),
                   what="round 2's pre-flight result"),
        say("round 2 is approved too, then an operator holds it: a hold always wins over the send"),
        click("approve_launch", user=APPROVER, message_ts=lambda demo: _preflight_with_buttons(demo, 2).ts),
        type_command(f'hold "{CAMPAIGN}" 2 waiting for legal sign-off'),
        wait_until(lambda demo: demo.thread_reply(1, "launch"), lambda demo: _until(demo.vars["timeline"]["instants"][0]),
                   what="round 1's launch confirmation"),
        say(lambda demo: f"round 1 went out at its instant: SEND_MODE={SEND_MODE}, so the bot called Mailjet's send "
                         f"for draft {_round1_send(demo)['draft_id']}, and Mailjet here is the local stand-in"
                         if _round1_send(demo) else "round 1 was a dry run: Mailjet's send was not called"),
        say("Mailjet sends in the background: the draft reads “programmed” with no campaign id for a few seconds; "
            "the bot keeps reading it and adds the id to the confirmation when Mailjet gives it"),
        wait_until(lambda demo: (_round1_send(demo) or {}).get("campaign_id") and _confirmation_has_id(demo, 1), 30.0,
                   what="round 1's Mailjet campaign id in its launch confirmation"),
        act(_report_round1_outcome, remember="outcome"),
        say(_outcome_text),
        *_wait_round(3),
        say("nobody approves round 3; round 2 stays held: both are missed when their windows close, never sent late"),
        *_report_and_cleanup(),
        wait_until(lambda demo: _missed_alert(demo, 3), lambda demo: _until(_window_end(demo, 3)),
                   what="round 3's missed alert"),
        type_command(f'status "{OTHER_CAMPAIGN}"'),
        type_command(f'status "{CAMPAIGN}"'),
        type_command(f'log "{CAMPAIGN}"'),
    ]


def _preflight_with_buttons(demo: Demo, number: int) -> Message | None:
    return next((m for m in demo.lifecycle("preflight", number)
                 if any(b.get("type") == "actions" for b in m.blocks or [])), None)


def _missed_alert(demo: Demo, number: int) -> Message | None:
    return next((m for m in demo.lifecycle("alert", number) if "window" in (m.text or "")), None)


def _window_end(demo: Demo, number: int) -> datetime:
    plan = demo.vars["timeline"]
    return plan["instants"][number - 1] + plan["window"]


# --------------------------------------------------------------------------- running it all


def _bot_env(*, dsn: str, slack: SlackStandin, mailjet: MailjetStandin, port: int) -> dict[str, str]:
    own = ("SLACK_", "MAILJET_", "CAMPAIGN_", "DATABASE_URL", "PORT", "SEND_MODE", "LOG_FORMAT",
           "DEFAULT_TIMEZONE", "TWO_PERSON_RULE", "STAGE_MAX_ATTEMPTS", "SHUTDOWN_GRACE_SECONDS", "WEEKLY_SUMMARY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update({
        "DATABASE_URL": dsn,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "MAILJET_API_KEY": MAILJET_KEY,
        "MAILJET_API_SECRET": MAILJET_SECRET,
        "MAILJET_API_URL": mailjet.api_url,
        "CAMPAIGN_CHANNEL": f"#{CHANNEL_NAME}",
        "SLACK_OPERATORS": OPERATOR,
        "SLACK_APPROVERS": APPROVER,
        "SLACK_ADMINS": ADMIN,
        "SLACK_POST_INTERVAL_SECONDS": "0.2",
        "LOG_FORMAT": "json",
        "PORT": str(port),
        "SEND_MODE": SEND_MODE,
        "DEFAULT_TIMEZONE": "Europe/London",
        "SHUTDOWN_GRACE_SECONDS": str(SHUTDOWN_GRACE_SECONDS),
        "PYTHONUNBUFFERED": "1",
        "WEEKLY_SUMMARY": "off",  # a few minutes of demo are no week; a Monday-morning demo must not post one
    })
    return env


async def _database_facts(dsn: str) -> dict[str, Any]:
    """What the bot recorded, read from its database at the end (read only)."""
    import asyncpg  # the bot's own driver; only the summary needs it here

    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        rounds = await connection.fetch(Q.demo_rounds)
        suppressions = await connection.fetch(Q.demo_suppressions)
        events = await connection.fetch(Q.demo_event_counts)
        plans = await connection.fetch(Q.demo_cleanup_plans)
    finally:
        await connection.close()
    return {"rounds": [dict(r) for r in rounds], "suppressions": [dict(r) for r in suppressions],
            "events": {r["kind"]: r["n"] for r in events}, "plans": [dict(r) for r in plans]}


def _round_phrase(row: dict[str, Any]) -> str:
    text = f"round {row['number']} {row['state']}"
    details = []
    if row["mailjet_campaign_id"]:
        details.append(f"sent as Mailjet campaign {row['mailjet_campaign_id']}")
    elif row["dry_run"]:
        details.append("a dry run")
    why = re.search(r"was not sent: ([^.]+)\.", row.get("outcome_detail") or "")
    if why:
        details.append(why.group(1))  # "the round is held", "waiting for approval"
    elif row["held"]:
        details.append("held")
    return text + (f" ({', '.join(details)})" if details else "")


async def _summary(demo: Demo) -> list[str]:
    slack, mailjet = demo.slack, demo.mailjet
    top = [m for m in slack.messages if m.thread_ts is None]
    replies = [m for m in slack.messages if m.thread_ts is not None]
    updates = sum(len(m.edits) for m in slack.messages)
    round_lists = [l for l in mailjet.lists() if str(l.get("Name", "")).startswith(f"{CAMPAIGN}-round-")]
    recipients = sum(len(mailjet.list_member_emails(l["ID"])) for l in round_lists)
    dropped = len(demo.account.unsubscribed) + len(demo.account.excluded)
    complete = sum(1 for number in range(1, ROUNDS + 1) if demo.thread_reply(number, "warning"))
    lines = [
        f"“{CAMPAIGN}” planned: {len(round_lists)} rounds, {recipients} recipients split from "
        f"{len(demo.account.contacts)} contacts ({dropped} unsubscribed or excluded were left out); "
        f"one Mailjet list and one draft per round.",
        f"#{CHANNEL_NAME}: {len(top)} posts, {len(replies)} thread replies, {updates} in-place updates; "
        f"{len(slack.responses) + len(slack.ephemerals)} answers only the person who asked could see.",
        f"{complete} of {ROUNDS} rounds have their pre-launch post with the launch warning in its thread.",
    ]
    try:
        facts = await _database_facts(demo.dsn) if demo.dsn else None
    except Exception as exc:  # noqa: BLE001 - the summary says so rather than failing the demo
        facts = None
        lines.append(f"(the bot's database could not be read for the rest: {type(exc).__name__}: {exc})")
    if facts is None:
        return lines

    winter = [r for r in facts["rounds"] if r["name"] == CAMPAIGN]
    lines.append(f"“{CAMPAIGN}” (SEND_MODE={SEND_MODE}): " + "; ".join(_round_phrase(r) for r in winter)
                 + f". {len(mailjet.sends)} send call(s) reached the Mailjet stand-in; nothing left this machine.")
    verdict = _verdict(demo, 1)
    if verdict:
        charts = sum(1 for u in slack.uploads if demo.round_parent(1) and u.get("thread_ts") == demo.round_parent(1).ts)
        alert = " and a critical-verdict alert went to the channel" if _critical_alert(demo, 1) else ""
        lines.append(f"round 1's wrap-up report: verdict {verdict}; {charts} chart(s) uploaded to its thread{alert}.")
    applied = [p for p in facts["plans"] if p["state"] == "applied"]
    if applied:
        plan = applied[-1]
        active = [s for s in facts["suppressions"] if s["active"]]
        reasons = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in
                            sorted(Counter(s["reason"] for s in active).items())) or "none"
        counted = sum(1 for s in facts["suppressions"] if not s["active"] and s["reason"] == "soft_bounce")
        lines.append(f"cleanup of {plan['name']} round {plan['number']} ({plan['share']:.1%} of it) applied by "
                     f"@{Transcript._name(plan['applied_by'])}: {len(active)} contacts suppressed ({reasons}); "
                     f"{counted} soft bounce(s) counted, not suppressed; {facts['events'].get('blocked', 0)} blocked "
                     "message(s) recorded only.")
    base = demo.vars.get("baseline")
    if base:
        after = len(mailjet.list_member_emails(base["other_list"]))
        ledger = next((r["recipient_count"] for r in facts["rounds"] if r["name"] == OTHER_CAMPAIGN and r["number"] == 1), None)
        master = "unchanged" if _master_members(demo) == base["master"] else "CHANGED"
        lines.append(f"“{OTHER_CAMPAIGN}” round 1: {len(base['other_before'])} → {after} contacts in its Mailjet list "
                     f"({ledger} in the bot's ledger); the master list is {master} "
                     f"({len(_master_members(demo)[0])} contacts).")
    return lines


async def _keep_running(demo: Demo, *, dsn: str) -> int:
    t = demo.transcript
    t.rule("still running (Ctrl-C stops everything)")
    auth = f"-H 'Authorization: Bearer {demo.slack.bot_token}'"
    for line in [
        f"bot:              {demo.bot.url}   curl {demo.bot.url}/readyz   ({demo.bot.url}/metrics, /healthz)",
        f"Slack stand-in:   {demo.slack.api_url}   curl -s {auth} '{demo.slack.api_url}conversations.history?channel={CHANNEL_ID}'",
        f"Mailjet stand-in: {demo.mailjet.api_url}v3/REST/   curl -s -u {MAILJET_KEY}:{MAILJET_SECRET} "
        f"{demo.mailjet.api_url}v3/REST/contactslist",
        f"database:         {dsn}",
        f"bot log:          {demo.bot.log_path}   (tail -f it)",
    ]:
        t.write("  " + line)
    interactive = _stdin_is_terminal()
    if interactive:
        t.write("  Type a command here to send it as the operator, e.g. /campaign status \"Winter Letter\";")
        t.write("  start the line with approver: or admin: to act as them.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()
    if interactive:
        loop.add_reader(sys.stdin.fileno(), lambda: lines.put_nowait(sys.stdin.readline()))
    try:
        while not stop.is_set():
            try:
                line = await asyncio.wait_for(lines.get(), 0.5)
            except asyncio.TimeoutError:
                demo.check_bot()
                continue
            if line == "":  # end of input: stop reading, keep running
                loop.remove_reader(sys.stdin.fileno())
                interactive = False
                continue
            await _typed_line(demo, line.strip())
    finally:
        if interactive:
            with contextlib.suppress(Exception):
                loop.remove_reader(sys.stdin.fileno())
    return 0


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


async def _typed_line(demo: Demo, line: str) -> None:
    if not line:
        return
    user = OPERATOR
    who, sep, rest = line.partition(":")
    if sep and who.strip().lower() in ("approver", "admin", "operator"):
        user = {"approver": APPROVER, "admin": ADMIN, "operator": OPERATOR}[who.strip().lower()]
        line = rest.strip()
    text = line.removeprefix("/campaign").strip()
    demo.transcript.caption(f"{Transcript._name(user)} types: /campaign {text}")
    try:
        await demo.send_command(text, user, timeout=COMMAND_REPLY_TIMEOUT)
    except DemoFailure as exc:
        demo.transcript.fail(str(exc))
        demo.check_bot()


async def run_demo(keep_running: bool = False, speed: float = 1.0, *, out: TextIO | None = None,
                   script: Sequence[Step] | None = None) -> int:
    """Run the demo; 0 when the script played out, 1 when something failed (the reason and the
    bot log's tail are printed). Ctrl-C (or SIGTERM) at any point stops everything in order."""
    out = out or sys.stdout
    transcript = Transcript(out)
    if not speed or speed < MIN_SPEED or not math.isfinite(speed):
        transcript.fail(f"--speed must be at least {MIN_SPEED} (planning takes about a second of real time); got {speed}")
        return 2
    if not structlog.is_configured():
        # This process logs little (the bot's log is a file); keep the transcript clean.
        configure_logging(level=logging.WARNING, log_format="console")
    os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}")
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)

    workdir = Path(tempfile.mkdtemp(prefix="campaign-bot-demo-"))
    if os.geteuid() == 0:
        # The embedded server runs as its own system user when we are root; it must reach its data.
        workdir.chmod(0o755)
    embedded = EmbeddedPostgres(data_dir=workdir / "pgdata", delete_on_close=True)
    slack = SlackStandin()
    mailjet = MailjetStandin(api_key=MAILJET_KEY, api_secret=MAILJET_SECRET)
    bot: BotProcess | None = None
    pg_start: concurrent.futures.Future[str] | None = None
    pg_thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-postgres")
    started: list[str] = []
    code = 1
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    sigterm = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
            sigterm = True

    transcript.rule(f"campaign-bot demo (speed {speed:g})")
    transcript.note(f"working directory {workdir}")
    try:
        began = time.monotonic()
        transcript.note("starting an embedded PostgreSQL…")
        pg_start = pg_thread.submit(embedded.start)
        dsn = await asyncio.wrap_future(pg_start)
        started.append("postgres")
        transcript.ok(f"PostgreSQL ready in {time.monotonic() - began:.1f} s ({dsn})")

        await slack.start()
        started.append("slack")
        await mailjet.start()
        started.append("mailjet")
        account = seed_account(mailjet)
        transcript.ok(f"Slack stand-in on {slack.api_url} (channel #{CHANNEL_NAME}; you are @operator; "
                      f"@approver and @admin exist too)")
        transcript.ok(f"Mailjet stand-in on {mailjet.api_url}: sender {SENDER_EMAIL}, list “Customers (all)” "
                      f"(id {account.master_list}, {len(account.contacts)} contacts, {len(account.unsubscribed)} "
                      f"unsubscribed, {len(account.excluded)} excluded), template draft id {account.template_draft} "
                      f"with a link and [[UNSUB_LINK_EN]]")
        slack.on_event = transcript.on_slack_event
        mailjet.on_event = transcript.on_mailjet_event

        port = free_port()
        bot = BotProcess(env=_bot_env(dsn=dsn, slack=slack, mailjet=mailjet, port=port), workdir=workdir, port=port)
        transcript.note(f"starting `campaign-bot run` on port {port}, SEND_MODE={SEND_MODE}; its log: {bot.log_path}")
        if SEND_MODE == "live":
            transcript.note("live mode against the local Mailjet stand-in: nothing leaves this machine "
                            f"(MAILJET_API_URL={mailjet.api_url})")
        began = time.monotonic()
        await bot.start()
        await bot.wait_ready(READY_TIMEOUT)
        transcript.ok(f"campaign-bot ready in {time.monotonic() - began:.1f} s ({bot.url}/readyz → 200)")

        demo = Demo(speed=speed, slack=slack, mailjet=mailjet, bot=bot, account=account, transcript=transcript, dsn=dsn)
        transcript.rule(f"#{CHANNEL_NAME}")
        for step in (script if script is not None else default_script()):
            await step.run(demo)
        await asyncio.sleep(0.5)  # let anything already on its way be printed

        transcript.rule("summary")
        for line in await _summary(demo):
            transcript.ok(line)
        transcript.note(f"the bot's log (JSON lines): {bot.log_path}")
        code = 0
        if keep_running:
            try:
                code = await _keep_running(demo, dsn=dsn)
            except asyncio.CancelledError:
                # Ctrl-C is how keep-running mode ends: a clean stop, not a failure.
                if task is not None:
                    task.uncancel()
                transcript.write()
                transcript.note("stopping…")
                code = 0
    except DemoFailure as exc:
        transcript.rule("demo failed")
        transcript.fail(str(exc))
        if bot is not None:
            transcript.note(f"last lines of the bot log ({bot.log_path}):")
            for line in bot.log_tail():
                transcript.write("    " + line)
        code = 1
    except asyncio.CancelledError:
        transcript.write()
        transcript.note("interrupted: stopping everything…")
        raise
    except Exception as exc:  # noqa: BLE001 - a demo bug or a broken environment: say it plainly
        transcript.rule("demo failed")
        transcript.fail(f"unexpected {type(exc).__name__}: {exc}")
        traceback.print_exc()
        if bot is not None:
            transcript.note(f"last lines of the bot log ({bot.log_path}):")
            for line in bot.log_tail():
                transcript.write("    " + line)
        code = 1
    finally:
        try:
            await _shutdown(transcript, bot, slack, mailjet, embedded, pg_start, started)
        except BaseException:
            # A second Ctrl-C during clean-up: no more waiting, but nothing left behind.
            if bot is not None:
                bot.kill_now()
            with contextlib.suppress(Exception):
                embedded.stop()
            raise
        finally:
            if sigterm:
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(signal.SIGTERM)
            pg_thread.shutdown(wait=False)
        if bot is not None and bot.exit_code_problem:
            transcript.fail(bot.exit_code_problem)
            code = 1
        if bot is not None:
            transcript.note(f"bot log kept at {bot.log_path}")
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(workdir)
    return code


async def _shutdown(transcript: Transcript, bot: BotProcess | None, slack: SlackStandin, mailjet: MailjetStandin,
                    embedded: EmbeddedPostgres, pg_start: concurrent.futures.Future[str] | None,
                    started: list[str]) -> None:
    """In order: the bot (SIGTERM, it drains and exits 0), the stand-ins, the database."""
    if bot is not None and bot.process is not None:
        was_running = bot.exited is None
        code = await bot.stop(SHUTDOWN_GRACE_SECONDS + 10)
        if was_running:
            if code == 0:
                transcript.ok("campaign-bot stopped on SIGTERM (exit code 0)")
            elif code is None:
                bot.exit_code_problem = "campaign-bot did not stop on SIGTERM in time and was killed"
            else:
                bot.exit_code_problem = f"campaign-bot exited with code {code} on SIGTERM (expected 0)"
    slack.on_event = None
    mailjet.on_event = None
    if "slack" in started:
        await slack.stop()
    if "mailjet" in started:
        await mailjet.stop()
    if pg_start is not None and not pg_start.done():
        # Interrupted while the server was starting: let it finish starting, then stop it.
        with contextlib.suppress(Exception):
            await asyncio.to_thread(pg_start.result, 60)
    if pg_start is not None:
        await asyncio.to_thread(embedded.stop)
        transcript.ok("stand-ins and PostgreSQL stopped")
