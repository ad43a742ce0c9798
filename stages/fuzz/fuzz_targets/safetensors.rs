//! A safetensors file as the trainer's checkpoint check and load read it (without burn).
//! The input's way in is `exp_stages::fuzzing::safetensors`, shared with the bounded pass of
//! `stages/tests/arbitrary_inputs.rs`. Run: `bench/fuzz.sh` or, from `stages/`,
//! `cargo fuzz run safetensors` (docs: "Fuzzing").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exp_stages::fuzzing::safetensors(data);
});
