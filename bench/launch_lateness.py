"""Lateness of launches due at the same instant, with Mailjet answering in 300 ms.

The issue (#9, item 9): teams send at the same slot. With every round's launch run one after
the other, twenty rounds due together went out between T+0 and T+24 s, and fifty would spill
past a one-minute window. Goal: twenty all sent by T+2 s, fifty by T+5 s.

What runs, for each configuration (the concurrency-1 baseline, then the defaults):

* a fresh, migrated database ``bench_<hex>`` (DATABASE_URL's server, else
  postgresql://postgres@127.0.0.1:5432, else an embedded server), dropped at the end;
* the Mailjet and Slack stand-ins in this process, both on the test clock (a file offset shared
  with the bot), the Mailjet one with ``latency`` injected while the launches run;
* the REAL bot: ``campaign-bot run`` as a subprocess (tests/support/harness.py BotProcess), with
  ``SEND_MODE=live``.

Through Slack, it plans one single-round campaign per round with ``/campaign new`` (groups of
1, 20 and 50 campaigns, each group due at its own instant T, three hours apart), with
Mailjet answering at once (latency 0, so setting up stays quick). Per group: the clock moves
to T-29 min (pre-launch and pre-flight run), every round is approved with ``/campaign
approve``, the clock moves to T-14 min (the launch warnings run), the bench waits until no
stage is due and the outbox is empty, switches the latency on, moves the clock to T-1.5 s and
waits until every round of the group is sent. Lateness = the stand-in's recorded send instant
(``sends[].at``, on the same clock) minus T.

Also shown: the most Mailjet requests the stand-in had in flight at once, and the most that
started within any one second (the client-side limiter's bounds).

Gate (exit 1): with the defaults, a 20-round group whose last send is later than T+2 s or a
50-round group later than T+5 s. Exit 2: a round was not sent exactly once.

    .venv/bin/python bench/launch_lateness.py
    .venv/bin/python bench/launch_lateness.py --sizes 1,20,50 --latency 0.3 --set STAGE_CONCURRENCY=32
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402
from common import text_table  # noqa: E402

from bot.clock import FileOffsetClock, write_test_clock_offset  # noqa: E402
from standins.mailjet import MailjetStandin  # noqa: E402
from standins.slack import SlackStandin  # noqa: E402
from storage.database import connect  # noqa: E402
from tests.support.harness import APPROVER, MAILJET_KEY, MAILJET_SECRET, OPERATOR, BotProcess  # noqa: E402
from tests.support.postgres import postgres_server, scratch_database  # noqa: E402
from tests.support.world import TEST_OFFSETS, iso, seed_account  # noqa: E402

GOALS = {20: 2.0, 50: 5.0}        # rounds due together -> every send by T + this many seconds
GROUP_SPACING = timedelta(hours=3)  # past the previous group's wrap-up (T+2h)
SEND_TIMEOUT = 180.0


class BenchError(Exception):
    pass


async def _until(what: str, predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


class Run:
    """One configuration: a database, the stand-ins and one bot process."""

    def __init__(self, server_dsn: str, workdir: Path, env: dict[str, str], latency: float):
        self.server_dsn = server_dsn
        self.workdir = workdir
        self.env = env
        self.latency = latency
        self.clock_file = workdir / "clock-offset"
        self.dsn = ""
        self.db: Any = None
        self.slack = SlackStandin()
        self.mailjet = MailjetStandin(api_key=MAILJET_KEY, api_secret=MAILJET_SECRET,
                                      clock=FileOffsetClock(str(self.clock_file)))
        self.bot: BotProcess | None = None

    def move_to(self, instant: datetime) -> None:
        write_test_clock_offset(self.clock_file, (instant - datetime.now(UTC)).total_seconds())

    def now(self) -> datetime:
        return FileOffsetClock(str(self.clock_file)).now()

    async def command(self, text: str, user: str) -> None:
        envelope = await self.slack.send_slash_command(text, user_id=user)
        await self.slack.wait_ack(envelope, timeout=10)

    async def rounds(self, names: list[str]) -> list[Any]:
        return await self.db.fetch(
            "SELECT c.name, r.id, r.state, r.mailjet_draft_id, r.scheduled_at FROM rounds r "
            "JOIN campaigns c ON c.id = r.campaign_id WHERE c.name = ANY($1::text[])", names)

    async def wait_states(self, names: list[str], states: tuple[str, ...], timeout: float) -> list[Any]:
        async def check() -> list[Any] | None:
            rows = await self.rounds(names)
            return rows if len(rows) == len(names) and all(r["state"] in states for r in rows) else None
        return await _until(f"{len(names)} rounds {states}", check, timeout)

    async def wait_quiet(self, timeout: float = 120.0) -> None:
        """No stage due and nothing left in the outbox."""
        async def check() -> bool:
            due = await self.db.fetchval("SELECT count(*) FROM stage_runs WHERE state = 'pending' AND due_at <= $1",
                                         self.now())
            posts = await self.db.fetchval("SELECT count(*) FROM slack_outbox WHERE state = 'pending'")
            return due == 0 and posts == 0
        await _until("a quiet bot", check, timeout)

    async def plan(self, groups: list[tuple[int, datetime]], tag: str) -> list[list[str]]:
        account = seed_account(self.mailjet, contacts=4, unsubscribed=0, excluded=0)
        names = [[f"{tag} n{size} c{i:02d}" for i in range(size)] for size, _ in groups]
        gate = asyncio.Semaphore(8)

        async def new(name: str, at: datetime) -> None:
            async with gate:
                await self.command(f'new "{name}" list={account.master_list} draft={account.template_draft} '
                                   f'at={iso(at)} offsets={TEST_OFFSETS} window=30m', OPERATOR)

        await asyncio.gather(*(new(n, at) for group, (_, at) in zip(names, groups, strict=True) for n in group))
        everyone = [n for group in names for n in group]

        async def planned() -> bool:
            count = await self.db.fetchval(
                "SELECT count(*) FROM campaigns WHERE name = ANY($1::text[]) AND planning_state = 'planned'", everyone)
            failed = await self.db.fetchval(
                "SELECT count(*) FROM campaigns WHERE name = ANY($1::text[]) AND planning_state = 'failed'", everyone)
            if failed:
                raise BenchError(f"{failed} campaigns failed to plan")
            return count == len(everyone)
        await _until("every campaign planned", planned, 300)
        return names

    async def launch_group(self, names: list[str], at: datetime) -> dict[str, Any]:
        self.move_to(at - timedelta(minutes=29))
        await self.wait_states(names, ("ready",), 120)
        gate = asyncio.Semaphore(8)

        async def approve(name: str) -> None:
            async with gate:
                await self.command(f'approve "{name}" 1', APPROVER)

        await asyncio.gather(*(approve(n) for n in names))
        await self.wait_states(names, ("approved",), 60)
        self.move_to(at - timedelta(minutes=14))
        await self.wait_quiet()
        drafts = {r["mailjet_draft_id"] for r in await self.rounds(names)}
        self.mailjet.latency = self.latency
        self.mailjet.reset_load_counters()
        self.move_to(at - timedelta(seconds=1.5))

        async def all_sent() -> bool:
            return len({s["draft_id"] for s in self.mailjet.sends if s["draft_id"] in drafts}) == len(drafts)
        await _until(f"{len(names)} sends", all_sent, SEND_TIMEOUT)
        await self.wait_states(names, ("sent",), 60)
        load = {"in_flight": self.mailjet.max_in_flight, "per_second": self.mailjet.max_started_per_second,
                "sends_in_flight": self.mailjet.max_sends_in_flight}
        self.mailjet.latency = 0.0
        sends = [s for s in self.mailjet.sends if s["draft_id"] in drafts]
        if len(sends) != len(drafts):
            raise BenchError(f"{len(sends)} sends for {len(drafts)} drafts: a round was sent twice")
        lateness = sorted((s["at"] - at).total_seconds() for s in sends)
        if lateness[0] < 0:
            raise BenchError(f"a round was sent {-lateness[0]:.3f} s early")
        return {"lateness": lateness, **load}

    async def __aenter__(self) -> Run:
        self._database = scratch_database(self.server_dsn, "bench")
        self.dsn = await self._database.__aenter__()
        self.db = await connect(self.dsn)
        await self.slack.start()
        await self.mailjet.start()
        extra = {"SEND_MODE": "live", "SLACK_POST_INTERVAL_SECONDS": "0", "LOG_FORMAT": "json", **self.env}
        self.bot = BotProcess(database=self.dsn, slack=self.slack, mailjet=self.mailjet, workdir=self.workdir,
                              clock_file=self.clock_file, extra_env=extra, index=0)
        await self.bot.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.bot is not None:
            try:
                await self.bot.terminate()
            except Exception:  # noqa: BLE001
                pass
            await self.bot.kill()
        await self.mailjet.stop()
        await self.slack.stop()
        await self.db.close()
        await self._database.__aexit__(None, None, None)


async def measure(server_dsn: str, label: str, env: dict[str, str], sizes: list[int], latency: float,
                  keep_logs: bool) -> dict[int, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-launch-") as tmp:
        first = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
        groups = [(size, first + GROUP_SPACING * i) for i, size in enumerate(sizes)]
        results: dict[int, dict[str, Any]] = {}
        async with Run(server_dsn, Path(tmp), env, latency) as run:
            started = time.monotonic()
            names = await run.plan(groups, label.split("=")[-1])
            print(f"  [{label}] planned {sum(sizes)} campaigns in {time.monotonic() - started:.1f} s", file=sys.stderr)
            for group, (size, at) in zip(names, groups, strict=True):
                started = time.monotonic()
                results[size] = await run.launch_group(group, at)
                print(f"  [{label}] {size} rounds: last send T+{results[size]['lateness'][-1]:.2f} s "
                      f"(group took {time.monotonic() - started:.1f} s)", file=sys.stderr)
            if keep_logs and run.bot is not None:
                Path(f"bench-launch-{label}.log").write_text(run.bot.logs())
        return results


def _fmt(values: list[float]) -> str:
    return f"{values[0]:.2f} / {statistics.median(values):.2f} / {values[-1]:.2f}"


def report(sizes: list[int], base: dict[int, dict[str, Any]], ours: dict[int, dict[str, Any]],
           label: str) -> tuple[str, bool]:
    rows, ok = [], True
    for size in sizes:
        b, o = base[size]["lateness"], ours[size]["lateness"]
        goal = GOALS.get(size)
        passed = goal is None or o[-1] <= goal
        ok &= passed
        rows.append([
            str(size), _fmt(b), _fmt(o),
            f"{statistics.median(o) / statistics.median(b):.2f}", f"{o[-1] / b[-1]:.2f}",
            f"{ours[size]['in_flight']} ({ours[size]['sends_in_flight']} sends)", str(ours[size]["per_second"]),
            "—" if goal is None else f"T+{goal:g} s {'PASS' if passed else 'FAIL'}",
        ])
    header = ["rounds due together", "concurrency 1: min / median / max s", f"{label}: min / median / max s",
              "median ratio", "max ratio", "peak Mailjet in flight", "peak starts / s", "goal"]
    return text_table(rows, header), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,20,50", help="rounds due together, one group each")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per Mailjet answer during the launches")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the measured configuration (defaults otherwise)")
    parser.add_argument("--keep-logs", action="store_true", help="write each bot's log to the current directory")
    parser.add_argument("--no-baseline", action="store_true", help="skip the concurrency-1 run (no ratios)")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # no migration lines
    sizes = [int(s) for s in args.sizes.split(",")]
    env = dict(item.split("=", 1) for item in args.set)
    label = ", ".join(args.set) or "defaults"
    started = time.monotonic()
    try:
        with postgres_server() as server_dsn:
            ours = asyncio.run(measure(server_dsn, label, env, sizes, args.latency, args.keep_logs))
            base = ours if args.no_baseline else asyncio.run(
                measure(server_dsn, "STAGE_CONCURRENCY=1", {"STAGE_CONCURRENCY": "1"}, sizes, args.latency,
                        args.keep_logs))
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 2
    table, ok = report(sizes, base, ours, label)
    print(f"Mailjet latency {args.latency * 1000:.0f} ms per request; lateness = send instant recorded by Mailjet - T")
    print(table)
    print(f"whole bench {time.monotonic() - started:.0f} s")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
