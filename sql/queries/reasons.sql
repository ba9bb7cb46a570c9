-- Free-text reasons too long for where Slack would carry them (a button's block_id holds 255
-- characters): kept whole here, named by id.

-- name: cancel_request_insert
INSERT INTO cancel_requests (round_id, reason, requested_by, created_at)
VALUES ($1, $2, $3, $4)
RETURNING id;

-- name: cancel_request_get
SELECT * FROM cancel_requests WHERE id = $1;
