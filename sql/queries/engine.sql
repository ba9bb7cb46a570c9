-- Stage runs: the schedule. Every decision takes "now" as $1 from the injectable clock.

-- name: claim_due_stage
-- Held for the whole execution inside the caller's transaction: a crash releases it at once.
-- Stages run side by side (STAGE_CONCURRENCY, replicas), but one round's stages one at a time
-- and in order: not while an earlier due stage of the same round is pending (running elsewhere).
SELECT s.*
FROM stage_runs s
WHERE s.state = 'pending' AND s.due_at <= $1
  AND NOT EXISTS (
      SELECT 1 FROM stage_runs e
      WHERE e.round_id = s.round_id AND e.state = 'pending' AND e.due_at <= $1
        AND (e.due_at, e.id) < (s.due_at, s.id))
ORDER BY s.due_at, s.id
FOR NO KEY UPDATE SKIP LOCKED
LIMIT 1;

-- name: next_due_instant
SELECT min(due_at) FROM stage_runs WHERE state = 'pending';

-- name: stage_finish
UPDATE stage_runs
SET state = $2, result = $3, late = $4, finished_at = $5, started_at = coalesce(started_at, $5),
    attempts = attempts + 1, last_error = NULL
WHERE id = $1;

-- name: stage_wait_until
-- The stage ran but has nothing to do yet (launch waiting for approval): try again at $2.
UPDATE stage_runs
SET due_at = $2, result = $3, started_at = coalesce(started_at, $4)
WHERE id = $1;

-- name: stage_record_failure
UPDATE stage_runs
SET attempts = attempts + 1, last_error = $2, due_at = $3,
    state = CASE WHEN attempts + 1 >= $4 THEN 'failed' ELSE 'pending' END,
    finished_at = CASE WHEN attempts + 1 >= $4 THEN $5::timestamptz END
WHERE id = $1
RETURNING state, attempts;

-- name: stage_runs_insert
INSERT INTO stage_runs (round_id, stage, nominal_at, due_at)
SELECT $1, stage, nominal, nominal
FROM unnest($2::text[], $3::timestamptz[]) AS t(stage, nominal)
ON CONFLICT (round_id, stage) DO NOTHING;

-- name: stage_replan
-- Reschedule: pending stages move with the round; finished pre-send stages run again.
UPDATE stage_runs
SET nominal_at = $3, due_at = $3, state = 'pending', attempts = 0, last_error = NULL,
    late = false, result = NULL, started_at = NULL, finished_at = NULL
WHERE round_id = $1 AND stage = $2
  AND state IN ('pending', 'done', 'skipped', 'failed', 'not_implemented', 'cancelled');

-- name: stage_wake_launch
-- Something that may let a waiting launch go (approval, resume, unfreeze): look again now,
-- never before the round's instant.
UPDATE stage_runs s
SET due_at = greatest(s.nominal_at, $2)
FROM rounds r
WHERE s.round_id = r.id AND s.stage = 'launch' AND s.state = 'pending'
  AND ($1::bigint IS NULL OR s.round_id = $1)
  AND s.due_at > greatest(s.nominal_at, $2);

-- name: stage_cancel_pending_presend
-- A round that will never send: its remaining stages are cancelled, visibly.
UPDATE stage_runs
SET state = 'cancelled', finished_at = $2, result = jsonb_build_object('reason', $3::text)
WHERE round_id = $1 AND state = 'pending';

-- name: audit_insert
-- params: now, actor, action, campaign_id, round_id, detail
INSERT INTO audit_log (at, actor, action, campaign_id, round_id, detail)
VALUES ($1, $2, $3, $4, $5, coalesce($6, '{}'::jsonb));

-- name: freeze_state
SELECT * FROM send_freeze;

-- name: freeze_set
UPDATE send_freeze SET frozen = $1, reason = $2, changed_by = $3, changed_at = $4
WHERE frozen IS DISTINCT FROM $1
RETURNING *;

-- name: database_ping
SELECT 1;
