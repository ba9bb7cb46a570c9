-- Rehearsals (`/campaign rehearse`) and the weekly summary.
--
-- A rehearsal runs the real stage executors on copies of a campaign's unsent rounds. The
-- copies are rows of `rounds` that belong to a rehearsal instead of a campaign
-- (campaign_id NULL, rehearsal_id set, rehearsal_of = the real round). Every query that
-- reads a campaign's rounds filters on campaign_id, so the copies never show up in a
-- campaign's list, status, Home tab, cleanup or planning, and nothing written for them
-- (state changes, pre-flight runs, stage runs) can land on a real round.

CREATE TABLE rehearsals (
    id            bigserial PRIMARY KEY,
    campaign_id   bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    channel       text NOT NULL,
    started_by    text NOT NULL,
    started_at    timestamptz NOT NULL,
    state         text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'finished')),
    finished_at   timestamptz,
    summary       jsonb,                    -- per round: pre-flight passed, would send, why not
    CHECK ((state = 'finished') = (finished_at IS NOT NULL))
);
-- Two rehearsals of one campaign at once are refused: the second INSERT finds this.
CREATE UNIQUE INDEX rehearsals_one_running ON rehearsals (campaign_id) WHERE state = 'running';

ALTER TABLE rounds ALTER COLUMN campaign_id DROP NOT NULL;
ALTER TABLE rounds ADD COLUMN rehearsal_id bigint REFERENCES rehearsals (id) ON DELETE CASCADE;
ALTER TABLE rounds ADD COLUMN rehearsal_of bigint REFERENCES rounds (id) ON DELETE CASCADE;
-- A round belongs to a campaign, or is a rehearsal's copy of one: never both, never neither.
ALTER TABLE rounds ADD CONSTRAINT rounds_campaign_or_rehearsal CHECK (
    (campaign_id IS NULL) = (rehearsal_id IS NOT NULL) AND (rehearsal_id IS NULL) = (rehearsal_of IS NULL)
);
CREATE UNIQUE INDEX rounds_rehearsal_number ON rounds (rehearsal_id, number) WHERE rehearsal_id IS NOT NULL;

-- The weekly summary: one row per week, claimed by its INSERT (ON CONFLICT DO NOTHING) in
-- the same transaction that queues the post, so replicas and restarts post it once.
CREATE TABLE weekly_summaries (
    id           bigserial PRIMARY KEY,
    week_start   date NOT NULL UNIQUE,      -- the Monday of the local week the summary is scheduled in
    due_at       timestamptz NOT NULL,      -- that instant (WEEKLY_SUMMARY in DEFAULT_TIMEZONE)
    state        text NOT NULL CHECK (state IN ('posted', 'skipped')),
    late         boolean NOT NULL DEFAULT false,
    done_at      timestamptz NOT NULL,
    done_by      text NOT NULL,             -- the process that claimed it
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
