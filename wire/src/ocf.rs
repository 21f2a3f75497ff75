//! Avro object container files of `murron.Envelope` records (docs/PROTOCOL.md, "The archive"):
//! writing them from raw envelope datums, and reading them back as datums, whoever wrote them.
//!
//! The records are never decoded into generic values: a block is decompressed once and its datums are
//! read in place with the envelope's own zero-copy decoder.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::envelope::ENVELOPE_SCHEMA;
use crate::envelope::codec::{Reader, put_bytes, put_long};
use crate::envelope::{self, DecodeError, Envelope};

const MAGIC: &[u8; 4] = b"Obj\x01";
/// Records per block; blocks are the unit of compression.
const BLOCK_RECORDS: usize = 4096;
/// A block larger than this is refused rather than allocated (a corrupt length).
const MAX_BLOCK_BYTES: usize = 1 << 30;

/// The compression codec of a container file's blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Null,
    Deflate,
    Snappy,
    #[default]
    #[serde(alias = "zstd")]
    Zstandard,
}

/// The decompressed size of `data` when it is exactly one zstandard frame whose header states a size
/// within the block limit.
fn single_frame_size(data: &[u8]) -> Option<usize> {
    if zstd::zstd_safe::find_frame_compressed_size(data).ok()? != data.len() {
        return None;
    }
    let size = zstd::zstd_safe::get_frame_content_size(data).ok()??;
    usize::try_from(size).ok().filter(|&n| n <= MAX_BLOCK_BYTES)
}

impl Codec {
    /// The `avro.codec` metadata value.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Null => "null",
            Codec::Deflate => "deflate",
            Codec::Snappy => "snappy",
            Codec::Zstandard => "zstandard",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Codec::Null, Codec::Deflate, Codec::Snappy, Codec::Zstandard]
            .into_iter()
            .find(|c| c.name() == name)
    }

    fn compress(self, data: &[u8]) -> Result<Vec<u8>, OcfError> {
        let io = |e: std::io::Error| OcfError::Codec(self.name(), e.to_string());
        Ok(match self {
            Codec::Null => data.to_vec(),
            Codec::Deflate => {
                let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(data).map_err(io)?;
                enc.finish().map_err(io)?
            }
            Codec::Snappy => {
                let mut out = snap::raw::Encoder::new()
                    .compress_vec(data)
                    .map_err(|e| OcfError::Codec(self.name(), e.to_string()))?;
                out.extend_from_slice(&crc32fast::hash(data).to_be_bytes());
                out
            }
            Codec::Zstandard => zstd::bulk::compress(data, 3).map_err(io)?,
        })
    }

    fn decompress(self, data: &[u8]) -> Result<Vec<u8>, OcfError> {
        let err = |e: &dyn std::fmt::Display| OcfError::Codec(self.name(), e.to_string());
        Ok(match self {
            Codec::Null => data.to_vec(),
            Codec::Deflate => {
                let mut out = Vec::new();
                flate2::read::DeflateDecoder::new(data)
                    .take(MAX_BLOCK_BYTES as u64)
                    .read_to_end(&mut out)
                    .map_err(|e| err(&e))?;
                out
            }
            Codec::Snappy => {
                let (body, crc) = data
                    .split_last_chunk::<4>()
                    .ok_or_else(|| err(&"block shorter than its checksum"))?;
                let out = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| err(&e))?;
                if crc32fast::hash(&out) != u32::from_be_bytes(*crc) {
                    return Err(err(&"checksum mismatch"));
                }
                out
            }
            // One frame that states its size (as Murron writes them) is decompressed into one
            // allocation of that size; anything else is streamed into a growing buffer.
            Codec::Zstandard if let Some(size) = single_frame_size(data) => {
                zstd::bulk::decompress(data, size).map_err(|e| err(&e))?
            }
            Codec::Zstandard => {
                let mut out = Vec::new();
                zstd::stream::read::Decoder::new(data)
                    .map_err(|e| err(&e))?
                    .take(MAX_BLOCK_BYTES as u64)
                    .read_to_end(&mut out)
                    .map_err(|e| err(&e))?;
                out
            }
        })
    }
}

/// Why a container file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OcfError {
    #[error("not an Avro object container file (bad magic)")]
    BadMagic,
    #[error("container file is truncated or malformed: {0}")]
    Malformed(DecodeError),
    #[error("unsupported codec {0:?} (null, deflate, snappy and zstandard are)")]
    UnsupportedCodec(String),
    #[error("{0} codec: {1}")]
    Codec(&'static str, String),
    #[error("the file's schema is not murron.Envelope: {0}")]
    WrongSchema(String),
    #[error("block {block}: record {record} is not an envelope: {error}")]
    BadRecord {
        block: u64,
        record: u64,
        error: DecodeError,
    },
    #[error("block {0}: sync marker does not match the header's")]
    BadSync(u64),
    #[error("block of {0} bytes is larger than allowed")]
    BlockTooLarge(i64),
}

impl From<DecodeError> for OcfError {
    fn from(e: DecodeError) -> Self {
        OcfError::Malformed(e)
    }
}

/// Writes a container file of envelope datums (record values without their 5-byte framing).
pub fn write<'a>(
    codec: Codec,
    sync: [u8; 16],
    datums: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, OcfError> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    put_long(&mut out, 2);
    put_bytes(&mut out, b"avro.schema");
    put_bytes(&mut out, ENVELOPE_SCHEMA.as_bytes());
    put_bytes(&mut out, b"avro.codec");
    put_bytes(&mut out, codec.name().as_bytes());
    put_long(&mut out, 0);
    out.extend_from_slice(&sync);
    let mut block = Vec::new();
    let mut count = 0usize;
    let flush = |block: &mut Vec<u8>, count: &mut usize, out: &mut Vec<u8>| -> Result<(), OcfError> {
        if *count == 0 {
            return Ok(());
        }
        let body = codec.compress(block)?;
        put_long(out, *count as i64);
        put_long(out, body.len() as i64);
        out.extend_from_slice(&body);
        out.extend_from_slice(&sync);
        block.clear();
        *count = 0;
        Ok(())
    };
    for datum in datums {
        block.extend_from_slice(datum);
        count += 1;
        if count == BLOCK_RECORDS {
            flush(&mut block, &mut count, &mut out)?;
        }
    }
    flush(&mut block, &mut count, &mut out)?;
    Ok(out)
}

/// An opened container file: its codec, and its blocks still compressed.
#[derive(Debug)]
pub struct ContainerFile<'a> {
    pub codec: Codec,
    sync: [u8; 16],
    rest: Reader<'a>,
    blocks_read: u64,
}

impl<'a> ContainerFile<'a> {
    /// Reads the header and checks the schema is the envelope's (by Parsing Canonical Form, so a
    /// writer's whitespace, docs or attribute order do not matter).
    pub fn open(file: &'a [u8]) -> Result<Self, OcfError> {
        let body = file.strip_prefix(MAGIC).ok_or(OcfError::BadMagic)?;
        let mut r = Reader::new(body);
        let (mut schema, mut codec) = (None, None);
        loop {
            let mut n = r.long()?;
            if n == 0 {
                break;
            }
            if n < 0 {
                // A negative count is followed by the block's size in bytes.
                n = n.checked_neg().ok_or(DecodeError::BadVarint)?;
                r.long()?;
            }
            for _ in 0..n {
                let key = r.string()?;
                let value = r.bytes()?;
                match key {
                    "avro.schema" => schema = Some(value),
                    "avro.codec" => codec = Some(value),
                    _ => {}
                }
            }
        }
        let sync: [u8; 16] = r.fixed::<16>()?;
        let codec = match codec {
            None => Codec::Null,
            Some(name) => {
                let name = String::from_utf8_lossy(name);
                Codec::from_name(&name).ok_or_else(|| OcfError::UnsupportedCodec(name.into_owned()))?
            }
        };
        let schema = schema.ok_or_else(|| OcfError::WrongSchema("no avro.schema in the header".into()))?;
        check_schema(schema)?;
        Ok(Self {
            codec,
            sync,
            rest: r,
            blocks_read: 0,
        })
    }

    /// The next block, decompressed, or None at the end of the file.
    pub fn next_block(&mut self) -> Result<Option<Block>, OcfError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let count = self.rest.long()?;
        let size = self.rest.long()?;
        if count < 0 || size < 0 {
            return Err(DecodeError::NegativeLength.into());
        }
        if size as u64 > MAX_BLOCK_BYTES as u64 {
            return Err(OcfError::BlockTooLarge(size));
        }
        let data = self.rest.take(size as usize)?;
        let sync: [u8; 16] = self.rest.fixed::<16>()?;
        if sync != self.sync {
            return Err(OcfError::BadSync(self.blocks_read));
        }
        self.blocks_read += 1;
        Ok(Some(Block {
            index: self.blocks_read - 1,
            count: count as u64,
            data: self.codec.decompress(data)?,
        }))
    }
}

/// One decompressed block.
#[derive(Debug)]
pub struct Block {
    pub index: u64,
    pub count: u64,
    pub data: Vec<u8>,
}

impl Block {
    /// The block's records: each envelope with its datum bytes.
    pub fn records(&self) -> Result<Vec<(Envelope<'_>, &[u8])>, OcfError> {
        let mut out = Vec::with_capacity(self.count.min(1 << 20) as usize);
        let mut at = 0usize;
        for record in 0..self.count {
            let rest = self.data.get(at..).unwrap_or_default();
            let (env, used) = envelope::decode_datum(rest).map_err(|error| OcfError::BadRecord {
                block: self.index,
                record,
                error,
            })?;
            out.push((env, &rest[..used]));
            at += used;
        }
        if at != self.data.len() {
            return Err(OcfError::BadRecord {
                block: self.index,
                record: self.count,
                error: DecodeError::TrailingBytes(self.data.len() - at),
            });
        }
        Ok(out)
    }
}

fn check_schema(text: &[u8]) -> Result<(), OcfError> {
    let text = std::str::from_utf8(text).map_err(|e| OcfError::WrongSchema(e.to_string()))?;
    let theirs = apache_avro::Schema::parse_str(text).map_err(|e| OcfError::WrongSchema(e.to_string()))?;
    let ours = apache_avro::Schema::parse_str(ENVELOPE_SCHEMA).map_err(|e| OcfError::WrongSchema(e.to_string()))?;
    if theirs.canonical_form() != ours.canonical_form() {
        return Err(OcfError::WrongSchema(theirs.canonical_form()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{KeyRing, NewEnvelope};

    fn datums(n: i64) -> Vec<Vec<u8>> {
        let keys = KeyRing::new([("default".to_string(), b"k".to_vec())]);
        (0..n)
            .map(|i| {
                let mut v = Vec::new();
                NewEnvelope {
                    timestamp: 1_700_000_000_000_000 + i,
                    host: "h",
                    event_type: "t",
                    offset: i,
                    pid: 7,
                    message: &[0, 0, 0, 0, 1, 2],
                    tags: &[("a", "b")],
                }
                .encode_signed(9, &keys, &mut v)
                .expect("signs");
                v.split_off(5)
            })
            .collect()
    }

    #[test]
    fn every_codec_round_trips_across_blocks() {
        let input = datums(BLOCK_RECORDS as i64 + 10);
        for codec in [Codec::Null, Codec::Deflate, Codec::Snappy, Codec::Zstandard] {
            let file = write(codec, [7; 16], input.iter().map(Vec::as_slice)).expect("writes");
            let mut c = ContainerFile::open(&file).expect("opens");
            assert_eq!(c.codec, codec);
            let mut offsets = Vec::new();
            let mut raw = Vec::new();
            while let Some(block) = c.next_block().expect("block") {
                for (env, datum) in block.records().expect("records") {
                    offsets.push(env.offset);
                    raw.push(datum.to_vec());
                }
            }
            assert_eq!(offsets, (0..BLOCK_RECORDS as i64 + 10).collect::<Vec<_>>(), "{codec:?}");
            assert_eq!(raw, input, "{codec:?}");
        }
    }

    #[test]
    fn zstandard_blocks_without_a_stated_size_or_of_several_frames_decompress() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let mut streamed = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut streamed, &data).unwrap();
        let streamed = streamed.finish().unwrap();
        assert_eq!(zstd::zstd_safe::get_frame_content_size(&streamed).unwrap(), None);
        assert_eq!(single_frame_size(&streamed), None);
        assert_eq!(Codec::Zstandard.decompress(&streamed).unwrap(), data);

        let (a, b) = data.split_at(123_457);
        let mut frames = zstd::bulk::compress(a, 3).unwrap();
        frames.extend(zstd::bulk::compress(b, 3).unwrap());
        assert_eq!(single_frame_size(&frames), None);
        assert_eq!(Codec::Zstandard.decompress(&frames).unwrap(), data);

        let one = zstd::bulk::compress(&data, 3).unwrap();
        assert_eq!(single_frame_size(&one), Some(data.len()));
        assert_eq!(Codec::Zstandard.decompress(&one).unwrap(), data);
    }

    #[test]
    fn apache_avro_reads_what_we_write() {
        let input = datums(3);
        let file = write(Codec::Deflate, [1; 16], input.iter().map(Vec::as_slice)).expect("writes");
        let reader = apache_avro::Reader::new(&file[..]).expect("opens");
        let offsets: Vec<i64> = reader
            .map(|v| match v.expect("record") {
                apache_avro::types::Value::Record(fields) => match &fields[3].1 {
                    apache_avro::types::Value::Long(o) => *o,
                    other => panic!("offset is {other:?}"),
                },
                other => panic!("record is {other:?}"),
            })
            .collect();
        assert_eq!(offsets, vec![0, 1, 2]);
    }

    #[test]
    fn bad_files_get_precise_errors() {
        assert!(matches!(ContainerFile::open(b"PAR1"), Err(OcfError::BadMagic)));
        let input = datums(2);
        let mut file = write(Codec::Null, [3; 16], input.iter().map(Vec::as_slice)).expect("writes");
        let len = file.len();
        file[len - 1] ^= 1;
        let mut c = ContainerFile::open(&file).expect("header is intact");
        assert!(matches!(c.next_block(), Err(OcfError::BadSync(0))));
        let truncated = &file[..len - 20];
        let mut c = ContainerFile::open(truncated).expect("header is intact");
        assert!(matches!(c.next_block(), Err(OcfError::Malformed(_))));
        let other = apache_avro::Schema::parse_str(r#"{"type":"record","name":"X","fields":[]}"#).expect("schema");
        let foreign = apache_avro::Writer::new(&other, Vec::new())
            .expect("writer")
            .into_inner()
            .expect("writes");
        assert!(matches!(ContainerFile::open(&foreign), Err(OcfError::WrongSchema(_))));
    }
}
