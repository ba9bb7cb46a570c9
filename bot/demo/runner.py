"""Running the demo: an embedded PostgreSQL in a temporary directory (deleted at the end), the
Slack and Mailjet stand-ins in this process on 127.0.0.1 (the Mailjet one seeded with the
demo's account), and the real bot, `campaign-bot run`, as a subprocess configured through its
environment (localrun/), with SEND_MODE=live: its Mailjet is the local stand-in, so a "live"
send reaches only that stand-in and nothing leaves this machine. Then the script plays, the
transcript prints the channel, and everything stops in order: the bot, the stand-ins, the
database. `--keep-running` keeps it all up and sends typed lines as commands.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import structlog

from bot.demo.script import CAMPAIGN, MIN_SPEED, SEND_MODE, SENDER_EMAIL, default_script, seed_demo_account, summary
from bot.demo.steps import COMMAND_REPLY_TIMEOUT, Demo, DemoFailure, Step
from bot.demo.transcript import Transcript, person
from bot.logs import configure_logging
from localrun.environment import ADMIN, APPROVER, CHANNEL_ID, CHANNEL_NAME, OPERATOR, bot_environment
from localrun.process import BotNotReady, BotProcess, free_port
from standins.mailjet import MailjetStandin
from standins.slack import SlackStandin
from storage.database import EmbeddedPostgres

MAILJET_KEY, MAILJET_SECRET = "demo-mailjet-key", "demo-mailjet-secret-0123456789"
READY_TIMEOUT = 45.0
SHUTDOWN_GRACE_SECONDS = 5.0
# The demo's rehearsal runs alongside its main timeline; two minutes would outlast it.
REHEARSAL_SECONDS = 30


def _bot_env(*, dsn: str, slack: SlackStandin, mailjet: MailjetStandin, port: int) -> dict[str, str]:
    return bot_environment(
        database=dsn, slack=slack, mailjet=mailjet, mailjet_key=MAILJET_KEY, mailjet_secret=MAILJET_SECRET,
        SLACK_POST_INTERVAL_SECONDS="0.2", PORT=str(port), SEND_MODE=SEND_MODE, DEFAULT_TIMEZONE="Europe/London",
        SHUTDOWN_GRACE_SECONDS=str(SHUTDOWN_GRACE_SECONDS), PYTHONUNBUFFERED="1",
        REHEARSAL_SECONDS=str(REHEARSAL_SECONDS),
    )


async def _keep_running(demo: Demo, *, dsn: str) -> int:
    t = demo.transcript
    t.rule("still running (Ctrl-C stops everything)")
    auth = f"-H 'Authorization: Bearer {demo.slack.bot_token}'"
    for line in [
        f"bot:              {demo.bot.url}   curl {demo.bot.url}/readyz   ({demo.bot.url}/metrics, /healthz)",
        f"Slack stand-in:   {demo.slack.api_url}   curl -s {auth} '{demo.slack.api_url}conversations.history?channel={CHANNEL_ID}'",
        f"Mailjet stand-in: {demo.mailjet.api_url}v3/REST/   curl -s -u {MAILJET_KEY}:{MAILJET_SECRET} "
        f"{demo.mailjet.api_url}v3/REST/contactslist",
        f"database:         {dsn}",
        f"bot log:          {demo.bot.log_path}   (tail -f it)",
    ]:
        t.write("  " + line)
    interactive = _stdin_is_terminal()
    if interactive:
        t.write("  Type a command here to send it as the operator, e.g. /campaign status \"Winter Letter\";")
        t.write("  start the line with approver: or admin: to act as them.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()
    if interactive:
        loop.add_reader(sys.stdin.fileno(), lambda: lines.put_nowait(sys.stdin.readline()))
    try:
        while not stop.is_set():
            try:
                line = await asyncio.wait_for(lines.get(), 0.5)
            except asyncio.TimeoutError:
                demo.check_bot()
                continue
            if line == "":  # end of input: stop reading, keep running
                loop.remove_reader(sys.stdin.fileno())
                interactive = False
                continue
            await _typed_line(demo, line.strip())
    finally:
        if interactive:
            with contextlib.suppress(Exception):
                loop.remove_reader(sys.stdin.fileno())
    return 0


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


async def _typed_line(demo: Demo, line: str) -> None:
    if not line:
        return
    user = OPERATOR
    who, sep, rest = line.partition(":")
    if sep and who.strip().lower() in ("approver", "admin", "operator"):
        user = {"approver": APPROVER, "admin": ADMIN, "operator": OPERATOR}[who.strip().lower()]
        line = rest.strip()
    text = line.removeprefix("/campaign").strip()
    demo.transcript.caption(f"{person(user)} types: /campaign {text}")
    try:
        await demo.send_command(text, user, timeout=COMMAND_REPLY_TIMEOUT)
    except DemoFailure as exc:
        demo.transcript.fail(str(exc))
        demo.check_bot()


async def run_demo(keep_running: bool = False, speed: float = 1.0, *, out: TextIO | None = None,
                   script: Sequence[Step] | None = None) -> int:
    """Run the demo; 0 when the script played out, 1 when something failed (the reason and the
    bot log's tail are printed). Ctrl-C (or SIGTERM) at any point stops everything in order."""
    out = out or sys.stdout
    transcript = Transcript(out)
    if not speed or speed < MIN_SPEED or not math.isfinite(speed):
        transcript.fail(f"--speed must be at least {MIN_SPEED} (planning takes about a second of real time); got {speed}")
        return 2
    if not structlog.is_configured():
        # This process logs little (the bot's log is a file); keep the transcript clean.
        configure_logging(level=logging.WARNING, log_format="console")
    os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}")
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)

    workdir = Path(tempfile.mkdtemp(prefix="campaign-bot-demo-"))
    if os.geteuid() == 0:
        # The embedded server runs as its own system user when we are root; it must reach its data.
        workdir.chmod(0o755)
    embedded = EmbeddedPostgres(data_dir=workdir / "pgdata", delete_on_close=True)
    slack = SlackStandin()
    mailjet = MailjetStandin(api_key=MAILJET_KEY, api_secret=MAILJET_SECRET)
    bot: BotProcess | None = None
    pg_start: concurrent.futures.Future[str] | None = None
    pg_thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-postgres")
    started: list[str] = []
    code = 1
    shutdown_problem: str | None = None
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    sigterm = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
            sigterm = True

    transcript.rule(f"campaign-bot demo (speed {speed:g})")
    transcript.note(f"working directory {workdir}")
    try:
        began = time.monotonic()
        transcript.note("starting an embedded PostgreSQL…")
        pg_start = pg_thread.submit(embedded.start)
        dsn = await asyncio.wrap_future(pg_start)
        started.append("postgres")
        transcript.ok(f"PostgreSQL ready in {time.monotonic() - began:.1f} s ({dsn})")

        await slack.start()
        started.append("slack")
        await mailjet.start()
        started.append("mailjet")
        account = seed_demo_account(mailjet)
        transcript.ok(f"Slack stand-in on {slack.api_url} (channel #{CHANNEL_NAME}; you are @operator; "
                      f"@approver and @admin exist too)")
        transcript.ok(f"Mailjet stand-in on {mailjet.api_url}: sender {SENDER_EMAIL}, list “Customers (all)” "
                      f"(id {account.master_list}, {len(account.contact_ids)} contacts, {len(account.unsubscribed)} "
                      f"unsubscribed, {len(account.excluded)} excluded), template draft id {account.template_draft} "
                      f"with a link and [[UNSUB_LINK_EN]]")
        slack.on_event = transcript.on_slack_event
        mailjet.on_event = transcript.on_mailjet_event

        port = free_port()
        bot = BotProcess(env=_bot_env(dsn=dsn, slack=slack, mailjet=mailjet, port=port), workdir=workdir, port=port,
                         own_session=True)
        transcript.note(f"starting `campaign-bot run` on port {port}, SEND_MODE={SEND_MODE}; its log: {bot.log_path}")
        if SEND_MODE == "live":
            transcript.note("live mode against the local Mailjet stand-in: nothing leaves this machine "
                            f"(MAILJET_API_URL={mailjet.api_url})")
        began = time.monotonic()
        try:
            await bot.start()
            await bot.wait_ready(READY_TIMEOUT)
        except BotNotReady as exc:
            raise DemoFailure(str(exc)) from None
        transcript.ok(f"campaign-bot ready in {time.monotonic() - began:.1f} s ({bot.url}/readyz → 200)")

        demo = Demo(speed=speed, slack=slack, mailjet=mailjet, bot=bot, account=account, transcript=transcript,
                    campaign=CAMPAIGN, dsn=dsn)
        transcript.rule(f"#{CHANNEL_NAME}")
        for step in (script if script is not None else default_script()):
            await step.run(demo)
        await asyncio.sleep(0.5)  # let anything already on its way be printed

        transcript.rule("summary")
        for line in await summary(demo):
            transcript.ok(line)
        transcript.note(f"the bot's log (JSON lines): {bot.log_path}")
        code = 0
        if keep_running:
            try:
                code = await _keep_running(demo, dsn=dsn)
            except asyncio.CancelledError:
                # Ctrl-C is how keep-running mode ends: a clean stop, not a failure.
                if task is not None:
                    task.uncancel()
                transcript.write()
                transcript.note("stopping…")
                code = 0
    except DemoFailure as exc:
        transcript.rule("demo failed")
        transcript.fail(str(exc))
        if bot is not None:
            transcript.note(f"last lines of the bot log ({bot.log_path}):")
            for line in bot.log_tail():
                transcript.write("    " + line)
        code = 1
    except asyncio.CancelledError:
        transcript.write()
        transcript.note("interrupted: stopping everything…")
        raise
    except Exception as exc:  # noqa: BLE001 - a demo bug or a broken environment: say it plainly
        transcript.rule("demo failed")
        transcript.fail(f"unexpected {type(exc).__name__}: {exc}")
        traceback.print_exc()
        if bot is not None:
            transcript.note(f"last lines of the bot log ({bot.log_path}):")
            for line in bot.log_tail():
                transcript.write("    " + line)
        code = 1
    finally:
        try:
            shutdown_problem = await _shutdown(transcript, bot, slack, mailjet, embedded, pg_start, started)
        except BaseException:
            # A second Ctrl-C during clean-up: no more waiting, but nothing left behind.
            if bot is not None:
                bot.kill_now()
            with contextlib.suppress(Exception):
                embedded.stop()
            raise
        finally:
            if sigterm:
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(signal.SIGTERM)
            pg_thread.shutdown(wait=False)
        if shutdown_problem:
            transcript.fail(shutdown_problem)
            code = 1
        if bot is not None:
            transcript.note(f"bot log kept at {bot.log_path}")
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(workdir)
    return code


async def _shutdown(transcript: Transcript, bot: BotProcess | None, slack: SlackStandin, mailjet: MailjetStandin,
                    embedded: EmbeddedPostgres, pg_start: concurrent.futures.Future[str] | None,
                    started: list[str]) -> str | None:
    """In order: the bot (SIGTERM, it drains and exits 0), the stand-ins, the database. What went
    wrong stopping the bot, if anything."""
    problem = None
    if bot is not None and bot.process is not None:
        was_running = bot.exited is None
        code = await bot.stop(SHUTDOWN_GRACE_SECONDS + 10)
        if was_running:
            if code == 0:
                transcript.ok("campaign-bot stopped on SIGTERM (exit code 0)")
            elif code is None:
                problem = "campaign-bot did not stop on SIGTERM in time and was killed"
            else:
                problem = f"campaign-bot exited with code {code} on SIGTERM (expected 0)"
    slack.on_event = None
    mailjet.on_event = None
    if "slack" in started:
        await slack.stop()
    if "mailjet" in started:
        await mailjet.stop()
    if pg_start is not None and not pg_start.done():
        # Interrupted while the server was starting: let it finish starting, then stop it.
        with contextlib.suppress(Exception):
            await asyncio.to_thread(pg_start.result, 60)
    if pg_start is not None:
        await asyncio.to_thread(embedded.stop)
        transcript.ok("stand-ins and PostgreSQL stopped")
    return problem
