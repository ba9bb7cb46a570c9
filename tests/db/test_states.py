"""The round-state enum (bot/states.py) against the database it describes: the rounds.state CHECK
constraint and the round_transitions table the trigger guards every change with."""

from __future__ import annotations

import re

import asyncpg

from bot.states import FINAL, NOT_SENT, PRE_SEND, RESCHEDULABLE, SENT, UNSENT, RoundState

S = RoundState


async def _check_constraints(pool: asyncpg.Pool) -> list[str]:
    return [row["def"] for row in await pool.fetch(
        "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'rounds'::regclass AND contype = 'c'")]


def _quoted(definition: str) -> set[str]:
    return set(re.findall(r"'([a-z_]+)'::text", definition))


async def test_every_state_in_the_database_is_in_the_enum_and_back(pool):
    definitions = [d for d in await _check_constraints(pool) if re.search(r"\(state = ANY", d)]
    assert len(definitions) == 1, definitions
    assert _quoted(definitions[0]) == set(RoundState)


async def test_the_sent_set_is_the_one_the_database_requires_a_send_instant_for(pool):
    definitions = [d for d in await _check_constraints(pool) if "sent_at IS NOT NULL" in d]
    assert len(definitions) == 1, definitions
    assert _quoted(definitions[0]) == SENT


async def _transitions(pool: asyncpg.Pool) -> set[tuple[str, str]]:
    return {(r["from_state"], r["to_state"]) for r in await pool.fetch("SELECT from_state, to_state FROM round_transitions")}


async def test_every_state_in_the_transition_table_is_in_the_enum(pool):
    assert {state for pair in await _transitions(pool) for state in pair} <= set(RoundState)


async def test_the_moves_the_code_makes_are_allowed(pool):
    table = await _transitions(pool)
    # controls.cancel and launch.end_round move any pre-send round; reschedule brings a missed one back.
    for state in PRE_SEND:
        assert {(state, S.CANCELLED), (state, S.MISSED), (state, S.FAILED)} <= table
    assert (S.MISSED, S.PLANNED) in table
    # pre-flight: ready/blocked either way, approved back to ready or blocked (the draft changed); approve.
    assert {(S.PLANNED, S.READY), (S.PLANNED, S.BLOCKED), (S.BLOCKED, S.READY), (S.READY, S.BLOCKED),
            (S.APPROVED, S.BLOCKED), (S.APPROVED, S.READY), (S.READY, S.APPROVED)} <= table
    # the send claim and its settling; wrap-up and cleanup; resolve.
    assert {(S.READY, S.SENDING), (S.APPROVED, S.SENDING), (S.SENDING, S.SENT), (S.SENDING, S.FAILED),
            (S.SENDING, S.READY), (S.SENDING, S.APPROVED), (S.SENT, S.REPORTED), (S.SENT, S.CLEANED),
            (S.REPORTED, S.CLEANED), (S.FAILED, S.SENT)} <= table
    # nothing leaves a final state except resolve (failed → sent), a reschedule and the post-send steps.
    assert {(a, b) for a, b in table if a in FINAL} == {(S.SENT, S.REPORTED), (S.SENT, S.CLEANED), (S.REPORTED, S.CLEANED),
                                                        (S.FAILED, S.SENT), (S.MISSED, S.PLANNED)}


def test_the_named_sets_partition_the_states():
    assert PRE_SEND | {S.SENDING} | SENT | NOT_SENT == set(RoundState)
    assert not (UNSENT & FINAL) and UNSENT | FINAL == set(RoundState)
    assert RESCHEDULABLE - PRE_SEND == {S.MISSED}
