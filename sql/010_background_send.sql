-- Mailjet sends a campaign in the background: right after an accepted send the draft reads
-- Status 1 with no campaign id. The internal `campaign_id` stage reads it again until Mailjet
-- gives it; early look, wrap-up and cleanup work from that id.
ALTER TABLE stage_runs DROP CONSTRAINT stage_runs_stage_check;
ALTER TABLE stage_runs ADD CONSTRAINT stage_runs_stage_check
    CHECK (stage IN ('prelaunch', 'preflight', 'warning', 'launch', 'campaign_id', 'metrics', 'wrapup', 'cleanup'));
