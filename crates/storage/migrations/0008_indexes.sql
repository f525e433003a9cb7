-- Indexes for keyset paging of assets and for housekeeping.

CREATE INDEX assets_tenant_identifier ON assets (tenant_id, identifier);
CREATE INDEX assets_tenant_site_identifier ON assets (tenant_id, site_id, identifier);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX auth_throttle_window ON auth_throttle (window_start);
