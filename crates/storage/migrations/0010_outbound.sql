-- The outbound API: each user's callback configuration, the durable outbox of deliveries
-- (written in the transaction of the change that caused them), and the mail outbox for
-- failure e-mails when no SMTP relay is configured.

CREATE TABLE outbound_settings (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    task_created_url TEXT,
    task_status_url TEXT,
    task_note_url TEXT,
    task_chased_url TEXT,
    task_changed_url TEXT,
    task_document_added_url TEXT,
    send_created BIGINT NOT NULL DEFAULT 1,
    email_failures BIGINT NOT NULL DEFAULT 0,
    -- The token and secret the integration gave us to sign our calls; the secret is
    -- encrypted under the master key like API secrets (the token bound in).
    api_token TEXT,
    api_secret {{blob}},
    api_secret_last4 TEXT,
    updated_at BIGINT NOT NULL
);

-- Attempts before a delivery is a terminal failure; NULL: the server's setting (a tenant
-- may only lower it).
ALTER TABLE tenants ADD COLUMN outbound_max_attempts BIGINT;

CREATE TABLE outbox (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event TEXT NOT NULL,
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    recipient_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    -- 'pending', 'delivered' or 'failed'.
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- A server delivering the row holds it until then; a server that dies mid-delivery
    -- lets it go when the lease runs out.
    lease_until BIGINT NOT NULL DEFAULT 0,
    leased_by TEXT,
    last_status BIGINT,
    last_error TEXT,
    delivered_at BIGINT,
    CONSTRAINT outbox_event_unique UNIQUE (event_id, recipient_id)
);

CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);
CREATE INDEX outbox_order ON outbox (recipient_id, task_id, state, id);
CREATE INDEX outbox_tenant ON outbox (tenant_id, id);

CREATE TABLE mail_outbox (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);

CREATE INDEX mail_outbox_tenant ON mail_outbox (tenant_id, id);
