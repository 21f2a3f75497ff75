//! The Murron wire contract (docs/PROTOCOL.md), shared by producers, the sink and the fuzz targets:
//! the [`envelope`] codec and its signatures, the [`check`]s that need no registry, Confluent [`framing`],
//! Avro container files ([`ocf`]) for the raw archive, [`stream`] keys and UIDs, [`hours`], offset
//! [`ranges`], type [`route`]s and bearer [`token`]s. Pure code: no I/O,
//! no async runtime, no clients.

pub mod check;
pub mod envelope;
pub mod framing;
pub mod hours;
pub mod ocf;
pub mod ranges;
pub mod route;
pub mod stream;
pub mod token;
