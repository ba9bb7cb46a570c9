-- Metrics snapshots read from Mailjet statcounters, each with the time it was read
-- ("numbers are real or absent"), and the internal `metrics` stage: an early look at T+30m.

CREATE TABLE metrics_snapshots (
    id            bigserial PRIMARY KEY,
    round_id      bigint NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    campaign_id   bigint NOT NULL,                 -- Mailjet campaign id the numbers are of
    collected_at  timestamptz NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('early', 'wrapup', 'on_demand')),
    counters      jsonb NOT NULL                   -- the statcounters row as Mailjet returned it
);
CREATE INDEX metrics_snapshots_round ON metrics_snapshots (round_id, collected_at DESC);

ALTER TABLE stage_runs DROP CONSTRAINT stage_runs_stage_check;
ALTER TABLE stage_runs ADD CONSTRAINT stage_runs_stage_check
    CHECK (stage IN ('prelaunch', 'preflight', 'warning', 'launch', 'metrics', 'wrapup', 'cleanup'));
