-- The Slack outbox: every post and update, keyed for idempotency, delivered in order per round.

-- name: outbox_enqueue
INSERT INTO slack_outbox (idempotency_key, round_id, channel, kind, thread_key, target_key, payload,
                          next_attempt_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id;

-- name: outbox_candidates
-- Due messages whose round has no earlier undelivered message: order per round holds even
-- when a delivery is retried.
SELECT o.id
FROM slack_outbox o
WHERE o.state = 'pending' AND o.next_attempt_at <= $1
  AND (o.round_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM slack_outbox e
        WHERE e.round_id = o.round_id AND e.state = 'pending' AND e.id < o.id))
ORDER BY o.id
LIMIT $2;

-- name: outbox_get
SELECT * FROM slack_outbox WHERE id = $1;

-- name: outbox_key_ts
SELECT posted_channel, ts, state FROM slack_outbox WHERE idempotency_key = $1;

-- name: outbox_attempt_started
UPDATE slack_outbox SET attempts = attempts + 1, attempt_started_at = $2 WHERE id = $1 AND state = 'pending';

-- name: outbox_delivered
UPDATE slack_outbox SET state = 'sent', posted_channel = $2, ts = $3, sent_at = $4, last_error = NULL
WHERE id = $1 AND state = 'pending';

-- name: outbox_retry_later
UPDATE slack_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1 AND state = 'pending';

-- name: outbox_give_up
UPDATE slack_outbox SET state = 'failed', last_error = $2 WHERE id = $1 AND state = 'pending';

-- name: outbox_next_due
SELECT min(next_attempt_at) FROM slack_outbox WHERE state = 'pending';

-- name: outbox_pending_count
SELECT count(*) FROM slack_outbox WHERE state = 'pending';

-- name: outbox_round_parent
-- The round's parent message (posted by pre-launch), if it has been queued.
SELECT * FROM slack_outbox WHERE idempotency_key = 'round:' || $1::bigint || ':parent';

-- name: outbox_try_lock
-- One delivery at a time per message; a session lock, so a crash releases it at once.
SELECT pg_try_advisory_lock($1, $2);

-- name: outbox_unlock
SELECT pg_advisory_unlock($1, $2);
