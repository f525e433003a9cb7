-- Matrices (hierarchical category codes per matrix type) and reference lists.

CREATE TABLE matrix_items (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    matrix_type TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_code TEXT,
    is_active BIGINT NOT NULL DEFAULT 1,
    CONSTRAINT matrix_items_code_unique UNIQUE (tenant_id, matrix_type, code)
);

CREATE TABLE reference_values (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    list_group TEXT NOT NULL,
    value TEXT NOT NULL,
    value_key TEXT NOT NULL,
    is_active BIGINT NOT NULL DEFAULT 1,
    sort_order BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT reference_values_unique UNIQUE (tenant_id, list_group, value_key)
);
