-- Sites: a tree keyed by SiteCode, with address, location, area and channel codes,
-- hazards, notes and working hours.

CREATE TABLE sites (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    code_key TEXT NOT NULL,
    parent_id BIGINT REFERENCES sites (id),
    name TEXT NOT NULL,
    address_line1 TEXT NOT NULL DEFAULT '',
    address_line2 TEXT NOT NULL DEFAULT '',
    address_line3 TEXT NOT NULL DEFAULT '',
    town TEXT NOT NULL DEFAULT '',
    county TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    postal_code TEXT NOT NULL DEFAULT '',
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    email TEXT NOT NULL DEFAULT '',
    telephone TEXT NOT NULL DEFAULT '',
    geographic_area_code TEXT,
    site_channel_code TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT sites_code_unique UNIQUE (tenant_id, code_key)
);

CREATE INDEX sites_parent ON sites (parent_id);

CREATE TABLE site_hazards (
    site_id BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    hazard TEXT NOT NULL,
    PRIMARY KEY (site_id, hazard)
);

CREATE TABLE site_notes (
    id {{id}},
    site_id BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    start_date TEXT,
    end_date TEXT,
    is_warning BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX site_notes_site ON site_notes (site_id);

CREATE TABLE site_working_hours (
    site_id BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    day_of_week BIGINT NOT NULL,
    opens TEXT NOT NULL,
    closes TEXT NOT NULL,
    PRIMARY KEY (site_id, day_of_week)
);
