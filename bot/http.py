"""The process's HTTP surface on PORT: liveness, readiness, Prometheus metrics.

/readyz answers 503 until the database answers, the Socket Mode connection is up and the
scheduler runs: a load balancer or an operator can trust it. Its ``channel`` object says
whether the bot is a member of CAMPAIGN_CHANNEL and how many messages wait for an invite. Not
being a member keeps the answer 200: the process is alive, answers commands and keeps every
message; a restart would not help, an invite does (bot/membership.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.metrics import REGISTRY
from storage.queries import Q
from bot.services import Services

Route = Callable[[web.Application], None]


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _readyz(services: Services) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        health = services.health
        channel = services.membership.detail()
        try:
            async with services.pool.acquire(timeout=2) as connection:
                await connection.fetchval(Q.database_ping)
                channel["waiting_messages"] = await connection.fetchval(Q.outbox_waiting_count)
            health.database = True
        except Exception:
            health.database = False
        body = {"database": health.database, "socket": health.socket, "scheduler": health.scheduler,
                "channel": channel}
        return web.json_response({"ready": health.ready(), **body}, status=200 if health.ready() else 503)

    return handler


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_http_app(services: Services, extra_routes: list[Route] = ()) -> web.Application:  # type: ignore[assignment]
    app = web.Application(client_max_size=10 * 1024 * 1024 + 1)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz(services))
    app.router.add_get("/metrics", _metrics)
    for add in extra_routes:
        add(app)
    return app


async def start_http(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=port)
    await site.start()
    return runner
