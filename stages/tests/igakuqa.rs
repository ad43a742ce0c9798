//! IgakuQA judged as the official script judges: the published baseline predictions
//! (free text, unsorted, spaced and repeated letters included) scored by our judge and
//! aggregation give the official accuracy, score and total of every block
//! (`fixtures/igakuqa/make_fixture.py`, which imports the official `evaluate_main.py`).

use exp_stages::eval::score::{igakuqa_correct, metrics, ItemResult};
use exp_stages::eval::tasks::Category;
use std::path::Path;

#[test]
fn baseline_predictions_score_as_the_official_script() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/fixtures/igakuqa/expected.json")).expect("fixture"),
    )
    .expect("JSON");
    let cases = cases.as_array().expect("cases");
    assert_eq!(cases.len(), 72, "24 blocks × 3 baselines");
    for case in cases {
        let block = case["block"].as_str().expect("block");
        let year = match &block[..3] {
            "112" => "2018",
            "113" => "2019",
            "114" => "2020",
            _ => "2021",
        };
        let golds = std::fs::read_to_string(root.join(format!("../data/igakuqa/{year}/{block}.jsonl"))).expect("gold");
        let results: Vec<ItemResult> = golds
            .lines()
            .zip(case["predictions"].as_array().expect("predictions"))
            .map(|(line, prediction)| {
                let gold: serde_json::Value = serde_json::from_str(line).expect("JSON");
                let id = gold["problem_id"].as_str().expect("id");
                let mut letters: Vec<String> = gold["answer"]
                    .as_array()
                    .expect("answer")
                    .iter()
                    .map(|a| a.as_str().expect("letter").to_string())
                    .collect();
                letters.sort();
                let points: f64 = gold["points"].as_str().expect("points").parse().expect("a number");
                // The official script splits on ',' only: no trimming, no case folding.
                let predicted: Vec<String> =
                    prediction.as_str().expect("text").split(',').map(str::to_string).collect();
                let correct = igakuqa_correct(id, &predicted, &letters);
                ItemResult {
                    id: id.to_string(),
                    correct: Some(correct),
                    points: Some((if correct { points } else { 0.0 }, points)),
                    ..ItemResult::default()
                }
            })
            .collect();
        let refs: Vec<&ItemResult> = results.iter().collect();
        let ours = metrics(Category::Mcqa, None, &refs);
        let official = &case["official"];
        let model = case["model"].as_str().expect("model");
        assert!(
            (ours["accuracy"] - official["accuracy"].as_f64().expect("accuracy")).abs() < 1e-12,
            "{block} {model}: {} vs {official}",
            ours["accuracy"]
        );
        assert_eq!(ours["points"], official["score"].as_f64().expect("score"), "{block} {model}");
        assert_eq!(ours["points_total"], official["total"].as_f64().expect("total"), "{block} {model}");
    }
}
