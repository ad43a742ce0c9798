//! PubMed/MEDLINE XML as the `pubmed_xml` reader reads it.
//! The input's way in is `exp_stages::fuzzing::pubmed_xml`, shared with the bounded pass of
//! `stages/tests/arbitrary_inputs.rs`. Run: `bench/fuzz.sh` or, from `stages/`,
//! `cargo fuzz run pubmed_xml` (docs: "Fuzzing").
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    exp_stages::fuzzing::pubmed_xml(data);
});
