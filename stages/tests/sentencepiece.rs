//! The SentencePiece encoder against reference ids from the Python `sentencepiece`
//! package (`fixtures/sentencepiece/make_fixture.py`, versions in `versions.txt`).

use exp_stages::sentencepiece::SentencePiece;
use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("stages/ has a parent")
}

#[test]
fn matches_the_reference_implementation() {
    let sp =
        SentencePiece::load(&workspace().join("data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")).expect("model");
    assert_eq!(sp.vocab_size(), 99_574);
    let fixture = std::fs::read_to_string(workspace().join("stages/tests/fixtures/sentencepiece/reference.jsonl"))
        .expect("fixture");
    let mut checked = 0;
    for (line_no, line) in fixture.lines().enumerate() {
        let item: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let text = item["text"].as_str().expect("text");
        let expected: Vec<u32> =
            item["ids"].as_array().expect("ids").iter().map(|v| v.as_u64().expect("id") as u32).collect();
        let got = sp.encode(text);
        assert_eq!(
            got,
            expected,
            "line {}: {text:?}\n got {:?}\nwant {:?}",
            line_no + 1,
            got.iter().map(|&i| sp.piece(i)).collect::<Vec<_>>(),
            expected.iter().map(|&i| sp.piece(i)).collect::<Vec<_>>()
        );
        // SentencePiece's `decode(encode(text))` gives every fixture text back.
        assert_eq!(sp.decode(&got), text, "line {}: decode", line_no + 1);
        checked += 1;
    }
    assert!(checked > 1000, "{checked} texts");
}

#[test]
fn a_file_that_is_not_a_model_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("exp-sp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.model");
    std::fs::write(&bad, b"\xff\xff\xff not protobuf").expect("write");
    let err = SentencePiece::load(&bad).err().expect("an error").to_string();
    assert!(err.contains("bad.model") && err.contains("not a SentencePiece model"), "{err}");
}
