//! "Did you mean …?": the closest candidate to a misspelt name, if it is close enough.

/// The candidate most similar to `word`, when the similarity is convincing.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
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
    }
}
