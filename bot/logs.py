"""Structured logging: JSON off a terminal, readable console on one, secrets never written.

Every line carries the campaign and round when there is one: executors bind them with
`bind_round()` (structlog contextvars), so nothing has to pass them along by hand.
Standard-library loggers (slack-sdk, aiohttp, apscheduler) go through the same processors,
so the redactor sees their lines too.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import structlog

REDACTED = "[redacted]"
# Token shapes that must never reach a log even when we were not told the value
# (a token pasted into a command, a token of another workspace).
_TOKEN_PATTERN = re.compile(r"\b(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)")
_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|api_key)", re.IGNORECASE)


class SecretRedactor:
    """A structlog processor that replaces known secret values and token shapes everywhere."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return _TOKEN_PATTERN.sub(REDACTED, value)
        if isinstance(value, dict):
            return {
                k: (REDACTED if isinstance(k, str) and _SECRET_KEYS.search(k) and v else self.scrub(v))
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub(v) for v in value)
        if isinstance(value, BaseException):
            return self.scrub(repr(value))
        if value is None or isinstance(value, (bool, int, float)):
            return value
        # Anything else (sets, URLs, request objects) is rendered as text later; scrub that text now.
        return self.scrub(str(value))

    def __call__(self, logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        return self.scrub(event_dict)


_redactor = SecretRedactor()


def _render_exception_then_scrub(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # Tracebacks are rendered to text first so the redactor sees them as well.
    return _redactor(logger, method, structlog.processors.format_exc_info(logger, method, event_dict))


def configure_logging(*, secrets: Iterable[str] = (), log_format: str | None = None, level: int = logging.INFO) -> None:
    """Configure structlog and the stdlib root logger. Safe to call more than once."""
    _redactor.secrets = SecretRedactor(secrets).secrets
    if log_format is None:
        log_format = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if log_format == "console"
        else structlog.processors.JSONRenderer()
    )
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        _render_exception_then_scrub,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _redactor, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Chatty libraries: their debug lines carry request bodies we do not need.
    for name in ("slack_sdk", "slack_bolt", "aiohttp.access", "apscheduler", "urllib3", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


@contextlib.contextmanager
def bind_round(campaign: str | None, round_number: int | None = None) -> Iterator[None]:
    """Attach campaign (and round) to every log line written inside the block."""
    values: dict[str, Any] = {"campaign": campaign}
    if round_number is not None:
        values["round"] = round_number
    with structlog.contextvars.bound_contextvars(**values):
        yield
