-- Mailjet webhook events set aside (bot/set_aside.py, table mailjet_event_rejects).

-- name: event_rejects_insert
-- $1 positions in the batch, $2 reasons, $3 raw JSON texts (one element per event set aside),
-- $4 received_at. Copies within the batch (equal as jsonb, same reason) become one row; an
-- event set aside before is counted again rather than stored twice.
INSERT INTO mailjet_event_rejects AS r (received_at, last_received_at, times_received, position, reason, raw)
SELECT $4, $4, count(*), min(u.position), u.reason, u.raw::jsonb
FROM unnest($1::integer[], $2::text[], $3::text[]) AS u(position, reason, raw)
GROUP BY u.reason, u.raw::jsonb
ON CONFLICT (md5(raw::text), md5(reason)) DO UPDATE
SET times_received = r.times_received + EXCLUDED.times_received,
    last_received_at = greatest(r.last_received_at, EXCLUDED.last_received_at);

-- name: event_rejects_summary
-- For `campaign-bot check`: how many events were set aside since $1, and the latest.
SELECT count(*) AS events, coalesce(sum(times_received), 0) AS receipts, max(last_received_at) AS latest
FROM mailjet_event_rejects
WHERE last_received_at >= $1;
