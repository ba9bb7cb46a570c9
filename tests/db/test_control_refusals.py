"""Every refusal a control can give, tested directly: the controls (pre-flight now, approve,
hold, resume, cancel, reschedule, freeze, bounce override), the week-after-week operations
(resolve, unsuppress, archive), starting a rehearsal and cleanup (build, apply), called
in-process against a real database and the Mailjet stand-in, on a fixed clock.

Each refusal is checked for its message and for changing nothing: every table of the database
is read before and after and must be identical, and the Mailjet stand-in received no write.
The end-to-end tests prove some of these through Slack; this proves all of them, quickly.
Roles are checked before any of these is called (by the listeners) and are not repeated here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bot import controls
from bot.clock import FixedClock
from bot.grammar import CommandError, parse
from bot.config import load_settings
from bot.campaigns import create_campaign
from bot.controls import Refused
from bot.mailjet import Mailjet
from bot.roles import Roles
from bot.services import Services
from handlers import commands as operations  # the subcommands' handlers, called as Bolt would
from handlers.commands import Invocation
from bot.list_cleanup import apply_plan, cleanup_now
from jobs.planning import Planner
from bot.rehearsal import start_rehearsal
from localrun.environment import ADMIN, APPROVER, CHANNEL_ID, OPERATOR
from localrun.seeding import seed_account
from standins.mailjet import MailjetStandin
from tests.support.harness import MAILJET_KEY, MAILJET_SECRET
from tests.support.world import SENDER, TEMPLATE, TEST_OFFSETS, iso

# A fixed instant (a Monday): nothing here depends on today, its weekday or its hour.
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
REFUSALS = (Refused, CommandError)
WRITES = ("POST", "PUT", "DELETE")


@dataclass
class World:
    services: Services
    mailjet: MailjetStandin
    clock: FixedClock

    @property
    def pool(self) -> asyncpg.Pool:
        return self.services.pool

    async def plan(self, name: str, *, rounds: int = 3, extra: str = "", contacts: int = 12,
                   planned: bool = True) -> asyncpg.Record:
        """A campaign created as `/campaign new` does, its rounds two days apart from NOW + 2 days;
        with `planned`, planned against the Mailjet stand-in as the planning loop does (which
        plans every campaign still pending: create an unplanned one last)."""
        account = seed_account(self.mailjet, sender=SENDER, sender_name="Ops Team", list_name=f"{name} list",
                               contacts=contacts, first_id=7001 + 100 * len(self.mailjet.lists()), template=TEMPLATE)
        at = ",".join(iso(NOW + timedelta(days=2 * (n + 1))) for n in range(rounds))
        new = parse(f'new "{name}" list={account.master_list} draft={account.template_draft} at={at} '
                    f"offsets={TEST_OFFSETS} window=30m {extra}").new
        await create_campaign(self.services, new, OPERATOR)
        if planned:
            while await Planner(self.services).run_one():
                pass
        campaign = await self.campaign(name)
        assert campaign["planning_state"] == ("planned" if planned else "pending"), campaign["planning_error"]
        return campaign

    async def campaign(self, name: str) -> asyncpg.Record:
        return await self.pool.fetchrow("SELECT * FROM campaigns WHERE name = $1", name)

    async def round(self, name: str, number: int) -> asyncpg.Record:
        return await self.pool.fetchrow("SELECT r.* FROM rounds r JOIN campaigns c ON c.id = r.campaign_id "
                                        "WHERE c.name = $1 AND r.number = $2", name, number)

    async def target(self, name: str, number: int) -> controls.Target:
        async with self.pool.acquire() as connection:
            return await controls.find_round(connection, name=name, number=number)

    async def walk(self, name: str, number: int, *states: str, **columns: Any) -> asyncpg.Record:
        """Move a round through `states`, each an allowed transition (the database's trigger
        checks it); `columns` are set with the last one (a sent round needs sent_at)."""
        round_row = await self.round(name, number)
        for index, state in enumerate(states):
            extra = columns if index == len(states) - 1 else {}
            sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(extra, start=3))
            await self.pool.execute(f"UPDATE rounds SET state = $2, state_changed_at = now(){', ' + sets if sets else ''} "
                                    "WHERE id = $1", round_row["id"], state, *extra.values())
        return await self.round(name, number)

    async def sent_for_real(self, name: str, number: int) -> int:
        """Round `number` sent through Mailjet (the stand-in, finished at once), recorded as sent; its campaign id."""
        round_row = await self.round(name, number)
        await self.services.mailjet.send_draft(round_row["mailjet_draft_id"])
        self.mailjet.finish_sends()
        campaign_id = next(s["campaign_id"] for s in self.mailjet.sends if s["draft_id"] == round_row["mailjet_draft_id"])
        await self.walk(name, number, "ready", "sending", "sent", sent_at=NOW, dry_run=False,
                        mailjet_campaign_id=campaign_id)
        return campaign_id

    def invocation(self, text: str, user: str = ADMIN) -> Invocation:
        return Invocation(self.services, parse(text), user, CHANNEL_ID, None, None)

    async def snapshot(self) -> dict[str, list[str]]:
        """Every row of every table: a refusal must leave all of them as they were."""
        tables = [r["tablename"] for r in await self.pool.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        return {table: sorted(repr(tuple(row)) for row in await self.pool.fetch(f'SELECT * FROM "{table}"'))
                for table in tables}

    def mailjet_writes(self) -> int:
        return sum(1 for r in self.mailjet.requests if r["method"] in WRITES)

    async def refused(self, action: Awaitable[Any], *expected: str) -> str:
        """`action` is refused with a message holding each of `expected`, and nothing changed."""
        before, writes = await self.snapshot(), self.mailjet_writes()
        with pytest.raises(REFUSALS) as caught:
            await action
        message = str(caught.value)
        for part in expected:
            assert part in message, message
        assert await self.snapshot() == before, f"the refusal “{message}” changed the database"
        assert self.mailjet_writes() == writes, f"the refusal “{message}” wrote to Mailjet"
        return message


def make_services(pool: asyncpg.Pool, mailjet: MailjetStandin, clock: FixedClock, **settings: Any) -> Services:
    return Services(
        settings=load_settings(_env_file=None, SEND_MODE="live", SLACK_OPERATORS=OPERATOR, SLACK_APPROVERS=APPROVER,
                               SLACK_ADMINS=ADMIN, **settings),
        pool=pool, clock=clock,
        mailjet=Mailjet(MAILJET_KEY, MAILJET_SECRET, mailjet.api_url, timeout=10, settle_pause=0.0),
        slack=None,  # type: ignore[arg-type]  # the controls reach Slack only through the outbox table
        roles=Roles(frozenset({ADMIN}), frozenset({APPROVER}), frozenset({OPERATOR})), instance_id="test-refusals",
    )


@pytest.fixture
async def world(pool: asyncpg.Pool, mailjet: MailjetStandin) -> AsyncIterator[World]:
    clock = FixedClock(NOW)
    services = make_services(pool, mailjet, clock)
    yield World(services, mailjet, clock)
    services.mailjet.close()


async def test_finding_a_round(world: World):
    await world.plan("Letter")
    async with world.pool.acquire() as connection:
        await world.refused(controls.find_round(connection, name="Nope", number=1),
                            "there is no campaign named `Nope` (see `/campaign list`)")
        await world.refused(controls.find_round(connection, name="Letter", number=4), "*Letter* has no round 4 (it has 3)")
        await world.refused(controls.find_round(connection, round_id=987654), "that round no longer exists")
        await start_rehearsal(world.services, await world.campaign("Letter"), OPERATOR)
        copy = await connection.fetchval("SELECT id FROM rounds WHERE rehearsal_id IS NOT NULL LIMIT 1")
        await world.refused(controls.find_round(connection, round_id=copy),
                            "that is a rehearsal's copy of a round: a rehearsal has no controls and changes nothing")


async def test_approve(world: World):
    await world.plan("Letter")
    await world.plan("Automatic", extra="approval=auto")
    services = world.services
    await world.refused(controls.approve(services, await world.target("Letter", 1), APPROVER),
                        "round 1 cannot be approved: no pre-flight has passed yet")
    await world.walk("Letter", 3, "blocked")
    await world.refused(controls.approve(services, await world.target("Letter", 3), APPROVER),
                        "round 3 cannot be approved: its pre-flight failed; fix it and re-run pre-flight")
    await world.walk("Letter", 3, "cancelled")
    await world.refused(controls.approve(services, await world.target("Letter", 3), APPROVER),
                        "round 3 cannot be approved: it is cancelled")

    await controls.preflight_now(services, await world.target("Letter", 1), OPERATOR)
    first_run = await world.pool.fetchval("SELECT max(id) FROM preflight_runs")
    await controls.preflight_now(services, await world.target("Letter", 1), OPERATOR)
    assert (await world.round("Letter", 1))["state"] == "ready"
    await world.refused(controls.approve(services, await world.target("Letter", 1), APPROVER, preflight_run_id=first_run),
                        f"this button belongs to an older pre-flight (#{first_run}); pre-flight ran again since",
                        "Use the newest result's button.")

    two_person = make_services(world.pool, world.mailjet, world.clock, TWO_PERSON_RULE=True)
    try:
        await world.refused(controls.approve(two_person, await world.target("Letter", 1), OPERATOR),
                            "the two-person rule is on: the campaign's creator cannot approve its rounds")
    finally:
        two_person.mailjet.close()

    await controls.preflight_now(services, await world.target("Automatic", 1), OPERATOR)
    await world.refused(controls.approve(services, await world.target("Automatic", 1), APPROVER),
                        "this campaign's approval is automatic; no approval is needed")

    # A passing pre-flight that is no longer the latest: a failing run came after it.
    round_1 = await world.round("Letter", 1)
    await world.pool.execute("INSERT INTO preflight_runs (round_id, ran_at, passed, checks, content_hash, scheduled_at, "
                             "requested_by) SELECT round_id, ran_at + interval '1 second', false, checks, content_hash, "
                             "scheduled_at, requested_by FROM preflight_runs WHERE id = (SELECT max(id) FROM preflight_runs "
                             "WHERE round_id = $1)", round_1["id"])
    await world.refused(controls.approve(services, await world.target("Letter", 1), APPROVER),
                        "round 1 has no passing pre-flight to approve")
    await controls.preflight_now(services, await world.target("Letter", 1), OPERATOR)

    world.clock.instant = round_1["scheduled_at"] + timedelta(minutes=31)  # the 30-minute window has closed
    await world.refused(controls.approve(services, await world.target("Letter", 1), APPROVER),
                        "round 1's launch window has closed; it will not be sent")
    world.clock.instant = NOW

    await controls.approve(services, await world.target("Letter", 1), APPROVER)
    await world.refused(controls.approve(services, await world.target("Letter", 1), APPROVER),
                        "round 1 is already approved by <@U0APPROVER> at", "; nothing changed")
    # Back to ready with its approval still live: a second click that lost the race to the first.
    await world.walk("Letter", 1, "ready")
    await world.refused(controls.approve(services, await world.target("Letter", 1), APPROVER),
                        "round 1 was approved by someone else a moment ago; nothing changed")


async def test_preflight_hold_resume_cancel_and_override(world: World):
    await world.plan("Letter")
    await world.plan("Pending", planned=False)
    services, pending = world.services, await world.target("Pending", 1)
    await world.refused(controls.preflight_now(services, pending, OPERATOR), "*Pending* is not planned yet (planning pending)")
    await world.refused(controls.hold(services, pending.campaign, [pending.round], OPERATOR, "why"),
                        "*Pending* is not planned yet (planning pending)")

    await world.sent_for_real("Letter", 1)
    await world.walk("Letter", 3, "cancelled", outcome_detail="Cancelled by <@U0OPERATOR>")
    await world.refused(controls.preflight_now(services, await world.target("Letter", 1), OPERATOR),
                        "round 1 is sent; pre-flight no longer applies")
    await world.refused(controls.cancel(services, await world.target("Letter", 1), OPERATOR, None),
                        "round 1 is sent; only an unsent round can be cancelled")
    await world.refused(controls.cancel(services, await world.target("Letter", 3), OPERATOR, None),
                        "round 3 is cancelled; only an unsent round can be cancelled")
    await world.refused(controls.override_bounce(services, await world.target("Letter", 1), APPROVER),
                        "round 1 is sent; the override no longer applies")

    letter = await world.campaign("Letter")
    rounds = [await world.round("Letter", n) for n in (1, 2, 3)]
    await world.refused(controls.resume(services, letter, rounds, APPROVER), "no held round to resume; nothing changed")
    await controls.hold(services, letter, [rounds[1]], OPERATOR, "legal")
    rounds = [await world.round("Letter", n) for n in (1, 2, 3)]
    await world.refused(controls.hold(services, letter, rounds, OPERATOR, "again"),
                        "nothing to hold (round 1 sent, round 2 already held, round 3 cancelled); nothing changed")


async def test_reschedule(world: World):
    await world.plan("Letter")
    await world.plan("Pending", planned=False)
    services, pending = world.services, await world.target("Pending", 1)
    await world.refused(controls.reschedule(services, pending, OPERATOR, "2027-04-01T09:00"),
                        "*Pending* is not planned yet (planning pending)")
    target = await world.target("Letter", 2)
    await world.refused(controls.reschedule(services, target, OPERATOR, "soon"), "`soon`")
    await world.refused(controls.reschedule(services, target, OPERATOR, "2027-02-01T09:00"), "is not in the future")
    round_1, round_3 = await world.round("Letter", 1), await world.round("Letter", 3)
    before_1 = iso(round_1["scheduled_at"] - timedelta(hours=1))
    await world.refused(controls.reschedule(services, target, OPERATOR, before_1),
                        "round 2 must stay after round 1 (")
    after_3 = iso(round_3["scheduled_at"] + timedelta(hours=1))
    await world.refused(controls.reschedule(services, target, OPERATOR, after_3), "round 2 must stay before round 3 (")
    await world.sent_for_real("Letter", 1)
    await world.refused(controls.reschedule(services, await world.target("Letter", 1), OPERATOR, "2027-04-01T09:00"),
                        "round 1 is sent; only an unsent or missed round can be rescheduled")


async def test_freeze(world: World):
    services = world.services
    await world.refused(controls.set_freeze(services, ADMIN, frozen=False, reason=None), "sends are already allowed; nothing changed")
    await controls.set_freeze(services, ADMIN, frozen=True, reason="incident")
    await world.refused(controls.set_freeze(services, ADMIN, frozen=True, reason="again"), "sends are already frozen; nothing changed")


async def test_resolve(world: World):
    await world.plan("Letter", rounds=3)
    refused, invocation = world.refused, world.invocation
    await refused(operations.resolve(invocation('resolve "Nope" 1 sent')), "there is no campaign named `Nope`")
    await refused(operations.resolve(invocation('resolve "Letter" 9 sent')), "*Letter* has no round 9 (it has 3)")
    await refused(operations.resolve(invocation('resolve "Letter" 1 sent')),
                  "round 1 is planned; only a failed round (Mailjet could not say whether it went out) can be resolved; "
                  "nothing changed")

    # Round 1 failed and was never sent: its draft is still a draft.
    round_1 = await world.walk("Letter", 1, "failed", outcome_detail="Mailjet did not answer")
    await refused(operations.resolve(invocation('resolve "Letter" 1 sent')),
                  f"Mailjet says draft {round_1['mailjet_draft_id']} is still a draft: it was not sent", "Nothing changed")
    world.mailjet.fail_next("GET", rf"/campaigndraft/{round_1['mailjet_draft_id']}$", status=404)
    await refused(operations.resolve(invocation('resolve "Letter" 1 sent')),
                  f"could not read draft {round_1['mailjet_draft_id']} from Mailjet", "nothing changed, try again")

    # Round 2 failed, but Mailjet did send it: first still in progress (no campaign yet), then sent.
    round_2 = await world.walk("Letter", 2, "failed", outcome_detail="Mailjet did not answer")
    await world.services.mailjet.send_draft(round_2["mailjet_draft_id"])
    await refused(operations.resolve(invocation('resolve "Letter" 2 sent')),
                  f"Mailjet has no campaign for draft {round_2['mailjet_draft_id']} yet (status", "check again in a few minutes")
    world.mailjet.finish_sends()
    message = await refused(operations.resolve(invocation('resolve "Letter" 2 not-sent')),
                            f"Mailjet says draft {round_2['mailjet_draft_id']} was sent (campaign",
                            'resolve it as sent: `/campaign resolve "Letter" 2 sent`')
    assert "Nothing changed" in message

    await operations.resolve(invocation('resolve "Letter" 1 not-sent checked by hand'))
    await refused(operations.resolve(invocation('resolve "Letter" 1 not-sent')),
                  "round 1 was already resolved as not-sent by <@U0ADMIN> at", "; nothing changed")


async def test_unsuppress(world: World):
    await world.plan("Letter", rounds=1)
    refused, invocation = world.refused, world.invocation
    await refused(operations.unsuppress(invocation("unsuppress nobody@example.com")),
                  "nobody@example.com has no suppression record; nothing changed")
    await world.pool.execute("INSERT INTO suppressions (contact_id, email, reason, first_seen, last_seen, permanent) "
                             "VALUES (424242, 'gone@example.com', 'hard_bounce', $1, $1, true)", NOW - timedelta(days=3))
    await operations.unsuppress(invocation("unsuppress gone@example.com the inbox works again"))
    await refused(operations.unsuppress(invocation("unsuppress gone@example.com")),
                  "gone@example.com is not suppressed (see `/campaign suppression gone@example.com`); nothing changed")


async def test_archive(world: World):
    await world.plan("Letter", rounds=2)
    await world.plan("Pending", planned=False)
    refused, invocation = world.refused, world.invocation
    await refused(operations.archive(invocation('archive "Nope"')), "there is no campaign named `Nope`")
    await refused(operations.archive(invocation('archive "Pending"')),
                  "*Pending* still has rounds that are not settled (planning is still running)")
    await world.walk("Letter", 2, "failed", outcome_detail="Mailjet did not answer")
    await refused(operations.archive(invocation('archive "Letter"')),
                  "*Letter* still has rounds that are not settled (round 1 is planned; "
                  "round 2 failed and is not resolved (`/campaign resolve`)): only a campaign with no unsent round "
                  "can be archived; nothing changed")
    await controls.cancel(world.services, await world.target("Letter", 1), OPERATOR, "not needed")
    await operations.resolve(invocation('resolve "Letter" 2 not-sent'))
    await operations.archive(invocation('archive "Letter"'))
    await refused(operations.archive(invocation('archive "Letter"')), "*Letter* was archived by <@U0ADMIN> at", "; nothing changed")


async def test_starting_a_rehearsal(world: World):
    await world.plan("Letter", rounds=2)
    await world.plan("Broken", rounds=1)
    await world.plan("Pending", planned=False)
    await world.pool.execute("UPDATE campaigns SET planning_state = 'failed', planning_error = 'no draft' WHERE name = 'Broken'")
    services = world.services
    await world.refused(start_rehearsal(services, await world.campaign("Pending"), OPERATOR),
                        "*Pending* cannot be rehearsed: it is still being planned", "Nothing was started.")
    await world.refused(start_rehearsal(services, await world.campaign("Broken"), OPERATOR),
                        "*Broken* cannot be rehearsed: its planning failed, so it has no rounds to rehearse")
    await start_rehearsal(services, await world.campaign("Letter"), OPERATOR)
    await world.refused(start_rehearsal(services, await world.campaign("Letter"), OPERATOR),
                        "*Letter* cannot be rehearsed: a rehearsal of it is already running")
    await world.pool.execute("UPDATE rehearsals SET state = 'finished', finished_at = $1", NOW)
    for number in (1, 2):
        await controls.cancel(services, await world.target("Letter", number), OPERATOR, None)
    await world.refused(start_rehearsal(services, await world.campaign("Letter"), OPERATOR),
                        "*Letter* cannot be rehearsed: it has no unsent round")


async def test_cleanup(world: World):
    await world.plan("Letter", rounds=3, contacts=30)
    services = world.services
    letter = await world.campaign("Letter")
    await world.refused(cleanup_now(services, letter, 9, OPERATOR), "*Letter* has no round 9")
    await world.refused(cleanup_now(services, letter, 1, OPERATOR), "round 1 was not sent (planned); there is nothing to clean")
    await world.walk("Letter", 2, "ready", "sending", "sent", sent_at=NOW, dry_run=True)
    await world.refused(cleanup_now(services, letter, 2, OPERATOR), "round 2 was a dry run: Mailjet sent nothing")
    await world.walk("Letter", 3, "ready", "sending", "sent", sent_at=NOW, dry_run=False)
    await world.refused(cleanup_now(services, letter, 3, OPERATOR),
                        "round 3 was sent, but Mailjet has not given its campaign id yet")

    campaign_id = await world.sent_for_real("Letter", 1)
    world.mailjet.fail_next("GET", r"/message$", status=404)
    await world.refused(cleanup_now(services, letter, 1, OPERATOR), "Mailjet could not be read (", "no plan was built")
    recipients = world.mailjet.list_member_emails((await world.round("Letter", 1))["mailjet_list_id"])
    world.mailjet.set_outcome(campaign_id, delivered=8, hard=2, bounce_emails={recipients[0]: "hard", recipients[1]: "hard"})
    await cleanup_now(services, letter, 1, OPERATOR)
    older = await world.pool.fetchval("SELECT max(id) FROM cleanup_plans")
    await cleanup_now(services, letter, 1, OPERATOR)
    newest = await world.pool.fetchval("SELECT max(id) FROM cleanup_plans")
    await world.refused(apply_plan(services, 987654, APPROVER), "that cleanup plan no longer exists")
    await world.refused(apply_plan(services, older, APPROVER),
                        "this plan was replaced by a newer one; use the newest plan's button")
    await world.refused(apply_plan(services, newest, OPERATOR),
                        "this plan suppresses 20.0% of the round (over 10%): an approver must apply it")
    await apply_plan(services, newest, APPROVER)
    await world.refused(apply_plan(services, newest, APPROVER), "this plan was applied already; nothing changed")
