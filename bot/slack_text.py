"""Slack's size limits, applied to what the bot posts: text is cut with an ellipsis, never refused.

Slack refuses a whole message when one piece is too long (``invalid_blocks``,
``msg_too_long``), so a reason of any length typed by a person, or a list of thousands of
contacts, must be cut before it is posted. The full text stays where it belongs (the audit
log, the database, an attached file). Pure functions, no I/O.

Limits (https://docs.slack.dev/reference/block-kit/blocks, block-elements,
composition-objects; chat.postMessage for the 40,000 characters of ``text``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

MESSAGE_TEXT = 40_000
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
FIELD_TEXT = 2000
FIELDS = 10
CONTEXT_TEXT = 3000
CONTEXT_ELEMENTS = 10
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
ID = 255
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30

# How much of a person's free text (a hold, cancel or freeze reason) a message shows; the rest
# is in the audit log (`/campaign log`), so the sentence around it stays readable.
REASON_SHOWN = 500
# A reason inside a short line (a round's state in a field, a banner, a list).
REASON_SHOWN_SHORT = 150

ELLIPSIS = "…"
# Slack markup that must not be cut in half: <@U123>, <#C123|name>, <https://…|label>, &amp;.
_TOKEN = re.compile(r"<[^<>\n]*>|&(?:amp|lt|gt);")


def fit(text: str | None, limit: int) -> str:
    """`text` if it fits in `limit` characters, else cut with an ellipsis (never inside a
    ``<…>`` mention or link, or an ``&amp;`` entity)."""
    text = text or ""
    if len(text) <= limit:
        return text
    cut = max(limit - len(ELLIPSIS), 0)
    for token in _TOKEN.finditer(text, max(cut - 300, 0), min(cut + 300, len(text))):
        if token.start() < cut < token.end():
            cut = token.start()
            break
    return text[:cut].rstrip() + ELLIPSIS


def reason(text: str | None, limit: int = REASON_SHOWN) -> str:
    """A person's free text as a message shows it: one paragraph, at most `limit` characters."""
    return fit(" ".join((text or "").split()), limit)


def fit_blocks(blocks: list[dict[str, Any]], *, max_blocks: int = MESSAGE_BLOCKS) -> tuple[list[dict[str, Any]], list[str]]:
    """`blocks` cut to Slack's limits, and what had to be cut (empty when they fitted already).

    The last resort before Slack: builders fit their own text; this makes sure an oversight
    shortens a message instead of losing it. Only lengths and counts are changed."""
    changed: list[str] = []
    out = copy.deepcopy(blocks)
    if len(out) > max_blocks:
        dropped = len(out) - (max_blocks - 1)
        out = out[: max_blocks - 1] + [{"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"… {dropped} more blocks not shown (Slack shows at most {max_blocks})."}]}]
        changed.append(f"{dropped} blocks dropped")
    for index, block in enumerate(out):
        _fit_block(block, f"blocks[{index}]", changed)
    return out, changed


def fit_payload(payload: dict[str, Any], *, max_blocks: int = MESSAGE_BLOCKS) -> tuple[dict[str, Any], list[str]]:
    """A message (``text`` and ``blocks``) cut to Slack's limits, and what was cut."""
    out = dict(payload)
    changed: list[str] = []
    if len(out.get("text") or "") > MESSAGE_TEXT:
        out["text"] = fit(out["text"], MESSAGE_TEXT)
        changed.append("text")
    if out.get("blocks"):
        out["blocks"], more = fit_blocks(out["blocks"], max_blocks=max_blocks)
        changed += more
    return out, changed


def _fit_block(block: dict[str, Any], where: str, changed: list[str]) -> None:
    if isinstance(block.get("block_id"), str) and len(block["block_id"]) > ID:
        block["block_id"] = block["block_id"][:ID]
        changed.append(f"{where}.block_id")
    kind = block.get("type")
    if kind == "section":
        _fit_text(block.get("text"), SECTION_TEXT, f"{where}.text", changed)
        if isinstance(block.get("fields"), list):
            if len(block["fields"]) > FIELDS:
                block["fields"] = block["fields"][:FIELDS]
                changed.append(f"{where}.fields")
            for i, item in enumerate(block["fields"]):
                _fit_text(item, FIELD_TEXT, f"{where}.fields[{i}]", changed)
        if isinstance(block.get("accessory"), dict):
            _fit_element(block["accessory"], f"{where}.accessory", changed)
    elif kind == "header":
        _fit_text(block.get("text"), HEADER_TEXT, f"{where}.text", changed)
    elif kind == "context" and isinstance(block.get("elements"), list):
        if len(block["elements"]) > CONTEXT_ELEMENTS:
            block["elements"] = block["elements"][:CONTEXT_ELEMENTS]
            changed.append(f"{where}.elements")
        for i, element in enumerate(block["elements"]):
            _fit_text(element, CONTEXT_TEXT, f"{where}.elements[{i}]", changed)
    elif kind == "actions" and isinstance(block.get("elements"), list):
        for i, element in enumerate(block["elements"]):
            _fit_element(element, f"{where}.elements[{i}]", changed)


def _fit_element(element: dict[str, Any], where: str, changed: list[str]) -> None:
    if element.get("type") != "button":
        return
    _fit_text(element.get("text"), BUTTON_TEXT, f"{where}.text", changed)
    if isinstance(element.get("value"), str) and len(element["value"]) > BUTTON_VALUE:
        element["value"] = element["value"][:BUTTON_VALUE]
        changed.append(f"{where}.value")
    confirm = element.get("confirm")
    if isinstance(confirm, dict):
        for key, limit in (("title", CONFIRM_TITLE), ("text", CONFIRM_TEXT), ("confirm", CONFIRM_BUTTON),
                           ("deny", CONFIRM_BUTTON)):
            _fit_text(confirm.get(key), limit, f"{where}.confirm.{key}", changed)


def _fit_text(obj: Any, limit: int, where: str, changed: list[str]) -> None:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return
    if len(obj["text"]) > limit:
        obj["text"] = fit(obj["text"], limit)
        changed.append(where)
    elif not obj["text"]:
        obj["text"] = " "  # Slack refuses an empty text object
        changed.append(where)
