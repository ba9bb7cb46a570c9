"""Peak memory of planning a campaign, at 10 000 and at 200 000 contacts.

What is measured: the planning process only. For each run this script starts

* a stand-in helper process (this file, ``_standin`` mode) holding the Mailjet stand-in seeded
  with a master list of N contacts and a template draft, plus the Slack stand-in (Services
  wants a Slack client; planning only writes to the outbox table, so nothing is posted);
* a fresh, migrated database ``bench_<hex>`` on the Postgres server (DATABASE_URL if set, else
  127.0.0.1:5432 as user postgres, else an embedded server for the bench), dropped at the end;
* a fresh planning child (this file, ``_plan`` mode) that builds Services the way
  bot/runtime.py does, parses ``/campaign new``, runs create_campaign and then
  ``Planner(services).run_one()``, checks the campaign is planned with the expected number of
  recipients, and reports its own peak RSS.

Peak RSS is the kernel's high-water mark of the child's address space (``VmHWM`` in
/proc/self/status, read at the end of the child; unlike ``ru_maxrss`` it is not inherited
across fork+exec). The parent also polls the child's RSS with psutil every 20 ms as a cross-check.

The baseline run is the same child planning a 100-contact list: same imports, same Services,
same code paths. Each size is shown as absolute MB and as the increase over that baseline.

Gate (exit 1): the 200k peak is over 150 MB, or it is 30 % or more above the 10k peak
(absolute peaks, both from this run). Exit 2: a run failed or did not plan what it should.

    .venv/bin/python bench/planning_memory.py            # or: make bench
    .venv/bin/python bench/planning_memory.py --json out.json --tracemalloc
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import text_table  # noqa: E402

from tests.support.postgres import create_database, drop_database, postgres_server  # noqa: E402

MAILJET_KEY, MAILJET_SECRET = "bench-mj-key", "bench-mj-secret-0123456789"
SENDER = "news@example.com"
OPERATOR = "U0OPERATOR"
ROUNDS = 3

LIMIT_MB = 150.0
MAX_GROWTH = 0.30
POLL_SECONDS = 0.02
RUN_TIMEOUT = 600.0


# ---------------------------------------------------------------- helpers shared by the modes


def _status_kb(field: str) -> int:
    """A `kB` field of /proc/self/status (VmHWM, VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _mb(kib: float) -> float:
    return kib / 1024.0


def _short(contacts: int) -> str:
    return f"{contacts // 1000}k" if contacts % 1000 == 0 else str(contacts)


# ---------------------------------------------------------------- mode _standin


async def _standin_main(contacts: int) -> None:
    """Seed the stand-ins, print where they are as one JSON line, serve until stdin closes."""
    from standins.mailjet import MailjetStandin
    from standins.slack import SlackStandin

    mailjet = MailjetStandin(api_key=MAILJET_KEY, api_secret=MAILJET_SECRET)
    slack = SlackStandin()
    await mailjet.start()
    await slack.start()
    started = time.perf_counter()
    mailjet.add_sender(SENDER, name="Ops Team")
    master = mailjet.create_list("users")
    mailjet.add_contacts(master, contacts, start_id=5001)
    draft = mailjet.create_draft(title="Bench template", subject="Bench letter", sender_email=SENDER,
                                 sender_name="Ops Team", html="<p>Hello [[UNSUB_LINK_EN]]</p>",
                                 text="Hello [[UNSUB_LINK_EN]]")
    print(json.dumps({
        "mailjet_url": mailjet.api_url, "slack_url": slack.api_url, "bot_token": slack.bot_token,
        "list_id": master, "draft_id": draft, "seed_seconds": round(time.perf_counter() - started, 2),
    }), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # the parent closes our stdin to stop us
    await slack.stop()
    await mailjet.stop()


# ---------------------------------------------------------------- mode _plan


async def _plan_main(config: dict[str, Any]) -> dict[str, Any]:
    """Plan one campaign the way the running product does; return what was measured."""
    if config.get("tracemalloc"):
        import tracemalloc

        tracemalloc.start(10)

    from bot.campaigns import create_campaign
    from bot.clock import Clock
    from bot.grammar import parse
    from bot.config import load_settings
    from bot.logs import configure_logging
    from bot.roles import Roles
    from bot.runtime import mailjet_client, slack_client
    from bot.services import Services
    from jobs.planning import Planner
    from storage.database import create_pool

    settings = load_settings(
        _env_file=None,
        DATABASE_URL=config["dsn"],
        SLACK_BOT_TOKEN=config["bot_token"], SLACK_APP_TOKEN="xapp-bench", SLACK_API_URL=config["slack_url"],
        MAILJET_API_KEY=MAILJET_KEY, MAILJET_API_SECRET=MAILJET_SECRET, MAILJET_API_URL=config["mailjet_url"],
        SLACK_OPERATORS=OPERATOR, LOG_FORMAT="json",
    )
    configure_logging(secrets=settings.secret_values(), log_format=settings.LOG_FORMAT)
    pool = await create_pool(config["dsn"])
    mailjet = mailjet_client(settings)
    services = Services(
        settings=settings, pool=pool, clock=Clock(), mailjet=mailjet, slack=slack_client(settings),
        roles=Roles(settings.SLACK_ADMINS, settings.SLACK_APPROVERS, settings.SLACK_OPERATORS),
        instance_id=f"bench:{os.getpid()}",
    )
    try:
        first = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
        at = ",".join((first + timedelta(days=2 * i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(ROUNDS))
        command = parse(f'new "Bench {config["contacts"]}" list={config["list_id"]} draft={config["draft_id"]} '
                        f"rounds={ROUNDS} at={at}", default_timezone=settings.DEFAULT_TIMEZONE)
        assert command.new is not None
        created = await create_campaign(services, command.new, OPERATOR)
        campaign_id = created.campaign["id"]

        ready_kb = _status_kb("VmRSS")
        started = time.perf_counter()
        claimed = await Planner(services).run_one()
        elapsed = time.perf_counter() - started

        async with pool.acquire() as connection:
            campaign = await connection.fetchrow(
                "SELECT planning_state, planning_error, eligible_contacts FROM campaigns WHERE id = $1", campaign_id)
            recipients = await connection.fetchval("SELECT count(*) FROM recipients WHERE campaign_id = $1", campaign_id)
            rounds = await connection.fetch(
                "SELECT number, recipient_count, mailjet_list_id, mailjet_draft_id FROM rounds "
                "WHERE campaign_id = $1 ORDER BY number", campaign_id)
        # Mailjet's side (after the measurement window, through the same client): each round's
        # list holds that round's contacts.
        mailjet_sizes = [int((await mailjet.get_list(r["mailjet_list_id"]))["SubscriberCount"])
                         if r["mailjet_list_id"] else None for r in rounds]
    finally:
        await pool.close()
        mailjet.close()

    result: dict[str, Any] = {
        "contacts": config["contacts"],
        "claimed": claimed,
        "planning_state": campaign["planning_state"],
        "planning_error": campaign["planning_error"],
        "eligible": campaign["eligible_contacts"],
        "recipients": recipients,
        "round_sizes": [r["recipient_count"] for r in rounds],
        "mailjet_list_sizes": mailjet_sizes,
        "round_objects": all(r["mailjet_list_id"] and r["mailjet_draft_id"] for r in rounds),
        "elapsed_seconds": elapsed,
        "ready_rss_kb": ready_kb,
        "peak_rss_kb": _status_kb("VmHWM"),
        "end_rss_kb": _status_kb("VmRSS"),
    }
    if config.get("tracemalloc"):
        import tracemalloc

        current, peak = tracemalloc.get_traced_memory()
        top = tracemalloc.take_snapshot().statistics("lineno")[:8]
        result["tracemalloc"] = {"current_kb": current // 1024, "peak_kb": peak // 1024,
                                 "top_live_at_end": [f"{s.size // 1024} KiB {s.traceback[0]}" for s in top]}
    return result


# ---------------------------------------------------------------- the parent



def _quiet_env() -> dict[str, str]:
    """The children's environment: nothing of the operator's Slack/Mailjet/campaign settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MAILJET_", "CAMPAIGN_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _start_standin(contacts: int, workdir: Path) -> tuple[subprocess.Popen, dict[str, Any]]:
    log = open(workdir / f"standin-{contacts}.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, __file__, "_standin", "--contacts", str(contacts)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=ROOT, env=_quiet_env(),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise RuntimeError(f"the stand-in helper for {contacts} contacts died; see {log.name}:\n"
                           + (workdir / f"standin-{contacts}.log").read_text(errors="replace")[-3000:])
    return process, json.loads(line)


def _stop_standin(process: subprocess.Popen) -> None:
    if process.stdin:
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _run_child(config: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run one planning child, polling its RSS; return its report plus the polled peak."""
    import psutil

    label = f"plan-{config['contacts']}"
    config_path, result_path, log_path = (workdir / f"{label}.json", workdir / f"{label}.result.json",
                                          workdir / f"{label}.log")
    config_path.write_text(json.dumps(config))
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, __file__, "_plan", str(config_path), str(result_path)],
                                   stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=_quiet_env())
        watched = psutil.Process(process.pid)
        polled_peak = 0
        deadline = time.monotonic() + RUN_TIMEOUT
        while process.poll() is None:
            try:
                polled_peak = max(polled_peak, watched.memory_info().rss)
            except psutil.Error:
                pass
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise RuntimeError(f"{label} took more than {RUN_TIMEOUT:.0f}s; see {log_path}")
            time.sleep(POLL_SECONDS)
    if process.returncode != 0 or not result_path.exists():
        raise RuntimeError(f"{label} exited {process.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}")
    result = json.loads(result_path.read_text())
    result["polled_peak_kb"] = polled_peak // 1024
    return result


def _check_planned(result: dict[str, Any]) -> str | None:
    """Why this run does not count (None when it planned exactly what it should)."""
    n = result["contacts"]
    per_round = math.ceil(n / ROUNDS)
    expected_sizes = [per_round] * (ROUNDS - 1) + [n - per_round * (ROUNDS - 1)]
    if not result["claimed"] or result["planning_state"] != "planned":
        return f"planning state {result['planning_state']!r} ({result['planning_error']})"
    if result["recipients"] != n or result["eligible"] != n:
        return f"{result['recipients']} recipients / {result['eligible']} eligible, expected {n}"
    if result["round_sizes"] != expected_sizes or not result["round_objects"]:
        return f"rounds {result['round_sizes']}, expected {expected_sizes} each with a list and a draft"
    if result["mailjet_list_sizes"] != expected_sizes:
        return f"the round lists in Mailjet hold {result['mailjet_list_sizes']}, expected {expected_sizes}"
    return None



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=int, default=100, help="contacts of the baseline run (default 100)")
    parser.add_argument("--small", type=int, default=10_000, help="contacts of the small run (default 10000)")
    parser.add_argument("--large", type=int, default=200_000, help="contacts of the large run (default 200000)")
    parser.add_argument("--limit-mb", type=float, default=LIMIT_MB, help="peak RSS ceiling of the large run")
    parser.add_argument("--max-growth", type=float, default=MAX_GROWTH,
                        help="fail when large/small peak - 1 reaches this (default 0.30)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace Python allocations in the children: RSS and time go up a lot and "
                             "the polled peak includes the final snapshot; for diagnosis only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    import logging

    import structlog

    # The parent migrates the bench databases; its own log lines would only clutter the table.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with postgres_server() as server_dsn:  # the embedded server's memory, if any, is not measured
        return _bench(args, server_dsn)



def _bench(args: argparse.Namespace, server_dsn: str) -> int:
    runs = [("baseline", args.baseline), ("small", args.small), ("large", args.large)]
    results: dict[str, dict[str, Any]] = {}
    bench_started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-planning-") as tmp:
        workdir = Path(tmp)
        for label, contacts in runs:
            print(f"· {label}: seeding {contacts} contacts in the stand-in …", flush=True)
            standin, database = None, None
            try:
                standin, where = _start_standin(contacts, workdir)
                database, dsn = asyncio.run(create_database(server_dsn, "bench"))
                config = {"contacts": contacts, "dsn": dsn, "tracemalloc": args.tracemalloc, **where}
                print(f"  planning ({where['seed_seconds']}s to seed) …", flush=True)
                result = _run_child(config, workdir)
            except Exception as exc:  # noqa: BLE001 - reported, and the bench fails
                print(f"\n{label} run failed: {exc}", file=sys.stderr)
                return 2
            finally:
                if standin is not None:
                    _stop_standin(standin)
                if database:
                    asyncio.run(drop_database(server_dsn, database))
            problem = _check_planned(result)
            if problem:
                print(f"\n{label} run did not plan what it should: {problem}", file=sys.stderr)
                return 2
            results[label] = result
    total_seconds = time.perf_counter() - bench_started

    base = _mb(results["baseline"]["peak_rss_kb"])
    small, large = _mb(results["small"]["peak_rss_kb"]), _mb(results["large"]["peak_rss_kb"])
    rows = []
    for label, _ in runs:
        r = results[label]
        peak = _mb(r["peak_rss_kb"])
        rows.append([
            label, f"{r['contacts']:,}", f"{r['elapsed_seconds']:.1f}", f"{_mb(r['ready_rss_kb']):.1f}",
            f"{peak:.1f}", "—" if label == "baseline" else f"{peak - base:+.1f}", f"{_mb(r['polled_peak_kb']):.1f}",
        ])
    header = ["run", "contacts", "planning s", "ready MB", "peak RSS MB", "over baseline MB", "polled peak MB"]
    print()
    print(text_table(rows, header))
    ratio = large / small
    small_over, large_over = small - base, large - base
    print()
    s_name, l_name = _short(args.small), _short(args.large)
    print(f"{l_name}/{s_name} peak RSS ratio: {ratio:.3f}  (growth {100 * (ratio - 1):+.1f} %, limit < {100 * args.max_growth:.0f} %)")
    print(f"increase over baseline: {s_name} {small_over:+.1f} MB, {l_name} {large_over:+.1f} MB "
          f"({l_name} minus {s_name}: {large - small:+.1f} MB for {args.large - args.small:,} more contacts)")
    print(f"{l_name} peak {large:.1f} MB (limit {args.limit_mb:.0f} MB); whole bench {total_seconds:.0f} s")
    if args.tracemalloc:
        for label, _ in runs:
            t = results[label]["tracemalloc"]
            print(f"tracemalloc {label}: peak {t['peak_kb'] / 1024:.1f} MB, live at end {t['current_kb'] / 1024:.1f} MB")
            for line in t["top_live_at_end"]:
                print(f"    {line}")

    failures = []
    if large > args.limit_mb:
        failures.append(f"the {l_name} run peaked at {large:.1f} MB, over {args.limit_mb:.0f} MB")
    if ratio - 1 >= args.max_growth:
        failures.append(f"the {l_name} run peaked {100 * (ratio - 1):.1f} % above the {s_name} run "
                        f"(limit {100 * args.max_growth:.0f} %)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": ratio, "failures": failures,
                                         "total_seconds": total_seconds}, indent=2, default=str))
    if failures:
        for failure in failures:
            print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    print("PASS")
    return 0


def _entry() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_standin":
        contacts = int(sys.argv[sys.argv.index("--contacts") + 1])
        asyncio.run(_standin_main(contacts))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "_plan":
        config = json.loads(Path(sys.argv[2]).read_text())
        result = asyncio.run(_plan_main(config))
        Path(sys.argv[3]).write_text(json.dumps(result, default=str))
        return 0
    return main()


if __name__ == "__main__":
    sys.exit(_entry())
