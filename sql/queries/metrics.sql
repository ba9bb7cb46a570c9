-- Metrics snapshots.

-- name: snapshot_insert
INSERT INTO metrics_snapshots (round_id, campaign_id, collected_at, kind, counters)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: latest_snapshots_of_campaign
-- The newest snapshot of every round of a campaign.
SELECT DISTINCT ON (m.round_id) m.*, r.number
FROM metrics_snapshots m JOIN rounds r ON r.id = m.round_id
WHERE r.campaign_id = $1
ORDER BY m.round_id, m.collected_at DESC;

-- name: stage_run_add
INSERT INTO stage_runs (round_id, stage, nominal_at, due_at)
VALUES ($1, $2, $3, $3)
ON CONFLICT (round_id, stage) DO NOTHING;

-- name: bounce_events_of_campaign
-- Bounce details from the event webhook (each event stored once), for reports.
SELECT email, bool_or(coalesce(hard_bounce, false)) AS hard_bounce
FROM mailjet_events
WHERE campaign_id = $1 AND event = 'bounce' AND NOT coalesce(blocked, false)
GROUP BY email;

-- name: stage_run_of_round
SELECT * FROM stage_runs WHERE round_id = $1 AND stage = $2;
