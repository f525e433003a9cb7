-- Custom fields: extra questions per task category, asset category or site channel, and
-- the answers given to them.

CREATE TABLE custom_fields (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- task, asset, site or compliance.
    target TEXT NOT NULL,
    -- The matrix code it applies to (and to that code's children).
    matrix_code TEXT NOT NULL,
    name TEXT NOT NULL,
    question TEXT NOT NULL,
    is_mandatory BIGINT NOT NULL DEFAULT 0,
    data_type TEXT NOT NULL,
    -- Allowed answers of List fields, one per line.
    answer_list TEXT NOT NULL DEFAULT '',
    parent_name TEXT,
    trigger_value TEXT,
    sort_order BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT custom_fields_name_unique UNIQUE (tenant_id, target, name)
);

CREATE INDEX custom_fields_lookup ON custom_fields (tenant_id, target, matrix_code);

-- Answers, for any entity that takes custom fields (owner: a site's or asset's id).
CREATE TABLE custom_answers (
    target TEXT NOT NULL,
    owner_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (target, owner_id, name)
);
