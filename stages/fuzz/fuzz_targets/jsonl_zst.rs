//! JSON lines as the `jsonl` reader reads a `.zst` file: the bytes are the zstd stream.
//! The input's way in is `exp_stages::fuzzing::jsonl_zst`, shared with the bounded pass of
//! `stages/tests/arbitrary_inputs.rs`. Run: `bench/fuzz.sh` or, from `stages/`,
//! `cargo fuzz run jsonl_zst` (docs: "Fuzzing").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exp_stages::fuzzing::jsonl_zst(data);
});
