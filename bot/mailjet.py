"""Our one door to Mailjet: the mailjet-rest client behind an async interface.

mailjet-rest is synchronous (requests), so every call runs in a worker thread. Its own retry
policy (3 retries on 429 and 5xx, POST included, on https only) could send a campaign twice
or leave an orphan list or draft when an answer is lost after Mailjet carried out a write.
We mount our own policy on http and https alike (`MailjetRetry`):

- reads (GET) are retried on 429, 5xx and lost connections, honouring Retry-After;
- writes (POST, PUT, DELETE) are retried only on 429 ("too many requests": Mailjet did
  nothing) and on failures to connect (nothing was sent); never on a 5xx or a timeout, which
  may come after the write was carried out. The product itself settles those: creates look
  for what a lost answer may have made (`ensure_list`, `ensure_draft`), the send reconciles
  from the draft's Status (jobs/launch.py).

Calls are bounded on our side (bot/limiter.py): MAILJET_MAX_CONCURRENT in flight and
MAILJET_MAX_REQUESTS_PER_SECOND started per second, on threads of our own.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mailjet_rest import Client
from mailjet_rest import errors as mj_errors
from mailjet_rest.utils.guardrails import SecureHTTPAdapter
from urllib3.util.retry import Retry

from bot.limiter import Limiter
from bot.logs import get_logger

log = get_logger(__name__)

PAGE_SIZE = 1000
# campaigndraft Status (Mailjet's API reference): 1 "programmed" is also what a draft reads
# while Mailjet is still sending it in the background after POST /send.
DRAFT_STATUS = {-3: "A/X cancelled", -2: "deleted", -1: "archived", 0: "draft", 1: "programmed", 2: "sent",
                3: "A/X testing", 4: "A/X selected"}
DRAFT, PROGRAMMED, SENT = 0, 1, 2
# How often a create whose answer was lost is looked for and tried again before giving up.
CREATE_ATTEMPTS = 3
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


class MailjetRetry(Retry):
    """Retries that can never repeat a write Mailjet may have carried out (see the module doc)."""

    def _is_method_retryable(self, method: str) -> bool:
        # Consulted for read errors (a timeout or a dropped connection after the request went out).
        return method.upper() in IDEMPOTENT

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() not in IDEMPOTENT:
            # 429: Mailjet's rate limit refused the request before doing anything.
            return bool(self.total) and status_code == 429
        return super().is_retry(method, status_code, has_retry_after)


def retry_policy() -> MailjetRetry:
    # raise_on_status=False: when retries run out the last answer is returned, so a persistent
    # 429 still reads as a 429 (urllib3 would otherwise turn it into an anonymous error).
    return MailjetRetry(total=3, connect=3, read=2, status=3, backoff_factor=0.5, backoff_max=8,
                        status_forcelist=(429, 500, 502, 503, 504), respect_retry_after_header=True,
                        raise_on_status=False, allowed_methods=None)


class MailjetError(Exception):
    """A Mailjet call failed. `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, ambiguous: bool = False):
        super().__init__(message)
        self.status = status
        # True when the request may have been applied although no answer came back.
        self.ambiguous = ambiguous

    @property
    def rate_limited(self) -> bool:
        """Mailjet answered 429: nothing was done; the same call may be made again later."""
        return self.status == 429


class MailjetNotFound(MailjetError):
    pass


@dataclass(frozen=True)
class Member:
    contact_id: int
    unsubscribed: bool


@dataclass(frozen=True)
class Contact:
    contact_id: int
    email: str
    excluded: bool


def _translate(exc: Exception, what: str) -> MailjetError:
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "response_body", None)
    detail = ""
    if isinstance(body, dict):
        detail = body.get("ErrorMessage") or ""
    elif isinstance(body, str):
        detail = body[:200]
    if isinstance(exc, mj_errors.DoesNotExistError):
        return MailjetNotFound(f"{what}: not found in Mailjet", status=404)
    if isinstance(exc, mj_errors.MailjetAuthError):
        return MailjetError(f"{what}: Mailjet refused the credentials (check MAILJET_API_KEY/SECRET)", status=status)
    if isinstance(exc, mj_errors.TimeoutError):
        return MailjetError(f"{what}: Mailjet did not answer in time", ambiguous=True)
    if isinstance(exc, mj_errors.CriticalApiError):
        return MailjetError(f"{what}: could not reach Mailjet ({exc})", ambiguous=True)
    if isinstance(exc, mj_errors.ValidationError):
        return MailjetError(f"{what}: Mailjet rejected it: {detail or exc}", status=400)
    if isinstance(exc, mj_errors.ApiRateLimitError):
        return MailjetError(f"{what}: Mailjet is rate-limiting (429 Too Many Requests)", status=429)
    # Other ApiErrors are 5xx: the request may or may not have been applied.
    return MailjetError(f"{what}: Mailjet error: {detail or exc}", status=status, ambiguous=True)


def _release_soon(loop: asyncio.AbstractEventLoop, limiter: Limiter) -> None:
    try:
        loop.call_soon_threadsafe(limiter.release)
    except RuntimeError:
        pass  # the loop is closed (shutdown): nobody waits for a slot any more


class Mailjet:
    def __init__(self, api_key: str, api_secret: str, api_url: str, *, timeout: float = 30.0, settle_pause: float = 1.0,
                 max_concurrent: int = 20, max_per_second: int = 50):
        # How long to let a write whose answer was lost land before looking for its result.
        self.settle_pause = settle_pause
        self._client = Client(auth=(api_key, api_secret), api_url=api_url, version="v3", timeout=timeout)
        # As many pooled connections as calls may be in flight; one policy for http and https.
        adapter = SecureHTTPAdapter(pool_connections=1, pool_maxsize=max_concurrent, max_retries=retry_policy())
        for scheme in ("https://", "http://"):
            self._client.session.mount(scheme, adapter)
        # Calls share one limit (Mailjet's is per API key) and one pool of threads sized to it
        # (asyncio's default executor has min(32, cpus + 4) threads, shared with everything else).
        self._limiter = Limiter(max_concurrent, max_per_second)
        self._executor = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="mailjet")

    def close(self) -> None:
        self._client.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _in_thread(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking client call on the Mailjet threads, inside the limiter. The slot is
        released when the thread is done, not when the caller stops waiting."""
        loop = asyncio.get_running_loop()
        await self._limiter.acquire()
        try:
            future = self._executor.submit(contextvars.copy_context().run, functools.partial(func, *args, **kwargs))
        except BaseException:
            self._limiter.release()
            raise
        future.add_done_callback(lambda _: _release_soon(loop, self._limiter))
        return await asyncio.wrap_future(future)

    async def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._in_thread(func, *args, **kwargs)
        except mj_errors.ApiError as exc:
            raise _translate(exc, what) from exc
        if not response.content:
            return {}
        return response.json()

    @staticmethod
    def _first(payload: dict[str, Any], what: str) -> dict[str, Any]:
        data = payload.get("Data") or []
        if not data:
            raise MailjetNotFound(f"{what}: not found in Mailjet", status=404)
        return data[0]

    # --- reads ---------------------------------------------------------------------------

    async def check_credentials(self) -> int:
        """A cheap authenticated GET; returns how many contact lists the account has."""
        payload = await self._call("credentials check", self._client.contactslist.get, filters={"countOnly": 1})
        return int(payload.get("Total", payload.get("Count", 0)))

    async def get_list(self, list_id: int) -> dict[str, Any]:
        return self._first(await self._call(f"contacts list {list_id}", self._client.contactslist.get, id=list_id), f"contacts list {list_id}")

    async def find_list_by_name(self, name: str) -> dict[str, Any] | None:
        payload = await self._call(f"contacts list {name!r}", self._client.contactslist.get, filters={"Name": name})
        for item in payload.get("Data") or []:
            if item.get("Name") == name and not item.get("IsDeleted"):
                return item
        return None

    async def _pages(self, what: str, endpoint: Any, filters: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
        """Offset paging, PAGE_SIZE at a time, until a short page (Mailjet's Total is the page size)."""
        offset = 0
        while True:
            payload = await self._call(what, endpoint.get, filters={**filters, "Limit": PAGE_SIZE, "Offset": offset})
            data = payload.get("Data") or []
            if data:
                yield data
            if len(data) < PAGE_SIZE:
                return
            offset += len(data)

    async def iter_members(self, list_id: int) -> AsyncIterator[list[Member]]:
        """Pages of list membership (ContactID and unsubscribed flag)."""
        async for page in self._pages(f"members of list {list_id}", self._client.listrecipient, {"ContactsList": list_id}):
            yield [Member(int(d["ContactID"]), bool(d.get("IsUnsubscribed"))) for d in page]

    async def iter_contacts(self, list_id: int) -> AsyncIterator[list[Contact]]:
        """Pages of the list's contacts with their email and campaign exclusion."""
        async for page in self._pages(f"contacts of list {list_id}", self._client.contact, {"ContactsList": list_id}):
            yield [Contact(int(d["ID"]), str(d["Email"]), bool(d.get("IsExcludedFromCampaigns"))) for d in page]

    async def get_draft(self, draft_id: int) -> dict[str, Any]:
        return self._first(await self._call(f"campaign draft {draft_id}", self._client.campaigndraft.get, id=draft_id), f"campaign draft {draft_id}")

    async def get_draft_content(self, draft_id: int) -> dict[str, Any]:
        payload = await self._call(f"content of draft {draft_id}", self._client.campaigndraft_detailcontent.get, id=draft_id)
        data = payload.get("Data") or [{}]
        return data[0]

    async def find_drafts_for_list(self, list_id: int) -> list[dict[str, Any]]:
        payload = await self._call(
            f"drafts of list {list_id}", self._client.campaigndraft.get, filters={"ContactsList": list_id, "Limit": 100}
        )
        return [d for d in payload.get("Data") or [] if int(d.get("ContactsListID") or 0) == list_id]

    async def get_sender(self, email: str) -> dict[str, Any] | None:
        payload = await self._call(f"sender {email}", self._client.sender.get, filters={"Email": email})
        for item in payload.get("Data") or []:
            if str(item.get("Email", "")).lower() == email.lower():
                return item
        return None

    async def sent_campaign(self, draft_id: int) -> tuple[int, int | None]:
        """(Status, campaign id or None) of a draft. Right after a send Mailjet may read
        Status 1 with CampaignID 0 for a while: the send is under way, the id comes later."""
        draft = await self.get_draft(draft_id)
        return int(draft.get("Status", -99)), int(draft.get("CampaignID") or 0) or None

    async def statcounters(self, campaign_id: int) -> dict[str, Any] | None:
        payload = await self._call(
            f"statistics of campaign {campaign_id}",
            self._client.statcounters.get,
            filters={
                "CounterSource": "Campaign",
                "CounterTiming": "Message",
                "CounterResolution": "Lifetime",
                "SourceId": campaign_id,
            },
        )
        data = payload.get("Data") or []
        return data[0] if data else None

    async def iter_messages(self, campaign_id: int, status: int) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of a sent campaign's messages with a MessageStatus (5 bounces, 6 spam, 7 unsub,
        8 blocked, 9 soft, 10 hard), with the contact's email (ShowContactAlt)."""
        filters = {"Campaign": campaign_id, "MessageStatus": status, "ShowContactAlt": "true"}
        async for page in self._pages(f"messages of campaign {campaign_id}", self._client.message, filters):
            yield page

    # --- writes --------------------------------------------------------------------------

    async def _settle_write(self, what: str, attempt: int, exc: MailjetError) -> None:
        """After a write failed: raise unless its answer may only have been lost (or refused
        for now), in which case pause before the caller looks for what it may have made."""
        if not (exc.ambiguous or exc.rate_limited) or attempt >= CREATE_ATTEMPTS:
            raise exc
        log.warning("mailjet write unsettled; looking before trying again", what=what, error=str(exc), attempt=attempt)
        await asyncio.sleep(self.settle_pause * attempt)

    async def ensure_list(self, name: str) -> tuple[int, bool]:
        """The contacts list called `name`: (id, found). Looked for before every create, so a
        create whose answer was lost is adopted, not made twice. Mailjet refuses a second list
        of the same name (400): that too means "look again"."""
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            existing = await self.find_list_by_name(name)
            if existing is not None:
                return int(existing["ID"]), True
            try:
                payload = await self._call(f"create list {name!r}", self._client.contactslist.create, data={"Name": name})
                return int(self._first(payload, f"create list {name!r}")["ID"]), False
            except MailjetError as exc:
                if exc.status == 400 and attempt < CREATE_ATTEMPTS:
                    continue
                await self._settle_write(f"create list {name!r}", attempt, exc)
        raise MailjetError(f"create list {name!r}: not created after {CREATE_ATTEMPTS} attempts")

    async def _repeatable_write(self, what: str, func: Any, **kwargs: Any) -> dict[str, Any]:
        """A write whose repetition changes nothing: made again when its answer may be lost."""
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return await self._call(what, func, **kwargs)
            except MailjetError as exc:
                await self._settle_write(what, attempt, exc)  # raises on the last attempt
        raise AssertionError("unreachable")

    async def add_contacts(self, list_id: int, emails: list[str], *, action: str = "addforce") -> int:
        """Start a managemanycontacts job; its JobID. Adding the same contacts again changes
        nothing, so a call whose answer was lost is simply made again."""
        payload = await self._repeatable_write(f"add contacts to list {list_id}", self._client.contactslist_managemanycontacts.create,
                                               id=list_id, data={"Action": action, "Contacts": [{"Email": e} for e in emails]})
        return int(self._first(payload, "managemanycontacts")["JobID"])

    async def wait_for_job(self, list_id: int, job_id: int, *, timeout: float = 600.0, interval: float = 0.2) -> dict[str, Any]:
        """Poll a managemanycontacts job until it completes; raise if it errors or takes too long."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = interval
        while True:
            payload = await self._call(
                f"contacts job {job_id}",
                self._client.contactslist_managemanycontacts.get,
                id=list_id,
                action_id=job_id,
            )
            job = self._first(payload, f"contacts job {job_id}")
            status = str(job.get("Status", ""))
            if status.lower() == "completed":
                if job.get("Error"):
                    raise MailjetError(f"contacts job {job_id} completed with errors: {job['Error']}")
                return job
            if status.lower() in ("error", "failed", "aborted"):
                raise MailjetError(f"contacts job {job_id} failed: {job.get('Error') or status}")
            if loop.time() > deadline:
                raise MailjetError(f"contacts job {job_id} still {status!r} after {timeout:.0f}s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    async def ensure_draft(self, list_id: int, settings: dict[str, Any]) -> tuple[int, bool]:
        """The campaign draft of a round's own list: (id, found). Every round has a list of its
        own, so any live draft on it is the round's. Looked for before every create; after a
        lost answer, drafts a retried create may have doubled are deleted, the oldest kept."""
        unsettled = False
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            existing = [d for d in await self.find_drafts_for_list(list_id) if int(d.get("Status", 0)) >= DRAFT]
            if existing:
                keep = min(existing, key=lambda d: int(d["ID"]))
                if unsettled:
                    for extra in existing:
                        if extra is not keep and int(extra.get("Status", 0)) == DRAFT:
                            await self._call(f"delete duplicate draft {extra['ID']}", self._client.campaigndraft.update,
                                             id=int(extra["ID"]), data={"Status": -2})
                            log.warning("duplicate draft deleted", draft=int(extra["ID"]), kept=int(keep["ID"]))
                return int(keep["ID"]), not unsettled
            try:
                payload = await self._call("create draft", self._client.campaigndraft.create, data=settings)
                return int(self._first(payload, "create draft")["ID"]), False
            except MailjetError as exc:
                unsettled = True
                await self._settle_write(f"create draft for list {list_id}", attempt, exc)
        raise MailjetError(f"create draft for list {list_id}: not created after {CREATE_ATTEMPTS} attempts")

    async def set_draft_content(self, draft_id: int, content: dict[str, Any]) -> None:
        """Replace the draft's content (POST replaces every part), so repeating it is harmless."""
        await self._repeatable_write(f"content of draft {draft_id}", self._client.campaigndraft_detailcontent.create,
                                     id=draft_id, data=content)

    async def send_draft(self, draft_id: int) -> dict[str, Any]:
        """POST campaigndraft/{id}/send, once. Only a 429 (nothing done) is retried, by the
        transport; any other failure is settled by the caller from the draft's Status."""
        return await self._call(f"send draft {draft_id}", self._client.campaigndraft_send.create, id=draft_id)
