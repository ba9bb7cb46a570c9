-- Pre-flight runs, approvals, the send claim and the operators' controls.

-- name: preflight_insert
-- params: round_id, now, passed, checks, content_hash, scheduled_at, requested_by
INSERT INTO preflight_runs (round_id, ran_at, passed, checks, content_hash, scheduled_at, requested_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: preflight_latest
SELECT * FROM preflight_runs WHERE round_id = $1 ORDER BY id DESC LIMIT 1;

-- name: preflight_by_id
SELECT * FROM preflight_runs WHERE id = $1;

-- name: approval_insert
-- First click wins: the partial unique index allows one live approval per round.
INSERT INTO approvals (round_id, preflight_run_id, approved_by, approved_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (round_id) WHERE lapsed_at IS NULL DO NOTHING
RETURNING *;

-- name: approval_lapse
UPDATE approvals SET lapsed_at = $2, lapse_reason = $3
WHERE round_id = $1 AND lapsed_at IS NULL
RETURNING *;

-- name: round_claim_send
-- The send claim: one guarded statement. Whatever committed before it (a hold, a cancel,
-- a freeze, a reschedule, a lapsed approval) makes it match nothing.
UPDATE rounds r
SET state = 'sending', state_changed_at = $2, send_claimed_at = $2, send_claimed_by = $3,
    send_attempts = send_attempts + 1
FROM campaigns c
WHERE r.id = $1 AND c.id = r.campaign_id
  AND NOT r.held
  AND NOT (SELECT frozen FROM send_freeze)
  AND $2 >= r.scheduled_at
  AND $2 <= r.scheduled_at + c.launch_window
  AND (
        (r.state = 'approved' AND EXISTS (SELECT 1 FROM approvals a WHERE a.round_id = r.id AND a.lapsed_at IS NULL))
     OR (r.state = 'ready' AND c.approval_policy = 'auto')
  )
RETURNING r.*;

-- name: round_mark_sent
UPDATE rounds
SET state = 'sent', state_changed_at = $2, sent_at = $2, mailjet_campaign_id = $3, dry_run = $4,
    outcome_detail = $5
WHERE id = $1 AND state = 'sending'
RETURNING *;

-- name: round_release_claim
-- The send did not happen (the draft is still a draft): back to where the claim came from.
-- $4 says why when it matters later (Mailjet rate-limiting until the window closed).
UPDATE rounds SET state = $2, state_changed_at = $3, send_claimed_at = NULL, send_claimed_by = NULL,
       outcome_detail = $4
WHERE id = $1 AND state = 'sending'
RETURNING *;

-- name: round_set_campaign_id
-- Mailjet gave the campaign id of a round it accepted to send (it sends in the background).
UPDATE rounds SET mailjet_campaign_id = $2
WHERE id = $1 AND mailjet_campaign_id IS NULL AND NOT dry_run
RETURNING *;

-- name: round_hold
UPDATE rounds SET held = true, hold_reason = $2, held_by = $3
WHERE id = $1 AND NOT held AND state IN ('planned', 'ready', 'blocked', 'approved')
RETURNING *;

-- name: round_resume
UPDATE rounds SET held = false, hold_reason = NULL, held_by = NULL
WHERE id = $1 AND held
RETURNING *;

-- name: round_reschedule
-- Back to planned (pre-flight runs again); for a planned round only the instant changes.
UPDATE rounds SET scheduled_at = $2, instant_source = 'explicit', state = 'planned', state_changed_at = $3,
       outcome_detail = NULL
WHERE id = $1 AND state IN ('planned', 'ready', 'blocked', 'approved', 'missed')
RETURNING *;

-- name: audit_page
-- A campaign's entries and the global ones (freeze, unfreeze), newest first: two ordered
-- index walks merged, so the cost does not grow with the whole log.
SELECT a.*, r.number AS round_number
FROM (
    (SELECT * FROM audit_log WHERE campaign_id = $1 ORDER BY id DESC LIMIT $2::int + $3::int)
    UNION ALL
    (SELECT * FROM audit_log WHERE campaign_id IS NULL ORDER BY id DESC LIMIT $2::int + $3::int)
) a
LEFT JOIN rounds r ON r.id = a.round_id
ORDER BY a.id DESC
LIMIT $2 OFFSET $3;

-- name: audit_count
SELECT count(*) FROM audit_log WHERE campaign_id = $1 OR campaign_id IS NULL;

-- name: suppressed_among
-- Suppressions in force at $2 (a soft bounce past its revalidation date is not).
SELECT contact_id FROM suppressions s WHERE suppression_in_force(s, $2) AND contact_id = ANY($1::bigint[]);

-- name: previous_round
SELECT * FROM rounds WHERE campaign_id = $1 AND number = $2 - 1;

-- name: round_bounce_override
UPDATE rounds SET bounce_override_by = $2, bounce_override_at = $3
WHERE id = $1 AND state IN ('planned', 'ready', 'blocked', 'approved')
RETURNING *;

-- name: claim_lock_timeout
-- The send claim gives way rather than wait long for a round row (see jobs/launch.py).
SET LOCAL lock_timeout = '2s';
