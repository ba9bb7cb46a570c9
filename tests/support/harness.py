"""Running the real entry point in tests: `campaign-bot run` as a subprocess, the way a
user starts it, configured through the environment against the stand-ins. The process,
its environment and its readiness come from the harness the demo uses too (localrun/)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.clock import write_test_clock_offset
from localrun.environment import ADMIN, APPROVER, OPERATOR, STRANGER, bot_environment
from localrun.process import BotNotReady, free_port
from localrun.process import BotProcess as LocalBotProcess
from localrun.process import campaign_bot_executable
from standins.mailjet import MailjetStandin
from standins.slack import SlackStandin

__all__ = ["ADMIN", "APPROVER", "OPERATOR", "STRANGER", "MAILJET_KEY", "MAILJET_SECRET", "CAMPAIGN_BOT",
           "base_env", "BotProcess", "free_port"]

MAILJET_KEY, MAILJET_SECRET = "mj-test-key", "mj-test-secret-0123456789"
CAMPAIGN_BOT = campaign_bot_executable()


def base_env(*, database: str, slack: SlackStandin, mailjet: MailjetStandin) -> dict[str, str]:
    # Nothing of the developer's shell configures the bot under test: only what is set here.
    return bot_environment(database=database, slack=slack, mailjet=mailjet, mailjet_key=MAILJET_KEY,
                           mailjet_secret=MAILJET_SECRET, SLACK_POST_INTERVAL_SECONDS="0.05")


class BotProcess(LocalBotProcess):
    """A bot of one test: its own port, the test's clock file, `extra_env` on top; `start`
    returns once it is ready, and a failure to start is a test failure with the log's tail."""

    Factory = Callable[..., Awaitable["BotProcess"]]

    def __init__(self, *, database: str, slack: SlackStandin, mailjet: MailjetStandin, workdir: Path,
                 clock_file: Path, extra_env: dict[str, str], index: int):
        port = free_port()
        env = base_env(database=database, slack=slack, mailjet=mailjet)
        env.update({"PORT": str(port), "CAMPAIGN_BOT_TEST_CLOCK_FILE": str(clock_file)})
        env.update(extra_env)
        # workdir is the bot's working directory: no stray .env is read
        super().__init__(env=env, workdir=workdir, port=port, log_path=workdir / f"bot-{index}-{port}.log")
        self.clock_file = clock_file

    async def start(self, ready_timeout: float = 30.0) -> None:
        await super().start()
        await self.wait_ready(ready_timeout)

    async def wait_ready(self, timeout: float) -> None:
        try:
            await super().wait_ready(timeout)
        except BotNotReady as exc:
            raise AssertionError(f"{exc}:\n{self.logs()[-3000:]}") from None

    def move_clock(self, seconds: float) -> None:
        """Move the clock of every bot process of this test (they share the offset file)."""
        write_test_clock_offset(self.clock_file, seconds)
