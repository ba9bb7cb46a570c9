-- An approver may let a round go although the previous round bounced above the critical
-- threshold (5%); recorded on the round, shown in its pre-flight.
ALTER TABLE rounds ADD COLUMN bounce_override_by text;
ALTER TABLE rounds ADD COLUMN bounce_override_at timestamptz;
