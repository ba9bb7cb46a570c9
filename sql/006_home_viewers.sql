-- Who has looked at the App Home tab lately: their tab is re-published when a campaign's
-- state changes, so it is current without reopening it.
CREATE TABLE home_viewers (
    user_id    text PRIMARY KEY,
    opened_at  timestamptz NOT NULL
);
