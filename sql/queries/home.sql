-- The App Home tab (handlers/home.py): a few small reads, each bounded by LIMIT, so the tab
-- stays fast with thousands of rounds. Names here are prefixed `home_`.

-- name: home_campaigns
-- The most relevant campaigns first: planning pending, then planned ones with rounds still to
-- send or stages still to run (soonest next event first), then the rest (planning failed,
-- finished), newest first. $1 = how many rows. `total` and `active_total` count every campaign,
-- so the tab can say how many it does not show.
WITH ranked AS (
    SELECT c.id, c.name, c.round_count, c.timezone, c.approval_policy, c.planning_state, c.planning_error,
           c.created_at, c.created_by, c.eligible_contacts,
           u.unsent, u.rounds_sent,
           n.stage AS next_stage, n.due_at AS next_due_at, n.number AS next_round,
           (c.planning_state = 'pending'
            OR (c.planning_state = 'planned' AND (u.unsent > 0 OR n.stage IS NOT NULL))) AS active
    FROM campaigns c
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE r.state IN ('planned', 'ready', 'blocked', 'approved', 'sending')) AS unsent,
               count(*) FILTER (WHERE r.state IN ('sent', 'reported', 'cleaned')) AS rounds_sent
        FROM rounds r
        WHERE r.campaign_id = c.id
    ) u
    LEFT JOIN LATERAL (
        SELECT s.stage, s.due_at, r.number
        FROM rounds r JOIN stage_runs s ON s.round_id = r.id
        WHERE r.campaign_id = c.id AND s.state = 'pending'
        ORDER BY s.due_at, r.number
        LIMIT 1
    ) n ON true
)
SELECT ranked.*,
       count(*) OVER () AS total,
       count(*) FILTER (WHERE active) OVER () AS active_total
FROM ranked
ORDER BY active DESC, (planning_state = 'pending') DESC, next_due_at NULLS LAST, created_at DESC, id DESC
LIMIT $1;

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
-- planning errors, lapsed approvals) since $1, newest first; $2 = how many rows.
SELECT a.id, a.at, a.actor, a.action, a.detail, a.campaign_id, a.round_id,
       c.name AS campaign_name, r.number AS round_number
FROM audit_log a
LEFT JOIN campaigns c ON c.id = a.campaign_id
LEFT JOIN rounds r ON r.id = a.round_id
WHERE a.at >= $1
  AND (a.action IN ('round missed', 'round failed', 'preflight failed', 'planning error', 'approval lapsed')
       OR a.action LIKE 'stage % error')
ORDER BY a.id DESC
LIMIT $2;
