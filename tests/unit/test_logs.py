"""bot/logs.py: JSON lines, secrets never written, campaign and round on every line in a block."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator

import pytest
import structlog

from bot import logs
from bot.logs import REDACTED, bind_round, configure_logging, get_logger

BOT_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
APP_TOKEN = "xapp-1-A0123456789-1234567890123-abcdef0123456789"
MAILJET_SECRET = "5f4dcc3b5aa765d61d8327deb882cf99"
DB_PASSWORD = "pg-Pa55word-xyz"
SECRETS = [BOT_TOKEN, APP_TOKEN, MAILJET_SECRET, DB_PASSWORD]
TOKEN_SHAPE = re.compile(r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")

_LIBRARY_LOGGERS = ("slack_sdk", "slack_bolt", "aiohttp.access", "apscheduler", "urllib3", "asyncio")


@pytest.fixture
def captured() -> Iterator[Callable[[], list[dict]]]:
    """configure_logging(json) with the handler's stream pointed at a StringIO; state restored after."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_library_levels = {name: logging.getLogger(name).level for name in _LIBRARY_LOGGERS}
    saved_structlog = structlog.get_config()
    saved_secrets = logs._redactor.secrets
    structlog.contextvars.clear_contextvars()

    configure_logging(secrets=SECRETS, log_format="json")
    assert len(root.handlers) == 1
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)

    def lines() -> list[dict]:
        handler.flush()
        text = buffer.getvalue()
        for secret in SECRETS:
            assert secret not in text
        assert not TOKEN_SHAPE.search(text), text
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    try:
        yield lines
    finally:
        structlog.contextvars.clear_contextvars()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_library_levels.items():
            logging.getLogger(name).setLevel(level)
        structlog.configure(**saved_structlog)
        logs._redactor.secrets = saved_secrets


def test_lines_are_json_with_level_logger_and_timestamp(captured):
    get_logger("bot.test").info("started", port=8080)
    (line,) = captured()
    assert line["event"] == "started"
    assert line["port"] == 8080
    assert line["level"] == "info"
    assert line["logger"] == "bot.test"
    assert line["timestamp"].endswith("Z")


def test_known_secrets_are_redacted_in_messages_and_values(captured):
    log = get_logger("bot.test")
    log.info(f"calling Slack with {BOT_TOKEN}")
    log.info("connect", url=f"postgresql://bot:{DB_PASSWORD}@db/campaigns")
    log.info("mailjet", auth=("key", MAILJET_SECRET), nested={"deeper": [f"Basic {MAILJET_SECRET}"]})
    log.info("positional %s and %s", APP_TOKEN, MAILJET_SECRET)
    lines = captured()
    assert len(lines) == 4
    assert REDACTED in lines[0]["event"]
    assert lines[1]["url"] == f"postgresql://bot:{REDACTED}@db/campaigns"
    assert lines[2]["auth"] == ["key", REDACTED]
    assert lines[2]["nested"] == {"deeper": [f"Basic {REDACTED}"]}
    assert lines[3]["event"] == f"positional {REDACTED} and {REDACTED}"


def test_unknown_token_shapes_are_redacted(captured):
    other = "xoxp-999-888-777-someoneelsestoken"
    get_logger().warning("pasted", text=f"please use {other} and xapp-9-Z-1-2 and xoxb-1-2")
    (line,) = captured()
    assert line["text"] == f"please use {REDACTED} and {REDACTED} and {REDACTED}"


@pytest.mark.parametrize("key", ["token", "authorization", "Authorization", "api_key", "password", "client_secret", "bot_token"])
def test_secret_keys_are_redacted(captured, key):
    get_logger().info("request", **{key: "opaque-value-not-a-known-secret"}, headers={key: "also-opaque"})
    (line,) = captured()
    assert line[key] == REDACTED
    assert line["headers"][key] == REDACTED
    assert "opaque" not in json.dumps(line)


def test_empty_secret_keys_stay_visible(captured):
    get_logger().info("request", token=None, authorization="")
    (line,) = captured()
    assert line["token"] is None and line["authorization"] == ""


def test_stdlib_library_loggers_are_redacted(captured):
    logging.getLogger("slack_sdk").warning("Failed to call chat.postMessage with token=%s", BOT_TOKEN)
    logging.getLogger("slack_sdk.socket_mode").warning(f"connecting with {APP_TOKEN}")
    logging.getLogger("aiohttp.client").error("auth %s failed", MAILJET_SECRET)
    logging.getLogger("slack_sdk").debug("not shown at all: %s", BOT_TOKEN)
    lines = captured()
    assert [line["logger"] for line in lines] == ["slack_sdk", "slack_sdk.socket_mode", "aiohttp.client"]
    assert lines[0]["event"] == f"Failed to call chat.postMessage with token={REDACTED}"
    assert lines[0]["level"] == "warning"
    assert all(REDACTED in line["event"] for line in lines)


def test_structlog_exception_traceback_is_redacted(captured):
    try:
        raise RuntimeError(f"invalid_auth for {BOT_TOKEN} / {MAILJET_SECRET}")
    except RuntimeError:
        get_logger("bot.test").exception("stage failed")
    (line,) = captured()
    assert "Traceback" in line["exception"]
    assert "RuntimeError: invalid_auth for" in line["exception"]
    assert REDACTED in line["exception"]


def test_stdlib_exception_traceback_is_redacted(captured):
    def call_slack(token: str) -> None:
        raise ConnectionError(f"could not connect using {token}")

    try:
        call_slack(APP_TOKEN)
    except ConnectionError:
        logging.getLogger("slack_sdk.socket_mode").exception("reconnect failed")
    (line,) = captured()
    assert line["event"] == "reconnect failed"
    assert "ConnectionError: could not connect using " + REDACTED in line["exception"]


def test_exception_objects_as_values_are_redacted(captured):
    error = ValueError(f"bad {MAILJET_SECRET}")
    get_logger().warning("call failed", error=error, errors=[error])
    (line,) = captured()
    assert REDACTED in line["error"]
    assert REDACTED in line["errors"][0]


def test_bind_round_adds_campaign_and_round_to_every_line_in_the_block(captured):
    log = get_logger("jobs.stages")
    log.info("before")
    with bind_round("X", 2):
        log.info("inside")
        logging.getLogger("slack_sdk").warning("library line inside")
        with bind_round("Y"):
            log.info("nested campaign only")
        log.info("back")
    log.info("after")
    lines = {line["event"]: line for line in captured()}
    assert "campaign" not in lines["before"] and "round" not in lines["before"]
    for event in ("inside", "library line inside", "back"):
        assert (lines[event]["campaign"], lines[event]["round"]) == ("X", 2), event
    assert lines["nested campaign only"]["campaign"] == "Y"
    assert "campaign" not in lines["after"] and "round" not in lines["after"]


def test_bind_round_unbinds_on_error(captured):
    with pytest.raises(RuntimeError), bind_round("X", 3):
        raise RuntimeError("stage crashed")
    get_logger().info("after")
    (line,) = captured()
    assert "campaign" not in line


def test_configure_twice_keeps_one_handler_and_the_new_secrets(captured):
    configure_logging(secrets=[*SECRETS, "another-secret-4321"], log_format="json")
    root = logging.getLogger()
    assert len(root.handlers) == 1
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)
    get_logger().info("value another-secret-4321 and " + BOT_TOKEN)
    text = buffer.getvalue()
    assert "another-secret-4321" not in text and BOT_TOKEN not in text
    assert text.count("\n") == 1


def test_short_secrets_are_not_redacted_everywhere():
    # Three characters or fewer would blank out ordinary words; they are ignored.
    redactor = logs.SecretRedactor(["abc", "", "long-secret"])
    assert redactor.scrub("abc long-secret") == f"abc {REDACTED}"


def test_console_format_is_redacted_too(captured):
    configure_logging(secrets=SECRETS, log_format="console")
    buffer = io.StringIO()
    logging.getLogger().handlers[0].setStream(buffer)
    get_logger().info("console", value=BOT_TOKEN)
    logging.getLogger("slack_sdk").warning("token %s", APP_TOKEN)
    text = buffer.getvalue()
    assert "console" in text
    assert BOT_TOKEN not in text and APP_TOKEN not in text
    assert not TOKEN_SHAPE.search(text)


@pytest.mark.parametrize(
    "make_value",
    [
        pytest.param(lambda: {BOT_TOKEN}, id="set"),
        pytest.param(lambda: type("Request", (), {"__repr__": lambda self: f"Request(token={APP_TOKEN})"})(), id="object"),
    ],
)
def test_values_of_other_types_are_redacted(make_value):
    root = logging.getLogger()
    saved = root.handlers[:], root.level, structlog.get_config(), logs._redactor.secrets
    try:
        configure_logging(secrets=SECRETS, log_format="json")
        buffer = io.StringIO()
        root.handlers[0].setStream(buffer)
        get_logger().info("request", value=make_value())
        text = buffer.getvalue()
        assert BOT_TOKEN not in text and APP_TOKEN not in text
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.configure(**saved[2])
        logs._redactor.secrets = saved[3]
