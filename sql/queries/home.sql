-- The App Home tab (handlers/home.py): a few small reads, each bounded by LIMIT, so the tab
-- stays fast with thousands of rounds. Names here are prefixed `home_`.

-- name: home_campaigns
-- The most relevant campaigns (archived ones are not shown) first: planning pending, then planned ones with rounds still to
-- send or stages still to run (soonest next event first), then the rest (planning failed,
-- finished), newest first. $1 = how many rows. `total` and `active_total` count every campaign,
-- so the tab can say how many it does not show. One pass over rounds and pending stage runs
-- (aggregates, not a lookup per campaign), then the next stage of the shown campaigns only.
WITH round_counts AS (
    SELECT campaign_id,
           count(*) FILTER (WHERE state IN ('planned', 'ready', 'blocked', 'approved', 'sending')) AS unsent,
           count(*) FILTER (WHERE state IN ('sent', 'reported', 'cleaned')) AS rounds_sent
    FROM rounds
    GROUP BY campaign_id
), next_due AS (
    SELECT r.campaign_id, min(s.due_at) AS due_at
    FROM stage_runs s JOIN rounds r ON r.id = s.round_id
    WHERE s.state = 'pending'
    GROUP BY r.campaign_id
), ranked AS (
    SELECT c.id, c.name, c.round_count, c.timezone, c.approval_policy, c.planning_state, c.planning_error,
           c.created_at, c.created_by, c.eligible_contacts,
           coalesce(u.unsent, 0) AS unsent, coalesce(u.rounds_sent, 0) AS rounds_sent, n.due_at AS next_due_at,
           (c.planning_state = 'pending'
            OR (c.planning_state = 'planned' AND (coalesce(u.unsent, 0) > 0 OR n.due_at IS NOT NULL))) AS active
    FROM campaigns c
    LEFT JOIN round_counts u ON u.campaign_id = c.id
    LEFT JOIN next_due n ON n.campaign_id = c.id
    WHERE c.archived_at IS NULL
), page AS (
    SELECT ranked.*, count(*) OVER () AS total, count(*) FILTER (WHERE active) OVER () AS active_total
    FROM ranked
    ORDER BY active DESC, (planning_state = 'pending') DESC, next_due_at NULLS LAST, created_at DESC, id DESC
    LIMIT $1
)
SELECT page.*, x.stage AS next_stage, x.number AS next_round
FROM page
LEFT JOIN LATERAL (
    SELECT s.stage, r.number
    FROM stage_runs s JOIN rounds r ON r.id = s.round_id
    WHERE s.state = 'pending' AND s.due_at = page.next_due_at AND r.campaign_id = page.id
    ORDER BY r.number, array_position(ARRAY['prelaunch', 'preflight', 'warning', 'launch', 'wrapup', 'cleanup'], s.stage)
    LIMIT 1
) x ON true
ORDER BY active DESC, (planning_state = 'pending') DESC, next_due_at NULLS LAST, created_at DESC, id DESC;

-- name: home_rounds
-- Every round of the campaigns shown ($1 = their ids), with its next pending stage and its
-- live approval.
SELECT r.id, r.campaign_id, r.number, r.scheduled_at, r.instant_source, r.state, r.held, r.hold_reason,
       r.recipient_count, r.outcome_detail, r.mailjet_campaign_id,
       n.stage AS next_stage, n.due_at AS next_due_at,
       a.approved_by, a.approved_at
FROM rounds r
LEFT JOIN LATERAL (
    SELECT s.stage, s.due_at
    FROM stage_runs s
    WHERE s.round_id = r.id AND s.state = 'pending'
    ORDER BY s.due_at
    LIMIT 1
) n ON true
LEFT JOIN approvals a ON a.round_id = r.id AND a.lapsed_at IS NULL
WHERE r.campaign_id = ANY($1::bigint[])
ORDER BY r.campaign_id, r.number;

-- name: home_pending_approvals
-- Rounds waiting for an approver: state `ready`, approval required, the latest pre-flight
-- passed, and the launch window not closed yet at $1 (an approval after it is refused).
-- $2 = how many rows; `total` counts them all.
SELECT r.id, r.campaign_id, r.number, r.scheduled_at, r.state, r.held, r.hold_reason, r.recipient_count,
       c.name, c.round_count, c.timezone, c.approval_policy, c.launch_window,
       p.id AS preflight_run_id, p.ran_at AS preflight_ran_at,
       count(*) OVER () AS total
FROM rounds r
JOIN campaigns c ON c.id = r.campaign_id
CROSS JOIN LATERAL (
    SELECT pr.id, pr.passed, pr.ran_at
    FROM preflight_runs pr
    WHERE pr.round_id = r.id
    ORDER BY pr.id DESC
    LIMIT 1
) p
WHERE r.state = 'ready'
  AND c.approval_policy = 'required'
  AND c.planning_state = 'planned'
  AND p.passed
  AND r.scheduled_at + c.launch_window >= $1
ORDER BY r.scheduled_at, r.id
LIMIT $2;

-- name: home_recent_alerts
-- The latest audit entries that are alerts (missed, failed, pre-flight failed, stage errors,
-- planning errors, lapsed approvals) since $1, newest first, not of archived campaigns;
-- $2 = how many rows.
SELECT a.id, a.at, a.actor, a.action, a.detail, a.campaign_id, a.round_id,
       c.name AS campaign_name, r.number AS round_number
FROM audit_log a
LEFT JOIN campaigns c ON c.id = a.campaign_id
LEFT JOIN rounds r ON r.id = a.round_id
WHERE a.at >= $1
  AND c.archived_at IS NULL
  AND (a.action IN ('round missed', 'round failed', 'preflight failed', 'planning error', 'approval lapsed')
       OR a.action LIKE 'stage % error')
ORDER BY a.id DESC
LIMIT $2;

-- name: home_viewer_seen
INSERT INTO home_viewers (user_id, opened_at) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET opened_at = excluded.opened_at;

-- name: home_recent_viewers
SELECT user_id FROM home_viewers WHERE opened_at >= $1 ORDER BY opened_at DESC LIMIT 50;
