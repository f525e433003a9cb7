-- The tenant's change index also carries who may see a task (its contractor and its
-- creator), so a Contractor user's page filters index entries before fetching any row.
-- It replaces `tasks_changed`, whose columns it begins with.

CREATE INDEX tasks_changed_visible ON tasks (tenant_id, updated_at, id, contractor_id, created_by);
DROP INDEX tasks_changed;
