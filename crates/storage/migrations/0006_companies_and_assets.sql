-- Companies (manufacturers, sellers, service firms), manufacturer models, and assets.

CREATE TABLE companies (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    identifier TEXT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    email TEXT NOT NULL,
    telephone TEXT NOT NULL,
    address_line1 TEXT NOT NULL,
    address_line2 TEXT NOT NULL DEFAULT '',
    address_line3 TEXT NOT NULL DEFAULT '',
    town TEXT NOT NULL DEFAULT '',
    county TEXT NOT NULL DEFAULT '',
    postcode TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL,
    -- Comma-separated: AssetManufacturer, AssetSeller, AssetServiceFirm.
    company_types TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT companies_identifier_unique UNIQUE (identifier),
    CONSTRAINT companies_name_unique UNIQUE (tenant_id, name_key)
);

CREATE TABLE manufacturer_models (
    id {{id}},
    company_id BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    CONSTRAINT manufacturer_models_unique UNIQUE (company_id, name_key)
);

CREATE TABLE assets (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    identifier TEXT NOT NULL,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    parent_asset_id BIGINT REFERENCES assets (id),
    matrix_code TEXT NOT NULL,
    model_id BIGINT REFERENCES manufacturer_models (id),
    serial_number TEXT NOT NULL DEFAULT '',
    asset_tag TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    quantity BIGINT NOT NULL DEFAULT 1,
    installation_date TEXT,
    purchase_date TEXT,
    purchase_value DOUBLE PRECISION,
    current_value DOUBLE PRECISION,
    year_of_manufacture BIGINT,
    life_span_value BIGINT,
    life_span_unit TEXT,
    category TEXT,
    created_at BIGINT NOT NULL,
    CONSTRAINT assets_identifier_unique UNIQUE (identifier)
);

CREATE INDEX assets_tenant_site ON assets (tenant_id, site_id);
