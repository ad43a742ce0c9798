//! A Parquet file as the `parquet` reader reads it.
//! The input's way in is `exp_stages::fuzzing::parquet`, shared with the bounded pass of
//! `stages/tests/arbitrary_inputs.rs`. Run: `bench/fuzz.sh` or, from `stages/`,
//! `cargo fuzz run parquet` (docs: "Fuzzing").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exp_stages::fuzzing::parquet(data);
});
