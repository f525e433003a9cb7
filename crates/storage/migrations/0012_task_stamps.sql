-- The tenant's change index also carries what a page's stamp reads of a task (its version
-- and its status), so a page of stamps reads index entries and statuses, never a task's
-- row. It replaces `tasks_changed_visible`, whose columns it begins with.

CREATE INDEX tasks_changed_stamp ON tasks (tenant_id, updated_at, id, contractor_id, created_by, version, status_id);
DROP INDEX tasks_changed_visible;
