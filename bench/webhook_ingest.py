"""Mailjet webhook ingest: events per second through POST /mailjet/events vs a plain COPY.

What is measured, in one invocation against one fresh database:

* **endpoint, new events**: the real aiohttp app (bot.http.build_http_app +
  bot.webhook.webhook_route, Services with a real pool as bot/runtime.py builds it), served on
  127.0.0.1 in this process, receives N distinct events as HTTP POSTs of B events each
  (Version 2 JSON arrays, mixed types, basic auth) one request at a time: auth, capped read,
  JSON parse, pydantic validation, dedupe, COPY into the staging table and INSERT … ON
  CONFLICT DO NOTHING, commit, JSON answer. The client is in the same process and its bodies
  are encoded before the clock starts; its HTTP work is counted against the endpoint.
* **endpoint, replay**: the same batches again (what Mailjet's retries look like): every
  event is a duplicate and nothing is written.
* **endpoint, 4 in flight**: N other distinct events, four requests at a time (the pool has
  4 connections for the app).
* **endpoint, one malformed event per batch**: the first run's events again (table emptied),
  each body with one more event whose `time` is text: the batch is validated a second time
  without it and the event is set aside in mailjet_event_rejects.
* **baseline**: the same rows as the first run (already converted, no HTTP, no JSON, no
  validation, no dedupe) written with one plain `COPY mailjet_events FROM STDIN` per batch of
  B rows (asyncpg copy_records_to_table, autocommit) into the same table with the same
  indexes, emptied first.

Each measurement runs --rounds times (the table emptied before each, except the replay); the
median round is reported, with the time parse_batch alone takes on one batch. Exit 2 if a run
did not store exactly what it should.

    .venv/bin/python bench/webhook_ingest.py
    .venv/bin/python bench/webhook_ingest.py --events 200000 --batch 1000 --rounds 3

The database is `bench_<hex>` on DATABASE_URL's server, else postgresql://postgres@127.0.0.1:5432,
else an embedded server started for the run; it is created, migrated and dropped here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import text_table  # noqa: E402

from tests.support.postgres import postgres_server, scratch_database  # noqa: E402

USER, PASSWORD = "bench-hook", "bench-hook-password-0123"
BASE_TIME = 1_795_000_000
KINDS = ["sent", "open", "click", "bounce", "blocked", "spam", "unsub"]


# ---------------------------------------------------------------- events


def make_events(count: int, *, first_message_id: int, seed: int) -> list[dict[str, Any]]:
    """`count` distinct events of all seven types, shaped like Mailjet's Version 2 payloads."""
    rng = random.Random(seed)
    events = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        message_id = first_message_id + i
        event: dict[str, Any] = {
            "event": kind, "time": BASE_TIME + rng.randrange(86_400), "MessageID": message_id,
            "Message_GUID": str(uuid.UUID(int=rng.getrandbits(128))),
            "email": f"user{message_id % 1_000_000}@example.{rng.choice(['com', 'org', 'net'])}",
            "mj_campaign_id": 7000 + rng.randrange(5), "mj_contact_id": message_id % 1_000_000,
            "customcampaign": "mj.nl=7257", "CustomID": "", "Payload": "",
        }
        if kind == "sent":
            event |= {"mj_message_id": str(message_id), "smtp_reply": "sent (250 2.0.0 OK 1433333948 gsmtp)"}
        elif kind in ("open", "click"):
            event |= {"ip": "203.0.113.7", "geo": "GB",
                      "agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0"}
            if kind == "click":
                event["url"] = f"https://example.com/offer/{rng.randrange(20)}?utm_source=mailjet&utm_medium=email"
        elif kind == "bounce":
            event |= {"blocked": False, "hard_bounce": rng.random() < 0.7, "error_related_to": "recipient",
                      "error": "user unknown", "comment": "host example.com said: 550 5.1.1 no such user"}
        elif kind == "blocked":
            event |= {"error_related_to": "recipient", "error": "preblocked"}
        elif kind == "spam":
            event["source"] = "JMRPP"
        else:
            event |= {"mj_list_id": 1, "ip": "203.0.113.7", "geo": "FR", "agent": "Mozilla/5.0"}
        events.append(event)
    return events


def copy_rows(events: list[dict[str, Any]], received_at: datetime) -> list[tuple[Any, ...]]:
    """The rows the endpoint stores for these events, ready for a plain COPY into mailjet_events."""
    rows = []
    for e in events:
        bounce, has_error = e["event"] == "bounce", e["event"] in ("bounce", "blocked")
        rows.append((
            e["event"], e["MessageID"], datetime.fromtimestamp(e["time"], UTC), e.get("url", ""), e["email"],
            e["mj_campaign_id"], e["mj_contact_id"], e["hard_bounce"] if bounce else None,
            e["blocked"] if bounce else None, e["error"] if has_error else None,
            e["error_related_to"] if has_error else None, received_at, json.dumps(e, separators=(",", ":")),
        ))
    return rows


COPY_COLUMNS = ["event", "message_id", "event_time", "url", "email", "campaign_id", "contact_id", "hard_bounce",
                "blocked", "error", "error_related_to", "received_at", "raw"]


def _malformed(number: int) -> dict[str, Any]:
    """An event Mailjet could never send: `time` is text. Distinct per batch."""
    return {"event": "open", "time": f"not a time {number}", "MessageID": number, "email": "bad@example.com"}


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# ---------------------------------------------------------------- the measurements


async def _post_all(session: Any, url: str, bodies: list[bytes], headers: dict[str, str],
                    concurrency: int) -> tuple[float, list[float], int, int]:
    """POST every body, `concurrency` at a time; (seconds, latencies, stored, duplicates)."""
    latencies: list[float] = []
    totals = [0, 0]
    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                answer = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"the endpoint answered {response.status}: {answer}")
            latencies.append(time.perf_counter() - started)
            totals[0] += answer["stored"]
            totals[1] += answer["duplicates"]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, totals[0], totals[1]


async def _bench(args: argparse.Namespace, dsn: str) -> int:
    import aiohttp
    import asyncpg
    from aiohttp.test_utils import TestServer

    from bot.clock import Clock
    from bot.config import load_settings
    from bot.http import build_http_app
    from bot.roles import Roles
    from bot.services import Services
    from bot.webhook import webhook_route
    from storage.database import create_pool

    settings = load_settings(_env_file=None, MAILJET_WEBHOOK_USER=USER, MAILJET_WEBHOOK_PASSWORD=PASSWORD,
                             LOG_FORMAT="json")
    pool = await create_pool(dsn, min_size=4, max_size=4)
    services = Services(settings=settings, pool=pool, clock=Clock(), mailjet=None, slack=None,  # type: ignore[arg-type]
                        roles=Roles(frozenset(), frozenset(), frozenset()), instance_id="bench:webhook")
    server = TestServer(build_http_app(services, [webhook_route(services)]), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("/mailjet/events"))
    headers = {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD), "Content-Type": "application/json"}
    plain = await asyncpg.connect(dsn)  # the baseline's connection: asyncpg's own binary jsonb codec

    events = make_events(args.events, first_message_id=19_421_777_835_000_000, seed=1)
    concurrent_events = make_events(args.events, first_message_id=29_421_777_835_000_000, seed=2)
    bodies = [json.dumps(b).encode() for b in batches(events, args.batch)]
    concurrent_bodies = [json.dumps(b).encode() for b in batches(concurrent_events, args.batch)]
    malformed_bodies = [json.dumps([*b[:len(b) // 2], _malformed(i), *b[len(b) // 2:]]).encode()
                        for i, b in enumerate(batches(events, args.batch))]
    rows = batches(copy_rows(events, datetime.now(UTC)), args.batch)
    warmup = [json.dumps(b).encode() for b in batches(make_events(5 * args.batch, first_message_id=1, seed=3),
                                                       args.batch)]
    n = len(events)
    results: dict[str, list[dict[str, float]]] = {"endpoint": [], "replay": [], "concurrent": [], "malformed": [],
                                                  "copy": []}
    failures: list[str] = []

    async def empty() -> None:
        await plain.execute("TRUNCATE mailjet_events")
        await plain.execute("VACUUM ANALYZE mailjet_events")

    try:
        async with aiohttp.ClientSession() as session:
            await _post_all(session, url, warmup, headers, 4)          # connections, staging tables, plans
            await plain.copy_records_to_table("mailjet_events", records=copy_rows(
                make_events(args.batch, first_message_id=2, seed=4), datetime.now(UTC)), columns=COPY_COLUMNS)
            for round_number in range(1, args.rounds + 1):
                print(f"· round {round_number}/{args.rounds} …", flush=True)
                await empty()
                seconds, latencies, stored, duplicates = await _post_all(session, url, bodies, headers, 1)
                if (stored, duplicates) != (n, 0):
                    failures.append(f"endpoint stored {stored} and saw {duplicates} duplicates, expected {n} and 0")
                results["endpoint"].append(_rate(n, seconds, latencies))

                seconds, latencies, stored, duplicates = await _post_all(session, url, bodies, headers, 1)
                if (stored, duplicates) != (0, n):
                    failures.append(f"replay stored {stored} and saw {duplicates} duplicates, expected 0 and {n}")
                results["replay"].append(_rate(n, seconds, latencies))

                await empty()
                seconds, latencies, stored, duplicates = await _post_all(session, url, concurrent_bodies, headers, 4)
                if (stored, duplicates) != (n, 0):
                    failures.append(f"4-in-flight run stored {stored}, expected {n}")
                results["concurrent"].append(_rate(n, seconds, latencies))

                await empty()
                await plain.execute("TRUNCATE mailjet_event_rejects")
                seconds, latencies, stored, duplicates = await _post_all(session, url, malformed_bodies, headers, 1)
                set_aside = await plain.fetchval("SELECT count(*) FROM mailjet_event_rejects")
                if (stored, duplicates, set_aside) != (n, 0, len(malformed_bodies)):
                    failures.append(f"the malformed-event run stored {stored} and set aside {set_aside}, "
                                    f"expected {n} and {len(malformed_bodies)}")
                results["malformed"].append(_rate(n, seconds, latencies))

                await empty()
                latencies = []
                started = time.perf_counter()
                for batch in rows:
                    t0 = time.perf_counter()
                    await plain.copy_records_to_table("mailjet_events", records=batch, columns=COPY_COLUMNS)
                    latencies.append(time.perf_counter() - t0)
                seconds = time.perf_counter() - started
                if await plain.fetchval("SELECT count(*) FROM mailjet_events") != n:
                    failures.append("the baseline COPY did not store every row")
                results["copy"].append(_rate(n, seconds, latencies))
    finally:
        await plain.close()
        await server.close()
        await pool.close()

    print()
    median = {name: sorted(runs, key=lambda r: r["rate"])[len(runs) // 2] for name, runs in results.items()}
    body_kb = statistics.mean(len(b) for b in bodies) / 1024
    header = ["run", "events/s", "batch p50 ms", "batch p95 ms", "all rounds events/s"]
    labels = {"endpoint": "POST /mailjet/events, new events, 1 in flight",
              "replay": "POST /mailjet/events, replay (all duplicates), 1 in flight",
              "concurrent": "POST /mailjet/events, new events, 4 in flight",
              "malformed": "POST /mailjet/events, new events + 1 malformed per batch, 1 in flight",
              "copy": "baseline: plain COPY into mailjet_events, 1 batch at a time"}
    table = [[labels[name], f"{m['rate']:,.0f}", f"{m['p50_ms']:.1f}", f"{m['p95_ms']:.1f}",
              " / ".join(f"{r['rate']:,.0f}" for r in results[name])] for name, m in median.items()]
    print(text_table(table, header))
    print()
    print(f"{n:,} events per run in batches of {args.batch:,} ({body_kb:.0f} KB of JSON per batch), "
          f"median of {args.rounds} rounds")
    parse_ms = _parse_cost(bodies[0])
    print(f"of a new-events batch's {median['endpoint']['p50_ms']:.1f} ms (p50), bot.webhook.parse_batch "
          f"(JSON parse, pydantic validation, raw re-encoding) takes {parse_ms:.1f} ms; "
          f"{_parse_cost(malformed_bodies[0]):.1f} ms with one malformed event in the batch")
    ratio = median["endpoint"]["rate"] / median["copy"]["rate"]
    print(f"endpoint / plain COPY: {ratio:.2f} (the endpoint ingests at {100 * ratio:.0f} % of the COPY rate; "
          f"4 in flight: {median['concurrent']['rate'] / median['copy']['rate']:.2f}; "
          f"1 malformed per batch: {median['malformed']['rate'] / median['copy']['rate']:.2f}; "
          f"replay: {median['replay']['rate'] / median['copy']['rate']:.2f})")
    if failures:
        for failure in failures:
            print(f"FAIL: {failure}", file=sys.stderr)
        return 2
    return 0


def _parse_cost(body: bytes) -> float:
    """Median milliseconds of parse_batch on one body, alone (no HTTP, no database)."""
    from bot.webhook import parse_batch

    samples = []
    for _ in range(21):
        started = time.perf_counter()
        parse_batch(body)
        samples.append(1000 * (time.perf_counter() - started))
    return statistics.median(samples)


def _rate(events: int, seconds: float, latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"rate": events / seconds, "seconds": seconds, "p50_ms": 1000 * ordered[len(ordered) // 2],
            "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}



# ---------------------------------------------------------------- database




async def _run(args: argparse.Namespace, server_dsn: str) -> int:
    async with scratch_database(server_dsn, "bench") as dsn:
        return await _bench(args, dsn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="events per run (default 50000)")
    parser.add_argument("--batch", type=int, default=1_000, help="events per POST / per COPY (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is reported (default 5)")
    args = parser.parse_args(argv)

    import logging

    import structlog

    # One line per request would drown the table (the malformed-event run logs a warning per
    # batch by design); errors still show.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    started = time.perf_counter()
    with postgres_server() as server_dsn:
        try:
            return asyncio.run(_run(args, server_dsn))
        finally:
            print(f"whole bench {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
