-- Campaigns, rounds and the recipients ledger.

-- name: campaign_insert
-- params: name, list_id, draft_id, rounds, timezone, send_days, send_time, offsets, launch_window, approval_policy, channel, created_by, now
INSERT INTO campaigns (name, master_list_id, template_draft_id, round_count, timezone, send_days,
                       send_time, offsets, launch_window, approval_policy, channel, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: campaign_by_name
SELECT * FROM campaigns WHERE lower(name) = lower($1);

-- name: campaign_by_id
SELECT * FROM campaigns WHERE id = $1;

-- name: campaigns_overview
-- The newest campaigns not archived (a page of them first, then the per-campaign facts) with
-- their next pending stage, for /campaign list.
SELECT c.*,
       (SELECT count(*) FROM rounds r WHERE r.campaign_id = c.id) AS rounds_total,
       (SELECT count(*) FROM rounds r WHERE r.campaign_id = c.id AND r.state IN ('sent', 'reported', 'cleaned')) AS rounds_sent,
       n.stage AS next_stage, n.due_at AS next_due_at, n.number AS next_round
FROM (SELECT * FROM campaigns WHERE archived_at IS NULL ORDER BY created_at DESC LIMIT $1 OFFSET $2) c
LEFT JOIN LATERAL (
    SELECT s.stage, s.due_at, r.number
    FROM rounds r JOIN stage_runs s ON s.round_id = r.id AND s.state = 'pending'
    WHERE r.campaign_id = c.id
    ORDER BY s.due_at
    LIMIT 1
) n ON true
ORDER BY c.created_at DESC;

-- name: claim_campaign_to_plan
-- Held for the whole planning run; a crash releases it and planning resumes elsewhere.
-- NO KEY UPDATE: rows referencing the campaign (rounds, recipients) can still be written.
SELECT * FROM campaigns
WHERE planning_state = 'pending' AND coalesce(planning_retry_at, created_at) <= $1
ORDER BY id
FOR NO KEY UPDATE SKIP LOCKED
LIMIT 1;

-- name: next_planning_due
SELECT min(coalesce(planning_retry_at, created_at)) FROM campaigns WHERE planning_state = 'pending';

-- name: ledger_exists
SELECT EXISTS (SELECT 1 FROM recipients WHERE campaign_id = $1);

-- name: campaign_planning_failed
UPDATE campaigns
SET planning_attempts = planning_attempts + 1, planning_error = $2,
    planning_retry_at = $3,
    planning_state = CASE WHEN planning_attempts + 1 >= $4 THEN 'failed' ELSE 'pending' END
WHERE id = $1
RETURNING planning_state, planning_attempts;

-- name: campaign_planned
UPDATE campaigns SET planning_state = 'planned', planned_at = $2, planning_error = NULL
WHERE id = $1 AND planning_state = 'pending';

-- name: campaign_set_template_facts
UPDATE campaigns SET subject = $2, sender_name = $3, sender_email = $4 WHERE id = $1;

-- name: rounds_insert
INSERT INTO rounds (campaign_id, number, scheduled_at, instant_source, state_changed_at)
SELECT $1, n, at, src, $5
FROM unnest($2::int[], $3::timestamptz[], $4::text[]) AS t(n, at, src);

-- name: rounds_of_campaign
SELECT * FROM rounds WHERE campaign_id = $1 ORDER BY number;

-- name: round_by_number
SELECT * FROM rounds WHERE campaign_id = $1 AND number = $2;

-- name: round_by_id
SELECT * FROM rounds WHERE id = $1;

-- name: round_lock
SELECT * FROM rounds WHERE id = $1 FOR UPDATE;

-- name: round_set_list
UPDATE rounds SET mailjet_list_id = $2 WHERE id = $1 AND mailjet_list_id IS NULL;

-- name: round_list_filled
UPDATE rounds SET list_filled_at = $2 WHERE id = $1;

-- name: round_set_draft
UPDATE rounds SET mailjet_draft_id = $2 WHERE id = $1 AND mailjet_draft_id IS NULL;

-- name: round_draft_content_set
UPDATE rounds SET draft_content_at = $2 WHERE id = $1;

-- name: round_transition
-- The only way a round changes state: guarded by the expected state (and the trigger).
UPDATE rounds SET state = $3, state_changed_at = $4, outcome_detail = coalesce($5, outcome_detail)
WHERE id = $1 AND state = $2
RETURNING *;

-- name: planning_stage_clear
DELETE FROM planning_members WHERE campaign_id = $1;

-- name: planning_contacts_clear
DELETE FROM planning_contacts WHERE campaign_id = $1;

-- name: ledger_write
-- FIFO by ContactID over eligible contacts (subscribed, not excluded, not suppressed at $3:
-- a soft bounce past its revalidation date is eligible again); ceil(n/rounds) per round,
-- the remainder in the last.
WITH eligible AS (
    SELECT DISTINCT ON (m.contact_id) m.contact_id, c.email
    FROM planning_members m
    JOIN planning_contacts c ON c.campaign_id = m.campaign_id AND c.contact_id = m.contact_id
    WHERE m.campaign_id = $1
      AND NOT m.unsubscribed
      AND NOT c.excluded
      AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.contact_id = m.contact_id AND suppression_in_force(s, $3))
    ORDER BY m.contact_id
), numbered AS (
    SELECT contact_id, email, row_number() OVER (ORDER BY contact_id) AS position,
           count(*) OVER () AS total
    FROM eligible
)
INSERT INTO recipients (campaign_id, round_id, contact_id, email, position)
SELECT $1, r.id, n.contact_id, n.email, n.position
FROM numbered n
JOIN rounds r ON r.campaign_id = $1
 AND r.number = least($2::int, ((n.position - 1) / ceil(n.total::numeric / $2)::bigint) + 1);

-- name: planning_counts
SELECT
    (SELECT count(DISTINCT contact_id) FROM planning_members WHERE campaign_id = $1) AS members,
    (SELECT count(*) FROM recipients WHERE campaign_id = $1) AS eligible;

-- name: ledger_round_counts
UPDATE rounds r SET recipient_count = coalesce(
    (SELECT count(*) FROM recipients x WHERE x.round_id = r.id AND x.removed_at IS NULL), 0)
WHERE r.campaign_id = $1
RETURNING r.number, r.recipient_count;

-- name: campaign_ledger_written
UPDATE campaigns SET ledger_written_at = $2, eligible_contacts = $3, dropped_contacts = $4 WHERE id = $1;

-- name: ledger_emails_page
-- Keyset pages of a round's recipients, so a round of any size streams in chunks.
SELECT contact_id, email FROM recipients
WHERE round_id = $1 AND removed_at IS NULL AND contact_id > $2
ORDER BY contact_id
LIMIT $3;

-- name: ledger_count
SELECT count(*) FROM recipients WHERE round_id = $1 AND removed_at IS NULL;

-- name: live_approval
SELECT * FROM approvals WHERE round_id = $1 AND lapsed_at IS NULL;

-- name: live_approvals_of_campaign
SELECT a.* FROM approvals a JOIN rounds r ON r.id = a.round_id
WHERE r.campaign_id = $1 AND a.lapsed_at IS NULL;

-- name: stage_runs_of_campaign
SELECT s.* FROM stage_runs s JOIN rounds r ON r.id = s.round_id
WHERE r.campaign_id = $1 ORDER BY r.number, s.nominal_at;

-- name: campaign_lock
-- The campaign row, locked: serialises starting a rehearsal of it and archiving it.
SELECT * FROM campaigns WHERE id = $1 FOR UPDATE;
