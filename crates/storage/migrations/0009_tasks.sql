-- Tasks and what they move through: explicit site access, workflows and their statuses,
-- service levels, dispatch rules, the tasks themselves with notes and history.

-- Site access of users whose users.site_access is 'some': explicit sites (by code key),
-- geographic areas and site channels (matrix codes; a code covers the codes below it).
-- A granted site includes its child sites.
CREATE TABLE user_site_access (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, code)
);

UPDATE users SET site_access = 'some' WHERE site_access = 'sites';

CREATE INDEX sites_area ON sites (tenant_id, geographic_area_code);
CREATE INDEX sites_channel ON sites (tenant_id, site_channel_code);

CREATE TABLE workflows (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    workflow_type TEXT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    is_active BIGINT NOT NULL DEFAULT 1,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    CONSTRAINT workflows_name_unique UNIQUE (tenant_id, name_key)
);

CREATE TABLE workflow_statuses (
    id {{id}},
    workflow_id BIGINT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    status_type TEXT NOT NULL,
    is_quotation_enabled BIGINT NOT NULL DEFAULT 0,
    is_manual_date_enabled BIGINT NOT NULL DEFAULT 0,
    is_eligible_to_invoice BIGINT NOT NULL DEFAULT 0,
    is_resolution_cause_enabled BIGINT NOT NULL DEFAULT 0,
    is_resolution_remedy_enabled BIGINT NOT NULL DEFAULT 0,
    update_asset_condition BIGINT NOT NULL DEFAULT 0,
    supplier_on_site BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT workflow_statuses_name_unique UNIQUE (workflow_id, name_key)
);

CREATE TABLE workflow_destinations (
    status_id BIGINT NOT NULL REFERENCES workflow_statuses (id) ON DELETE CASCADE,
    destination_id BIGINT NOT NULL REFERENCES workflow_statuses (id) ON DELETE CASCADE,
    -- The order the destinations are offered in (the first Open one is where dispatching
    -- puts a task).
    position BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (status_id, destination_id)
);

CREATE TABLE service_levels (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    respond_minutes BIGINT NOT NULL,
    complete_minutes BIGINT NOT NULL,
    is_active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    CONSTRAINT service_levels_name_unique UNIQUE (tenant_id, name_key)
);

CREATE TABLE dispatch_rules (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    site_id BIGINT REFERENCES sites (id) ON DELETE CASCADE,
    geographic_area_code TEXT,
    site_channel_code TEXT,
    matrix_code TEXT,
    contractor_id BIGINT REFERENCES contractors (id) ON DELETE CASCADE,
    service_level_id BIGINT REFERENCES service_levels (id) ON DELETE CASCADE,
    workflow_id BIGINT REFERENCES workflows (id) ON DELETE CASCADE,
    chargeability TEXT,
    created_at BIGINT NOT NULL
);

CREATE INDEX dispatch_rules_tenant ON dispatch_rules (tenant_id);

-- The last task number handed out per tenant: the row lock serialises concurrent creates.
CREATE TABLE task_counters (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    last_number BIGINT NOT NULL
);

CREATE TABLE tasks (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    reference TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    external_identifier TEXT,
    -- SHA-256 of the create request as the use case understood it: a retry with the same
    -- ExternalIdentifier and the same request returns the task, a different one is a conflict.
    request_hash TEXT,
    initiator_name TEXT NOT NULL,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    description TEXT NOT NULL,
    defect_source TEXT,
    matrix_code TEXT NOT NULL,
    chargeability TEXT,
    workflow_id BIGINT NOT NULL REFERENCES workflows (id),
    status_id BIGINT NOT NULL REFERENCES workflow_statuses (id),
    contractor_id BIGINT REFERENCES contractors (id),
    service_level_id BIGINT REFERENCES service_levels (id),
    respond_by BIGINT,
    complete_by BIGINT,
    is_asset_available BIGINT,
    -- Set at creation and never changed: kept as JSON beside the row so that a page of
    -- tasks is one query. Assets: ["guid", ...]; custom fields: [["Name", "Value"], ...].
    assets TEXT NOT NULL DEFAULT '[]',
    custom_fields TEXT NOT NULL DEFAULT '[]',
    relation TEXT,
    related_task_id BIGINT REFERENCES tasks (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    CONSTRAINT tasks_reference_unique UNIQUE (tenant_id, reference),
    CONSTRAINT tasks_external_unique UNIQUE (tenant_id, created_by, external_identifier)
);

CREATE INDEX tasks_changed ON tasks (tenant_id, updated_at, id);
CREATE INDEX tasks_contractor_changed ON tasks (tenant_id, contractor_id, updated_at, id);
CREATE INDEX tasks_site_changed ON tasks (site_id, updated_at, id);
CREATE INDEX tasks_external ON tasks (tenant_id, external_identifier);
CREATE INDEX tasks_creator_changed ON tasks (created_by, updated_at, id);

-- Notes and chases.
CREATE TABLE task_notes (
    id {{id}},
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    author_id BIGINT REFERENCES users (id),
    author_name TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX task_notes_task ON task_notes (task_id, id);

-- Everything that happened to a task, oldest first.
CREATE TABLE task_history (
    id {{id}},
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    occurred_at BIGINT NOT NULL,
    actor_id BIGINT REFERENCES users (id),
    actor_name TEXT NOT NULL,
    event TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    -- The date the status change says it happened (manual date), when given.
    status_date BIGINT,
    detail TEXT NOT NULL DEFAULT ''
);

CREATE INDEX task_history_task ON task_history (task_id, id);
