-- API credentials: one per user (the API Token, rotated in place), with its secrets.

CREATE TABLE api_credentials (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token TEXT NOT NULL,
    -- Bumped by every rotation and revocation: caches keyed by it never serve a dead pair.
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT,
    last_used_address TEXT,
    CONSTRAINT api_credentials_token_unique UNIQUE (token),
    CONSTRAINT api_credentials_user_unique UNIQUE (user_id)
);

CREATE INDEX api_credentials_tenant ON api_credentials (tenant_id);

-- The secrets of a credential: the current one (live_until NULL) and, during a grace
-- period after a rotation, the previous one. Encrypted (XChaCha20-Poly1305 under a key
-- derived from the master key, the token as associated data).
CREATE TABLE api_secrets (
    id {{id}},
    credential_id BIGINT NOT NULL REFERENCES api_credentials (id) ON DELETE CASCADE,
    ciphertext {{blob}} NOT NULL,
    last_four TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    live_until BIGINT
);

CREATE INDEX api_secrets_credential ON api_secrets (credential_id);

-- Nonces of strict signing, each usable once within the skew window.
CREATE TABLE api_nonces (
    credential_id BIGINT NOT NULL REFERENCES api_credentials (id) ON DELETE CASCADE,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (credential_id, nonce)
);

CREATE INDEX api_nonces_expiry ON api_nonces (expires_at);

ALTER TABLE tenants ADD COLUMN max_credential_age_days BIGINT;
