-- JSON Schema and Protobuf beside Avro: the type of every schema is one of the three, and Confluent's
-- compatibilityPolicy (which only JSON Schema's rules read) is set globally or per subject.
ALTER TABLE schemas
    ADD CONSTRAINT schemas_schema_type CHECK (schema_type IN ('AVRO', 'JSON', 'PROTOBUF'));

ALTER TABLE registry_settings
    ADD COLUMN compatibility_policy text CHECK (compatibility_policy IN ('STRICT', 'LENIENT'));
