-- Suppression rules and list cleanup.

-- name: suppress_contact
-- params: round_id, contact_id, email, kind, now, soft_threshold, revalidate_after
-- One statement per contact and event, so concurrent cleanups cannot double-count: the
-- event row is the guard; the suppression changes only if the event is new.
WITH new_event AS (
    INSERT INTO suppression_events (round_id, contact_id, kind, seen_at)
    VALUES ($1, $2, $4, $5)
    ON CONFLICT DO NOTHING
    RETURNING kind
)
INSERT INTO suppressions AS s (contact_id, email, reason, bounce_count, first_seen, last_seen, source_round_id,
                               permanent, active, revalidate_after)
SELECT $2, $3,
       CASE $4 WHEN 'hard' THEN 'hard_bounce' WHEN 'soft' THEN 'soft_bounce' WHEN 'spam' THEN 'spam' ELSE 'unsub' END,
       CASE WHEN $4 IN ('hard', 'soft') THEN 1 ELSE 0 END,
       $5, $5, $1,
       $4 IN ('hard', 'spam'),
       $4 IN ('hard', 'spam', 'unsub') OR ($4 = 'soft' AND 1 >= $6),
       CASE WHEN $4 = 'soft' THEN $5 + $7::interval END
FROM new_event
ON CONFLICT (contact_id) DO UPDATE SET
    bounce_count = s.bounce_count + CASE WHEN $4 IN ('hard', 'soft') THEN 1 ELSE 0 END,
    last_seen = $5,
    -- A permanent reason is never replaced by a softer one.
    reason = CASE WHEN s.permanent THEN s.reason WHEN $4 IN ('hard', 'spam') THEN EXCLUDED.reason
                  WHEN $4 = 'unsub' AND NOT s.active THEN 'unsub' ELSE s.reason END,
    permanent = s.permanent OR $4 IN ('hard', 'spam'),
    active = s.active OR $4 IN ('hard', 'spam', 'unsub')
             OR ($4 = 'soft' AND s.bounce_count + 1 >= $6),
    revalidate_after = CASE WHEN $4 = 'soft' THEN $5 + $7::interval ELSE s.revalidate_after END,
    source_round_id = $1
RETURNING s.*;

-- name: suppressions_of
SELECT * FROM suppressions WHERE contact_id = ANY($1::bigint[]);

-- name: suppression_events_of_round
SELECT contact_id, kind FROM suppression_events WHERE round_id = $1;

-- name: round_labels
SELECT r.id, r.number, c.name FROM rounds r JOIN campaigns c ON c.id = r.campaign_id WHERE r.id = ANY($1::bigint[]);

-- name: cleanup_supersede
UPDATE cleanup_plans SET state = 'superseded' WHERE round_id = $1 AND state = 'proposed';

-- name: cleanup_insert
-- params: round_id, now, built_by, items, summary, share, needs_override
INSERT INTO cleanup_plans (round_id, built_at, built_by, items, summary, share, needs_override)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: cleanup_by_id
SELECT * FROM cleanup_plans WHERE id = $1;

-- name: cleanup_lock
SELECT * FROM cleanup_plans WHERE id = $1 FOR UPDATE;

-- name: cleanup_mark_applied
UPDATE cleanup_plans SET state = 'applied', applied_at = $2, applied_by = $3
WHERE id = $1 AND state = 'proposed'
RETURNING *;

-- name: unsent_rounds_with_contacts
-- Every round not yet sent, of every campaign, that holds one of these contacts.
SELECT x.round_id, x.contact_id, x.email, r.mailjet_list_id
FROM recipients x JOIN rounds r ON r.id = x.round_id
WHERE x.contact_id = ANY($1::bigint[]) AND x.removed_at IS NULL
  AND r.state IN ('planned', 'ready', 'blocked', 'approved');

-- name: ledger_remove
UPDATE recipients SET removed_at = $3, removed_reason = $4
WHERE round_id = $1 AND contact_id = $2 AND removed_at IS NULL;

-- name: round_recount
UPDATE rounds SET recipient_count =
    (SELECT count(*) FROM recipients x WHERE x.round_id = $1 AND x.removed_at IS NULL)
WHERE id = $1
RETURNING *;

-- name: cleanup_change_insert
INSERT INTO cleanup_changes (plan_id, round_id, contact_id, email, mailjet_list_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING;

-- name: cleanup_changes_pending
SELECT * FROM cleanup_changes WHERE plan_id = $1 AND mailjet_removed_at IS NULL ORDER BY mailjet_list_id, contact_id;

-- name: cleanup_changes_done
UPDATE cleanup_changes SET mailjet_removed_at = $2 WHERE id = ANY($1::bigint[]);

-- name: contact_events_of_campaign
-- Bounces, spam complaints, unsubscribes and blocks from the event webhook, once each.
SELECT DISTINCT ON (contact_id, kind) contact_id, email, kind
FROM (
    SELECT contact_id, email,
           CASE WHEN event = 'bounce' AND coalesce(blocked, false) THEN 'blocked'
                WHEN event = 'bounce' AND coalesce(hard_bounce, false) THEN 'hard'
                WHEN event = 'bounce' THEN 'soft'
                ELSE event END AS kind
    FROM mailjet_events
    WHERE campaign_id = $1 AND event IN ('bounce', 'spam', 'unsub', 'blocked') AND contact_id IS NOT NULL
) e
ORDER BY contact_id, kind;

-- name: record_event_only
-- A blocked message is recorded, never counted as a bounce and never suppressed.
INSERT INTO suppression_events (round_id, contact_id, kind, seen_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING;
