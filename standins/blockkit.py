"""Block Kit limits, checked the way Slack checks them before it accepts a message or a view.

Slack refuses the whole message when one element breaks a limit, and says where in
``response_metadata.messages`` (``[ERROR] must be less than 3001 characters
[json-pointer:/blocks/0/text/text]``). `problems` returns those lines; an empty list means
Slack would accept the blocks. The stand-in (standins/slack.py) turns them into the error
code of the method: ``invalid_blocks`` on chat.postMessage / chat.update / chat.postEphemeral
and response_url posts, ``invalid_arguments`` on views.publish / views.open / views.update.

Every number below comes from Slack's Block Kit reference:
- blocks: https://docs.slack.dev/reference/block-kit/blocks ("up to 50 blocks in each
  message, and 100 blocks in modals or Home tabs"; section text 3000, fields 10 × 2000;
  header 150; context 10 elements; actions 25 elements; markdown 12,000; block_id 255);
- elements: https://docs.slack.dev/reference/block-kit/block-elements (button text 75,
  value 2000, url 3000, action_id 255; placeholder 150; options 100, overflow 5);
- composition objects: https://docs.slack.dev/reference/block-kit/composition-objects
  (confirm dialog title 100, text 300, confirm/deny 30, style primary|danger; option text 75,
  value 150, description 75; a text object holds 1 to 3000 characters);
- views: https://docs.slack.dev/reference/views/home-tab-views and modal-views (100 blocks,
  title/submit/close 24, callback_id 255, private_metadata 3000, external_id 255).
"""

from __future__ import annotations

from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
TEXT_OBJECT_MAX = 3000
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
MARKDOWN_TEXT_MAX = 12_000
ID_MAX = 255
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
PLACEHOLDER_MAX = 150
OPTIONS_MAX = 100
OVERFLOW_OPTIONS_MAX = 5
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30
LABEL_MAX = 2000
VIEW_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000

BLOCK_TYPES = {"section", "divider", "image", "actions", "context", "header", "input", "markdown",
               "rich_text", "file", "video"}
SELECTS = {"static_select", "multi_static_select", "external_select", "multi_external_select", "users_select",
           "multi_users_select", "conversations_select", "multi_conversations_select", "channels_select",
           "multi_channels_select"}
INPUT_ELEMENTS = {"plain_text_input", "number_input", "datepicker", "timepicker", "datetimepicker", "email_text_input",
                  "url_text_input", "checkboxes", "radio_buttons", "overflow", "button", "image", "rich_text_input",
                  "file_input", *SELECTS}


def problems(blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, pointer: str = "/blocks") -> list[str]:
    """Slack's ``[ERROR] … [json-pointer:…]`` lines for `blocks`; empty when they are valid."""
    out: list[str] = []
    if not isinstance(blocks, list):
        return [_err("must provide an array", pointer)]
    if len(blocks) > max_blocks:
        out.append(_err(f"must provide no more than {max_blocks} items", pointer))
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        path = f"{pointer}/{index}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            out.append(_err("failed to match all allowed schemas", path))
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 1 <= len(block_id) <= ID_MAX:
                out.append(_err(f"must be less than {ID_MAX + 1} characters", f"{path}/block_id"))
            elif block_id in seen:
                out.append(_err("duplicate block_id", f"{path}/block_id"))
            seen.add(str(block_id))
        out += _BLOCK_CHECKS.get(block["type"], _nothing)(block, path)
    return out


def view_problems(view: Any) -> list[str]:
    if not isinstance(view, dict):
        return [_err("must provide an object", "/view")]
    out = problems(view.get("blocks"), max_blocks=MAX_VIEW_BLOCKS, pointer="/view/blocks")
    for key in ("title", "submit", "close"):
        if view.get(key) is not None:
            out += _text(view[key], f"/view/{key}", VIEW_TITLE_MAX, plain_only=True)
    for key, limit in (("callback_id", ID_MAX), ("external_id", ID_MAX), ("private_metadata", PRIVATE_METADATA_MAX)):
        if len(str(view.get(key) or "")) > limit:
            out.append(_err(f"must be less than {limit + 1} characters", f"/view/{key}"))
    return out


# ---------------------------------------------------------------------- blocks


def _section(block: dict, path: str) -> list[str]:
    out: list[str] = []
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        out.append(_err("must provide either text or fields", path))
    if text is not None:
        out += _text(text, f"{path}/text", SECTION_TEXT_MAX)
    if fields is not None:
        if not isinstance(fields, list) or not fields or len(fields) > SECTION_FIELDS_MAX:
            out.append(_err(f"must provide between 1 and {SECTION_FIELDS_MAX} items", f"{path}/fields"))
        else:
            for i, item in enumerate(fields):
                out += _text(item, f"{path}/fields/{i}", SECTION_FIELD_TEXT_MAX)
    if block.get("accessory") is not None:
        out += _element(block["accessory"], f"{path}/accessory")
    return out


def _header(block: dict, path: str) -> list[str]:
    return _text(block.get("text"), f"{path}/text", HEADER_TEXT_MAX, plain_only=True)


def _context(block: dict, path: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements or len(elements) > CONTEXT_ELEMENTS_MAX:
        return [_err(f"must provide between 1 and {CONTEXT_ELEMENTS_MAX} items", f"{path}/elements")]
    out: list[str] = []
    for i, element in enumerate(elements):
        if isinstance(element, dict) and element.get("type") == "image":
            out += _image(element, f"{path}/elements/{i}")
        else:
            out += _text(element, f"{path}/elements/{i}", TEXT_OBJECT_MAX)
    return out


def _actions(block: dict, path: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements or len(elements) > ACTIONS_ELEMENTS_MAX:
        return [_err(f"must provide between 1 and {ACTIONS_ELEMENTS_MAX} items", f"{path}/elements")]
    out: list[str] = []
    for i, element in enumerate(elements):
        out += _element(element, f"{path}/elements/{i}")
    return out


def _input(block: dict, path: str) -> list[str]:
    out = _text(block.get("label"), f"{path}/label", LABEL_MAX, plain_only=True)
    if block.get("hint") is not None:
        out += _text(block["hint"], f"{path}/hint", LABEL_MAX, plain_only=True)
    if block.get("element") is None:
        out.append(_err("must provide an object", f"{path}/element"))
    else:
        out += _element(block["element"], f"{path}/element")
    return out


def _markdown(block: dict, path: str) -> list[str]:
    text = block.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= MARKDOWN_TEXT_MAX:
        return [_err(f"must be less than {MARKDOWN_TEXT_MAX + 1} characters", f"{path}/text")]
    return []


def _image(block: dict, path: str) -> list[str]:
    out: list[str] = []
    if len(str(block.get("image_url") or "")) > URL_MAX:
        out.append(_err(f"must be less than {URL_MAX + 1} characters", f"{path}/image_url"))
    if not block.get("image_url") and not block.get("slack_file"):
        out.append(_err("must provide image_url or slack_file", path))
    alt = block.get("alt_text")
    if not isinstance(alt, str) or not 1 <= len(alt) <= LABEL_MAX:
        out.append(_err(f"must be less than {LABEL_MAX + 1} characters", f"{path}/alt_text"))
    if block.get("title") is not None:
        out += _text(block["title"], f"{path}/title", LABEL_MAX, plain_only=True)
    return out


def _nothing(block: dict, path: str) -> list[str]:
    return []


_BLOCK_CHECKS = {"section": _section, "header": _header, "context": _context, "actions": _actions, "input": _input,
                 "markdown": _markdown, "image": _image}


# ---------------------------------------------------------------------- elements and composition objects


def _element(element: Any, path: str) -> list[str]:
    if not isinstance(element, dict) or element.get("type") not in INPUT_ELEMENTS:
        return [_err("failed to match all allowed schemas", path)]
    kind = element["type"]
    if kind == "image":
        return _image(element, path)
    out: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > ID_MAX):
        out.append(_err(f"must be less than {ID_MAX + 1} characters", f"{path}/action_id"))
    if kind == "button":
        out += _text(element.get("text"), f"{path}/text", BUTTON_TEXT_MAX, plain_only=True)
        if len(str(element.get("value") or "")) > BUTTON_VALUE_MAX:
            out.append(_err(f"must be less than {BUTTON_VALUE_MAX + 1} characters", f"{path}/value"))
        if len(str(element.get("url") or "")) > URL_MAX:
            out.append(_err(f"must be less than {URL_MAX + 1} characters", f"{path}/url"))
        if element.get("style") not in (None, "primary", "danger"):
            out.append(_err("must be one of primary, danger", f"{path}/style"))
    if element.get("placeholder") is not None:
        out += _text(element["placeholder"], f"{path}/placeholder", PLACEHOLDER_MAX, plain_only=True)
    if "options" in element:
        limit = OVERFLOW_OPTIONS_MAX if kind == "overflow" else OPTIONS_MAX
        options = element["options"]
        if not isinstance(options, list) or not options or len(options) > limit:
            out.append(_err(f"must provide between 1 and {limit} items", f"{path}/options"))
        else:
            plain = kind not in ("checkboxes", "radio_buttons")
            for i, option in enumerate(options):
                out += _option(option, f"{path}/options/{i}", plain_only=plain)
    if element.get("confirm") is not None:
        out += _confirm(element["confirm"], f"{path}/confirm")
    return out


def _option(option: Any, path: str, *, plain_only: bool) -> list[str]:
    if not isinstance(option, dict):
        return [_err("must provide an object", path)]
    out = _text(option.get("text"), f"{path}/text", OPTION_TEXT_MAX, plain_only=plain_only)
    value = option.get("value")
    if not isinstance(value, str) or not 1 <= len(value) <= OPTION_VALUE_MAX:
        out.append(_err(f"must be less than {OPTION_VALUE_MAX + 1} characters", f"{path}/value"))
    if option.get("description") is not None:
        out += _text(option["description"], f"{path}/description", OPTION_TEXT_MAX, plain_only=plain_only)
    return out


def _confirm(confirm: Any, path: str) -> list[str]:
    if not isinstance(confirm, dict):
        return [_err("must provide an object", path)]
    out = _text(confirm.get("title"), f"{path}/title", CONFIRM_TITLE_MAX, plain_only=True)
    out += _text(confirm.get("text"), f"{path}/text", CONFIRM_TEXT_MAX)
    out += _text(confirm.get("confirm"), f"{path}/confirm", CONFIRM_BUTTON_MAX, plain_only=True)
    out += _text(confirm.get("deny"), f"{path}/deny", CONFIRM_BUTTON_MAX, plain_only=True)
    if confirm.get("style") not in (None, "primary", "danger"):
        out.append(_err("must be one of primary, danger", f"{path}/style"))
    return out


def _text(obj: Any, path: str, limit: int, *, plain_only: bool = False) -> list[str]:
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in allowed:
        return [_err("must provide an object of type " + " or ".join(allowed), path)]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [_err("must be more than 0 characters", f"{path}/text")]
    if len(text) > limit:
        return [_err(f"must be less than {limit + 1} characters", f"{path}/text")]
    return []


def _err(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"
