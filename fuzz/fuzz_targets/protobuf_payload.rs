#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| murron_fuzz::protobuf_payload(data));
