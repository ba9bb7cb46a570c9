"""The environment `campaign-bot run` gets when it runs against the stand-ins.

Nothing of the developer's shell configures the bot: every variable the bot reads (each field
of `bot.config.Settings`, and the `CAMPAIGN_BOT_TEST_*` hooks) is dropped, then set here or by
the caller. The bot runs in a directory of its own, so no stray `.env` is read either.
"""

from __future__ import annotations

import os

from bot.config import Settings
from standins.mailjet import MailjetStandin
from standins.slack import SlackStandin

# The people of the workspace, one per role (and one with none); the Slack stand-in knows any user id.
OPERATOR, APPROVER, ADMIN, STRANGER = "U0OPERATOR", "U0APPROVER", "U0ADMIN", "U0STRANGER"
CHANNEL_NAME = "_traction"
CHANNEL_ID = "C0TRACTION"  # the Slack stand-in's default channel


def configures_the_bot(name: str) -> bool:
    return name in Settings.model_fields or name.startswith("CAMPAIGN_BOT_")


def bot_environment(*, database: str, slack: SlackStandin, mailjet: MailjetStandin, mailjet_key: str,
                    mailjet_secret: str, **settings: str) -> dict[str, str]:
    """The process environment minus the bot's own variables, plus a bot wired to `database` and
    the two stand-ins, with the three roles above; `settings` (variable=value) come last."""
    env = {k: v for k, v in os.environ.items() if not configures_the_bot(k)}
    env.update({
        "DATABASE_URL": database,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "MAILJET_API_KEY": mailjet_key,
        "MAILJET_API_SECRET": mailjet_secret,
        "MAILJET_API_URL": mailjet.api_url,
        "CAMPAIGN_CHANNEL": f"#{CHANNEL_NAME}",
        "SLACK_OPERATORS": OPERATOR,
        "SLACK_APPROVERS": APPROVER,
        "SLACK_ADMINS": ADMIN,
        "LOG_FORMAT": "json",
        "SHUTDOWN_GRACE_SECONDS": "5",
        # The weekly summary would post whenever a run happens to span Monday 09:00; the tests
        # that are about it turn it on (no expectation may depend on today's weekday).
        "WEEKLY_SUMMARY": "off",
    })
    env.update(settings)
    return env
