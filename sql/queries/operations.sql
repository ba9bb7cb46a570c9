-- Running it week after week: holiday calendars, resolving failed rounds, suppressions by
-- hand, archiving (handlers/operations.py, bot/campaigns.py, jobs/planning.py).

-- name: campaign_set_holidays
-- The calendar planning used and the holidays it skipped, written with the campaign.
UPDATE campaigns SET holidays = $2, holiday_skips = $3 WHERE id = $1
RETURNING *;

-- name: campaign_count_revalidated
-- How many of the campaign's ledger contacts came back after their soft-bounce revalidation
-- date ($2 = now): suppressed on paper, but no longer in force. Run at the end of planning, on
-- the connection that holds the campaign's row lock.
UPDATE campaigns c SET revalidated_contacts = (
    SELECT count(*) FROM recipients x JOIN suppressions s ON s.contact_id = x.contact_id
    WHERE x.campaign_id = c.id AND s.active AND NOT suppression_in_force(s, $2))
WHERE c.id = $1
RETURNING revalidated_contacts;

-- name: round_resolve_sent
-- params: round_id, now, sent_at, mailjet_campaign_id, user, reason, detail
-- failed → sent, once, with the Mailjet campaign id an admin confirmed. $3 = when it went out.
UPDATE rounds
SET state = 'sent', state_changed_at = $2, sent_at = $3, mailjet_campaign_id = $4, dry_run = false,
    resolution = 'sent', resolved_by = $5, resolved_at = $2, resolution_reason = $6, outcome_detail = $7
WHERE id = $1 AND state = 'failed' AND resolution IS NULL
RETURNING *;

-- name: round_resolve_not_sent
-- The round stays failed (final) and is closed: nobody needs to look at it again.
UPDATE rounds
SET resolution = 'not-sent', resolved_by = $3, resolved_at = $2, resolution_reason = $4, outcome_detail = $5
WHERE id = $1 AND state = 'failed' AND resolution IS NULL
RETURNING *;

-- name: stage_rearm_after_send
-- A failed round resolved as sent: the wrap-up and cleanup that failing cancelled run after
-- all, at their instant or now if that has passed ($2 = now).
UPDATE stage_runs
SET state = 'pending', due_at = greatest(nominal_at, $2), attempts = 0, last_error = NULL,
    late = false, result = NULL, started_at = NULL, finished_at = NULL
WHERE round_id = $1 AND stage IN ('wrapup', 'cleanup') AND state = 'cancelled'
RETURNING stage, due_at;

-- name: suppressions_by_email
-- A contact's suppression as `/campaign suppression` shows it ($2 = now), with its source
-- round and how many events of each kind were counted.
SELECT s.*, suppression_in_force(s, $2) AS in_force,
       r.number AS source_round, c.name AS source_campaign,
       coalesce((SELECT jsonb_object_agg(kind, n) FROM (
           SELECT e.kind, count(*) AS n FROM suppression_events e WHERE e.contact_id = s.contact_id GROUP BY e.kind
       ) k), '{}'::jsonb) AS event_counts
FROM suppressions s
LEFT JOIN rounds r ON r.id = s.source_round_id
LEFT JOIN campaigns c ON c.id = r.campaign_id
WHERE lower(s.email) = lower($1)
ORDER BY s.contact_id;

-- name: suppression_lift
-- `/campaign unsuppress`: no longer in force, not permanent, soft-bounce count back to 0.
-- The reason and dates stay as history. A later bounce or complaint counts again from there.
UPDATE suppressions
SET active = false, permanent = false, bounce_count = 0, lifted_at = $2, lifted_by = $3, lift_reason = $4
WHERE contact_id = $1 AND active
RETURNING *;

-- name: campaign_archive
UPDATE campaigns SET archived_at = $2, archived_by = $3
WHERE id = $1 AND archived_at IS NULL
RETURNING *;

-- name: campaigns_archived_count
SELECT count(*) FROM campaigns WHERE archived_at IS NOT NULL;
