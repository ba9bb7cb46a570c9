-- Rehearsals (`/campaign rehearse`): copies of a campaign's unsent rounds that belong to a
-- rehearsal (campaign_id NULL), run by the same engine and executors.

-- name: campaign_of_round
-- The campaign a round belongs to, directly or through its rehearsal.
SELECT c.*
FROM rounds r
LEFT JOIN rehearsals h ON h.id = r.rehearsal_id
JOIN campaigns c ON c.id = coalesce(r.campaign_id, h.campaign_id)
WHERE r.id = $1;

-- name: round_rehearsal_id
SELECT rehearsal_id FROM rounds WHERE id = $1;

-- name: rehearsal_running
SELECT * FROM rehearsals WHERE campaign_id = $1 AND state = 'running';

-- name: rehearsal_insert
INSERT INTO rehearsals (campaign_id, channel, started_by, started_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (campaign_id) WHERE state = 'running' DO NOTHING
RETURNING *;

-- name: rehearsal_round_insert
-- A copy of real round $2 for rehearsal $1 at compressed instant $3: its list, draft, hold and
-- bounce override as they are now, and its ledger's current size. Nothing of the real round changes.
INSERT INTO rounds (campaign_id, rehearsal_id, rehearsal_of, number, scheduled_at, instant_source, state,
                    state_changed_at, held, hold_reason, held_by, recipient_count, mailjet_list_id, list_filled_at,
                    mailjet_draft_id, draft_content_at, bounce_override_by, bounce_override_at)
SELECT NULL, $1, r.id, r.number, $3, r.instant_source, 'planned', $4, r.held, r.hold_reason, r.held_by,
       (SELECT count(*) FROM recipients x WHERE x.round_id = r.id AND x.removed_at IS NULL),
       r.mailjet_list_id, r.list_filled_at, r.mailjet_draft_id, r.draft_content_at,
       r.bounce_override_by, r.bounce_override_at
FROM rounds r
WHERE r.id = $2 AND r.rehearsal_id IS NULL
RETURNING *;

-- name: rehearsal_lock
SELECT * FROM rehearsals WHERE id = $1 FOR UPDATE;

-- name: rehearsal_pending_stages
SELECT count(*)
FROM stage_runs s JOIN rounds r ON r.id = s.round_id
WHERE r.rehearsal_id = $1 AND s.state = 'pending';

-- name: rehearsal_rounds
-- A rehearsal's rounds with the real round's instant and its latest rehearsal pre-flight.
SELECT r.*, real.scheduled_at AS real_scheduled_at, p.passed AS preflight_passed, p.checks AS preflight_checks
FROM rounds r
JOIN rounds real ON real.id = r.rehearsal_of
LEFT JOIN LATERAL (
    SELECT pr.passed, pr.checks FROM preflight_runs pr WHERE pr.round_id = r.id ORDER BY pr.id DESC LIMIT 1
) p ON true
WHERE r.rehearsal_id = $1
ORDER BY real.scheduled_at, r.number;

-- name: rehearsal_finish
UPDATE rehearsals SET state = 'finished', finished_at = $2, summary = $3
WHERE id = $1 AND state = 'running'
RETURNING *;

-- name: rehearsal_claim_send
-- The rehearsal's send claim: the real claim's guards (not held, not frozen, inside the window)
-- without the approval, which a rehearsal reports instead of waiting for. Rehearsal rounds only.
UPDATE rounds r
SET state = 'sending', state_changed_at = $2, send_claimed_at = $2, send_claimed_by = $3,
    send_attempts = send_attempts + 1
WHERE r.id = $1 AND r.rehearsal_id IS NOT NULL
  AND r.state IN ('ready', 'approved')
  AND NOT r.held
  AND NOT (SELECT frozen FROM send_freeze)
  AND $2 >= r.scheduled_at
  AND $2 <= r.scheduled_at + $4::interval
RETURNING r.*;
