"""The Slack stand-in and a real slack-sdk client pointed at it, for the Slack contract tests."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from standins.slack import SlackStandin


@pytest.fixture
async def standin():
    server = SlackStandin()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def client(standin):
    return AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)
