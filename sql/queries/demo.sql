-- What `campaign-bot demo` reads back from the bot's database for its closing summary.

-- name: demo_rounds
SELECT c.name, r.number, r.state, r.held, r.recipient_count, r.mailjet_campaign_id, r.dry_run, r.outcome_detail
FROM rounds r JOIN campaigns c ON c.id = r.campaign_id
ORDER BY c.name, r.number;

-- name: demo_suppressions
SELECT reason, active FROM suppressions;

-- name: demo_event_counts
SELECT kind, count(*) AS n FROM suppression_events GROUP BY kind;

-- name: demo_cleanup_plans
SELECT p.state, p.applied_by, p.share, c.name, r.number
FROM cleanup_plans p JOIN rounds r ON r.id = p.round_id JOIN campaigns c ON c.id = r.campaign_id
ORDER BY p.id;
