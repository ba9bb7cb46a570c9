-- Mailjet webhook events (bot/webhook.py). A batch is COPYed into a session-local staging
-- table, then moved into mailjet_events in one statement that skips known events.

-- name: mailjet_events_staging
-- Per connection, emptied at each commit; created on first use (pooled connections keep it).
CREATE TEMPORARY TABLE IF NOT EXISTS mailjet_events_incoming (
    event             text NOT NULL,
    message_id        bigint NOT NULL,
    unix_time         bigint NOT NULL,
    url               text NOT NULL,
    email             text,
    campaign_id       bigint,
    contact_id        bigint,
    hard_bounce       boolean,
    blocked           boolean,
    error             text,
    error_related_to  text,
    raw               text NOT NULL
) ON COMMIT DELETE ROWS;

-- name: mailjet_events_insert_staged
-- $1: received_at. The batch was deduplicated in Python; ON CONFLICT skips what an earlier
-- delivery (or a concurrent request) already stored.
INSERT INTO mailjet_events (event, message_id, event_time, url, email, campaign_id, contact_id,
                            hard_bounce, blocked, error, error_related_to, received_at, raw)
SELECT event, message_id, to_timestamp(unix_time), url, email, campaign_id, contact_id,
       hard_bounce, blocked, error, error_related_to, $1, raw::jsonb
FROM mailjet_events_incoming
ON CONFLICT DO NOTHING;

-- name: mailjet_events_staging_clear
-- Between two attempts in one transaction (a batch halved around an event the database
-- refused): the rows of the attempt that succeeded are in mailjet_events already.
DELETE FROM mailjet_events_incoming;
