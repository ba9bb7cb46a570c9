-- The lifecycle schema: campaigns, rounds and their guarded states, the recipients ledger,
-- stage runs, pre-flight runs, approvals, suppressions, the audit log and the Slack outbox.
-- Rules that matter live here as constraints and triggers, not only in Python.

-- One row: is every send stopped (`/campaign freeze`)?
CREATE TABLE send_freeze (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    frozen      boolean NOT NULL DEFAULT false,
    reason      text,
    changed_by  text,
    changed_at  timestamptz
);
INSERT INTO send_freeze DEFAULT VALUES;

CREATE TABLE campaigns (
    id                  bigserial PRIMARY KEY,
    name                text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 80),
    master_list_id      bigint NOT NULL CHECK (master_list_id > 0),
    template_draft_id   bigint NOT NULL CHECK (template_draft_id > 0),
    round_count         integer NOT NULL CHECK (round_count BETWEEN 1 AND 20),
    timezone            text NOT NULL,
    send_days           text[] NOT NULL,
    send_time           time NOT NULL,
    offsets             jsonb NOT NULL,          -- stage key -> seconds relative to T
    launch_window       interval NOT NULL CHECK (launch_window > interval '0'),
    approval_policy     text NOT NULL CHECK (approval_policy IN ('required', 'auto')),
    channel             text NOT NULL,
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL,
    -- Planning runs after the command returns and resumes after a crash.
    planning_state      text NOT NULL DEFAULT 'pending'
                        CHECK (planning_state IN ('pending', 'planned', 'failed')),
    planning_attempts   integer NOT NULL DEFAULT 0,
    planning_error      text,
    planning_retry_at   timestamptz,
    ledger_written_at   timestamptz,
    planned_at          timestamptz,
    -- Copied from the template draft at planning time, for messages.
    subject             text,
    sender_name         text,
    sender_email        text,
    eligible_contacts   integer,
    dropped_contacts    integer
);

CREATE TABLE rounds (
    id                  bigserial PRIMARY KEY,
    campaign_id         bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    number              integer NOT NULL CHECK (number >= 1),
    scheduled_at        timestamptz NOT NULL,
    instant_source      text NOT NULL CHECK (instant_source IN ('planner', 'explicit')),
    state               text NOT NULL DEFAULT 'planned',
    state_changed_at    timestamptz NOT NULL,
    held                boolean NOT NULL DEFAULT false,
    hold_reason         text,
    held_by             text,
    recipient_count     integer,
    mailjet_list_id     bigint,
    list_filled_at      timestamptz,
    mailjet_draft_id    bigint,
    draft_content_at    timestamptz,
    mailjet_campaign_id bigint,
    send_claimed_at     timestamptz,             -- intent recorded before the send call
    send_claimed_by     text,
    send_attempts       integer NOT NULL DEFAULT 0,
    sent_at             timestamptz,
    dry_run             boolean,
    outcome_detail      text,                    -- why missed / failed / cancelled
    UNIQUE (campaign_id, number),
    CHECK (state IN ('planned', 'ready', 'blocked', 'approved', 'sending', 'sent', 'reported',
                     'cleaned', 'cancelled', 'missed', 'failed')),
    -- A sent round knows when it was sent; a live-sent round knows its Mailjet campaign.
    CHECK (state NOT IN ('sent', 'reported', 'cleaned') OR sent_at IS NOT NULL)
);

-- Allowed round state transitions ("guarded in SQL, never by reading then writing"). The trigger below refuses any
-- other, whichever code path tries it.
CREATE TABLE round_transitions (
    from_state text NOT NULL,
    to_state   text NOT NULL,
    PRIMARY KEY (from_state, to_state)
);
INSERT INTO round_transitions (from_state, to_state) VALUES
    ('planned', 'ready'), ('planned', 'blocked'),
    ('ready', 'blocked'), ('blocked', 'ready'),
    ('ready', 'approved'),
    ('approved', 'ready'), ('approved', 'blocked'), ('approved', 'planned'),
    ('ready', 'planned'), ('blocked', 'planned'),
    ('approved', 'sending'), ('ready', 'sending'),
    ('sending', 'sent'), ('sending', 'approved'), ('sending', 'ready'), ('sending', 'failed'),
    ('sent', 'reported'), ('reported', 'cleaned'), ('sent', 'cleaned'),
    ('planned', 'cancelled'), ('ready', 'cancelled'), ('blocked', 'cancelled'), ('approved', 'cancelled'),
    ('planned', 'missed'), ('ready', 'missed'), ('blocked', 'missed'), ('approved', 'missed'),
    ('planned', 'failed'), ('ready', 'failed'), ('blocked', 'failed'), ('approved', 'failed');

CREATE FUNCTION rounds_guard_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state THEN
        IF NOT EXISTS (SELECT 1 FROM round_transitions
                       WHERE from_state = OLD.state AND to_state = NEW.state) THEN
            RAISE EXCEPTION 'round % may not go from % to %', OLD.id, OLD.state, NEW.state
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER rounds_guard_transition BEFORE UPDATE OF state ON rounds
    FOR EACH ROW EXECUTE FUNCTION rounds_guard_transition();

-- The recipients ledger: who is in which round, frozen at planning time. A contact is in
-- at most one round of a campaign; removals (cleanup) are recorded, never deleted.
CREATE TABLE recipients (
    campaign_id     bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    round_id        bigint NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    contact_id      bigint NOT NULL,
    email           text NOT NULL,
    position        integer NOT NULL,          -- 1-based FIFO position in the campaign
    removed_at      timestamptz,
    removed_reason  text,
    PRIMARY KEY (round_id, contact_id),
    UNIQUE (campaign_id, contact_id)
);
CREATE INDEX recipients_contact ON recipients (contact_id);

-- Planning staging: pages of the master list land here (COPY) so memory stays flat.
CREATE UNLOGGED TABLE planning_members (
    campaign_id   bigint NOT NULL,
    contact_id    bigint NOT NULL,
    unsubscribed  boolean NOT NULL
);
CREATE INDEX planning_members_campaign ON planning_members (campaign_id, contact_id);
CREATE UNLOGGED TABLE planning_contacts (
    campaign_id   bigint NOT NULL,
    contact_id    bigint NOT NULL,
    email         text NOT NULL,
    excluded      boolean NOT NULL
);
CREATE INDEX planning_contacts_campaign ON planning_contacts (campaign_id, contact_id);

CREATE TABLE suppressions (
    contact_id          bigint PRIMARY KEY,
    email               text NOT NULL,
    reason              text NOT NULL CHECK (reason IN ('hard_bounce', 'soft_bounce', 'spam', 'unsub', 'manual')),
    bounce_count        integer NOT NULL DEFAULT 0,
    first_seen          timestamptz NOT NULL,
    last_seen           timestamptz NOT NULL,
    source_round_id     bigint REFERENCES rounds (id) ON DELETE SET NULL,
    permanent           boolean NOT NULL DEFAULT false,
    active              boolean NOT NULL DEFAULT true,
    revalidate_after    timestamptz
);

-- One row per (round, stage): the schedule itself. Claimed with FOR NO KEY UPDATE SKIP LOCKED.
CREATE TABLE stage_runs (
    id               bigserial PRIMARY KEY,
    round_id         bigint NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    stage            text NOT NULL CHECK (stage IN ('prelaunch', 'preflight', 'warning', 'launch', 'wrapup', 'cleanup')),
    nominal_at       timestamptz NOT NULL,         -- T + the stage's offset
    due_at           timestamptz NOT NULL,         -- when it is next attempted (retries, waits)
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'done', 'skipped', 'failed', 'not_implemented', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    late             boolean NOT NULL DEFAULT false,
    result           jsonb,
    started_at       timestamptz,
    finished_at      timestamptz,
    UNIQUE (round_id, stage)
);
CREATE INDEX stage_runs_pending_due ON stage_runs (due_at) WHERE state = 'pending';

CREATE TABLE preflight_runs (
    id              bigserial PRIMARY KEY,
    round_id        bigint NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    ran_at          timestamptz NOT NULL,
    passed          boolean NOT NULL,
    checks          jsonb NOT NULL,            -- [{key, label, status: pass|warn|fail, reason}]
    content_hash    text,                      -- of the draft's subject, sender and content
    scheduled_at    timestamptz NOT NULL,      -- the round's instant when it was checked
    requested_by    text NOT NULL              -- 'system' or a Slack user id
);
CREATE INDEX preflight_runs_round ON preflight_runs (round_id, id DESC);

CREATE TABLE approvals (
    id                bigserial PRIMARY KEY,
    round_id          bigint NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    preflight_run_id  bigint NOT NULL REFERENCES preflight_runs (id),
    approved_by       text NOT NULL,
    approved_at       timestamptz NOT NULL,
    lapsed_at         timestamptz,
    lapse_reason      text
);
-- First click wins: one live approval per round.
CREATE UNIQUE INDEX approvals_one_live ON approvals (round_id) WHERE lapsed_at IS NULL;

-- Append-only: the trigger refuses UPDATE and DELETE.
CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor        text NOT NULL,               -- 'system' or a Slack user id
    action       text NOT NULL,
    campaign_id  bigint REFERENCES campaigns (id) ON DELETE CASCADE,
    round_id     bigint REFERENCES rounds (id) ON DELETE CASCADE,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_campaign ON audit_log (campaign_id, id DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Every Slack post and update goes through here, keyed for idempotency, in order per round.
CREATE TABLE slack_outbox (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    round_id         bigint REFERENCES rounds (id) ON DELETE CASCADE,
    channel          text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('post', 'update', 'upload')),
    thread_key       text,                     -- post into the thread of this outbox message
    target_key       text,                     -- update this outbox message
    payload          jsonb NOT NULL,           -- text, blocks, metadata, reply_broadcast
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    attempt_started_at timestamptz,            -- set before each call: a crash leaves it for reconciliation
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    posted_channel   text,
    ts               text,
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    CHECK (kind <> 'update' OR target_key IS NOT NULL)
);
CREATE INDEX slack_outbox_pending ON slack_outbox (id) WHERE state = 'pending';

-- Wake every replica's scheduler when work is added or moved, and the outbox sender when a
-- message is queued.
CREATE FUNCTION notify_stage_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('campaign_bot_wake', NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER stage_runs_notify AFTER INSERT OR UPDATE OF due_at, state ON stage_runs
    FOR EACH ROW EXECUTE FUNCTION notify_stage_runs();

CREATE FUNCTION notify_campaign_planning() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('campaign_bot_wake', 'campaign:' || NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER campaigns_notify AFTER INSERT ON campaigns
    FOR EACH ROW EXECUTE FUNCTION notify_campaign_planning();

CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('campaign_bot_outbox', NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER slack_outbox_notify AFTER INSERT ON slack_outbox
    FOR EACH ROW EXECUTE FUNCTION notify_outbox();
