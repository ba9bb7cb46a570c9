-- Slack's harsh edges (issue #9).
--
-- 1. The outbox keeps what Slack refused with not_in_channel instead of giving it up: the row
--    waits for the bot to be invited. `waiting_since` is when the first refusal came,
--    `waiting_channel` the channel id it was refused in (so an invite there releases it). While
--    a row of a channel waits, later rows of that channel wait behind it, so the channel gets
--    everything in the original order once the bot is back.
ALTER TABLE slack_outbox
    ADD COLUMN waiting_since   timestamptz,
    ADD COLUMN waiting_channel text;
CREATE INDEX slack_outbox_waiting ON slack_outbox (channel, id)
    WHERE state = 'pending' AND waiting_since IS NOT NULL;

-- 2. `/campaign cancel <name> <round> <reason…>` answers with a confirm button whose block_id
--    may hold 255 characters: a reason of any length is kept here and the button names the row
--    (`cancel-request:<id>`). The click cancels with the full reason (audit log, round detail).
CREATE TABLE cancel_requests (
    id           bigserial PRIMARY KEY,
    round_id     bigint NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    reason       text NOT NULL,
    requested_by text NOT NULL,
    created_at   timestamptz NOT NULL
);
