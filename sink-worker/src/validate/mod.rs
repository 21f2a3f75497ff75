//! Payload validation: checks that bytes are exactly one Avro datum of a writer schema.
