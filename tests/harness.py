"""Running the real entry point in tests: `campaign-bot run` as a subprocess, the way a
user starts it, configured through the environment against the stand-ins."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bot.clock import write_test_clock_offset
from bot.config import Settings
from standins.mailjet import MailjetStandin
from standins.slack import SlackStandin

OPERATOR, APPROVER, ADMIN, STRANGER = "U0OPERATOR", "U0APPROVER", "U0ADMIN", "U0STRANGER"
MAILJET_KEY, MAILJET_SECRET = "mj-test-key", "mj-test-secret-0123456789"
CAMPAIGN_BOT = str(Path(sys.executable).parent / "campaign-bot")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(*, database: str, slack: SlackStandin, mailjet: MailjetStandin) -> dict[str, str]:
    # Nothing of the developer's shell configures the bot under test: only what is set here.
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update({
        "DATABASE_URL": database,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "MAILJET_API_KEY": MAILJET_KEY,
        "MAILJET_API_SECRET": MAILJET_SECRET,
        "MAILJET_API_URL": mailjet.api_url,
        "CAMPAIGN_CHANNEL": "#_traction",
        "SLACK_OPERATORS": OPERATOR,
        "SLACK_APPROVERS": APPROVER,
        "SLACK_ADMINS": ADMIN,
        "LOG_FORMAT": "json",
        "SLACK_POST_INTERVAL_SECONDS": "0.05",
        "SHUTDOWN_GRACE_SECONDS": "5",
        # The weekly summary would post in any test that happens to run on a Monday morning;
        # its own tests turn it on (no test may depend on today's weekday).
        "WEEKLY_SUMMARY": "off",
    })
    return env


class BotProcess:
    Factory = Callable[..., Awaitable["BotProcess"]]

    def __init__(self, *, database: str, slack: SlackStandin, mailjet: MailjetStandin, workdir: Path,
                 clock_file: Path, extra_env: dict[str, str], index: int):
        self.port = free_port()
        self.clock_file = clock_file
        self.workdir = workdir  # the bot's working directory: no stray .env is read
        self.log_path = workdir / f"bot-{index}-{self.port}.log"
        self.env = base_env(database=database, slack=slack, mailjet=mailjet)
        self.env.update({"PORT": str(self.port), "CAMPAIGN_BOT_TEST_CLOCK_FILE": str(clock_file)})
        self.env.update(extra_env)
        self.process: asyncio.subprocess.Process | None = None
        self._log_handle: Any = None

    async def start(self, ready_timeout: float = 30.0) -> None:
        self._log_handle = open(self.log_path, "ab")
        self.process = await asyncio.create_subprocess_exec(
            CAMPAIGN_BOT, "run", env=self.env, stdout=self._log_handle, stderr=self._log_handle, cwd=self.workdir,
            stdin=asyncio.subprocess.DEVNULL,
        )
        await self.wait_ready(ready_timeout)

    async def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.returncode is not None:
                    raise AssertionError(f"campaign-bot exited with {self.process.returncode}:\n{self.logs()[-3000:]}")
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"campaign-bot not ready within {timeout}s:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def terminate(self, timeout: float = 10.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def move_clock(self, seconds: float) -> None:
        """Move the clock of every bot process of this test (they share the offset file)."""
        write_test_clock_offset(self.clock_file, seconds)
