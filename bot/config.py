"""Configuration: every setting the product reads, from the environment or a `.env` file.

The names and defaults are a contract (deployments and .env files rely on them); the README's table lists
every one. Problems are collected, not raised one at a time, so start-up can print
one clear line per problem and stop (exit code 2) without a traceback.
"""

from __future__ import annotations

import sys
from typing import Literal
from urllib.parse import ParseResult, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

from bot.summary import WeeklySlot
from bot.summary import parse_setting as parse_weekly_summary

# What each variable is for, used in problem lines so an operator knows what to set.
DESCRIPTIONS = {
    "SLACK_BOT_TOKEN": "the bot token (xoxb-...) from the Slack app's OAuth page",
    "SLACK_APP_TOKEN": "the app-level token (xapp-...) with connections:write, for Socket Mode",
    "MAILJET_API_KEY": "the Mailjet API key",
    "MAILJET_API_SECRET": "the Mailjet API secret key",
    "DATABASE_URL": "a postgres:// URL (leave unset for the embedded database)",
}

UserIds = Annotated[frozenset[str], NoDecode]

# The hosts mailjet-rest 1.9's SecurityGuard.validate_config_url accepts, besides *.mailjet.com.
MAILJET_HOSTS = frozenset({"mailjet.com", "api.mailjet.com", "localhost", "127.0.0.1", "::1"})


def _base_url(value: str) -> ParseResult:
    """An http(s) base URL of an API: a host, a valid port, no credentials, query or fragment."""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("must be an http(s) URL with a host, for example https://api.example.com/")
    try:
        parsed.port  # noqa: B018 - raises ValueError on a malformed or out-of-range port
    except ValueError as exc:
        raise ValueError("has a malformed port") from exc
    if parsed.username is not None or parsed.password is not None:
        raise ValueError("must not hold a user or password (the tokens and keys have their own variables)")
    if parsed.query or parsed.fragment or value.rstrip().endswith(("?", "#")):
        raise ValueError("must be a base URL without a query (?…) or fragment (#…)")
    if value != value.strip() or any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return parsed


class Settings(BaseSettings):
    """The product's settings (names and defaults are a contract), plus a few operational knobs (in the README)."""

    # env_ignore_empty: `VAR=` in a .env copied from an example means "use the default".
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True, env_ignore_empty=True)

    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_API_URL: str = "https://slack.com/api/"
    CAMPAIGN_CHANNEL: str = "#_traction"
    SLACK_ADMINS: UserIds = frozenset()
    SLACK_APPROVERS: UserIds = frozenset()
    SLACK_OPERATORS: UserIds = frozenset()
    DATABASE_URL: SecretStr | None = None
    MAILJET_API_KEY: SecretStr | None = None
    MAILJET_API_SECRET: SecretStr | None = None
    MAILJET_API_URL: str = "https://api.mailjet.com/"
    MAILJET_WEBHOOK_USER: SecretStr | None = None
    MAILJET_WEBHOOK_PASSWORD: SecretStr | None = None
    SEND_MODE: Literal["dry-run", "live"] = "dry-run"
    DEFAULT_TIMEZONE: str = "Europe/London"
    PORT: int = Field(default=8080, ge=0, le=65535)
    LOG_FORMAT: Literal["console", "json"] | None = None
    WEEKLY_SUMMARY: str = "mon 09:00"
    # Public-holiday calendar planning avoids ("planning from days= never picks a public holiday"): a country or subdivision
    # code of the `holidays` package (GB-ENG, US, FR), or `none`. Stored normalised (GB-ENG).
    DEFAULT_HOLIDAYS: str = "GB-ENG"

    # Operational knobs beyond the spec's table.
    TWO_PERSON_RULE: bool = False
    SLACK_POST_INTERVAL_SECONDS: float = Field(default=1.0, ge=0.0, le=60.0)
    STAGE_MAX_ATTEMPTS: int = Field(default=5, ge=1, le=50)
    SHUTDOWN_GRACE_SECONDS: float = Field(default=30.0, ge=0.0, le=600.0)
    SOFT_BOUNCE_THRESHOLD: int = Field(default=3, ge=1, le=20)
    MAILJET_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0.0, le=300.0)
    # Stages due together (teams sending at the same slot) run side by side, up to this many.
    STAGE_CONCURRENCY: int = Field(default=20, ge=1, le=64)
    # Client-side bounds on Mailjet calls (its limits are per API key per second, and 429 past them).
    MAILJET_MAX_CONCURRENT: int = Field(default=20, ge=1, le=64)
    MAILJET_MAX_REQUESTS_PER_SECOND: int = Field(default=50, ge=1, le=1000)
    # How long a rehearsal's compressed timeline lasts, every unsent round's lifecycle ("about two minutes").
    REHEARSAL_SECONDS: int = Field(default=120, ge=20, le=3600)
    # Test-only: a file holding a number of seconds added to the real clock, so end-to-end
    # tests can move time forward in a running process. Never set in production.
    CAMPAIGN_BOT_TEST_CLOCK_FILE: str | None = None

    @field_validator(
        "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DATABASE_URL", "MAILJET_API_KEY", "MAILJET_API_SECRET",
        "MAILJET_WEBHOOK_USER", "MAILJET_WEBHOOK_PASSWORD", "LOG_FORMAT", "CAMPAIGN_BOT_TEST_CLOCK_FILE",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `VAR=` in a .env file means "not set", as the spec's "empty" defaults say.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("SLACK_ADMINS", "SLACK_APPROVERS", "SLACK_OPERATORS", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    @classmethod
    def _token_shape(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        what, prefix = {"SLACK_BOT_TOKEN": ("a bot token", "xoxb-"), "SLACK_APP_TOKEN": ("an app-level token", "xapp-")}[info.field_name]
        if value is not None and not value.get_secret_value().startswith(prefix):
            raise ValueError(f"must be {what} starting with {prefix}")
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parsed = urlparse(value.get_secret_value())
        if parsed.scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgres:// or postgresql:// URL")
        try:
            parsed.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise ValueError("has a malformed port") from exc
        if not parsed.hostname and "host=" not in parsed.query:
            raise ValueError("names no host")
        return value

    @field_validator("DEFAULT_TIMEZONE")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (for example Europe/London)") from exc
        return value

    @field_validator("DEFAULT_HOLIDAYS")
    @classmethod
    def _known_calendar(cls, value: str) -> str:
        from bot.holiday_calendar import CalendarError, parse_code

        try:
            return parse_code(value) or "none"
        except CalendarError as exc:
            raise ValueError(str(exc).replace("`", "")) from None

    @field_validator("WEEKLY_SUMMARY")
    @classmethod
    def _weekly_summary(cls, value: str) -> str:
        return str(parse_weekly_summary(value) or "off")  # normalised: `mon 09:00` or `off`

    @field_validator("SLACK_API_URL")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        _base_url(value)
        return value if value.endswith("/") else value + "/"

    @field_validator("MAILJET_API_URL")
    @classmethod
    def _mailjet_api_url(cls, value: str) -> str:
        parsed = _base_url(value)
        # mailjet-rest's Config runs SecurityGuard.validate_config_url (mailjet_rest/utils/
        # guardrails.py) and raises ValueError for any other host; better one line here than a
        # traceback when the client is built.
        host = parsed.hostname or ""
        if host not in MAILJET_HOSTS and not host.endswith(".mailjet.com"):
            raise ValueError(
                f"must name a Mailjet host (mailjet.com, api.mailjet.com or another *.mailjet.com) or a loopback "
                f"address (localhost, 127.0.0.1, [::1]), as the mailjet-rest client allows; {host!r} is neither"
            )
        if parsed.path not in ("", "/"):
            raise ValueError(f"must be the API's base URL without a path (the client adds /v3/REST/…), "
                             f"for example https://api.mailjet.com/; {parsed.path!r} is a path")
        return value if value.endswith("/") else value + "/"

    # --- derived views -------------------------------------------------------------------

    def secret_values(self) -> list[str]:
        """Every secret string, for the log redactor."""
        secrets = [
            self.SLACK_BOT_TOKEN,
            self.SLACK_APP_TOKEN,
            self.MAILJET_API_KEY,
            self.MAILJET_API_SECRET,
            self.MAILJET_WEBHOOK_PASSWORD,
        ]
        values = [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]
        if self.DATABASE_URL is not None:
            password = urlparse(self.DATABASE_URL.get_secret_value()).password
            if password:
                values.append(password)
        return values

    @property
    def database_url(self) -> str | None:
        return self.DATABASE_URL.get_secret_value() if self.DATABASE_URL else None

    @property
    def weekly_summary(self) -> WeeklySlot | None:
        """When the weekly summary is posted (in DEFAULT_TIMEZONE), or None when it is off."""
        return parse_weekly_summary(self.WEEKLY_SUMMARY)

    @property
    def webhook_enabled(self) -> bool:
        return self.MAILJET_WEBHOOK_USER is not None and self.MAILJET_WEBHOOK_PASSWORD is not None

    def problems_for_run(self) -> list[str]:
        """What is missing for `campaign-bot run`; pydantic already caught malformed values."""
        problems = []
        for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "MAILJET_API_KEY", "MAILJET_API_SECRET"):
            value = getattr(self, name)
            if value is None or not value.get_secret_value():
                problems.append(f"{name} is not set: {DESCRIPTIONS[name]}")
        if (self.MAILJET_WEBHOOK_USER is None) != (self.MAILJET_WEBHOOK_PASSWORD is None):
            problems.append(
                "MAILJET_WEBHOOK_USER and MAILJET_WEBHOOK_PASSWORD must be set together "
                "(both empty turns the event webhook off)"
            )
        return problems


class ConfigurationError(Exception):
    """Start-up cannot go on; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _describe_validation_error(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "configuration"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name} {message}" if message.startswith(("must", "has", "names")) else f"{name}: {message}")
    return lines


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise ConfigurationError with one line per malformed variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(_describe_validation_error(exc)) from None


def exit_with_problems(problems: list[str]) -> None:
    for line in problems:
        print(f"configuration error: {line}", file=sys.stderr)
    raise SystemExit(2)
