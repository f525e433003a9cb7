-- People and access: contractors, users' contractor and site access, sessions,
-- set-password links, and the throttle of failed authentications.

CREATE TABLE contractors (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    code_key TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_id BIGINT REFERENCES contractors (id),
    email TEXT NOT NULL DEFAULT '',
    telephone TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    CONSTRAINT contractors_code_unique UNIQUE (tenant_id, code_key)
);

CREATE INDEX contractors_parent ON contractors (parent_id);

ALTER TABLE users ADD COLUMN contractor_id BIGINT REFERENCES contractors (id);
-- 'none', 'all' or 'sites' (the explicit list arrives with the sites).
ALTER TABLE users ADD COLUMN site_access TEXT NOT NULL DEFAULT 'none';
-- Bumped on every change that affects what the user may do (packages, status, password):
-- caches keyed by it can never serve stale rights.
ALTER TABLE users ADD COLUMN access_version BIGINT NOT NULL DEFAULT 1;

CREATE INDEX users_tenant_contractor ON users (tenant_id, contractor_id);

-- Only a SHA-256 of the session id is stored: a copy of this table opens no session.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- The absolute end, whatever the activity.
    expires_at BIGINT NOT NULL,
    source_address TEXT
);

CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE set_password_links (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE INDEX set_password_links_user ON set_password_links (user_id);

-- Failed authentications per scope ('signin-account:...', 'signin-address:...', later the
-- API's), in fixed windows; shared by every server on the database.
CREATE TABLE auth_throttle (
    scope TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX audit_log_tenant_action ON audit_log (tenant_id, action, occurred_at);
