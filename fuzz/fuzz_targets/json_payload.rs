#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| murron_fuzz::json_payload(data));
