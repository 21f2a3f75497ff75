-- The Iceberg catalog of the sink's Iceberg output (docs/ICEBERG.md), laid out exactly as Iceberg's
-- JDBC catalog and pyiceberg's SqlCatalog define it, so that Spark, Trino and pyiceberg open the same
-- tables. A table's current metadata file is the one `metadata_location` names; a commit swaps it with
-- `UPDATE ... WHERE metadata_location = <the one it read>`, in the batch's own transaction.
-- IF NOT EXISTS: an engine may have created them in this database first.
CREATE TABLE IF NOT EXISTS iceberg_tables (
    catalog_name               varchar(255) NOT NULL,
    table_namespace            varchar(255) NOT NULL,
    table_name                 varchar(255) NOT NULL,
    metadata_location          varchar(1000),
    previous_metadata_location varchar(1000),
    PRIMARY KEY (catalog_name, table_namespace, table_name)
);
-- The "V1" layout's column, added to a catalog an older engine created.
ALTER TABLE iceberg_tables ADD COLUMN IF NOT EXISTS iceberg_type varchar(5);

CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
    catalog_name   varchar(255)  NOT NULL,
    namespace      varchar(255)  NOT NULL,
    property_key   varchar(255)  NOT NULL,
    property_value varchar(1000),
    PRIMARY KEY (catalog_name, namespace, property_key)
);
