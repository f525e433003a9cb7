-- Foundation: tenants, role packages, users, the audit log, server settings.
--
-- One source for both databases. Portable types only: BIGINT (integers, booleans as 0/1,
-- times as microseconds since the Unix epoch), TEXT, DOUBLE PRECISION and {{blob}}.
-- {{id}} is an auto-increment primary key in the dialect at hand.
-- Case-insensitive uniqueness uses a *_key column that the application fills with the
-- folded form, so both databases agree exactly on what collides.

CREATE TABLE server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id {{id}},
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    clock_skew_seconds BIGINT NOT NULL DEFAULT 300,
    require_strict_signing BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    CONSTRAINT tenants_name_key_unique UNIQUE (name_key)
);

CREATE TABLE role_packages (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    -- 1 for the built-in packages, whose permissions come from the code's catalogue.
    builtin BIGINT NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    CONSTRAINT role_packages_name_unique UNIQUE (tenant_id, name_key)
);

-- Permissions of custom packages (built-ins take theirs from the code).
CREATE TABLE role_package_permissions (
    role_package_id BIGINT NOT NULL REFERENCES role_packages (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_package_id, permission)
);

CREATE TABLE users (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    name TEXT NOT NULL,
    user_type TEXT NOT NULL,
    status TEXT NOT NULL,
    is_integration BIGINT NOT NULL DEFAULT 0,
    password_hash TEXT,
    must_change_password BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT users_email_unique UNIQUE (tenant_id, email_key),
    CONSTRAINT users_type_check CHECK (user_type IN ('Management', 'Contractor', 'Site')),
    CONSTRAINT users_status_check CHECK (status IN ('Invited', 'Active', 'Disabled'))
);

CREATE TABLE user_role_packages (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_package_id BIGINT NOT NULL REFERENCES role_packages (id) ON DELETE CASCADE,
    granted_at BIGINT NOT NULL,
    granted_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (user_id, role_package_id)
);

CREATE INDEX user_role_packages_package ON user_role_packages (role_package_id);

CREATE TABLE audit_log (
    id {{id}},
    -- NULL for server-wide events (e.g. a tenant created by the operator is filed under it).
    tenant_id BIGINT REFERENCES tenants (id) ON DELETE CASCADE,
    occurred_at BIGINT NOT NULL,
    -- 'operator' (command line), 'system', or 'user'.
    actor_kind TEXT NOT NULL,
    actor_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    source_address TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_tenant_time ON audit_log (tenant_id, occurred_at, id);
