-- List cleanup: a plan per round built from its bounces, spam
-- complaints and unsubscribes; applying it suppresses contacts and removes them from the
-- lists and ledgers of rounds not yet sent. Every change is recorded so it can be shown
-- and reversed. Nothing ever touches a master list.

-- Each (round, contact, kind) counts once, however often a cleanup is built or applied.
CREATE TABLE suppression_events (
    round_id    bigint NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    contact_id  bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('hard', 'soft', 'spam', 'unsub', 'blocked')),
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (round_id, contact_id, kind)
);

CREATE TABLE cleanup_plans (
    id            bigserial PRIMARY KEY,
    round_id      bigint NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    built_at      timestamptz NOT NULL,
    built_by      text NOT NULL,
    state         text NOT NULL DEFAULT 'proposed' CHECK (state IN ('proposed', 'applied', 'superseded')),
    items         jsonb NOT NULL,       -- [{contact_id, email, kind, action: suppress|count|record, reason}]
    summary       jsonb NOT NULL,       -- counts by reason, by domain, removals by round
    share         double precision NOT NULL,   -- suppressed / the round's recipients
    needs_override boolean NOT NULL,
    applied_at    timestamptz,
    applied_by    text
);
CREATE INDEX cleanup_plans_round ON cleanup_plans (round_id, id DESC);
-- At most one plan of a round waits for Apply.
CREATE UNIQUE INDEX cleanup_plans_one_proposed ON cleanup_plans (round_id) WHERE state = 'proposed';

CREATE TABLE cleanup_changes (
    id                  bigserial PRIMARY KEY,
    plan_id             bigint NOT NULL REFERENCES cleanup_plans (id) ON DELETE CASCADE,
    round_id            bigint NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,   -- the unsent round that loses the contact
    contact_id          bigint NOT NULL,
    email               text NOT NULL,
    mailjet_list_id     bigint,
    mailjet_removed_at  timestamptz,
    UNIQUE (plan_id, round_id, contact_id)
);
CREATE INDEX cleanup_changes_pending ON cleanup_changes (plan_id) WHERE mailjet_removed_at IS NULL;
