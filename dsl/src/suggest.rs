//! "Did you mean …?": the closest candidate to a misspelt name, if it is close enough.

/// The candidate most similar to `word`, when the similarity is convincing.
/// Close means a Jaro-Winkler similarity of at least 0.8 (shared prefixes, small slips) or
/// few enough edits, swaps included (`tyo` → `toy`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let max_edits = (word.chars().count() / 4).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, c)| *score >= 0.8 || strsim::osa_distance(word, c) <= max_edits)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(closest("warmpu", ["warmup", "lr", "seed"]), Some("warmup".into()));
        assert_eq!(closest("pubmed_eng", ["pubmed_en", "pmc_en"]), Some("pubmed_en".into()));
        assert_eq!(closest("zzz", ["warmup", "lr"]), None);
        assert_eq!(closest("lr", ["lr"]), None);
        assert_eq!(closest("tyo", ["toy", "full"]), Some("toy".into()));
    }
}
