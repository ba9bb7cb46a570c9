"""The App Home tab and the `/campaign new` modal through `campaign-bot run` and the Slack
stand-in: what the tab shows, its Approve button, paging with many campaigns, and the modal's
field errors and its plan, which must be the text form's plan."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from bot.messages.common import state_text, when
from bot.messages.rounds import preflight_block_id
from standins.slack import SlackStandin
from tests.support.days import GB_ENG
from tests.support.flows import Flow
from tests.support.harness import ADMIN, APPROVER, OPERATOR, STRANGER
from tests.support.world import seed_account

pytestmark = pytest.mark.slow

LONDON = "Europe/London"  # the stand-in's users.info tz, and DEFAULT_TIMEZONE


@pytest.fixture
async def flow(slack, mailjet, database, clock_file) -> Flow:
    return Flow(slack, mailjet, database, clock_file)


# --- helpers -----------------------------------------------------------------------------------

def texts(value: Any) -> list[str]:
    """Every text string in a view or block list (section text, fields, context, buttons)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                found.append(item)
            else:
                found.extend(texts(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(texts(item))
    return found


def view_text(view: dict) -> str:
    return "\n".join(texts(view.get("blocks") or []))


def buttons(view: dict) -> list[tuple[str, dict]]:
    """(block_id, element) of every button in the view."""
    return [(b.get("block_id", ""), e) for b in view.get("blocks") or [] if b.get("type") == "actions"
            for e in b.get("elements", [])]


async def open_home(slack: SlackStandin, user: str, *, tab: str = "home") -> dict:
    """Open the App Home tab as Slack does (`app_home_opened`) and return the view published."""
    before = (slack.home_views.get(user) or {}).get("hash")
    envelope = await slack.send_event({"type": "app_home_opened", "user": user, "channel": "D0HOME" + user[-4:], "tab": tab})
    await slack.wait_ack(envelope)
    return await slack.wait_for(lambda: (v := slack.home_views.get(user)) and v.get("hash") != before and v, timeout=10)


async def status_blocks(slack: SlackStandin, name: str) -> list[dict]:
    envelope = await slack.send_slash_command(f'status "{name}"', user_id=OPERATOR)
    await slack.wait_ack(envelope)
    found = await slack.wait_for(lambda: [r for r in slack.responses if r["envelope_id"] == envelope and r.get("blocks")])
    return found[0]["blocks"]


async def count(database: str, sql: str, *args: Any) -> int:
    connection = await asyncpg.connect(database)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


# --- App Home ---------------------------------------------------------------------------------

async def test_home_shows_what_status_shows_and_approve_works_from_it(bot_factory, flow, slack):
    await bot_factory()
    await flow.plan(rounds=2)
    await flow.ready(1)  # round 1's pre-flight passed: it waits for an approver
    rounds = await flow.fetch("SELECT r.* FROM rounds r JOIN campaigns c ON c.id = r.campaign_id "
                              "WHERE c.name = $1 ORDER BY r.number", flow.name)
    status = "\n".join(texts(await status_blocks(slack, flow.name)))

    home = await open_home(slack, APPROVER)
    assert home["type"] == "home" and len(home["blocks"]) <= 100
    text = view_text(home)
    assert flow.name in text
    for r in rounds:
        instant = when(r["scheduled_at"], LONDON)  # local with UTC beside it
        assert f"*Round {r['number']}*" in status and instant in status  # what /campaign status shows …
        assert f"Round {r['number']} — {state_text(r)}" in text and instant in text  # … the tab shows
        assert "UTC)" in instant
    assert "*ready*" in text and "*planned*" in text
    assert "Waiting for approval (1)" in text

    # Pending approval: the pre-flight result's buttons, with the latest run in the block id.
    latest = await flow.fetchrow("SELECT id FROM preflight_runs WHERE round_id = $1 ORDER BY id DESC LIMIT 1", rounds[0]["id"])
    found = {e["action_id"]: (block_id, e) for block_id, e in buttons(home)}
    assert set(found) == {"approve_launch", "hold_round", "cancel_round"}
    block_id, approve = found["approve_launch"]
    assert block_id == preflight_block_id(latest["id"]) and approve["value"] == str(rounds[0]["id"])
    assert found["cancel_round"][1]["confirm"]["style"] == "danger"

    # Others see the same facts, with only the buttons their role may use.
    operator_home = await open_home(slack, OPERATOR)
    assert {e["action_id"] for _, e in buttons(operator_home)} == {"hold_round", "cancel_round"}
    stranger_home = await open_home(slack, STRANGER)
    assert buttons(stranger_home) == [] and flow.name in view_text(stranger_home)

    # A stranger's click from the Home tab changes nothing (the server re-checks the role).
    click = await slack.send_block_action("approve_launch", approve["value"], user_id=STRANGER, container_type="view",
                                          view_id=home["id"])
    await slack.wait_ack(click, timeout=3)
    # The approver's click on the Home tab approves the round.
    click = await slack.send_block_action("approve_launch", approve["value"], user_id=APPROVER, container_type="view")
    assert (await slack.wait_ack(click, timeout=3))["payload"] is None
    await flow.wait_state(1, "approved")
    approval = await flow.fetchrow("SELECT * FROM approvals WHERE round_id = $1", rounds[0]["id"])
    assert approval["approved_by"] == APPROVER and approval["preflight_run_id"] == latest["id"]
    # The clicker's tab is refreshed with the answer; the round is no longer waiting.
    refreshed = await slack.wait_for(lambda: (v := slack.home_views[APPROVER]) and "Approved round 1" in view_text(v) and v)
    assert "approve_launch" not in json.dumps(refreshed["blocks"])
    assert "Waiting for approval (0)" in view_text(refreshed)
    assert f"approved by <@{APPROVER}>" in view_text(refreshed)


async def test_home_shows_the_freeze_and_ignores_other_tabs(bot_factory, flow, slack):
    await bot_factory()
    await flow.plan(rounds=1)
    assert "Froze" in await flow.command("freeze incident review", user=ADMIN)
    home = await open_home(slack, OPERATOR)
    text = view_text(home)
    assert "All sends are frozen" in text and "incident review" in text and "sends frozen" in text
    published = len([c for c in slack.calls if c[0] == "views.publish"])
    envelope = await slack.send_event({"type": "app_home_opened", "user": OPERATOR, "channel": "D0X", "tab": "messages"})
    await slack.wait_ack(envelope)
    await asyncio.sleep(0.5)  # time to publish, which it must not do for another tab
    assert len([c for c in slack.calls if c[0] == "views.publish"]) == published


async def test_home_pages_many_campaigns_and_lists_recent_alerts(bot_factory, slack, database):
    """60 campaigns of 20 rounds (1200 rounds, 7200 stage runs): the tab stays under Slack's 100
    blocks, shows the active ones soonest first and says how many more there are."""
    now = datetime.now(UTC)
    connection = await asyncpg.connect(database)
    await connection.execute("""
        INSERT INTO campaigns (name, master_list_id, template_draft_id, round_count, timezone, send_days, send_time,
                               offsets, launch_window, approval_policy, channel, created_by, created_at, planning_state)
        SELECT 'Bulk ' || lpad(i::text, 2, '0'), 1, 1, 20, 'Europe/London', '{tue,thu}', '09:15', '{}', '2h', 'required',
               '#_traction', 'U0OPERATOR', $1::timestamptz - i * interval '1 minute',
               CASE WHEN i % 3 = 0 THEN 'failed' ELSE 'planned' END
        FROM generate_series(1, 60) i""", now)
    # Campaigns planned: rounds every day from (61 - i) days ahead, so `Bulk 60` is the soonest.
    await connection.execute("""
        INSERT INTO rounds (campaign_id, number, scheduled_at, instant_source, state, state_changed_at)
        SELECT c.id, n, $1::timestamptz + ((61 - substr(c.name, 6)::int) + n) * interval '1 day', 'planner', 'planned', $1
        FROM campaigns c, generate_series(1, 20) n""", now)
    await connection.execute("""
        INSERT INTO stage_runs (round_id, stage, nominal_at, due_at)
        SELECT r.id, s, r.scheduled_at - interval '1 hour', r.scheduled_at - interval '1 hour'
        FROM rounds r JOIN campaigns c ON c.id = r.campaign_id, unnest(ARRAY['prelaunch','preflight','warning','launch','wrapup','cleanup']) s
        WHERE c.planning_state = 'planned'""")
    bulk_59 = await connection.fetchval("SELECT id FROM campaigns WHERE name = 'Bulk 59'")
    await connection.execute("""
        INSERT INTO audit_log (at, actor, action, campaign_id, round_id, detail)
        SELECT $1::timestamptz - interval '1 hour', 'system', a, $2, (SELECT id FROM rounds WHERE campaign_id = $2 AND number = 1), d
        FROM (VALUES ('round missed', '{"summary": "the launch window closed while waiting for approval"}'::jsonb),
                     ('stage launch error', '{"error": "MailjetError: boom"}'::jsonb),
                     ('stage launch error', '{"error": "MailjetError: boom"}'::jsonb),
                     ('stage launch error', '{"error": "MailjetError: boom"}'::jsonb),
                     ('held', '{}'::jsonb)) v(a, d)""", now, bulk_59)
    await connection.close()
    await bot_factory()

    home = await open_home(slack, APPROVER)
    assert len(home["blocks"]) <= 100
    text = view_text(home)
    assert "Campaigns (40 active, 60 in all)" in text
    shown = [b for b in home["blocks"] if b.get("block_id", "").startswith("campaign:")]
    assert 5 <= len(shown) < 60
    first = shown[0]["text"]["text"]
    assert first.startswith("*Bulk 59*")  # active, soonest next event (Bulk 60 failed planning)
    assert all(len(b["text"]["text"]) <= 3000 for b in shown)
    assert "more rounds not shown" in first and '/campaign status "Bulk 59"' in first
    assert f"{60 - len(shown)} more campaigns" in text and "/campaign list" in text
    assert "Bulk 60" not in text  # inactive campaigns come after every active one
    alerts = next(b for b in home["blocks"] if b.get("block_id") == "alerts")["text"]["text"]
    assert "*round missed*" in alerts and "the launch window closed" in alerts
    assert alerts.count("*stage launch error*") == 1 and "(×3)" in alerts  # a retrying stage is one line
    assert "*held*" not in alerts


# --- the /campaign new modal -----------------------------------------------------------------------

def form_values(name: str, list_id: int | str, draft_id: int | str, *, rounds: str = "3", start: str | None = None,
                days: tuple[str, ...] = ("tue", "thu"), time: str = "09:15", tz: str = LONDON,
                approval: str = "required", **advanced: str) -> dict:
    """The `view.state.values` Slack sends for the form filled in like this."""
    values: dict[str, Any] = {
        "name": {"value": {"type": "plain_text_input", "value": name}},
        "list": {"value": {"type": "number_input", "value": str(list_id)}},
        "draft": {"value": {"type": "number_input", "value": str(draft_id)}},
        "rounds": {"value": {"type": "static_select", "selected_option": {"value": rounds}}},
        "start": {"value": {"type": "datepicker", "selected_date": start}},
        "days": {"value": {"type": "checkboxes", "selected_options": [{"value": d} for d in days]}},
        "time": {"value": {"type": "timepicker", "selected_time": time}},
        "tz": {"value": {"type": "static_select", "selected_option": {"value": tz}}},
        "approval": {"value": {"type": "radio_buttons", "selected_option": {"value": approval}}},
    }
    for key in ("at", "offsets", "window"):
        values[key] = {"value": {"type": "plain_text_input", "value": advanced.get(key)}}
    return values


async def open_modal(slack: SlackStandin, user: str = OPERATOR) -> dict:
    before = len(slack.opened_views)
    envelope = await slack.send_slash_command("new", user_id=user)
    ack = await slack.wait_ack(envelope, timeout=3)
    assert not (ack.get("payload") or {}).get("text"), ack  # no "not available" reply
    opened = await slack.wait_for(lambda: len(slack.opened_views) > before and slack.opened_views[-1], timeout=5)
    return opened["view"]


async def submit(slack: SlackStandin, view: dict, values: dict, user: str = OPERATOR) -> dict | None:
    envelope = await slack.send_view_submission(view, user_id=user, values=values)
    ack = await slack.wait_ack(envelope, timeout=3)
    assert ack["latency"] < 3
    return ack["payload"]


def block(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


async def test_modal_opens_with_defaults_and_keeps_bad_input_open_with_field_errors(bot_factory, slack, mailjet, database):
    account = seed_account(mailjet, contacts=12, unsubscribed=0, excluded=0)
    mailjet.create_list("Clash-round-1")
    await bot_factory()
    refused = await slack.send_slash_command("new", user_id=STRANGER)
    assert "needs the operator role" in (await slack.wait_ack(refused))["payload"]["text"]
    assert slack.opened_views == []

    view = await open_modal(slack)
    assert view["type"] == "modal" and view["callback_id"] == "new_campaign"
    assert json.loads(view["private_metadata"]) == {"channel": "C0TRACTION"}
    assert block(view, "name")["element"]["type"] == "plain_text_input"
    assert block(view, "start")["element"]["type"] == "datepicker"
    assert block(view, "rounds")["element"]["initial_option"]["value"] == "3"
    assert [o["value"] for o in block(view, "days")["element"]["initial_options"]] == ["tue", "thu"]
    assert block(view, "time")["element"]["initial_time"] == "09:15"
    assert block(view, "tz")["element"]["initial_option"]["value"] == LONDON
    assert {"America/New_York", "Europe/Paris", "UTC"} <= {o["value"] for o in block(view, "tz")["element"]["options"]}
    assert block(view, "approval")["element"]["initial_option"]["value"] == "required"
    lists_before, drafts_before = len(mailjet.lists()), len(mailjet.drafts())

    ok = (account.master_list, account.template_draft)
    today = datetime.now(ZoneInfo(LONDON)).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    cases = [
        (form_values("X", 999999, ok[1]), "list", "Mailjet has no contacts list with that id"),
        (form_values("X", ok[0], 999999), "draft", "Mailjet has no campaign draft with that id"),
        (form_values("X", *ok, start=yesterday), "start", "is in the past"),
        (form_values("X", *ok, days=()), "days", "at least one send day"),
        (form_values("X", *ok, rounds="20"), "rounds", "not enough for 20 rounds"),
        (form_values("Clash", *ok), "name", "already exists"),
        (form_values('Say "hi"', *ok), "name", "double quotes"),
        (form_values("a=b", *ok), "name", "looks like an option"),
        (form_values("X", *ok, at="tomorrow"), "at", "not an ISO 8601"),
        (form_values("X", *ok, rounds="2", at="2030-01-01T09:15:00Z"), "at", "gives 1 instants for 2 rounds"),
        (form_values("X", *ok, rounds="1", at="2020-01-01T09:15:00Z"), "at", "is not in the future"),
        (form_values("X", *ok, offsets="warning:+5m"), "offsets", "must come before the send"),
        (form_values("X", *ok, window="forever"), "window", "not a duration"),
        (form_values("X", *ok, window="3h"), "window", "must close no later than the wrap-up"),
        (form_values("X", *ok), None, None),  # a stranger: refused on submission too
    ]
    for values, field, expected in cases:
        user = STRANGER if field is None else OPERATOR
        payload = await submit(slack, view, values, user=user)
        assert payload is not None and payload["response_action"] == "errors", (field, payload)
        if field is None:
            assert "needs the operator role" in payload["errors"]["name"]
            continue
        assert list(payload["errors"]) == [field], (expected, payload)
        assert expected in payload["errors"][field], (expected, payload)
        assert "`" not in payload["errors"][field]  # plain text under a field

    assert await count(database, "SELECT count(*) FROM campaigns") == 0
    assert await count(database, "SELECT count(*) FROM audit_log") == 0
    assert len(mailjet.lists()) == lists_before and len(mailjet.drafts()) == drafts_before
    assert slack.channel_messages() == [] and slack.ephemerals == []


async def test_modal_plans_exactly_as_the_text_form(bot_factory, slack, mailjet, database):
    account = seed_account(mailjet, contacts=12, unsubscribed=0, excluded=0)
    await bot_factory()
    # A Monday at least a week ahead: rounds on days=mon,wed then fall on that Monday and Wednesday
    # whatever today's weekday is, unless one is a public holiday (GB-ENG, the default): then a later week.
    week_ahead = datetime.now(ZoneInfo(LONDON)).date() + timedelta(days=7)
    monday = week_ahead + timedelta(days=-week_ahead.weekday() % 7)
    while monday in GB_ENG or monday + timedelta(days=2) in GB_ENG:
        monday += timedelta(days=7)
    start = monday.isoformat()

    view = await open_modal(slack)
    payload = await submit(slack, view, form_values("Modal Letter", account.master_list, account.template_draft,
                                                    rounds="2", start=start, days=("mon", "wed"), time="10:30"))
    assert payload is None  # an empty ack closes the modal
    told = await slack.wait_for(lambda: [e for e in slack.ephemerals if "Planning *Modal Letter*" in e["text"]])
    assert told[0]["user"] == OPERATOR and told[0]["channel"] == "C0TRACTION"

    envelope = await slack.send_slash_command(
        f'new "Text Letter" list={account.master_list} draft={account.template_draft} rounds=2 start={start} '
        f"days=mon,wed time=10:30 tz={LONDON} approval=required", user_id=OPERATOR)
    await slack.wait_ack(envelope)
    reply = (await slack.wait_for(lambda: [r for r in slack.responses if r["envelope_id"] == envelope and r.get("text")]))[0]
    assert told[0]["text"].replace("Modal Letter", "NAME") == reply["text"].replace("Text Letter", "NAME")

    for name in ("Modal Letter", "Text Letter"):
        await slack.wait_for(lambda: [m for m in slack.messages if f"*{name}* planned" in (m.text or "")], timeout=30)
    connection = await asyncpg.connect(database)
    try:
        campaigns = {c["name"]: c for c in await connection.fetch("SELECT * FROM campaigns")}
        rounds = {name: await connection.fetch("SELECT * FROM rounds WHERE campaign_id = $1 ORDER BY number", c["id"])
                  for name, c in campaigns.items()}
        stage_counts = {name: await connection.fetchval(
            "SELECT count(*) FROM stage_runs s JOIN rounds r ON r.id = s.round_id WHERE r.campaign_id = $1", c["id"])
            for name, c in campaigns.items()}
        created = await connection.fetchrow("SELECT * FROM audit_log WHERE action = 'campaign created' AND campaign_id = $1",
                                            campaigns["Modal Letter"]["id"])
    finally:
        await connection.close()
    modal, text = campaigns["Modal Letter"], campaigns["Text Letter"]
    for column in ("master_list_id", "template_draft_id", "round_count", "timezone", "send_days", "send_time", "offsets",
                   "launch_window", "approval_policy", "channel", "created_by", "planning_state", "eligible_contacts"):
        assert modal[column] == text[column], column
    assert modal["planning_state"] == "planned" and modal["created_by"] == OPERATOR
    assert created["actor"] == OPERATOR
    assert [r["scheduled_at"] for r in rounds["Modal Letter"]] == [r["scheduled_at"] for r in rounds["Text Letter"]]
    assert [r["scheduled_at"].astimezone(ZoneInfo(LONDON)).strftime("%a %H:%M") for r in rounds["Modal Letter"]] == [
        "Mon 10:30", "Wed 10:30"]
    assert [r["recipient_count"] for r in rounds["Modal Letter"]] == [r["recipient_count"] for r in rounds["Text Letter"]]
    assert stage_counts["Modal Letter"] == stage_counts["Text Letter"] > 0
    for r in rounds["Modal Letter"]:
        [mj_list] = [l for l in mailjet.lists() if l["Name"] == f"Modal Letter-round-{r['number']}"]
        assert mj_list["ID"] == r["mailjet_list_id"]
        [draft] = [d for d in mailjet.drafts() if d["ContactsListID"] == r["mailjet_list_id"]]
        assert draft["ID"] == r["mailjet_draft_id"] and draft["Subject"] == "Our autumn letter"


async def test_slow_mailjet_keeps_the_modal_open_and_finishes_there(bot_factory, slack, mailjet, database):
    account = seed_account(mailjet, contacts=6, unsubscribed=0, excluded=0)
    await bot_factory()
    view = await open_modal(slack)
    start = (datetime.now(ZoneInfo(LONDON)).date() + timedelta(days=3)).isoformat()

    # Slower than Slack's 3 s: the ack switches the modal to a progress view, updated when done.
    mailjet.fail_next("GET", r"/campaigndraft/\d+$", status=404, delay=3.0)
    payload = await submit(slack, view, form_values("Slow Letter", account.master_list, account.template_draft,
                                                    rounds="1", start=start))
    assert payload["response_action"] == "update" and "Checking" in view_text(payload["view"])
    updated = await slack.wait_for(lambda: [u for u in slack.updated_views if u["view_id"] == view["id"]], timeout=10)
    form = updated[-1]["view"]
    assert form["callback_id"] == "new_campaign" and "Mailjet has no campaign draft" in view_text(form)
    assert block(form, "name")["element"]["initial_value"] == "Slow Letter"  # filled in again
    assert await count(database, "SELECT count(*) FROM campaigns") == 0

    mailjet.fail_next("GET", r"/contactslist$", status=200, delay=3.0, body={"Count": 0, "Data": [], "Total": 0})
    payload = await submit(slack, form, form_values("Slow Letter", account.master_list, account.template_draft,
                                                    rounds="1", start=start))
    assert payload["response_action"] == "update"
    done = await slack.wait_for(lambda: [u for u in slack.updated_views if "Planning *Slow Letter*" in view_text(u["view"])],
                                timeout=10)
    assert done[-1]["view"].get("submit") is None
    await slack.wait_for(lambda: [e for e in slack.ephemerals if "Planning *Slow Letter*" in e["text"]])
    assert await count(database, "SELECT count(*) FROM campaigns WHERE name = 'Slow Letter'") == 1


async def test_open_home_tabs_follow_state_changes_without_reopening(bot_factory, flow, slack):
    await bot_factory()
    await flow.plan(rounds=1)
    home = await open_home(slack, OPERATOR)
    assert "*planned*" in view_text(home)
    flow.move_to(flow.at[0] - timedelta(minutes=29))  # pre-flight runs: the round becomes ready
    await flow.wait_state(1, "ready")
    refreshed = await slack.wait_for(lambda: (v := slack.home_views[OPERATOR]) and "*ready*" in view_text(v) and v,
                                     timeout=15)
    assert refreshed["hash"] != home["hash"]
