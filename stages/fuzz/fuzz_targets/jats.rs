//! A PMC JATS article as the `jats` reader reads it.
//! The input's way in is `exp_stages::fuzzing::jats`, shared with the bounded pass of
//! `stages/tests/arbitrary_inputs.rs`. Run: `bench/fuzz.sh` or, from `stages/`,
//! `cargo fuzz run jats` (docs: "Fuzzing").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exp_stages::fuzzing::jats(data);
});
