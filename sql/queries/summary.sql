-- The weekly summary (jobs/summary.py): one row per week, claimed by its INSERT.

-- name: weekly_summary_done
SELECT EXISTS (SELECT 1 FROM weekly_summaries WHERE week_start = $1);

-- name: weekly_summary_any_before
SELECT EXISTS (SELECT 1 FROM weekly_summaries WHERE week_start < $1);

-- name: weekly_summary_claim
-- params: week, due_at, state, late, now, done_by, detail
-- Two replicas at that minute both try; the second waits on the unique index and gets nothing.
INSERT INTO weekly_summaries (week_start, due_at, state, late, done_at, done_by, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (week_start) DO NOTHING
RETURNING *;

-- name: summary_sent_rounds
-- Real rounds (a rehearsal's copies have no campaign) sent in [$1, $2), each with its newest
-- stored snapshot up to $3 and the newest snapshot of the campaign's previous sent round.
SELECT r.id, r.number, r.sent_at, r.dry_run, c.name, c.round_count,
       s.counters, s.collected_at,
       p.number AS previous_number, ps.counters AS previous_counters,
       count(*) OVER () AS total
FROM rounds r
JOIN campaigns c ON c.id = r.campaign_id
LEFT JOIN LATERAL (
    SELECT m.counters, m.collected_at FROM metrics_snapshots m
    WHERE m.round_id = r.id AND m.collected_at <= $3 ORDER BY m.collected_at DESC LIMIT 1
) s ON true
LEFT JOIN LATERAL (
    SELECT r2.id, r2.number FROM rounds r2
    WHERE r2.campaign_id = r.campaign_id AND r2.number < r.number AND r2.state IN ('sent', 'reported', 'cleaned')
    ORDER BY r2.number DESC LIMIT 1
) p ON true
LEFT JOIN LATERAL (
    SELECT m.counters FROM metrics_snapshots m
    WHERE m.round_id = p.id AND m.collected_at <= $3 ORDER BY m.collected_at DESC LIMIT 1
) ps ON true
WHERE r.sent_at >= $1 AND r.sent_at < $2 AND r.state IN ('sent', 'reported', 'cleaned')
ORDER BY r.sent_at, r.id
LIMIT $4;

-- name: summary_upcoming_rounds
-- Real rounds not yet sent whose instant is in [$1, $2), with their live approval.
SELECT r.number, r.scheduled_at, r.state, r.held, r.recipient_count, c.name, c.round_count, c.approval_policy,
       a.approved_by, count(*) OVER () AS total
FROM rounds r
JOIN campaigns c ON c.id = r.campaign_id
LEFT JOIN approvals a ON a.round_id = r.id AND a.lapsed_at IS NULL
WHERE r.scheduled_at >= $1 AND r.scheduled_at < $2 AND r.state IN ('planned', 'ready', 'blocked', 'approved')
ORDER BY r.scheduled_at, r.id
LIMIT $3;
