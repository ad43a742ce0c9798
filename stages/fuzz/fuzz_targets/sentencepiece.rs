//! A SentencePiece `.model` as `SentencePiece::load` reads it, then a short text encoded.
//! The input's way in is `exp_stages::fuzzing::sentencepiece`, shared with the bounded pass of
//! `stages/tests/arbitrary_inputs.rs`. Run: `bench/fuzz.sh` or, from `stages/`,
//! `cargo fuzz run sentencepiece` (docs: "Fuzzing").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exp_stages::fuzzing::sentencepiece(data);
});
