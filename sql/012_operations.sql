-- Running it for real, week after week (issue #11): public-holiday calendars on campaigns,
-- settling a failed round by hand, lifting a suppression, archiving a finished campaign.

-- The public-holiday calendar planning used (`GB-ENG`, `US`, …; NULL: none), and the dates
-- it skipped with their holiday's name ([{"date": "2027-12-25", "name": "Christmas Day"}]).
ALTER TABLE campaigns ADD COLUMN holidays text;
ALTER TABLE campaigns ADD COLUMN holiday_skips jsonb NOT NULL DEFAULT '[]'::jsonb;
-- How many contacts planning took back after their soft-bounce revalidation date passed.
ALTER TABLE campaigns ADD COLUMN revalidated_contacts integer;

-- Archived campaigns leave /campaign list and the Home tab; status, report and log still work.
ALTER TABLE campaigns ADD COLUMN archived_at timestamptz;
ALTER TABLE campaigns ADD COLUMN archived_by text;
CREATE INDEX campaigns_not_archived ON campaigns (created_at DESC) WHERE archived_at IS NULL;

-- `/campaign resolve`: an admin settles a failed round after checking Mailjet.
-- `sent` moves it failed → sent (wrap-up and cleanup follow); `not-sent` keeps it failed
-- and closes it. Either way the resolution is recorded once.
ALTER TABLE rounds ADD COLUMN resolution text CHECK (resolution IN ('sent', 'not-sent'));
ALTER TABLE rounds ADD COLUMN resolved_by text;
ALTER TABLE rounds ADD COLUMN resolved_at timestamptz;
ALTER TABLE rounds ADD COLUMN resolution_reason text;
ALTER TABLE rounds ADD CONSTRAINT rounds_resolution_complete
    CHECK (resolution IS NULL OR (resolved_by IS NOT NULL AND resolved_at IS NOT NULL));
INSERT INTO round_transitions (from_state, to_state) VALUES ('failed', 'sent');

-- `/campaign unsuppress`: who lifted a suppression, when and why. A later bounce or complaint
-- suppresses the contact again, as for anyone.
ALTER TABLE suppressions ADD COLUMN lifted_at timestamptz;
ALTER TABLE suppressions ADD COLUMN lifted_by text;
ALTER TABLE suppressions ADD COLUMN lift_reason text;
CREATE INDEX suppressions_lower_email ON suppressions (lower(email));

-- Is a suppression in force at `at`? Active, except a soft-bounce suppression whose 180-day
-- revalidation date has passed ("eligible for revalidation after 180 days"): planning takes that contact back,
-- unless it also unsubscribed. One definition, used by planning, pre-flight and
-- `/campaign suppression`.
CREATE FUNCTION suppression_in_force(s suppressions, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT s.active AND NOT (
        s.reason = 'soft_bounce' AND NOT s.permanent
        AND s.revalidate_after IS NOT NULL AND s.revalidate_after <= at
        AND NOT EXISTS (SELECT 1 FROM suppression_events e WHERE e.contact_id = s.contact_id AND e.kind = 'unsub'))
$$;
