-- Mailjet webhook events set aside: an event of a Version 2 batch that
-- fails validation (a missing or mistyped field, an unknown type, a value Postgres cannot
-- hold) is kept here with its reason while the rest of its batch is stored and answered 200,
-- because Mailjet retries a non-200 batch for 24 h and then drops all of it.
-- Nothing reads this table for reports; it is for an operator (docs/RUNBOOK.md, "A webhook
-- event was set aside").
--
-- The same malformed event delivered again (a retry whose 200 was lost) is one row: the
-- unique index is on the event and the reason (hashed, so a long event cannot pass the btree
-- row limit), and a repeat bumps times_received and last_received_at.
CREATE TABLE mailjet_event_rejects (
    id                bigserial PRIMARY KEY,
    received_at       timestamptz NOT NULL,           -- first received
    last_received_at  timestamptz NOT NULL,
    times_received    integer NOT NULL DEFAULT 1,
    position          integer NOT NULL,               -- index in its batch (first time), from 0
    reason            text NOT NULL,                  -- which field is wrong and why
    raw               jsonb NOT NULL                  -- the event as received (see bot/set_aside.py
                                                      -- for the few characters that are escaped)
);
CREATE UNIQUE INDEX mailjet_event_rejects_once ON mailjet_event_rejects (md5(raw::text), md5(reason));
CREATE INDEX mailjet_event_rejects_received ON mailjet_event_rejects (last_received_at DESC);
