"""Latency of `/campaign list`, `/campaign status <name>` and `/campaign log <name>`: 1 campaign vs 1000.

The issue: these three answer in under a second with thousands of rounds in the database.
Machines are noisy, so the large figures are printed next to a baseline measured in the same
run, on the same server, by the same code.

What is measured, for each of the two datasets: the real handlers of handlers/commands.py
(`list_campaigns`, `status`, `audit_log`) called with a `Command` from `bot.grammar.parse`,
on a pool from `storage.database.create_pool` (jsonb codecs set). That is exactly the work
of each subcommand after Slack's ack: the same named queries with the same parameters

* list:   Q.campaigns_overview(50, 0), then replies.campaigns_list_text;
* status: Q.campaign_by_name, Q.rounds_of_campaign, Q.stage_runs_of_campaign,
          Q.live_approvals_of_campaign, Q.freeze_state, then replies.status_blocks;
* log:    Q.campaign_by_name, Q.audit_count, Q.audit_page(campaign, 20, 0), then replies.audit_text,

each pool acquire included. Not measured: Slack's round trips (ack, respond), role checks and
dispatch's metric counters. Each reply is checked (a "no campaign named …" answer would be a
fast, meaningless number). Every named query is also timed alone, and EXPLAIN (ANALYZE,
BUFFERS) is run on each on the large dataset, with a custom and a generic plan (asyncpg
prepares its statements, so after five runs the server may switch to the generic plan):
sequential scans over tables of 1000+ rows and plan nodes producing or filtering out 50 000+
rows (over all loops) are printed with their EXPLAIN line, and JIT time where JIT ran;
--explain prints every plan.

Datasets, written in one fresh database `bench_<hex>` (DATABASE_URL's server, else
postgresql://postgres@127.0.0.1:5432, else an embedded server for the run; migrated with
storage.migrations.migrate, dropped at the end), inserts only, in bulk (INSERT … SELECT over
generate_series, no row-by-row round trips):

* baseline: 1 campaign created 30 days ago, 3 rounds, its stage runs, pre-flight runs,
  approvals and audit trail, plus a freeze/unfreeze pair (global audit entries);
* large, added on top: --campaigns (1000) campaigns created over two years, each with
  --rounds (5) rounds, every round with its 6 stage runs (plus the `metrics` stage once
  sent), 1–3 pre-flight runs, live and lapsed approvals; states follow the clock (old rounds
  sent, reported, cleaned, or cancelled, missed, failed; recent ones ready, approved, blocked,
  planned; stages done or pending); the audit trail of all of it, topped up with retries,
  re-runs, holds and reschedules to --audit rows (120 000), plus --freezes (12) global
  freeze/unfreeze entries (campaign_id NULL, shown in every campaign's log); audit ids follow
  time, as in production. VACUUM ANALYZE afterwards, as autovacuum would have done on a live
  database.

The large run asks for the campaign in the middle of the large set (by creation time).

Each subcommand runs --warmup times, then --runs times (round robin, so noise hits all
alike); median and p95 (nearest rank) are reported. Gate (exit 1): a subcommand's large p95
is 1000 ms or more. Exit 2: a reply was not what it should be, or the run failed.

    .venv/bin/python bench/status_latency.py
    .venv/bin/python bench/status_latency.py --campaigns 3000 --audit 400000 --explain
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import text_table  # noqa: E402

from tests.support.postgres import postgres_server, scratch_database  # noqa: E402

LIMIT_MS = 1000.0
DEFAULT_ZONE = "Europe/London"
BIG_TABLE_ROWS = 1_000         # a Seq Scan over a table this big (grows with campaigns) is reported
HEAVY_NODE_ROWS = 50_000       # so is a plan node that produces or filters out this many rows (x loops)
BASELINE_NAME = "Baseline campaign"
LARGE_PREFIX = "Newsletter"

# ---------------------------------------------------------------- data generation (SQL)
# @now, @first (created_at of the first campaign), @step (between campaigns), @count, @rounds
# (per campaign), @prefix (of the names; a count of 1 uses the prefix alone as the name),
# bound by `_bind` as $n parameters. Campaigns whose name
# starts with the prefix are the ones this dataset adds; all later statements select them.

CAMPAIGNS_SQL = """
INSERT INTO campaigns (name, master_list_id, template_draft_id, round_count, timezone, send_days, send_time,
                       offsets, launch_window, approval_policy, channel, created_by, created_at,
                       planning_state, planning_attempts, ledger_written_at, planned_at,
                       subject, sender_name, sender_email, eligible_contacts, dropped_contacts)
SELECT CASE WHEN @count::int = 1 THEN @prefix::text
            ELSE @prefix::text || ' ' || lpad(i::text, greatest(4, length(@count::text)), '0') END,
       100000 + i, 200000 + i, @rounds::int,
       (ARRAY['Europe/London', 'Europe/Paris', 'America/New_York', 'Asia/Tokyo'])[1 + i % 4],
       ARRAY['tue', 'thu'], time '10:00',
       '{"prelaunch": -75600, "preflight": -11700, "warning": -900, "launch": 0, "wrapup": 7200, "cleanup": 86400}'::jsonb,
       interval '2 hours', CASE WHEN i % 5 = 0 THEN 'auto' ELSE 'required' END,
       'C0CAMPAIGNS', 'U0OPERATOR' || (i % 7), created,
       'planned', 1, created + interval '40 seconds', created + interval '45 seconds',
       'Our news, issue ' || i, 'Ops Team', 'news@example.com', 20000 + (i * 37) % 30000, (i * 13) % 500
FROM (SELECT i, @first::timestamptz + (i - 1) * @step::interval AS created FROM generate_series(1, @count::int) AS i) s
"""

ROUNDS_SQL = """
INSERT INTO rounds (campaign_id, number, scheduled_at, instant_source, state, state_changed_at, held, hold_reason,
                    held_by, recipient_count, mailjet_list_id, list_filled_at, mailjet_draft_id, draft_content_at,
                    mailjet_campaign_id, send_claimed_at, send_claimed_by, send_attempts, sent_at, dry_run,
                    outcome_detail)
SELECT id, n, t, 'planner', st,
       CASE WHEN st IN ('sent', 'reported', 'cleaned') THEN t + interval '12 seconds'
            WHEN st IN ('ready', 'approved', 'blocked') THEN t - interval '3 hours 15 minutes'
            ELSE created_at + interval '45 seconds' END,
       st = 'planned' AND h % 20 = 0, CASE WHEN st = 'planned' AND h % 20 = 0 THEN 'waiting for legal sign-off' END,
       CASE WHEN st = 'planned' AND h % 20 = 0 THEN 'U0APPROVER1' END,
       eligible_contacts / @rounds::int, 300000 + id * 10 + n, created_at + interval '44 seconds',
       400000 + id * 10 + n, created_at + interval '45 seconds',
       CASE WHEN st IN ('sent', 'reported', 'cleaned') THEN 500000 + id * 10 + n END,
       CASE WHEN st IN ('sent', 'reported', 'cleaned', 'failed') THEN t + interval '1 second' END,
       CASE WHEN st IN ('sent', 'reported', 'cleaned', 'failed') THEN 'worker:1' END,
       CASE WHEN st IN ('sent', 'reported', 'cleaned', 'failed') THEN 1 ELSE 0 END,
       CASE WHEN st IN ('sent', 'reported', 'cleaned') THEN t + interval '12 seconds' END,
       CASE WHEN st IN ('sent', 'reported', 'cleaned') THEN false END,
       CASE st WHEN 'cancelled' THEN 'cancelled by <@U0OPERATOR1>: duplicate of the spring issue'
               WHEN 'missed' THEN 'not approved before the launch window closed'
               WHEN 'failed' THEN 'Mailjet answered 503 three times; nothing was sent' END
FROM (
    SELECT c.id, c.created_at, c.eligible_contacts, n, t, h,
           CASE WHEN t + interval '24 hours' < @now THEN
                    CASE WHEN h < 4 THEN 'cancelled' WHEN h < 7 THEN 'missed' WHEN h < 10 THEN 'failed'
                         WHEN h < 20 THEN 'reported' WHEN h < 25 THEN 'sent' ELSE 'cleaned' END
                WHEN t <= @now THEN
                    CASE WHEN h < 4 THEN 'cancelled' WHEN h < 7 THEN 'failed'
                         WHEN t + interval '2 hours' < @now THEN 'reported' ELSE 'sent' END
                WHEN t - interval '3 hours 15 minutes' <= @now THEN
                    CASE WHEN h < 10 THEN 'blocked' WHEN h < 55 OR c.approval_policy = 'auto' THEN 'ready'
                         ELSE 'approved' END
                ELSE 'planned' END AS st
    FROM campaigns c,
         generate_series(1, @rounds::int) AS n,
         LATERAL (SELECT date_trunc('day', c.created_at) + interval '3 days' + (n - 1) * interval '2 days'
                         + interval '10 hours' AS t,
                         abs(hashtext(c.id || ':' || n)) % 100 AS h) x
    WHERE c.name LIKE @prefix::text || '%'
) r
"""

# the stages of a round: name, offset from T in seconds
STAGES = [("prelaunch", -75600), ("preflight", -11700), ("warning", -900), ("launch", 0),
          ("metrics", 1800), ("wrapup", 7200), ("cleanup", 86400)]

STAGE_RUNS_SQL = """
INSERT INTO stage_runs (round_id, stage, nominal_at, due_at, state, attempts, last_error, late, result,
                        started_at, finished_at)
SELECT id, stage, nominal, nominal, st,
       CASE WHEN st = 'pending' THEN 0 WHEN h % 40 = 0 THEN 2 ELSE 1 END,
       CASE WHEN st <> 'pending' AND h % 40 = 0 THEN 'ClientConnectorError: Mailjet did not answer in 30 s' END,
       st = 'done' AND h % 50 = 0,
       CASE WHEN st = 'done' THEN jsonb_build_object('summary', stage || ' done', 'posted', true) END,
       CASE WHEN st <> 'pending' THEN nominal + interval '2 seconds' END,
       CASE WHEN st <> 'pending' THEN nominal + interval '5 seconds' END
FROM (
    SELECT r.id, s.stage, r.scheduled_at + s.offset_s * interval '1 second' AS nominal,
           abs(hashtext(r.id || s.stage)) % 1000 AS h,
           CASE
               WHEN r.state = 'cancelled' AND s.offset_s >= 0 THEN 'cancelled'
               WHEN r.state IN ('missed', 'failed') AND s.offset_s > 0 THEN 'skipped'
               WHEN r.scheduled_at + s.offset_s * interval '1 second' > @now THEN
                    CASE WHEN r.state = 'cancelled' THEN 'cancelled' ELSE 'pending' END
               ELSE 'done' END AS st
    FROM rounds r JOIN campaigns c ON c.id = r.campaign_id,
         (VALUES {stages}) AS s(stage, offset_s)
    WHERE c.name LIKE @prefix::text || '%'
      -- the metrics stage is added by the launch, so only sent rounds have one
      AND (s.stage <> 'metrics' OR r.sent_at IS NOT NULL)
) x
""".format(stages=", ".join(f"('{s}', {o})" for s, o in STAGES))

PREFLIGHT_SQL = """
INSERT INTO preflight_runs (round_id, ran_at, passed, checks, content_hash, scheduled_at, requested_by)
SELECT r.id, r.scheduled_at - interval '3 hours 15 minutes' + (k - 1) * interval '40 minutes' + interval '3 seconds',
       NOT ((r.state = 'blocked' AND k = runs) OR (k < runs AND k = 1 AND h % 2 = 0)),
       jsonb_build_array(
           jsonb_build_object('key', 'list', 'label', 'Round list', 'status', 'pass',
                              'reason', 'list ' || r.mailjet_list_id || ' holds ' || r.recipient_count || ' contacts'),
           jsonb_build_object('key', 'sender', 'label', 'Sender', 'status', 'pass', 'reason', 'news@example.com is validated'),
           jsonb_build_object('key', 'content', 'label', 'Content', 'status', 'pass',
                              'reason', 'subject, HTML and text parts present'),
           jsonb_build_object('key', 'unsub', 'label', 'Unsubscribe link', 'status', 'pass',
                              'reason', '[[UNSUB_LINK_EN]] in both parts'),
           jsonb_build_object('key', 'bounce', 'label', 'Previous round bounces',
                              'status', CASE WHEN r.state = 'blocked' AND k = runs THEN 'fail' ELSE 'pass' END,
                              'reason', CASE WHEN r.state = 'blocked' AND k = runs THEN '9.2 % hard bounces (limit 8 %)'
                                             ELSE '1.1 % hard bounces' END),
           jsonb_build_object('key', 'schedule', 'label', 'Schedule', 'status', 'pass', 'reason', 'inside send days and hours')),
       md5(r.campaign_id || ':' || k), r.scheduled_at,
       CASE WHEN k = 1 THEN 'system' ELSE 'U0APPROVER' || (h % 3) END
FROM (
    SELECT r.*, abs(hashtext(r.id::text)) % 100 AS h,
           1 + (abs(hashtext(r.id::text)) % 3 = 0)::int + (abs(hashtext(r.id::text)) % 7 = 0)::int AS runs
    FROM rounds r JOIN campaigns c ON c.id = r.campaign_id
    WHERE c.name LIKE @prefix::text || '%'
      AND r.scheduled_at - interval '3 hours 15 minutes' <= @now
      AND r.state NOT IN ('planned', 'missed')
) r, generate_series(1, r.runs) AS k
"""

# One live approval per approved or sent round of a campaign that requires approval (auto
# campaigns have none), on its last pre-flight run; a lapsed one before it when the round was
# checked twice and the first check passed.
APPROVALS_SQL = """
WITH runs AS (
    SELECT p.*, row_number() OVER (PARTITION BY p.round_id ORDER BY p.id DESC) AS from_last,
           count(*) OVER (PARTITION BY p.round_id) AS runs, r.state, c.approval_policy
    FROM preflight_runs p JOIN rounds r ON r.id = p.round_id JOIN campaigns c ON c.id = r.campaign_id
    WHERE c.name LIKE @prefix::text || '%'
)
INSERT INTO approvals (round_id, preflight_run_id, approved_by, approved_at, lapsed_at, lapse_reason)
SELECT round_id, id,
       CASE WHEN approval_policy = 'auto' THEN 'system' ELSE 'U0APPROVER' || (id % 3) END,
       ran_at + CASE WHEN approval_policy = 'auto' THEN interval '1 second' ELSE interval '25 minutes' END,
       CASE WHEN from_last > 1 THEN ran_at + interval '40 minutes' END,
       CASE WHEN from_last > 1 THEN 'the draft changed since it was approved' END
FROM runs
WHERE state IN ('approved', 'sending', 'sent', 'reported', 'cleaned') AND approval_policy = 'required'
  AND (from_last = 1 OR (from_last = 2 AND passed AND runs >= 2))
ORDER BY round_id, id
"""

# The audit trail: every entry the product would have written for these campaigns (as far
# as the clock has got), then top-up entries up to @audit rows in total for these campaigns, and
# @globals global entries (freeze / unfreeze, campaign_id NULL). Inserted in time order.
AUDIT_SQL = """
WITH mine AS (
    SELECT c.* FROM campaigns c WHERE c.name LIKE @prefix::text || '%'
), rr AS (
    SELECT r.*, m.created_at AS c_created FROM rounds r JOIN mine m ON m.id = r.campaign_id
), lifecycle AS (
    SELECT m.created_at AS at, m.created_by AS actor, 'campaign created' AS action, m.id AS campaign_id,
           NULL::bigint AS round_id,
           jsonb_build_object('summary', m.round_count || ' rounds from list ' || m.master_list_id
                                         || ', template draft ' || m.template_draft_id,
                              'approval', m.approval_policy, 'window_seconds', 7200, 'offsets', m.offsets) AS detail
    FROM mine m
    UNION ALL
    SELECT m.planned_at, 'system', 'campaign planned', m.id, NULL,
           jsonb_build_object('summary', m.eligible_contacts || ' recipients in ' || m.round_count || ' rounds, '
                                         || m.dropped_contacts || ' dropped')
    FROM mine m
    UNION ALL   -- every stage that finished, as the engine records it
    SELECT s.finished_at, 'system', 'stage ' || s.stage || ' ' || replace(s.state, '_', ' '), rr.campaign_id, rr.id,
           coalesce(s.result, '{}'::jsonb)
    FROM stage_runs s JOIN rr ON rr.id = s.round_id
    WHERE s.finished_at IS NOT NULL AND s.state IN ('done', 'skipped')
    UNION ALL
    SELECT p.ran_at + interval '1 second', p.requested_by, 'preflight ' || CASE WHEN p.passed THEN 'passed' ELSE 'failed' END,
           rr.campaign_id, rr.id,
           jsonb_build_object('summary', CASE WHEN p.passed THEN 'all checks pass'
                                              ELSE 'Previous round bounces: fail' END, 'run', p.id)
    FROM preflight_runs p JOIN rr ON rr.id = p.round_id
    UNION ALL
    SELECT a.approved_at, a.approved_by, 'approved', rr.campaign_id, rr.id,
           jsonb_build_object('summary', 'pre-flight run ' || a.preflight_run_id)
    FROM approvals a JOIN rr ON rr.id = a.round_id
    UNION ALL
    SELECT a.lapsed_at, 'system', 'approval lapsed', rr.campaign_id, rr.id, jsonb_build_object('summary', a.lapse_reason)
    FROM approvals a JOIN rr ON rr.id = a.round_id WHERE a.lapsed_at IS NOT NULL
    UNION ALL
    SELECT rr.send_claimed_at, 'system', 'send claimed', rr.campaign_id, rr.id,
           jsonb_build_object('summary', 'claimed by ' || rr.send_claimed_by, 'attempt', 1)
    FROM rr WHERE rr.send_claimed_at IS NOT NULL
    UNION ALL
    SELECT rr.sent_at, 'system', 'round sent', rr.campaign_id, rr.id,
           jsonb_build_object('summary', 'Mailjet campaign ' || rr.mailjet_campaign_id || ', '
                                         || rr.recipient_count || ' recipients')
    FROM rr WHERE rr.sent_at IS NOT NULL
    UNION ALL
    SELECT rr.scheduled_at + interval '2 hours 10 seconds', 'system', 'wrap-up reported', rr.campaign_id, rr.id,
           jsonb_build_object('summary', 'delivered 97.8 %, opened 31.2 %, clicked 4.1 %, bounced 1.0 %')
    FROM rr WHERE rr.state IN ('reported', 'cleaned')
    UNION ALL
    SELECT rr.scheduled_at + interval '24 hours 8 seconds', 'system', 'cleanup plan built', rr.campaign_id, rr.id,
           jsonb_build_object('summary', '212 contacts to suppress (1.1 %)')
    FROM rr WHERE rr.state = 'cleaned'
    UNION ALL
    SELECT rr.scheduled_at + interval '25 hours', 'U0APPROVER' || (rr.id % 3), 'cleanup applied', rr.campaign_id, rr.id,
           jsonb_build_object('summary', '212 suppressed, removed from 3 later lists')
    FROM rr WHERE rr.state = 'cleaned'
    UNION ALL
    SELECT CASE rr.state WHEN 'cancelled' THEN rr.scheduled_at - interval '5 hours'
                         ELSE rr.scheduled_at + interval '2 hours 1 second' END,
           CASE rr.state WHEN 'cancelled' THEN 'U0OPERATOR1' ELSE 'system' END,
           CASE rr.state WHEN 'cancelled' THEN 'cancelled' ELSE 'round ' || rr.state END,
           rr.campaign_id, rr.id, jsonb_build_object('summary', rr.outcome_detail)
    FROM rr WHERE rr.state IN ('cancelled', 'missed', 'failed')
    UNION ALL
    SELECT rr.c_created + interval '1 day', 'U0APPROVER1', 'held', rr.campaign_id, rr.id,
           jsonb_build_object('summary', rr.hold_reason)
    FROM rr WHERE rr.held
), counted AS (
    SELECT count(*) AS n FROM lifecycle
), started AS (   -- rounds whose first stage is behind us: the ones extra entries can be about
    SELECT row_number() OVER (ORDER BY rr.id) AS k, count(*) OVER () AS total, rr.id, rr.campaign_id, rr.scheduled_at
    FROM rr WHERE rr.scheduled_at - interval '21 hours' <= @now
), extra AS (   -- mostly transient Mailjet errors and re-run pre-flights; a few holds, reschedules, overrides
    SELECT at, actor, action, campaign_id, round_id, detail FROM (
        SELECT st.scheduled_at - interval '21 hours' + ((g * 7919) % 160000) * interval '1 second' AS at,
               CASE WHEN e.action LIKE 'stage %' THEN 'system' ELSE 'U0OPERATOR' || (g % 7) END AS actor,
               e.action, st.campaign_id, st.id AS round_id,
               CASE WHEN e.action LIKE 'stage %' THEN
                        jsonb_build_object('error', 'ClientConnectorError: Mailjet did not answer in 30 s',
                                           'attempt', 1 + g % 3, 'gave_up', false)
                    WHEN e.action = 'preflight passed' THEN jsonb_build_object('summary', 'all checks pass', 'run', g)
                    WHEN e.action = 'rescheduled' THEN jsonb_build_object('summary', 'moved by one day', 'from', st.scheduled_at,
                                                                       'to', st.scheduled_at + interval '1 day')
                    ELSE jsonb_build_object('summary', 'checking the new footer with legal') END AS detail
        FROM generate_series(1, greatest(@audit::bigint - (SELECT n FROM counted), 0)) AS g
        CROSS JOIN LATERAL (SELECT (ARRAY['stage preflight error', 'stage prelaunch error', 'stage launch error',
                                          'stage wrapup error', 'stage metrics error', 'stage cleanup error',
                                          'stage preflight error', 'stage launch error', 'stage wrapup error',
                                          'preflight passed', 'preflight passed', 'preflight passed',
                                          'held', 'resumed', 'rescheduled', 'bounce check overridden'])[1 + (g * 31) % 16]
                            AS action) e
        JOIN started st ON st.k = 1 + (g * 104729) % (SELECT max(total) FROM started)
    ) x WHERE at <= @now
), global AS (
    SELECT @first::timestamptz + (j - 0.5) * (@step::interval * @count::int / greatest(@globals::int, 1)) AS at,
           'U0ADMIN' AS actor, CASE WHEN j % 2 = 1 THEN 'froze all sends' ELSE 'unfroze sends' END AS action,
           NULL::bigint AS campaign_id, NULL::bigint AS round_id,
           jsonb_build_object('summary', CASE WHEN j % 2 = 1 THEN 'Mailjet incident' ELSE '' END) AS detail
    FROM generate_series(1, @globals::int) AS j
)
INSERT INTO audit_log (at, actor, action, campaign_id, round_id, detail)
SELECT at, actor, action, campaign_id, round_id, detail
FROM (SELECT * FROM lifecycle WHERE at <= @now UNION ALL SELECT * FROM extra UNION ALL SELECT * FROM global) all_entries
ORDER BY at
"""


def _bind(sql: str, values: dict[str, Any]) -> list[Any]:
    """`@name` placeholders to $1, $2, … (each name once), followed by their values."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    return [re.sub(r"@(now|first|step|count|rounds|prefix|audit|globals)\b", number, sql), *(values[n] for n in order)]


@dataclass
class Dataset:
    label: str
    prefix: str
    first_created: datetime
    step: timedelta
    campaigns: int
    rounds: int
    audit_rows: int
    global_entries: int
    target: str = ""
    counts: dict[str, int] = field(default_factory=dict)


async def load(connection: Any, ds: Dataset, now: datetime) -> float:
    """Insert one dataset (inserts only); return the seconds it took."""
    started = time.perf_counter()
    values = {"now": now, "first": ds.first_created, "step": ds.step, "count": ds.campaigns, "rounds": ds.rounds,
              "prefix": ds.prefix, "audit": ds.audit_rows, "globals": ds.global_entries}
    async with connection.transaction():
        for sql in (CAMPAIGNS_SQL, ROUNDS_SQL, STAGE_RUNS_SQL, PREFLIGHT_SQL, APPROVALS_SQL, AUDIT_SQL):
            await connection.execute(*_bind(sql, values))
    for table in ("campaigns", "rounds", "stage_runs", "preflight_runs", "approvals", "audit_log"):
        await connection.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - started


async def table_counts(connection: Any) -> dict[str, int]:
    counts = {}
    for table in ("campaigns", "rounds", "stage_runs", "preflight_runs", "approvals", "audit_log"):
        counts[table] = await connection.fetchval(f"SELECT count(*) FROM {table}")
    return counts


# ---------------------------------------------------------------- what is timed


@dataclass
class Subcommand:
    label: str
    run: Callable[[], Awaitable[Any]]
    check: Callable[[Any], str | None]


def subcommands(pool: Any, campaign_name: str, rounds: int) -> list[Subcommand]:
    """The three handlers, called as dispatch() calls them after the ack."""
    from bot.grammar import parse
    from handlers import commands

    services = SimpleNamespace(pool=pool, settings=SimpleNamespace(DEFAULT_TIMEZONE=DEFAULT_ZONE))

    def invocation(text: str) -> Any:
        command = parse(text, default_timezone=DEFAULT_ZONE)
        return commands.Invocation(services, command, "U0OPERATOR1", "C0CAMPAIGNS", None, None)  # type: ignore[arg-type]

    list_inv = invocation("list")
    status_inv = invocation(f'status "{campaign_name}"')
    log_inv = invocation(f'log "{campaign_name}"')

    def check_list(reply: Any) -> str | None:
        lines = reply.text.splitlines()
        if lines[0] != "*Campaigns*" or not lines[1:]:
            return f"list answered {reply.text[:200]!r}"
        return None

    def check_status(reply: Any) -> str | None:
        if reply.text != f"Status of {campaign_name}" or not reply.blocks:
            return f"status answered {reply.text[:200]!r}"
        round_blocks = [b for b in reply.blocks if b["text"]["text"].startswith("*Round ")]
        if len(round_blocks) != rounds or "Stages: " not in round_blocks[0]["text"]["text"]:
            return f"status shows {len(round_blocks)} rounds (expected {rounds}) or no stages"
        return None

    def check_log(reply: Any) -> str | None:
        if not reply.text.startswith(f"*Audit log of {campaign_name}*"):
            return f"log answered {reply.text[:200]!r}"
        entries = [line for line in reply.text.splitlines() if line.startswith("• ")]
        if not entries:
            return "log shows no entries"
        return None

    return [
        Subcommand("/campaign list", lambda: commands.list_campaigns(list_inv), check_list),
        Subcommand("/campaign status <name>", lambda: commands.status(status_inv), check_status),
        Subcommand("/campaign log <name>", lambda: commands.audit_log(log_inv), check_log),
    ]


def named_queries(campaign_id: int, campaign_name: str) -> list[tuple[str, list[Any]]]:
    """Every named query the three subcommands run, with the parameters they pass."""
    return [
        ("campaigns_overview", [50, 0]),
        ("campaign_by_name", [campaign_name]),
        ("rounds_of_campaign", [campaign_id]),
        ("stage_runs_of_campaign", [campaign_id]),
        ("live_approvals_of_campaign", [campaign_id]),
        ("freeze_state", []),
        ("audit_count", [campaign_id]),
        ("audit_page", [campaign_id, 20, 0]),
    ]


async def timed(func: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await func()
    return (time.perf_counter() - started) * 1000.0, result


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


async def measure(pool: Any, ds: Dataset, *, warmup: int, runs: int) -> dict[str, Any]:
    """Time the three subcommands (round robin) and each named query alone."""
    from storage.queries import Q

    async with pool.acquire() as connection:
        campaign = await connection.fetchrow(Q.campaign_by_name, ds.target)
    subs = subcommands(pool, ds.target, campaign["round_count"])
    samples: dict[str, list[float]] = {s.label: [] for s in subs}
    replies: dict[str, Any] = {}
    for i in range(warmup + runs):
        for sub in subs:
            ms, reply = await timed(sub.run)
            problem = sub.check(reply)
            if problem:
                raise BenchError(f"{ds.label}: {problem}")
            if i >= warmup:
                samples[sub.label].append(ms)
            replies[sub.label] = reply

    query_samples: dict[str, list[float]] = {}
    async with pool.acquire() as connection:
        for name, params in named_queries(campaign["id"], ds.target):
            sql = getattr(Q, name)
            query_samples[name] = []
            for i in range(warmup + runs):
                ms, _ = await timed(lambda sql=sql, params=params: connection.fetch(sql, *params))
                if i >= warmup:
                    query_samples[name].append(ms)
    return {"campaign": campaign, "samples": samples, "query_samples": query_samples, "replies": replies}


# ---------------------------------------------------------------- EXPLAIN


def _literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def explain(connection: Any, campaign_id: int, campaign_name: str) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) every named query, custom and generic plan; flag big seq scans."""
    from storage.queries import Q

    sizes = {r["relname"]: int(r["n_live_tup"]) for r in await connection.fetch(
        "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE schemaname = 'public'")}
    out = []
    for name, params in named_queries(campaign_id, campaign_name):
        sql = getattr(Q, name)
        for mode in ("custom", "generic"):
            statement = f"bench_{name}"
            await connection.execute(f"SET plan_cache_mode = force_{mode}_plan")
            await connection.execute(f"PREPARE {statement} AS {sql}")
            try:
                execute = f"EXECUTE {statement}" + (f"({', '.join(_literal(p) for p in params)})" if params else "")
                rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {execute}")
            finally:
                await connection.execute(f"DEALLOCATE {statement}")
                await connection.execute("RESET plan_cache_mode")
            plan = [r[0] for r in rows]
            seq_scans = []
            for line in plan:
                match = re.search(r"Seq Scan on (\w+)", line)
                if match:
                    seq_scans.append({"table": match.group(1), "rows": sizes.get(match.group(1), 0), "line": line.strip()})
            heavy: list[str] = []
            loops, node_line = 1, ""
            for line in plan:
                node = re.search(r"actual time=[\d.]+\.\.[\d.]+ rows=(\d+) loops=(\d+)", line)
                if node:
                    loops, node_line = int(node.group(2)), line.strip()
                    if int(node.group(1)) * loops >= HEAVY_NODE_ROWS:
                        heavy.append(node_line)
                removed = re.search(r"Rows Removed by (?:Filter|Join Filter|Index Recheck): (\d+)", line)
                if removed and int(removed.group(1)) * loops >= HEAVY_NODE_ROWS:
                    heavy += [node_line, f"  {line.strip()}" + (f" (per loop, {loops} loops)" if loops > 1 else "")]
            total = next((float(m.group(1)) for line in plan
                          if (m := re.match(r"Execution Time: ([\d.]+) ms", line.strip()))), 0.0)
            out.append({"query": name, "mode": mode, "plan": plan, "seq_scans": seq_scans, "execution_ms": total,
                        "big_seq_scans": [s for s in seq_scans if s["rows"] >= BIG_TABLE_ROWS], "heavy": heavy})
    return out


# ---------------------------------------------------------------- the run


class BenchError(RuntimeError):
    pass





async def bench(args: argparse.Namespace, server_dsn: str) -> int:
    from storage.database import connect, create_pool

    started = time.perf_counter()
    async with scratch_database(server_dsn, "bench") as dsn:
        connection = await connect(dsn)
        pool = None
        try:
            now = datetime.now(UTC).replace(microsecond=0)
            baseline = Dataset("baseline", BASELINE_NAME, now - timedelta(days=30), timedelta(days=1),
                               campaigns=1, rounds=3, audit_rows=0, global_entries=2, target=BASELINE_NAME)
            span = timedelta(days=730)
            large = Dataset("large", LARGE_PREFIX, now - span, span / args.campaigns, campaigns=args.campaigns,
                            rounds=args.rounds, audit_rows=args.audit, global_entries=args.freezes,
                            target=f"{LARGE_PREFIX} {args.campaigns // 2:0{max(4, len(str(args.campaigns)))}d}")
            pool = await create_pool(dsn, min_size=1, max_size=4)
            results = {}
            for ds in (baseline, large):
                seconds = await load(connection, ds, now)
                ds.counts = await table_counts(connection)
                print(f"· {ds.label}: loaded in {seconds:.1f} s; database now holds "
                      + ", ".join(f"{n:,} {t}" for t, n in ds.counts.items()), flush=True)
                results[ds.label] = await measure(pool, ds, warmup=args.warmup, runs=args.runs)
                audit_mine = await connection.fetchval(
                    "SELECT count(*) FROM audit_log WHERE campaign_id = $1", results[ds.label]["campaign"]["id"])
                print(f"  measured {ds.target!r} (id {results[ds.label]['campaign']['id']}, "
                      f"{results[ds.label]['campaign']['round_count']} rounds, {audit_mine} audit entries of its own)",
                      flush=True)
            if large.counts["rounds"] < 5000 or large.counts["audit_log"] < 100_000:
                print(f"note: the large set is smaller than the issue asks ({large.counts['rounds']:,} rounds, "
                      f"{large.counts['audit_log']:,} audit rows)", file=sys.stderr)
            plans = await explain(connection, results["large"]["campaign"]["id"], large.target)
        finally:
            if pool is not None:
                await pool.close()
            await connection.close()

    base, big = results["baseline"], results["large"]
    rows, failures = [], []
    for label in base["samples"]:
        b_med = statistics.median(base["samples"][label])
        l_med, l_p95 = statistics.median(big["samples"][label]), p95(big["samples"][label])
        verdict = "PASS" if l_p95 < args.limit_ms else "FAIL"
        if verdict == "FAIL":
            failures.append(f"{label}: large p95 {l_p95:.1f} ms, limit {args.limit_ms:.0f} ms")
        rows.append([label, f"{b_med:.2f}", f"{l_med:.2f}", f"{l_p95:.2f}", f"{l_med / b_med:.2f}", verdict])
    print()
    print(text_table(rows, ["subcommand", "baseline median ms", "large median ms", "large p95 ms",
                        "large/baseline", f"p95 < {args.limit_ms:.0f} ms"]))

    qrows = []
    for q in base["query_samples"]:
        b_med = statistics.median(base["query_samples"][q])
        l_med = statistics.median(big["query_samples"][q])
        custom = next(p for p in plans if p["query"] == q and p["mode"] == "custom")
        generic = next(p for p in plans if p["query"] == q and p["mode"] == "generic")
        scans = sorted({f"{s['table']} ({s['rows']:,})" for p in (custom, generic) for s in p["seq_scans"]})
        qrows.append([q, f"{b_med:.2f}", f"{l_med:.2f}", f"{p95(big['query_samples'][q]):.2f}", f"{l_med / b_med:.2f}",
                      f"{custom['execution_ms']:.2f} / {generic['execution_ms']:.2f}", ", ".join(scans) or "—"])
    print()
    print(text_table(qrows, ["named query alone", "baseline median ms", "large median ms", "large p95 ms",
                         "large/baseline", "EXPLAIN ms custom / generic", "Seq Scan on (rows)"]))

    print()
    print(f"baseline: 1 campaign, {base['campaign']['round_count']} rounds; large (asked for {large.target!r}): "
          f"{large.counts['campaigns']:,} campaigns, {large.counts['rounds']:,} rounds, "
          f"{large.counts['stage_runs']:,} stage runs, {large.counts['preflight_runs']:,} pre-flight runs, "
          f"{large.counts['approvals']:,} approvals, {large.counts['audit_log']:,} audit rows")
    print(f"{args.runs} timed runs per subcommand after {args.warmup} warm-up runs; whole bench "
          f"{time.perf_counter() - started:.0f} s")

    flagged = [p for p in plans if p["big_seq_scans"] or p["heavy"]]
    if flagged:
        print(f"\nEXPLAIN ANALYZE on the large set: sequential scans over tables of {BIG_TABLE_ROWS:,}+ rows, and plan "
              f"nodes producing or filtering out {HEAVY_NODE_ROWS:,}+ rows over all loops (--explain prints every plan):")
    for p in flagged:
        print(f"  {p['query']} [{p['mode']} plan, {p['execution_ms']:.2f} ms]: {p['plan'][0].strip()}")
        for line in dict.fromkeys([s["line"] for s in p["big_seq_scans"]] + p["heavy"]):
            if line != p["plan"][0].strip():
                print(f"      {line}")
        jit = next((line.strip() for line in p["plan"] if line.strip().startswith("Timing: Generation")), None)
        if jit:
            print(f"      JIT {jit}")
    if args.explain:
        for p in plans:
            print(f"\n-- EXPLAIN (ANALYZE, BUFFERS) {p['query']} [{p['mode']} plan]")
            print("\n".join("   " + line for line in p["plan"]))

    if failures:
        for failure in failures:
            print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    print("\nPASS")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=1000, help="campaigns in the large set (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per campaign in the large set (default 5)")
    parser.add_argument("--audit", type=int, default=120_000, help="audit rows of the large set (default 120000)")
    parser.add_argument("--freezes", type=int, default=12,
                        help="global audit entries (freeze/unfreeze) spread over the large set's two years (default 12)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per subcommand (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    parser.add_argument("--limit-ms", type=float, default=LIMIT_MS, help="large p95 ceiling (default 1000)")
    parser.add_argument("--explain", action="store_true", help="print every EXPLAIN ANALYZE plan")
    args = parser.parse_args(argv)

    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with postgres_server() as server_dsn:
        try:
            return asyncio.run(bench(args, server_dsn))
        except BenchError as exc:
            print(f"\nthe bench did not measure what it should: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
