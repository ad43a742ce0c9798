//! A Hugging Face `config.json` as `MixtralConfig::read` reads it, and what is computed from it.
//! The input's way in is `exp_stages::fuzzing::hf_config`, shared with the bounded pass of
//! `stages/tests/arbitrary_inputs.rs`. Run: `bench/fuzz.sh` or, from `stages/`,
//! `cargo fuzz run hf_config` (docs: "Fuzzing").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exp_stages::fuzzing::hf_config(data);
});
