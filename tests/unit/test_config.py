"""bot/config.py: the environment contract (names, defaults, one clear line per problem)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import ConfigurationError, Settings, load_settings

BOT_TOKEN = "xoxb-1111-2222-abcdefABCDEF"
APP_TOKEN = "xapp-1-A111-2222-abcdef0123"
MJ_KEY = "mj-key-0123456789abcdef"
MJ_SECRET = "mj-secret-fedcba9876543210"
REQUIRED = {
    "SLACK_BOT_TOKEN": BOT_TOKEN,
    "SLACK_APP_TOKEN": APP_TOKEN,
    "MAILJET_API_KEY": MJ_KEY,
    "MAILJET_API_SECRET": MJ_SECRET,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No variable of ours from the outer environment, and a cwd without a `.env` file."""
    ours = set(Settings.model_fields)
    for name in list(os.environ):
        if name in ours or name.startswith(("SLACK_", "MAILJET_", "CAMPAIGN_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def problems_of(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    return caught.value.problems


# --- defaults -------------------------------------------------------------------------------

def test_defaults_are_the_spec_table():
    settings = load_settings()
    assert settings.SLACK_BOT_TOKEN is None
    assert settings.SLACK_APP_TOKEN is None
    assert settings.SLACK_API_URL == "https://slack.com/api/"
    assert settings.CAMPAIGN_CHANNEL == "#_traction"
    assert settings.SLACK_ADMINS == frozenset()
    assert settings.SLACK_APPROVERS == frozenset()
    assert settings.SLACK_OPERATORS == frozenset()
    assert settings.DATABASE_URL is None and settings.database_url is None
    assert settings.MAILJET_API_KEY is None
    assert settings.MAILJET_API_SECRET is None
    assert settings.MAILJET_API_URL == "https://api.mailjet.com/"
    assert settings.MAILJET_WEBHOOK_USER is None
    assert settings.MAILJET_WEBHOOK_PASSWORD is None
    assert settings.webhook_enabled is False
    assert settings.SEND_MODE == "dry-run"
    assert settings.DEFAULT_TIMEZONE == "Europe/London"
    assert settings.PORT == 8080
    assert settings.LOG_FORMAT is None  # console on a terminal, else json: decided by logs
    assert settings.TWO_PERSON_RULE is False
    assert settings.secret_values() == []


def test_a_complete_configuration_reads_every_variable(monkeypatch):
    env = {
        **REQUIRED,
        "SLACK_API_URL": "http://127.0.0.1:9000/api",
        "CAMPAIGN_CHANNEL": "C0123456",
        "SLACK_ADMINS": "U1",
        "SLACK_APPROVERS": "U2,U3",
        "SLACK_OPERATORS": "U4",
        "DATABASE_URL": "postgresql://bot:pw-123456@db.internal:5433/campaigns",
        "MAILJET_API_URL": "http://127.0.0.1:9001",
        "MAILJET_WEBHOOK_USER": "hook",
        "MAILJET_WEBHOOK_PASSWORD": "hook-password-1",
        "SEND_MODE": "live",
        "DEFAULT_TIMEZONE": "America/New_York",
        "PORT": "9090",
        "LOG_FORMAT": "json",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.SLACK_BOT_TOKEN.get_secret_value() == BOT_TOKEN
    assert settings.SLACK_APP_TOKEN.get_secret_value() == APP_TOKEN
    assert settings.SLACK_API_URL == "http://127.0.0.1:9000/api/"  # base URLs end with /
    assert settings.MAILJET_API_URL == "http://127.0.0.1:9001/"
    assert settings.CAMPAIGN_CHANNEL == "C0123456"
    assert settings.SLACK_APPROVERS == frozenset({"U2", "U3"})
    assert settings.database_url == env["DATABASE_URL"]
    assert settings.webhook_enabled is True
    assert settings.SEND_MODE == "live"
    assert settings.DEFAULT_TIMEZONE == "America/New_York"
    assert settings.PORT == 9090
    assert settings.LOG_FORMAT == "json"
    assert settings.problems_for_run() == []


def test_secrets_are_not_in_the_repr(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    text = repr(load_settings()) + str(load_settings().model_dump())
    for value in REQUIRED.values():
        assert value not in text


# --- lists ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("U1,U2", {"U1", "U2"}),
        (" U1 , U2 ,U3 ", {"U1", "U2", "U3"}),
        ("U1,,U2,", {"U1", "U2"}),
        ("U1", {"U1"}),
        ("U1, U1", {"U1"}),
        ("", set()),
        ("  ", set()),
        (" , ", set()),
    ],
)
@pytest.mark.parametrize("variable", ["SLACK_ADMINS", "SLACK_APPROVERS", "SLACK_OPERATORS"])
def test_comma_lists(monkeypatch, variable, text, ids):
    monkeypatch.setenv(variable, text)
    assert getattr(load_settings(), variable) == frozenset(ids)


# --- malformed values -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("SLACK_BOT_TOKEN", "xapp-1-abc", "xoxb-"),
        ("SLACK_BOT_TOKEN", "bot-token", "xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-1-abc", "xapp-"),
        ("SLACK_APP_TOKEN", "app", "xapp-"),
        ("DATABASE_URL", "mysql://user:pw@db/campaigns", "postgres"),
        ("DATABASE_URL", "postgres://user:pw@db:99999/campaigns", "port"),
        ("DATABASE_URL", "postgres://user:pw@db:abc/campaigns", "port"),
        ("DATABASE_URL", "postgresql:///campaigns", "host"),
        ("DATABASE_URL", "db.internal:5432", "postgres"),
        ("DEFAULT_TIMEZONE", "Mars/Base", "time zone"),
        ("DEFAULT_TIMEZONE", "GMT+1 please", "time zone"),
        ("PORT", "abc", "integer"),
        ("PORT", "70000", "65535"),
        ("PORT", "-1", "0"),
        ("SEND_MODE", "yes", "dry-run"),
        ("SEND_MODE", "LIVE", "live"),
        ("LOG_FORMAT", "xml", "json"),
        ("SLACK_API_URL", "slack.com/api", "http"),
        ("SLACK_API_URL", "https://slack.com/api/?token=x", "query"),
        ("SLACK_API_URL", "http://127.0.0.1:notaport/api/", "port"),
        ("SLACK_API_URL", "https://bot:pw-123456@slack.com/api/", "user or password"),
        ("MAILJET_API_URL", "ftp://api.mailjet.com/", "http"),
        ("MAILJET_API_URL", "http://fake-mailjet:8080/", "'fake-mailjet' is neither"),
        ("MAILJET_API_URL", "http://10.0.0.1/", "loopback"),
        ("MAILJET_API_URL", "https://evilmailjet.com/", "*.mailjet.com"),
        ("MAILJET_API_URL", "https://api.mailjet.com.evil.example/", "Mailjet host"),
        ("MAILJET_API_URL", "https://api.mailjet.com/v3/", "'/v3/' is a path"),
        ("MAILJET_API_URL", "https://api.mailjet.com/v3/REST", "without a path"),
        ("MAILJET_API_URL", "https://api.mailjet.com/#x", "fragment"),
        ("MAILJET_API_URL", "http://127.0.0.1:99999/", "port"),
        ("MAILJET_API_URL", "https://api.mailjet.com /", "spaces"),
        ("STAGE_CONCURRENCY", "0", "1"),
        ("STAGE_CONCURRENCY", "65", "64"),
        ("MAILJET_MAX_CONCURRENT", "0", "1"),
        ("MAILJET_MAX_REQUESTS_PER_SECOND", "0", "1"),
    ],
)
def test_malformed_value_is_one_line_naming_the_variable(monkeypatch, variable, value, fragment):
    problems = problems_of(monkeypatch, **{variable: value})
    assert len(problems) == 1
    assert problems[0].startswith(variable)
    assert fragment in problems[0]
    assert "\n" not in problems[0]


MAILJET_URLS = [
    "https://api.mailjet.com/", "https://api.mailjet.com", "https://mailjet.com/", "https://api.us.mailjet.com/",
    "HTTPS://API.MAILJET.COM/", "http://localhost:8080/", "http://127.0.0.1:9001", "http://[::1]:9001/",
    "http://fake-mailjet:8080/", "http://10.0.0.1/", "https://evilmailjet.com/", "https://mailjet.com.evil.example/",
    "http://127.0.0.2/", "ftp://api.mailjet.com/", "file:///etc/passwd",
]


@pytest.mark.parametrize("url", MAILJET_URLS)
def test_mailjet_api_url_is_accepted_exactly_when_the_mailjet_client_accepts_it(monkeypatch, url):
    """The same verdict as mailjet-rest's own SecurityGuard.validate_config_url (these URLs
    have no path; a path is refused by us alone, since the client appends /v3/REST/…)."""
    from mailjet_rest import Client

    try:
        Client(auth=("key", "secret"), api_url=url, version="v3")
        client_accepts = True
    except ValueError:
        client_accepts = False
    monkeypatch.setenv("MAILJET_API_URL", url)
    try:
        load_settings()
        we_accept = True
    except ConfigurationError as exc:
        assert len(exc.problems) == 1 and exc.problems[0].startswith("MAILJET_API_URL ")
        we_accept = False
    assert we_accept == client_accepts


def test_database_url_with_host_in_query_is_accepted(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql:///campaigns?host=/var/run/postgresql")
    assert load_settings().database_url.endswith("host=/var/run/postgresql")


def test_every_malformed_variable_gets_its_own_line(monkeypatch):
    problems = problems_of(
        monkeypatch,
        SLACK_BOT_TOKEN="nope",
        SLACK_APP_TOKEN="nope",
        DATABASE_URL="mysql://db/x",
        PORT="abc",
        SEND_MODE="yes",
        DEFAULT_TIMEZONE="Nowhere/Land",
    )
    assert len(problems) == 6
    named = {line.split()[0].rstrip(":") for line in problems}
    assert named == {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DATABASE_URL", "PORT", "SEND_MODE", "DEFAULT_TIMEZONE"}
    error = ConfigurationError(problems)
    assert all(line in str(error) for line in problems)


def test_a_malformed_secret_is_not_echoed(monkeypatch):
    problems = problems_of(monkeypatch, SLACK_BOT_TOKEN="secret-looking-value-123", DATABASE_URL="mysql://u:hunter2hunter2@db/x")
    text = "\n".join(problems)
    assert "secret-looking-value-123" not in text
    assert "hunter2hunter2" not in text


# --- what `run` needs -----------------------------------------------------------------------

def test_problems_for_run_names_every_missing_required_variable():
    problems = load_settings().problems_for_run()
    assert len(problems) == 4
    for name, line in zip(("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "MAILJET_API_KEY", "MAILJET_API_SECRET"), problems, strict=True):
        assert line.startswith(f"{name} is not set")


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_problems_for_run_names_the_one_missing(monkeypatch, missing):
    for name, value in REQUIRED.items():
        if name != missing:
            monkeypatch.setenv(name, value)
    problems = load_settings().problems_for_run()
    assert len(problems) == 1
    assert problems[0].startswith(f"{missing} is not set")


@pytest.mark.parametrize("variable", sorted(REQUIRED))
def test_empty_required_variable_means_unset(monkeypatch, variable):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(variable, "")
    settings = load_settings()
    assert getattr(settings, variable) is None
    assert [line.split()[0] for line in settings.problems_for_run()] == [variable]


@pytest.mark.parametrize(
    "half", [{"MAILJET_WEBHOOK_USER": "hook"}, {"MAILJET_WEBHOOK_PASSWORD": "hook-password-1"}]
)
def test_webhook_credentials_come_in_pairs(monkeypatch, half):
    for name, value in {**REQUIRED, **half}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.webhook_enabled is False
    problems = settings.problems_for_run()
    assert len(problems) == 1
    assert "MAILJET_WEBHOOK_USER" in problems[0] and "MAILJET_WEBHOOK_PASSWORD" in problems[0]


def test_webhook_set_to_empty_strings_is_off(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MAILJET_WEBHOOK_USER", "")
    monkeypatch.setenv("MAILJET_WEBHOOK_PASSWORD", "  ")
    settings = load_settings()
    assert settings.webhook_enabled is False
    assert settings.problems_for_run() == []


@pytest.mark.parametrize("variable", ["DATABASE_URL", "LOG_FORMAT", "MAILJET_WEBHOOK_USER", "SLACK_BOT_TOKEN"])
def test_empty_optional_secret_means_unset(monkeypatch, variable):
    monkeypatch.setenv(variable, "")
    assert getattr(load_settings(), variable) is None


@pytest.mark.parametrize(
    ("variable", "default"),
    [
        ("DEFAULT_TIMEZONE", "Europe/London"),
        ("PORT", 8080),
        ("SEND_MODE", "dry-run"),
        ("SLACK_API_URL", "https://slack.com/api/"),
        ("MAILJET_API_URL", "https://api.mailjet.com/"),
        ("CAMPAIGN_CHANNEL", "#_traction"),
    ],
)
def test_empty_value_of_a_defaulted_variable_means_the_default(monkeypatch, variable, default):
    monkeypatch.setenv(variable, "")
    assert getattr(load_settings(), variable) == default


# --- secrets for the log redactor -----------------------------------------------------------

def test_secret_values(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MAILJET_WEBHOOK_USER", "hook")
    monkeypatch.setenv("MAILJET_WEBHOOK_PASSWORD", "hook-password-1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:db-pass-98765@db.internal:5432/campaigns")
    secrets = load_settings().secret_values()
    for value in (BOT_TOKEN, APP_TOKEN, MJ_KEY, MJ_SECRET, "hook-password-1", "db-pass-98765"):
        assert value in secrets
    assert "" not in secrets


def test_secret_values_without_a_database_password(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot@db.internal/campaigns")
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    assert load_settings().secret_values() == [BOT_TOKEN]


# --- .env -----------------------------------------------------------------------------------

def test_dotenv_in_cwd_is_read_and_environment_wins(monkeypatch, clean_env):
    (clean_env / ".env").write_text(
        "CAMPAIGN_CHANNEL=#ops\nSEND_MODE=live\nSLACK_OPERATORS=U1, U2\nMAILJET_WEBHOOK_USER=\n"
    )
    monkeypatch.setenv("SEND_MODE", "dry-run")
    settings = load_settings()
    assert settings.CAMPAIGN_CHANNEL == "#ops"
    assert settings.SEND_MODE == "dry-run"
    assert settings.SLACK_OPERATORS == frozenset({"U1", "U2"})
    assert settings.MAILJET_WEBHOOK_USER is None


def test_overrides_win(monkeypatch):
    monkeypatch.setenv("PORT", "9999")
    assert load_settings(PORT=1234).PORT == 1234


def test_concurrency_defaults_and_the_pool_they_need(monkeypatch):
    from bot.runtime import pool_size

    settings = load_settings()
    assert (settings.STAGE_CONCURRENCY, settings.MAILJET_MAX_CONCURRENT, settings.MAILJET_MAX_REQUESTS_PER_SECOND) == (20, 20, 50)
    assert pool_size(settings) == 30
    monkeypatch.setenv("STAGE_CONCURRENCY", "1")
    assert pool_size(load_settings()) == 11
