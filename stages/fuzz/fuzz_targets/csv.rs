//! A CSV file as the `csv` reader reads it, with a header row and without.
//! The input's way in is `exp_stages::fuzzing::csv`, shared with the bounded pass of
//! `stages/tests/arbitrary_inputs.rs`. Run: `bench/fuzz.sh` or, from `stages/`,
//! `cargo fuzz run csv` (docs: "Fuzzing").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exp_stages::fuzzing::csv(data);
});
