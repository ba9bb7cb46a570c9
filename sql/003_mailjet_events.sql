-- Mailjet Event API (webhook) events, as received on POST /mailjet/events.
-- Every event is kept, including those of campaigns the product did not send; reports join
-- campaign_id on rounds.mailjet_campaign_id and ignore the rest.
--
-- Mailjet sends no event id and retries a failed POST for 24 h, so the same event can arrive
-- more than once: (event, MessageID, time, url) is the dedupe key (url is '' except on clicks).
-- The unique index hashes url (md5) so a very long tracked link cannot exceed the btree row
-- size limit (about 2.7 kB) and make a whole batch fail; the key is still exactly that tuple.
CREATE TABLE mailjet_events (
    id                bigserial PRIMARY KEY,
    event             text NOT NULL
                      CHECK (event IN ('sent', 'open', 'click', 'bounce', 'spam', 'blocked', 'unsub')),
    message_id        bigint NOT NULL,             -- MessageID
    event_time        timestamptz NOT NULL,        -- time (unix seconds)
    url               text NOT NULL DEFAULT '',    -- clicks only
    email             text,
    campaign_id       bigint,                      -- mj_campaign_id
    contact_id        bigint,                      -- mj_contact_id
    hard_bounce       boolean,                     -- bounces only
    blocked           boolean,                     -- bounces only (the contact is now blocked)
    error             text,                        -- bounces and blocked
    error_related_to  text,                        -- bounces and blocked
    received_at       timestamptz NOT NULL,
    raw               jsonb NOT NULL               -- the event as received, unknown fields included
);
CREATE UNIQUE INDEX mailjet_events_dedupe ON mailjet_events (event, message_id, event_time, md5(url));
CREATE INDEX mailjet_events_campaign_event ON mailjet_events (campaign_id, event);
CREATE INDEX mailjet_events_contact ON mailjet_events (contact_id);
