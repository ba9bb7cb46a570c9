-- Indexes for the read paths (/campaign list, status, log and the Home tab) with thousands
-- of campaigns and rounds; measured by bench/status_latency.py.
CREATE INDEX campaigns_created_at ON campaigns (created_at DESC);
CREATE INDEX campaigns_lower_name ON campaigns (lower(name));
CREATE INDEX stage_runs_pending_round ON stage_runs (round_id, due_at) WHERE state = 'pending';
CREATE INDEX audit_log_global ON audit_log (id DESC) WHERE campaign_id IS NULL;
