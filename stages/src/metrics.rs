//! Evaluation metrics computed exactly as the reference implementations compute them, so
//! scores compare with published ones: BLEU as SacreBLEU (`13a` or `ja-mecab`
//! tokenisation, the latter from [`crate::mecab`]; `exp`
//! smoothing; sentence BLEU with effective order, corpus BLEU from summed statistics),
//! Pearson's r as SciPy, Cohen's kappa as scikit-learn (unweighted, linear or quadratic
//! weights over the sorted labels). `stages/tests/fixtures/metrics/` holds the reference
//! values and the script that made them.

use regex::Regex;
use std::collections::HashMap;
use std::sync::OnceLock;

/// BLEU's n-gram orders.
const ORDER: usize = 4;

/// SacreBLEU's `13a` tokeniser (mteval-v13a's): entities unescaped, punctuation split off
/// except `.`/`,` between digits, `-` split after a digit, whitespace collapsed.
pub fn tokenize_13a(line: &str) -> String {
    static RULES: OnceLock<[(Regex, &str); 4]> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        let re = |p: &str| Regex::new(p).expect("a valid pattern");
        [
            (re(r"([{-~\[-` -&(-+:-@/])"), " $1 "),
            (re(r"([^0-9])([.,])"), "$1 $2 "),
            (re(r"([.,])([^0-9])"), " $1 $2"),
            (re(r"([0-9])(-)"), "$1 $2 "),
        ]
    });
    let mut line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    let mut line = format!(" {line} ");
    for (re, replacement) in rules {
        line = re.replace_all(&line, *replacement).into_owned();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The sufficient statistics of BLEU for one segment, or summed over a corpus.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BleuStats {
    pub correct: [u64; ORDER],
    pub total: [u64; ORDER],
    pub hyp_len: u64,
    pub ref_len: u64,
}

impl BleuStats {
    /// Statistics of an already tokenised hypothesis against tokenised references:
    /// clipped n-gram matches (each n-gram's count capped by its most frequent
    /// reference), and the reference length closest to the hypothesis's (the shorter on
    /// a tie).
    pub fn of(hyp: &str, refs: &[&str]) -> BleuStats {
        let (hyp_grams, hyp_len) = ngrams(hyp);
        let mut max_ref: HashMap<Vec<&str>, u64> = HashMap::new();
        let mut ref_len = None::<u64>;
        for r in refs {
            let (grams, len) = ngrams(r);
            for (g, c) in grams {
                let slot = max_ref.entry(g).or_insert(0);
                *slot = (*slot).max(c);
            }
            ref_len = Some(match ref_len {
                None => len,
                Some(best) => {
                    let (d, best_d) = (len.abs_diff(hyp_len), best.abs_diff(hyp_len));
                    if d < best_d || (d == best_d && len < best) {
                        len
                    } else {
                        best
                    }
                }
            });
        }
        let mut stats = BleuStats { hyp_len, ref_len: ref_len.unwrap_or(0), ..BleuStats::default() };
        for (g, c) in hyp_grams {
            let n = g.len() - 1;
            stats.total[n] += c;
            stats.correct[n] += c.min(max_ref.get(&g).copied().unwrap_or(0));
        }
        stats
    }

    pub fn add(&mut self, other: &BleuStats) {
        for n in 0..ORDER {
            self.correct[n] += other.correct[n];
            self.total[n] += other.total[n];
        }
        self.hyp_len += other.hyp_len;
        self.ref_len += other.ref_len;
    }

    /// BLEU (0–100) with SacreBLEU's `exp` smoothing. `effective_order`: stop at the
    /// first order the hypothesis has no n-grams of (what sentence BLEU does).
    pub fn score(&self, effective_order: bool) -> f64 {
        let bp = if self.hyp_len < self.ref_len {
            if self.hyp_len > 0 {
                (1.0 - self.ref_len as f64 / self.hyp_len as f64).exp()
            } else {
                0.0
            }
        } else {
            1.0
        };
        if self.correct.iter().all(|&c| c == 0) {
            return 0.0;
        }
        let mut precisions = [0.0f64; ORDER];
        let mut smooth = 1.0;
        let mut order = ORDER;
        for (n, precision) in precisions.iter_mut().enumerate() {
            if self.total[n] == 0 {
                break;
            }
            if effective_order {
                order = n + 1;
            }
            *precision = if self.correct[n] == 0 {
                smooth *= 2.0;
                100.0 / (smooth * self.total[n] as f64)
            } else {
                100.0 * self.correct[n] as f64 / self.total[n] as f64
            };
        }
        // SacreBLEU floors log(0) at -9999999999.
        let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
        bp * (precisions[..order].iter().map(|&p| log(p)).sum::<f64>() / order as f64).exp()
    }
}

fn ngrams(tokenized: &str) -> (HashMap<Vec<&str>, u64>, u64) {
    let tokens: Vec<&str> = tokenized.split_whitespace().collect();
    let mut counts = HashMap::new();
    for n in 1..=ORDER {
        for window in tokens.windows(n) {
            *counts.entry(window.to_vec()).or_insert(0) += 1;
        }
    }
    (counts, tokens.len() as u64)
}

/// SacreBLEU's `sentence_bleu(hyp, refs, tokenize="13a")`.
pub fn sentence_bleu_13a(hyp: &str, refs: &[&str]) -> f64 {
    bleu_stats_13a(hyp, refs).score(true)
}

/// The statistics SacreBLEU sums for `corpus_bleu(..., tokenize="13a")`.
pub fn bleu_stats_13a(hyp: &str, refs: &[&str]) -> BleuStats {
    bleu_stats(hyp, refs, &tokenize_13a)
}

/// The statistics SacreBLEU sums for `corpus_bleu` with the given tokeniser: trailing
/// whitespace stripped, then tokenised (`tokenize_13a`, or `Mecab::wakati` for
/// `ja-mecab`). `BleuStats::score(true)` of one segment is its `sentence_bleu`.
pub fn bleu_stats(hyp: &str, refs: &[&str], tokenize: &dyn Fn(&str) -> String) -> BleuStats {
    let refs: Vec<String> = refs.iter().map(|r| tokenize(r.trim_end())).collect();
    BleuStats::of(&tokenize(hyp.trim_end()), &refs.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Pearson's correlation coefficient; `None` when either side is constant or the
/// lengths differ or are below 2.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxx > 0.0 && syy > 0.0).then(|| (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KappaWeights {
    None,
    Linear,
    Quadratic,
}

/// Cohen's kappa of two labelings, as scikit-learn's `cohen_kappa_score`: the labels are
/// the sorted union of both sides, and weights count distance in that order. `None` when
/// the inputs are empty or of different lengths, or agreement by chance is total.
pub fn cohen_kappa<L: Ord + Clone>(a: &[L], b: &[L], weights: KappaWeights) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let mut labels: Vec<L> = a.iter().chain(b).cloned().collect();
    labels.sort();
    labels.dedup();
    let k = labels.len();
    let index = |l: &L| labels.binary_search(l).expect("a label of the union");
    let mut confusion = vec![0.0f64; k * k];
    for (x, y) in a.iter().zip(b) {
        confusion[index(x) * k + index(y)] += 1.0;
    }
    let rows: Vec<f64> = (0..k).map(|i| (0..k).map(|j| confusion[i * k + j]).sum()).collect();
    let cols: Vec<f64> = (0..k).map(|j| (0..k).map(|i| confusion[i * k + j]).sum()).collect();
    let total: f64 = rows.iter().sum();
    let (mut observed, mut expected) = (0.0, 0.0);
    for i in 0..k {
        for j in 0..k {
            let d = i.abs_diff(j) as f64;
            let w = match weights {
                KappaWeights::None => f64::from(u8::from(i != j)),
                KappaWeights::Linear => d,
                KappaWeights::Quadratic => d * d,
            };
            observed += w * confusion[i * k + j];
            expected += w * rows[i] * cols[j] / total;
        }
    }
    (expected > 0.0).then(|| 1.0 - observed / expected)
}
