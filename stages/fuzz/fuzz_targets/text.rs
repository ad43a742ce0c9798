//! Plain text as the `text` reader reads it, per line and per file.
//! The input's way in is `exp_stages::fuzzing::text`, shared with the bounded pass of
//! `stages/tests/arbitrary_inputs.rs`. Run: `bench/fuzz.sh` or, from `stages/`,
//! `cargo fuzz run text` (docs: "Fuzzing").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exp_stages::fuzzing::text(data);
});
