//! The PostgreSQL warehouse: one typed table per event type.
