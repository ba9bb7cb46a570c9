"""The demo's transcript: the campaign channel printed as readable text while it happens.

`Transcript` is registered as the stand-ins' observer (`SlackStandin.on_event`,
`MailjetStandin.on_event`): every post, thread reply, in-place update, ephemeral answer, upload,
Home refresh and form is printed as `HH:MM:SS <marker> text`, with Block Kit rendered as plain
lines (`render_blocks`) and Slack's markup (mentions, links, :emoji:) made readable.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import textwrap
import time
from collections.abc import Sequence
from typing import Any, TextIO

from localrun.environment import ADMIN, APPROVER, CHANNEL_ID, CHANNEL_NAME, OPERATOR

USER_NAMES = {OPERATOR: "operator", APPROVER: "approver", ADMIN: "admin", "U0BOT": "campaign-bot"}


def person(user: str | None) -> str:
    """How the transcript names a Slack user: `operator`, `approver`… or the id in lower case."""
    return USER_NAMES.get(user or "", (user or "someone").lower())


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


def slack_markup(text: str) -> str:
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


def element_text(element: Any) -> str:
    if isinstance(element, dict):
        if isinstance(element.get("text"), dict):
            return str(element["text"].get("text") or "")
        if isinstance(element.get("text"), str):
            return element["text"]
        if element.get("type") == "image":
            return f"[image: {element.get('alt_text', '')}]"
        if isinstance(element.get("elements"), list):  # rich_text sections and lists
            return "".join(element_text(e) for e in element["elements"])
        if element.get("type") == "user":
            return f"<@{element.get('user_id', '')}>"
        if element.get("type") == "link":
            return str(element.get("text") or element.get("url") or "")
    return ""


def _button(element: dict) -> str:
    label = element_text(element) or element.get("action_id", "button")
    extra = " (asks to confirm)" if element.get("confirm") else ""
    return f"[ {label} ]{extra}"


def render_blocks(blocks: Sequence[dict] | None, text: str | None) -> list[str]:
    """Block Kit as plain lines: section text, fields as `Name: value`, context, buttons."""
    if not blocks:
        return (slack_markup(text or "")).splitlines() or [""]
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            if block.get("text"):
                lines.extend(element_text(block).splitlines())
            for item in block.get("fields") or []:
                name, sep, value = element_text(item).partition("\n")
                if sep:
                    lines.append(f"{name.strip().strip('*')}: {' / '.join(value.splitlines())}")
                else:
                    lines.append(name)
            accessory = block.get("accessory") or {}
            if accessory.get("type") == "button":
                lines.append(_button(accessory))
        elif kind == "header":
            lines.append(f"*{element_text(block)}*")
        elif kind == "context":
            lines.append(" · ".join(t for t in (element_text(e) for e in block.get("elements") or []) if t))
        elif kind == "actions":
            buttons = [_button(e) for e in block.get("elements") or [] if e.get("type") == "button"]
            others = [f"[{e.get('type')}]" for e in block.get("elements") or [] if e.get("type") != "button"]
            lines.append(" ".join(buttons + others))
        elif kind == "divider":
            lines.append("─" * 24)
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text') or block.get('title', {}).get('text', '')}]")
        elif kind == "rich_text":
            lines.extend(element_text(block).splitlines())
        elif kind == "input":
            lines.append(f"[input: {element_text(block.get('label') or {}) if isinstance(block.get('label'), dict) else ''}]")
        else:
            lines.append(f"[{kind} block]")
    return [slack_markup(line) for line in lines] or [""]


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(slack_markup(text).split())
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
        self._entry("[home]", [f"App Home of @{person(data.get('user_id'))} refreshed ({len(blocks)} blocks)"], indent=2)

    def _slack_view_open(self, data: dict) -> None:
        view = data.get("view") or {}
        title = element_text({"text": view.get("title")}) if isinstance(view.get("title"), dict) else ""
        self._entry("[form]", [f"a form opened: “{title}”", *render_blocks(view.get("blocks"), "")], indent=2)

    def _slack_upload(self, data: dict) -> None:
        where = f"in the thread of “{self.label_of(data.get('thread_ts'))}”" if data.get("thread_ts") else "in the channel"
        comment = f": {_short(data['initial_comment'], 80)}" if data.get("initial_comment") else ""
        self._entry("📎", [f"{data.get('title') or data.get('filename')} ({data.get('length')} bytes) {where}{comment}"],
                    indent=2 if data.get("thread_ts") else 0)

    def _only(self, user: str | None) -> str:
        return "(only you)" if user in (None, "", self.viewer) else f"(only @{person(user)})"

    @staticmethod
    def _channel(channel: str | None) -> str:
        return CHANNEL_NAME if channel in (CHANNEL_ID, None) else str(channel)
