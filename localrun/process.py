"""`campaign-bot run` as a subprocess, the way a user starts it: configured only through its
environment, its output in a log file, ready when `/readyz` answers 200."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

LOG_TAIL_LINES = 25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BotNotReady(Exception):
    """campaign-bot exited during start-up, or did not answer /readyz with 200 in time."""


def campaign_bot_executable() -> str:
    """The `campaign-bot` script of this interpreter's environment, else the one on PATH."""
    found = Path(sys.executable).parent / "campaign-bot"
    if found.exists():
        return str(found)
    on_path = shutil.which("campaign-bot")
    if on_path:
        return on_path
    raise BotNotReady(f"cannot find the campaign-bot command next to {sys.executable} or on PATH; "
                      "install the project (pip install -e .) first")


def _parent_death_signal() -> Any:
    """Linux: a function for the child (between fork and exec) that makes the kernel send it
    SIGTERM when its parent dies without cleaning up (kill -9). libc is loaded here, before the
    fork: the child must not import or take locks."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def die_with_parent() -> None:  # pragma: no cover - runs in the child
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return die_with_parent


class BotProcess:
    """One `campaign-bot run` subprocess on 127.0.0.1:`port`, started in `workdir` (so no stray
    `.env` is read) with exactly `env`; stdout and stderr go to `log_path`.

    `own_session`: the process gets a session of its own, so Ctrl-C in a terminal reaches only
    the parent, which then stops the bot in order (the demo: before the database it uses)."""

    def __init__(self, *, env: dict[str, str], workdir: Path, port: int, log_path: Path | None = None,
                 own_session: bool = False):
        self.env = env
        self.workdir = workdir
        self.port = port
        self.log_path = log_path or workdir / "bot.log"
        self.own_session = own_session
        self.process: asyncio.subprocess.Process | None = None
        self._log_handle: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def exited(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return None if self.process is None else self.process.returncode

    async def start(self) -> None:
        """Start the process (appending to its log); `wait_ready` waits for it to serve."""
        self._log_handle = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        kwargs: dict[str, Any] = {}
        preexec = _parent_death_signal()
        if preexec is not None:
            kwargs["preexec_fn"] = preexec
        self.process = await asyncio.create_subprocess_exec(
            campaign_bot_executable(), "run", env=self.env, cwd=str(self.workdir),
            stdin=asyncio.subprocess.DEVNULL, stdout=self._log_handle, stderr=self._log_handle,
            start_new_session=self.own_session, **kwargs,
        )

    async def wait_ready(self, timeout: float) -> None:
        """Until /readyz answers 200; BotNotReady if the process exits or `timeout` passes."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            while time.monotonic() < deadline:
                if self.exited is not None:
                    raise BotNotReady(f"campaign-bot exited during start-up with code {self.exited}")
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                        last = f"{response.status} {await response.text()}"
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    last = type(exc).__name__
                await asyncio.sleep(0.1)
        raise BotNotReady(f"campaign-bot was not ready within {timeout:.0f} s (last /readyz: {last})")

    async def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait for the exit code (asyncio.TimeoutError if it does not exit in time)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self, timeout: float) -> int | None:
        """SIGTERM, wait; SIGKILL if it does not exit in time. The exit code, None if killed."""
        code = None
        if self.process is not None:
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
                try:
                    code = await asyncio.wait_for(self.process.wait(), timeout)
                except asyncio.TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        self.process.kill()
                    await self.process.wait()
                    code = None
            else:
                code = self.process.returncode
        self.close_log()
        return code

    async def kill(self) -> None:
        """SIGKILL (a crash, as far as the bot can tell) and wait for it."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        self.close_log()

    def kill_now(self) -> None:
        """Last resort (a second Ctrl-C during clean-up): no waiting."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        self.close_log()

    def close_log(self) -> None:
        if self._log_handle is not None:
            with contextlib.suppress(Exception):
                self._log_handle.close()
            self._log_handle = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        """The last `lines` lines of the log, each JSON line as a person reads it."""
        try:
            raw = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ["(no bot log)"]
        return [readable_log_line(line) for line in raw]


def readable_log_line(line: str) -> str:
    """A JSON log line as `HH:MM:SS level event key=value …`; anything else as it is."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    stamp = str(record.pop("timestamp", ""))[11:19]
    level = str(record.pop("level", "")).upper()
    event = record.pop("event", "")
    rest = " ".join(f"{k}={v}" for k, v in record.items() if k not in ("logger",))
    return f"{stamp} {level:<7} {event} {rest}".rstrip()
