"""A bad MAILJET_API_URL or SLACK_API_URL stops `campaign-bot run` and `campaign-bot check`
with one line naming the variable and exit code 2. Before, a host the mailjet-rest client
refuses (anything but *.mailjet.com and loopback) died with its ValueError's traceback."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from tests.support.harness import CAMPAIGN_BOT, base_env

pytestmark = pytest.mark.slow

BAD_URLS = [
    ("MAILJET_API_URL", "http://fake-mailjet:8080/", "Mailjet host"),      # a docker-compose name
    ("MAILJET_API_URL", "https://api.mailjet.com/v3/REST/", "without a path"),
    ("SLACK_API_URL", "slack.com/api/", "http(s) URL"),
]


@pytest.mark.parametrize(("variable", "value", "fragment"), BAD_URLS)
@pytest.mark.parametrize("command", ["run", "check"])
async def test_a_bad_api_url_is_one_line_and_exit_2(command, variable, value, fragment, slack, mailjet):
    env = base_env(database="postgresql://postgres@127.0.0.1:5432/postgres", slack=slack, mailjet=mailjet)
    env[variable] = value
    result = await asyncio.to_thread(
        subprocess.run, [CAMPAIGN_BOT, command], env=env, capture_output=True, text=True, timeout=30,
        cwd=os.path.dirname(CAMPAIGN_BOT),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    # run prints to stderr ("configuration error: …"), check to stdout ("✗ configuration: …").
    lines = [line for line in (result.stderr if command == "run" else result.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout + result.stderr
    assert variable in lines[0] and fragment in lines[0]
