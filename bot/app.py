"""The Bolt app: one AsyncApp whose client is the process's Slack client, with every
listener registered here, in one place (the predecessor's routes were never registered).
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from handlers.actions import register_actions
from handlers.commands import register_commands
from handlers.home import register_home
from handlers.membership import register_membership
from handlers.modal import register_modal


def build_app(services: Services, client: AsyncWebClient) -> AsyncApp:
    # Socket Mode needs no signing secret; the token comes with the client.
    app = AsyncApp(client=client, process_before_response=False, ignoring_self_events_enabled=True)
    register_commands(app, services)
    register_actions(app, services)
    register_home(app, services)
    register_modal(app, services)
    register_membership(app, services)
    return app
