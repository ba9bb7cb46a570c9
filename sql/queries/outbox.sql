-- The Slack outbox: every post and update, keyed for idempotency, delivered in order per round.

-- name: outbox_enqueue
-- params: key, round_id, channel, kind, thread_key, target_key, payload, now
INSERT INTO slack_outbox (idempotency_key, round_id, channel, kind, thread_key, target_key, payload,
                          next_attempt_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id;

-- name: outbox_candidates
-- Due messages whose round has no earlier undelivered message: order per round holds even
-- when a delivery is retried. A message also waits behind an earlier one of its channel that
-- waits for the bot to be invited (not_in_channel), so the channel gets them all in order.
SELECT o.id
FROM slack_outbox o
WHERE o.state = 'pending' AND o.next_attempt_at <= $1
  AND (o.round_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM slack_outbox e
        WHERE e.round_id = o.round_id AND e.state = 'pending' AND e.id < o.id))
  AND NOT EXISTS (
        SELECT 1 FROM slack_outbox w
        WHERE w.state = 'pending' AND w.waiting_since IS NOT NULL AND w.channel = o.channel AND w.id < o.id)
ORDER BY o.id
LIMIT $2;

-- name: outbox_get
SELECT * FROM slack_outbox WHERE id = $1;

-- name: outbox_key_ts
SELECT posted_channel, ts, state FROM slack_outbox WHERE idempotency_key = $1;

-- name: outbox_attempt_started
UPDATE slack_outbox SET attempts = attempts + 1, attempt_started_at = $2 WHERE id = $1 AND state = 'pending';

-- name: outbox_delivered
UPDATE slack_outbox SET state = 'sent', posted_channel = $2, ts = $3, sent_at = $4, last_error = NULL,
                        waiting_since = NULL, waiting_channel = NULL
WHERE id = $1 AND state = 'pending';

-- name: outbox_retry_later
UPDATE slack_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1 AND state = 'pending';

-- name: outbox_give_up
UPDATE slack_outbox SET state = 'failed', last_error = $2 WHERE id = $1 AND state = 'pending';

-- name: outbox_next_due
-- The earliest instant a message becomes a candidate: messages held behind an earlier one of
-- their round or of a channel the bot is not in do not count (they would wake the loop for
-- nothing), the one they wait for does.
SELECT min(o.next_attempt_at)
FROM slack_outbox o
WHERE o.state = 'pending'
  AND (o.round_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM slack_outbox e
        WHERE e.round_id = o.round_id AND e.state = 'pending' AND e.id < o.id))
  AND NOT EXISTS (
        SELECT 1 FROM slack_outbox w
        WHERE w.state = 'pending' AND w.waiting_since IS NOT NULL AND w.channel = o.channel AND w.id < o.id);

-- name: outbox_pending_count
SELECT count(*) FROM slack_outbox WHERE state = 'pending';

-- name: outbox_wait_for_channel
-- params: outbox_id, now, channel, attempts, attempt_started_at, error
-- Slack said not_in_channel: nothing was posted, so the attempt is taken back (attempts and
-- attempt_started_at as they were before it: $4, $5) and the message waits for an invite. It
-- is tried again after as long as it has waited so far (5 s to 5 min), or at once when the bot
-- is seen joining the channel (outbox_release_channel).
UPDATE slack_outbox
SET waiting_since = coalesce(waiting_since, $2),
    waiting_channel = $3,
    attempts = $4,
    attempt_started_at = $5,
    next_attempt_at = $2 + least(greatest($2 - coalesce(waiting_since, $2), interval '5 seconds'), interval '5 minutes'),
    last_error = $6
WHERE id = $1 AND state = 'pending';

-- name: outbox_release_channel
-- The bot is a member of the channel again: what waited for it is due now, and every replica's
-- outbox loop is woken.
WITH released AS (
    UPDATE slack_outbox SET next_attempt_at = $2
    WHERE state = 'pending' AND waiting_since IS NOT NULL AND waiting_channel = $1::text
    RETURNING id
), notified AS (
    SELECT pg_notify('campaign_bot_outbox', 'member:' || $1::text)
)
SELECT (SELECT count(*) FROM released) AS released, (SELECT count(*) FROM notified) AS notified;

-- name: outbox_waiting_count
SELECT count(*) FROM slack_outbox WHERE state = 'pending' AND waiting_since IS NOT NULL;

-- name: outbox_round_parent
-- The round's parent message (posted by pre-launch), if it has been queued.
SELECT * FROM slack_outbox WHERE idempotency_key = 'round:' || $1::bigint || ':parent';

-- name: outbox_try_lock
-- One delivery at a time per message; a session lock, so a crash releases it at once.
SELECT pg_try_advisory_lock($1, $2);

-- name: outbox_unlock
SELECT pg_advisory_unlock($1, $2);
