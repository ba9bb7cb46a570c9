"""A local stand-in for Slack that the real slack-bolt / slack-sdk clients talk to over loopback.

`SlackStandin` is an aiohttp server on 127.0.0.1 serving three things:

* the Web API under ``/api/<method>`` (point ``AsyncWebClient(base_url=standin.api_url)`` at it);
* Socket Mode: ``apps.connections.open`` hands out ``ws://127.0.0.1:PORT/link/?ticket=...`` and that
  websocket greets with ``hello``, carries envelopes to the app and receives its ack frames;
* ``response_url`` endpoints (``/respond/<envelope_id>``) and file upload URLs (``/upload/<file_id>``).

It follows the real Slack Web API on purpose, so code tested against it works against Slack unchanged:
API errors are HTTP 200 with ``{"ok": false, "error": ...}``, rate limits are HTTP 429 with a
``Retry-After`` header, tokens are checked by type, channel names resolve to ids, ``thread_ts`` must name
an existing parent, ``trigger_id``s expire after 3 s, a ``response_url`` takes at most 5 posts, and each
Socket Mode envelope goes to one open connection chosen round-robin.

It is as harsh as production where production is harsh:
- a bot that is not a member of a channel gets ``not_in_channel`` when it posts, updates, uploads or
  reads history there (it has no ``chat:write.public``; see app.manifest.yml). Tests take the bot out
  with `remove_bot` and invite it back with `invite_bot`, which sends ``member_joined_channel`` as
  Slack does to an app subscribed to it; conversations.info / .list / .members say ``is_member``;
- Block Kit limits (standins/blockkit.py) refuse the whole message: ``invalid_blocks`` with Slack's
  ``response_metadata.messages``; ``msg_too_long`` past 40,000 characters of text. Everything refused
  is also kept in `refusals`, so a test can assert that Slack refused nothing.

Everything the app did is kept in plain Python lists and dicts for tests to inspect, and faults can
be injected with `SlackStandin.fail_next`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from standins import blockkit

logger = logging.getLogger(__name__)

APP_ID = "A0STANDIN"
BOT_ID = "B0BOT"
TEAM_DOMAIN = "standin"
MAX_MESSAGE_BLOCKS = blockkit.MAX_MESSAGE_BLOCKS
MAX_VIEW_BLOCKS = blockkit.MAX_VIEW_BLOCKS
# chat.postMessage: "msg_too_long — Message text is too long" past 40,000 characters
# (https://docs.slack.dev/reference/methods/chat.postMessage, "Truncating content").
MAX_TEXT_CHARS = 40_000
TRIGGER_TTL_SECONDS = 3.0
RESPONSE_URL_MAX_USES = 5
DEFAULT_PAGE_LIMIT = 100
# The bot scopes app.manifest.yml asks for. Deliberately no chat:write.public (so a bot that is not a
# member of a channel cannot post there) and no channels:join (so it cannot invite itself).
BOT_SCOPES = "commands,chat:write,channels:read,groups:read,channels:history,groups:history,files:write,users:read"
# The bot events app.manifest.yml subscribes to.
BOT_EVENTS = ("app_home_opened", "member_joined_channel", "member_left_channel")
APP_SCOPES = "connections:write"
# Form-encoded requests carry these structured arguments as JSON strings (slack-sdk does the same).
JSON_STRING_FIELDS = ("blocks", "metadata", "attachments", "view", "files")


class _ApiError(Exception):
    """An ``ok: false`` answer; ``error`` is Slack's error code, ``extra`` more top-level fields
    (``response_metadata`` with the Block Kit problems, ``needed``/``provided`` for missing_scope)."""

    def __init__(self, error: str, **extra: Any):
        super().__init__(error)
        self.error = error
        self.extra = extra


def _invalid(error: str, problems: list[str]) -> _ApiError:
    return _ApiError(error, response_metadata={"messages": problems})


@dataclass
class Message:
    """One ``chat.postMessage``, with the ``chat.update``s applied to it since."""

    channel: str
    ts: str
    text: str
    blocks: list | None
    metadata: dict | None
    thread_ts: str | None
    reply_broadcast: bool
    user: str
    edits: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)


@dataclass
class _Fault:
    status: int
    error: str | None
    retry_after: int | None

    def response(self) -> web.Response:
        if self.status == 429:
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(self.retry_after or 1)},
            )
        if self.status >= 500:
            return web.json_response({"ok": False, "error": "internal_error"}, status=self.status)
        return web.json_response({"ok": False, "error": self.error})


class SlackStandin:
    """Local Slack: Web API, Socket Mode, response_url and file uploads, with inspectable state."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-standin",
        app_token: str = "xapp-standin",
        team_id: str = "T0STANDIN",
        bot_user_id: str = "U0BOT",
        channels: dict[str, str] | None = None,
        scopes: str = BOT_SCOPES,
        bot_events: tuple[str, ...] = BOT_EVENTS,
    ):
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.channels = dict(channels) if channels is not None else {"C0TRACTION": "_traction"}
        self.scopes = scopes
        self.bot_events = set(bot_events)
        # Channel id -> its members. The bot starts as a member of every channel (an installed,
        # invited bot); `remove_bot` and `invite_bot` change that.
        self.members: dict[str, set[str]] = {cid: {"U0OPERATOR", bot_user_id} for cid in self.channels}
        self.refusals: list[dict] = []
        self.api_url = ""
        self.port = 0
        self.on_event: Callable[[str, dict], None] | None = None

        self.messages: list[Message] = []
        self.ephemerals: list[dict] = []
        self.responses: list[dict] = []
        self.home_views: dict[str, dict] = {}
        self.opened_views: list[dict] = []
        self.updated_views: list[dict] = []
        self.uploads: list[dict] = []
        self.calls: list[tuple[str, dict]] = []
        self.acks: dict[str, dict] = {}

        self._host = "127.0.0.1"
        self._runner: web.AppRunner | None = None
        self._last_ts_us = 0
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._draining: set[web.WebSocketResponse] = set()
        self._round_robin = 0
        self._sent_at: dict[str, float] = {}
        self._triggers: dict[str, float] = {}
        self._response_url_uses: dict[str, int] = {}
        self._views: dict[str, dict] = {}
        self._pending_files: dict[str, dict] = {}
        self._user_names: dict[str, str] = {"U0OPERATOR": "operator", bot_user_id: "campaign-bot"}
        self._methods: dict[str, Callable[[dict], dict]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "conversations.list": self._conversations_list,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.join": self._conversations_join,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/link/", self._handle_link)
        app.router.add_post("/respond/{envelope_id}", self._handle_respond)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        # A short shutdown timeout: stop() closes the websockets itself, nothing else is long-lived.
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self._host = host
        self.port = self._runner.addresses[0][1]
        self.api_url = f"http://{host}:{self.port}/api/"

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"stand-in stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ inspection

    @property
    def connected(self) -> bool:
        """True while a connection that has had ``hello`` and was not told to disconnect is open."""
        return bool(self._routable_sockets())

    @property
    def connection_count(self) -> int:
        """How many connections envelopes are currently spread over (one per app replica)."""
        return len(self._routable_sockets())

    def channel_messages(
        self, channel: str = "C0TRACTION", *, thread_ts: str | None = None, top_level_only: bool = False
    ) -> list[Message]:
        """Messages in `channel` in posting order; with `thread_ts`, only that thread's replies."""
        found = [m for m in self.messages if m.channel == channel]
        if thread_ts is not None:
            return [m for m in found if m.thread_ts == thread_ts]
        if top_level_only:
            return [m for m in found if m.thread_ts is None]
        return found

    def message_by_ts(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
        """Poll `predicate` until it returns something truthy and return that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                methods = [method for method, _ in self.calls]
                raise TimeoutError(
                    f"{getattr(predicate, '__qualname__', predicate)} still falsy after {timeout}s "
                    f"(connected={self.connected}, acks={len(self.acks)}, Web API calls so far: {methods})"
                )
            await asyncio.sleep(interval)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: self.connected, timeout)

    async def wait_ack(self, envelope_id: str, timeout: float = 3.0) -> dict:
        return await self.wait_for(lambda: self.acks.get(envelope_id), timeout)

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail; the token is still checked first."""
        if status == 200 and not error:
            raise ValueError("status 200 faults need an error code, e.g. error='channel_not_found'")
        if status not in (200, 429) and status < 500:
            raise ValueError("status must be 200 (with error), 429 or 5xx")
        self._faults[method].extend(_Fault(status, error, retry_after) for _ in range(times))

    def clear_faults(self, method: str | None = None) -> None:
        """Forget queued faults (of one method, or all): the outage is over."""
        if method is None:
            self._faults.clear()
        else:
            self._faults.pop(method, None)

    # ------------------------------------------------------------------ channel membership

    def is_member(self, channel: str = "C0TRACTION", user: str | None = None) -> bool:
        return (user or self.bot_user_id) in self.members.get(channel, set())

    def remove_bot(self, channel: str = "C0TRACTION") -> None:
        """Take the bot out of `channel` (never invited, or removed by someone). Nothing is sent to the
        app: like with Slack, it finds out from ``not_in_channel`` or by asking conversations.info."""
        self.members.setdefault(channel, set()).discard(self.bot_user_id)

    async def invite_bot(self, channel: str = "C0TRACTION", *, inviter: str = "U0OPERATOR") -> str | None:
        """Someone types ``/invite @campaign-bot`` in `channel`. Slack then sends ``member_joined_channel``
        (with ``user`` = the bot) to an app subscribed to it (https://docs.slack.dev/reference/events/
        member_joined_channel; Bolt keeps this self event: slack_bolt/middleware/ignoring_self_events,
        ``events_that_should_be_kept``). Returns the envelope id, or None when no event was sent."""
        self.members.setdefault(channel, set()).add(self.bot_user_id)
        if "member_joined_channel" not in self.bot_events or not self.connected:
            return None
        return await self.send_event({"type": "member_joined_channel", "user": self.bot_user_id, "channel": channel,
                                      "channel_type": "C", "team": self.team_id, "inviter": inviter})

    # ------------------------------------------------------------------ driving the app

    async def send_slash_command(
        self,
        text: str,
        *,
        user_id: str = "U0OPERATOR",
        user_name: str = "operator",
        channel_id: str = "C0TRACTION",
        command: str = "/campaign",
        trigger_id: str | None = None,
    ) -> str:
        envelope_id = self._new_envelope_id(with_response_url=True)
        self._user_names[user_id] = user_name
        payload = {
            "token": "standin-verification-token",
            "team_id": self.team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": self.channels.get(channel_id, "directmessage"),
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._response_url(envelope_id),
            "trigger_id": self._issue_trigger(trigger_id),
        }
        await self._send_envelope(envelope_id, "slash_commands", payload, accepts_response_payload=True)
        return envelope_id

    async def send_block_action(
        self,
        action_id: str,
        value: str,
        *,
        user_id: str = "U0OPERATOR",
        channel_id: str = "C0TRACTION",
        message_ts: str | None = None,
        block_id: str = "b",
        container_type: str = "message",
        view_id: str | None = None,
    ) -> str:
        """Click a button. On a stored message (`message_ts`) or view, the button's real block_id and
        label are used when the button is found in its blocks; `block_id` is the fallback."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_json(user_id),
            "api_app_id": APP_ID,
            "token": "standin-verification-token",
            "trigger_id": self._issue_trigger(None),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if container_type == "view":
            view = self._view_for_action(user_id, view_id)
            blocks = view.get("blocks") or []
            payload.update(container={"type": "view", "view_id": view["id"]}, view=view)
            # Slack gives App Home and modal actions no response_url; respond() must not work there.
            envelope_id = self._new_envelope_id(with_response_url=False)
        else:
            blocks = self._add_message_context(payload, channel_id, message_ts)
            envelope_id = self._new_envelope_id(with_response_url=True)
            payload["response_url"] = self._response_url(envelope_id)
        payload["actions"] = [_button_action(action_id, value, block_id, blocks, self._next_ts())]
        await self._send_envelope(envelope_id, "interactive", payload, accepts_response_payload=False)
        return envelope_id

    async def send_view_submission(
        self, view: dict, *, user_id: str = "U0OPERATOR", values: dict | None = None
    ) -> str:
        view_id = view.get("id") or _new_id("V")
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "user": self._user_json(user_id),
            "api_app_id": APP_ID,
            "token": "standin-verification-token",
            "trigger_id": self._issue_trigger(None),
            "view": {
                **view,
                "id": view_id,
                "team_id": self.team_id,
                "type": view.get("type", "modal"),
                "callback_id": view.get("callback_id", ""),
                "private_metadata": view.get("private_metadata", ""),
                "state": {"values": values or {}},
                "app_id": APP_ID,
                "bot_id": BOT_ID,
            },
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        envelope_id = self._new_envelope_id(with_response_url=False)
        await self._send_envelope(envelope_id, "interactive", payload, accepts_response_payload=True)
        return envelope_id

    async def send_event(self, event: dict) -> str:
        envelope_id = self._new_envelope_id(with_response_url=False)
        now = time.time()
        payload = {
            "token": "standin-verification-token",
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": {"event_ts": self._next_ts(), **event},
            "type": "event_callback",
            "event_id": _new_id("Ev"),
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        await self._send_envelope(
            envelope_id, "events_api", payload, accepts_response_payload=False, retry_attempt=0, retry_reason=""
        )
        return envelope_id

    async def disconnect_clients(self, reason: str = "refresh_requested") -> None:
        """Ask every connection to reconnect, as Slack does before recycling a websocket host."""
        for ws in self._routable_sockets():
            # Slack routes nothing more to a connection it has told to go away.
            self._draining.add(ws)
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "standin"}})

    async def drop_connections(self) -> None:
        """Close every websocket abruptly (a network cut or a Slack outage, not a polite disconnect)."""
        for ws in list(self._sockets):
            await ws.close(code=1011, message=b"standin outage")

    # ------------------------------------------------------------------ Socket Mode internals

    def _routable_sockets(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self._sockets if not ws.closed and ws not in self._draining]

    async def _send_envelope(
        self, envelope_id: str, envelope_type: str, payload: dict, *, accepts_response_payload: bool, **extra: Any
    ) -> None:
        await self.wait_connected()
        sockets = self._routable_sockets()
        ws = sockets[self._round_robin % len(sockets)]
        self._round_robin += 1
        self._sent_at[envelope_id] = time.monotonic()
        await ws.send_json(
            {
                "envelope_id": envelope_id,
                "type": envelope_type,
                "accepts_response_payload": accepts_response_payload,
                "payload": payload,
                **extra,
            }
        )

    async def _handle_link(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        # autoping answers the SDK's "sdk-ping-pong" pings; without pongs it declares the session stale.
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets) + 1,
                "debug_info": {"host": "standin", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }
        )
        self._sockets.append(ws)
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._record_ack(frame.data)
        finally:
            self._sockets.remove(ws)
            self._draining.discard(ws)
        return ws

    def _record_ack(self, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            logger.warning("slack stand-in: non-JSON frame from app: %r", raw[:200])
            return
        envelope_id = frame.get("envelope_id")
        if envelope_id not in self._sent_at or envelope_id in self.acks:
            return
        payload = frame.get("payload") or None
        self.acks[envelope_id] = {"payload": payload, "latency": time.monotonic() - self._sent_at[envelope_id]}
        if payload and (payload.get("text") or payload.get("blocks")):
            error = self._reply_error(payload)
            if error is not None:  # Slack shows the user an error instead of the reply
                self._refuse("ack", error[0], error[1], payload)
                return
            self._record_response(envelope_id, payload, via="ack")

    def _new_envelope_id(self, *, with_response_url: bool) -> str:
        envelope_id = str(uuid.uuid4())
        if with_response_url:
            self._response_url_uses[envelope_id] = 0
        return envelope_id

    def _response_url(self, envelope_id: str) -> str:
        return f"http://{self._host}:{self.port}/respond/{envelope_id}"

    def _issue_trigger(self, trigger_id: str | None) -> str:
        trigger_id = trigger_id or f"{int(time.time())}.{self.team_id}.{uuid.uuid4().hex}"
        self._triggers[trigger_id] = time.monotonic()
        return trigger_id

    def _user_json(self, user_id: str) -> dict:
        name = self._user_names.get(user_id, user_id.lower())
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _add_message_context(self, payload: dict, channel_id: str, message_ts: str | None) -> list:
        """Fill channel/container/message for a click on a message; return that message's blocks."""
        payload["channel"] = {"id": channel_id, "name": self.channels.get(channel_id, "directmessage")}
        if message_ts is None:
            # Clicks on ephemeral messages carry no "message": Slack does not store ephemerals.
            payload["container"] = {
                "type": "message",
                "message_ts": self._next_ts(),
                "channel_id": channel_id,
                "is_ephemeral": True,
            }
            return []
        message = self.message_by_ts(channel_id, message_ts)
        if message is None:
            raise ValueError(f"no message {message_ts} in {channel_id} to click on")
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        payload["message"] = self._message_json(message)
        return message.blocks or []

    def _view_for_action(self, user_id: str, view_id: str | None) -> dict:
        if view_id is not None:
            return self._views.get(view_id) or {"id": view_id, "type": "home", "blocks": []}
        if user_id in self.home_views:
            return self.home_views[user_id]
        raise ValueError(f"no view_id given and no home view published for {user_id}")

    # ------------------------------------------------------------------ response_url and uploads

    async def _handle_respond(self, request: web.Request) -> web.Response:
        envelope_id = request.match_info["envelope_id"]
        uses = self._response_url_uses.get(envelope_id)
        if uses is None:
            return web.Response(status=404, text="no_such_url")
        if uses >= RESPONSE_URL_MAX_USES:
            return web.Response(status=404, text="used_url")
        self._response_url_uses[envelope_id] = uses + 1
        body = await request.json()
        error = self._reply_error(body)
        if error is not None:
            # response_url answers like an incoming webhook: HTTP 400 with the error as plain text
            # (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks, "Handling errors").
            self._refuse("response_url", error[0], error[1], body)
            return web.Response(status=400, text=error[0])
        self._record_response(envelope_id, body, via="response_url")
        return web.Response(text="ok")

    @staticmethod
    def _reply_error(body: dict) -> tuple[str, list[str]] | None:
        """What Slack would refuse in a reply (response_url or an ack's payload)."""
        if len(str(body.get("text") or "")) > MAX_TEXT_CHARS:
            return "msg_too_long", []
        if body.get("blocks") is not None:
            problems = blockkit.problems(body["blocks"])
            if problems:
                return "invalid_blocks", problems
        return None

    def _record_response(self, envelope_id: str, body: dict, *, via: str) -> None:
        record = {
            "via": via,
            "envelope_id": envelope_id,
            "text": body.get("text"),
            "blocks": body.get("blocks"),
            "response_type": body.get("response_type", "ephemeral"),
            "replace_original": _truthy(body.get("replace_original")),
            "delete_original": _truthy(body.get("delete_original")),
        }
        self.responses.append(record)
        self._emit("response", record)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        pending = self._pending_files.get(request.match_info["file_id"])
        if pending is None:
            return web.Response(status=404, text="file_not_found")
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            part = await reader.next()
            pending["bytes"] = bytes(await part.read()) if part is not None else b""
        else:
            pending["bytes"] = await request.read()
        return web.Response(text=f"OK - {len(pending['bytes'])}")

    # ------------------------------------------------------------------ Web API dispatch

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        scopes = APP_SCOPES if method == "apps.connections.open" else self.scopes
        try:
            params = await _read_params(request)
            token = params.pop("token", None) or _bearer(request)
            self.calls.append((method, params))
            handler = self._methods.get(method)
            if handler is None:
                raise _ApiError("unknown_method")
            self._authenticate(method, token)
            if self._faults[method]:
                return self._faults[method].popleft().response()
            body = {"ok": True, **handler(params)}
        except _ApiError as exc:
            body = {"ok": False, "error": exc.error, **exc.extra}
            if method.startswith(("chat.", "views.", "files.")):
                self._refuse(method, exc.error, (exc.extra.get("response_metadata") or {}).get("messages", []), params)
        return web.json_response(body, headers={"x-oauth-scopes": scopes})

    def _refuse(self, where: str, error: str, messages: list[str], params: dict) -> None:
        self.refusals.append({"method": where, "error": error, "messages": messages, "params": params})

    def _authenticate(self, method: str, token: str | None) -> None:
        if not token:
            raise _ApiError("not_authed")
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token == expected:
            return
        if token in (self.bot_token, self.app_token):
            raise _ApiError("not_allowed_token_type")
        raise _ApiError("invalid_auth")

    # ------------------------------------------------------------------ Web API methods

    def _auth_test(self, params: dict) -> dict:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Stand-in",
            "user": "campaign-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict) -> dict:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        return {"url": f"ws://{self._host}:{self.port}/link/?ticket={ticket}"}

    def _chat_post_message(self, params: dict) -> dict:
        channel = self._resolve_channel(params.get("channel"))
        self._require_member(channel, posting=True)
        text, blocks = _message_content(params)
        thread_ts = _str_or_none(params.get("thread_ts"))
        if thread_ts is not None:
            self._thread_parent(channel, thread_ts)
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            metadata=_metadata(params),
            thread_ts=thread_ts,
            reply_broadcast=thread_ts is not None and _truthy(params.get("reply_broadcast")),
            user=self.bot_user_id,
        )
        self.messages.append(message)
        self._emit("message", dataclasses.asdict(message))
        return {"channel": channel, "ts": message.ts, "message": self._message_json(message)}

    def _chat_update(self, params: dict) -> dict:
        channel = params.get("channel")
        # chat.update wants the channel id; names are not resolved here (same as Slack).
        if channel not in self.channels:
            raise _ApiError("channel_not_found")
        self._require_member(channel, posting=True)
        message = self.message_by_ts(channel, _str_or_none(params.get("ts")) or "")
        if message is None:
            raise _ApiError("message_not_found")
        if all(params.get(key) is None for key in ("text", "blocks", "metadata")):
            raise _ApiError("no_text")
        # Omitted fields keep their previous value; an empty list/object clears them (Slack semantics).
        # Everything is checked first: a refused update changes nothing.
        text = str(params["text"]) if params.get("text") is not None else message.text
        _check_text_length(text)
        blocks = _blocks(params["blocks"]) if params.get("blocks") is not None else message.blocks
        metadata = _metadata(params) if params.get("metadata") is not None else message.metadata
        message.text, message.blocks, message.metadata = text, blocks, metadata
        message.edits.append(
            {"text": message.text, "blocks": message.blocks, "metadata": message.metadata, "at": time.time()}
        )
        self._emit("update", dataclasses.asdict(message))
        return {"channel": channel, "ts": message.ts, "text": message.text, "message": self._message_json(message)}

    def _chat_post_ephemeral(self, params: dict) -> dict:
        channel = self._resolve_channel(params.get("channel"))
        self._require_member(channel, posting=True)
        if not params.get("user"):
            raise _ApiError("user_not_in_channel")
        text, blocks = _message_content(params)
        ephemeral = {
            "channel": channel,
            "user": params["user"],
            "text": text,
            "blocks": blocks,
            "thread_ts": _str_or_none(params.get("thread_ts")),
            "message_ts": self._next_ts(),
        }
        self.ephemerals.append(ephemeral)
        self._emit("ephemeral", ephemeral)
        return {"message_ts": ephemeral["message_ts"]}

    def _views_publish(self, params: dict) -> dict:
        user_id = params.get("user_id")
        if not user_id:
            raise _ApiError("invalid_arguments")
        view = _view_argument(params, view_type="home")
        # A user's Home tab keeps one view id across publishes.
        previous = self.home_views.get(user_id)
        stored = self._store_view(view, previous["id"] if previous else None)
        self.home_views[user_id] = stored
        self._emit("home", {"user_id": user_id, "view": stored})
        return {"view": stored}

    def _views_open(self, params: dict) -> dict:
        trigger_id = params.get("trigger_id")
        self._check_trigger(trigger_id)
        stored = self._store_view(_view_argument(params, view_type="modal"), None)
        opened = {"trigger_id": trigger_id, "view": stored, "view_id": stored["id"]}
        self.opened_views.append(opened)
        self._emit("view_open", opened)
        return {"view": stored}

    def _views_update(self, params: dict) -> dict:
        view_id = params.get("view_id") or self._view_id_by_external_id(params.get("external_id"))
        if view_id not in self._views:
            raise _ApiError("not_found")
        view = _view_argument(params, view_type=self._views[view_id]["type"])
        stored = self._store_view(view, view_id)
        self.updated_views.append({"view_id": view_id, "view": stored})
        return {"view": stored}

    def _conversations_list(self, params: dict) -> dict:
        channels = [self._channel_json(cid) for cid in self.channels]
        return {"channels": channels, "response_metadata": {"next_cursor": ""}}

    def _conversations_info(self, params: dict) -> dict:
        return {"channel": self._channel_json(self._channel_id(params))}

    def _conversations_members(self, params: dict) -> dict:
        # A public channel's members can be read with channels:read without being one of them.
        members = sorted(self.members.get(self._channel_id(params), set()))
        start = _decode_cursor(params.get("cursor"))
        limit = int(params.get("limit") or DEFAULT_PAGE_LIMIT)
        more = start + limit < len(members)
        return {"members": members[start:start + limit],
                "response_metadata": {"next_cursor": _encode_cursor(start + limit) if more else ""}}

    def _conversations_join(self, params: dict) -> dict:
        # conversations.join needs channels:join (https://docs.slack.dev/reference/methods/conversations.join);
        # without it Slack answers missing_scope naming what was needed and what the token has.
        if "channels:join" not in self.scopes.split(","):
            raise _ApiError("missing_scope", needed="channels:join", provided=self.scopes)
        channel = self._channel_id(params)
        self.members.setdefault(channel, set()).add(self.bot_user_id)
        return {"channel": self._channel_json(channel)}

    def _conversations_history(self, params: dict) -> dict:
        channel = self._channel_id(params)
        self._require_member(channel)
        # A channel shows its top-level messages plus thread replies broadcast to it.
        visible = [m for m in self.channel_messages(channel) if m.thread_ts is None or m.reply_broadcast]
        newest_first = _within_window(visible, params)[::-1]
        return self._message_page(newest_first, params)

    def _conversations_replies(self, params: dict) -> dict:
        channel = self._channel_id(params)
        self._require_member(channel)
        parent = self._thread_parent(channel, _str_or_none(params.get("ts")) or "")
        thread = [parent, *_within_window(self.channel_messages(channel, thread_ts=parent.ts), params)]
        return self._message_page(thread, params)

    def _users_info(self, params: dict) -> dict:
        user_id = str(params.get("user") or "")
        if not user_id.startswith(("U", "W")):
            raise _ApiError("user_not_found")
        name = self._user_names.get(user_id, user_id.lower())
        return {
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "real_name": name,
                "deleted": False,
                "is_bot": user_id == self.bot_user_id,
                "tz": "Europe/London",
                "tz_label": "Greenwich Mean Time",
                "tz_offset": 0,
                "profile": {"display_name": name, "real_name": name},
            }
        }

    def _files_get_upload_url(self, params: dict) -> dict:
        filename = params.get("filename")
        try:
            length = int(params.get("length"))
        except (TypeError, ValueError):
            raise _ApiError("invalid_arguments") from None
        if not filename:
            raise _ApiError("invalid_arguments")
        file_id = _new_id("F")
        self._pending_files[file_id] = {"filename": filename, "length": length, "bytes": None}
        return {"upload_url": f"http://{self._host}:{self.port}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: dict) -> dict:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise _ApiError("invalid_arguments")
        channel_id = params.get("channel_id") or str(params.get("channels") or "").split(",")[0]
        channel_id = self._resolve_channel(channel_id) if channel_id else None
        thread_ts = _str_or_none(params.get("thread_ts"))
        if thread_ts is not None:
            if channel_id is None:
                raise _ApiError("invalid_arguments")
            self._thread_parent(channel_id, thread_ts)
        if channel_id is not None:
            self._require_member(channel_id, posting=True)
        comment = str(params.get("initial_comment") or "")
        _check_text_length(comment)
        for item in files:
            pending = self._pending_files.get(item.get("id"))
            if pending is None or pending["bytes"] is None:
                raise _ApiError("file_not_found")
        completed = []
        # Shared into a channel, the files arrive as one message (in the thread, with thread_ts) whose
        # text is the initial comment and whose `files` name them; conversations.history/replies show it.
        message = None
        if channel_id is not None:
            message = Message(channel=channel_id, ts=self._next_ts(), text=comment, blocks=None, metadata=None,
                              thread_ts=thread_ts, reply_broadcast=False, user=self.bot_user_id)
        for item in files:
            pending = self._pending_files.pop(item["id"])
            upload = {
                "file_id": item["id"],
                "filename": pending["filename"],
                "title": item.get("title") or pending["filename"],
                "length": pending["length"],
                "bytes": pending["bytes"],
                "channel_id": channel_id,
                "thread_ts": thread_ts,
                "initial_comment": params.get("initial_comment"),
                "ts": message.ts if message else None,
            }
            self.uploads.append(upload)
            if message is not None:
                message.files.append(upload)
            self._emit("upload", upload)
            completed.append({"id": upload["file_id"], "name": upload["filename"], "title": upload["title"]})
        if message is not None:
            self.messages.append(message)
        return {"files": completed}

    # ------------------------------------------------------------------ Web API helpers

    def _next_ts(self) -> str:
        """A Slack-style ts: wall-clock microseconds, bumped so every ts is unique and increasing."""
        self._last_ts_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _resolve_channel(self, channel: Any) -> str:
        """Accept an id, ``#name`` or ``name`` like chat.postMessage does."""
        if channel in self.channels:
            return channel
        name = str(channel or "").removeprefix("#")
        for channel_id, channel_name in self.channels.items():
            if channel_name == name:
                return channel_id
        raise _ApiError("channel_not_found")

    def _channel_id(self, params: dict) -> str:
        channel = params.get("channel")
        if channel not in self.channels:
            raise _ApiError("channel_not_found")
        return channel

    def _channel_json(self, channel_id: str) -> dict:
        members = self.members.get(channel_id, set())
        return {"id": channel_id, "name": self.channels[channel_id], "is_channel": True, "is_private": False,
                "is_archived": False, "is_member": self.bot_user_id in members, "num_members": len(members)}

    def _require_member(self, channel_id: str, *, posting: bool = False) -> None:
        """chat.postMessage, chat.update, chat.postEphemeral, files.completeUploadExternal and
        conversations.history/replies answer ``not_in_channel`` to a bot that is not a member
        (https://docs.slack.dev/reference/methods/chat.postMessage, errors). Only chat:write.public
        lets a bot post to a public channel without joining it
        (https://docs.slack.dev/reference/scopes/chat.write.public); the manifest does not ask for it."""
        if self.is_member(channel_id):
            return
        if posting and "chat:write.public" in self.scopes.split(","):
            return
        raise _ApiError("not_in_channel")

    def _thread_parent(self, channel: str, thread_ts: str) -> Message:
        parent = self.message_by_ts(channel, thread_ts)
        if parent is None or parent.thread_ts is not None:
            raise _ApiError("thread_not_found")
        return parent

    def _check_trigger(self, trigger_id: Any) -> None:
        if not trigger_id:
            raise _ApiError("invalid_arguments")
        issued_at = self._triggers.get(trigger_id)
        if issued_at is None:
            raise _ApiError("invalid_trigger_id")
        if time.monotonic() - issued_at > TRIGGER_TTL_SECONDS:
            raise _ApiError("expired_trigger_id")

    def _store_view(self, view: dict, view_id: str | None) -> dict:
        stored = {
            **view,
            "id": view_id or _new_id("V"),
            "team_id": self.team_id,
            "callback_id": view.get("callback_id", ""),
            "private_metadata": view.get("private_metadata", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": uuid.uuid4().hex,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }
        self._views[stored["id"]] = stored
        return stored

    def _view_id_by_external_id(self, external_id: Any) -> str | None:
        if not external_id:
            return None
        return next((vid for vid, view in self._views.items() if view["external_id"] == external_id), None)

    def _message_json(self, message: Message, *, include_metadata: bool = True) -> dict:
        """The message as Slack's APIs and interactive payloads show it."""
        out: dict[str, Any] = {
            "type": "message",
            "user": message.user,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self.team_id,
            "ts": message.ts,
            "text": message.text,
        }
        if message.blocks:
            out["blocks"] = message.blocks
        if message.metadata and include_metadata:
            out["metadata"] = message.metadata
        if message.edits:
            out["edited"] = {"user": message.user, "ts": f"{message.edits[-1]['at']:.6f}"}
        if message.files:
            out["upload"] = True
            out["files"] = [{"id": f["file_id"], "name": f["filename"], "title": f["title"], "size": f["length"]}
                            for f in message.files]
        if message.thread_ts is not None:
            out["thread_ts"] = message.thread_ts
            if message.reply_broadcast:
                out["subtype"] = "thread_broadcast"
            return out
        replies = self.channel_messages(message.channel, thread_ts=message.ts)
        if replies:
            out.update(thread_ts=message.ts, reply_count=len(replies), latest_reply=replies[-1].ts)
        return out

    def _message_page(self, ordered: list[Message], params: dict) -> dict:
        start = _decode_cursor(params.get("cursor"))
        limit = int(params.get("limit") or DEFAULT_PAGE_LIMIT)
        page = ordered[start : start + limit]
        has_more = start + limit < len(ordered)
        include_metadata = _truthy(params.get("include_all_metadata"))
        return {
            "messages": [self._message_json(m, include_metadata=include_metadata) for m in page],
            "has_more": has_more,
            "response_metadata": {"next_cursor": _encode_cursor(start + limit) if has_more else ""},
        }

    def _emit(self, kind: str, data: dict) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(kind, data)
        except Exception:
            # An observer (the demo transcript printer) must never turn into an API failure for the app.
            logger.exception("slack stand-in on_event observer failed for %s", kind)


# ---------------------------------------------------------------------- module helpers


async def _read_params(request: web.Request) -> dict:
    """Merge query string and body (JSON, form or multipart); decode JSON-string fields of form bodies."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                params.update(await request.json())
            except ValueError:
                raise _ApiError("invalid_json") from None
        else:
            params.update(await request.post())
    for key in JSON_STRING_FIELDS:
        if isinstance(params.get(key), str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                raise _ApiError("invalid_blocks_format" if key == "blocks" else "invalid_arguments") from None
    return params


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _str_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:10].upper()


def _blocks(value: Any) -> list | None:
    """A message's blocks as Slack checks them: any broken limit refuses the whole message with
    invalid_blocks ("Blocks submitted with this message are not valid", chat.postMessage errors)."""
    problems = blockkit.problems(value)
    if problems:
        raise _invalid("invalid_blocks", problems)
    return value or None


def _check_text_length(text: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise _ApiError("msg_too_long")


def _message_content(params: dict) -> tuple[str, list | None]:
    """Text and blocks of a new message; Slack wants at least one of them."""
    text = params.get("text")
    blocks = _blocks(params["blocks"]) if params.get("blocks") is not None else None
    if not text and not blocks:
        raise _ApiError("no_text")
    text = str(text or "")
    _check_text_length(text)
    return text, blocks


def _metadata(params: dict) -> dict | None:
    metadata = params.get("metadata")
    if not metadata:
        return None
    if not isinstance(metadata, dict) or "event_type" not in metadata or "event_payload" not in metadata:
        raise _ApiError("invalid_metadata_format")
    return metadata


def _view_argument(params: dict, *, view_type: str) -> dict:
    view = params.get("view")
    if not isinstance(view, dict) or view.get("type") != view_type:
        raise _ApiError("invalid_arguments")
    if view_type == "modal" and not view.get("title"):
        raise _invalid("invalid_arguments", ["[ERROR] missing required field: title [json-pointer:/view]"])
    # views.* refuse a view that breaks a Block Kit limit (more than 100 blocks, a section over 3000
    # characters...) with invalid_arguments and the problems in response_metadata.messages, e.g.
    # {"ok": false, "error": "invalid_arguments", "response_metadata": {"messages": ["[ERROR] ...
    # [json-pointer:/view]"]}} (a recorded views.publish answer: slack-web's test fixture
    # failed_view_publish.json; views.publish lists invalid_arguments, not invalid_blocks).
    problems = blockkit.view_problems(view)
    if problems:
        raise _invalid("invalid_arguments", problems)
    return view


def _within_window(messages: list[Message], params: dict) -> list[Message]:
    """Apply conversations.* ``oldest``/``latest``/``inclusive`` (exclusive bounds unless inclusive)."""
    try:
        oldest = Decimal(str(params.get("oldest") or "0"))
        latest = Decimal(str(params["latest"])) if params.get("latest") else None
    except InvalidOperation:
        raise _ApiError("invalid_ts_oldest") from None
    inclusive = _truthy(params.get("inclusive"))

    def inside(message: Message) -> bool:
        ts = Decimal(message.ts)
        above = ts >= oldest if inclusive else ts > oldest
        below = latest is None or (ts <= latest if inclusive else ts < latest)
        return above and below

    return [m for m in messages if inside(m)]


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(str(cursor)).decode().removeprefix("offset:"))
    except (ValueError, binascii.Error):
        raise _ApiError("invalid_cursor") from None


def _button_action(action_id: str, value: str, block_id: str, blocks: list, action_ts: str) -> dict:
    """The ``actions[0]`` of a button click; block_id and label come from the real button if present."""
    text = value
    for block in blocks:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                block_id = block.get("block_id", block_id)
                text = (element.get("text") or {}).get("text", value)
    return {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value,
        "type": "button",
        "action_ts": action_ts,
    }
