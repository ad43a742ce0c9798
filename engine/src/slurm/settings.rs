//! The Slurm executor's settings: a TOML file the user keeps beside the experiment
//! (`slurm.toml`) or names with `--settings`. Nothing here enters an identity: where and
//! how a node is computed never changes what it computes.
//!
//! ```toml
//! partition = "gpu"
//! account = "medllm"
//! time = "4:00:00"
//! max_jobs = 64
//! setup = ["module load cuda/12.4"]
//!
//! [kinds.cpt]
//! time = "2-00:00:00"
//! sbatch = ["--constraint=h100"]
//!
//! [nodes.eval_en_dominant]
//! time = "30:00"
//!
//! [megatron]
//! source = "/shared/Megatron-LM"        # a clone at the trainer's tag
//! python = "/shared/megatron-env/bin/python"
//! ```
//!
//! Problems are diagnostics (E0301) with the file, line and column, like a `.med` file's.

use exp_dsl::span::Span;
use exp_dsl::{Code, Diagnostic, SourceMap};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The settings file looked for beside the experiment when `--settings` is not given.
pub const DEFAULT_FILE: &str = "slurm.toml";

/// How jobs of one node are asked for: the file's top level, then its kind's table, then
/// its node's table, each overriding the one before (`sbatch` and `setup` add up instead).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Job {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Slurm's `--time` (`minutes`, `h:mm:ss`, `d-hh:mm:ss`…).
    pub time: Option<String>,
    /// Overrides the CPUs the stage asks for (`--cpus-per-task`).
    pub cpus: Option<usize>,
    /// Overrides the memory the stage asks for (`--mem`, Slurm's syntax: `16G`).
    pub mem: Option<String>,
    /// Options added to `sbatch` as they are.
    pub sbatch: Vec<String>,
    /// Shell lines the job script runs before `exp` (`module load …`, a virtualenv).
    pub setup: Vec<String>,
}

/// A checked settings file.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Where they came from (`None`: no file, every default).
    pub file: Option<PathBuf>,
    pub job: Job,
    pub kinds: BTreeMap<String, Job>,
    pub nodes: BTreeMap<String, Job>,
    /// Jobs pending or running at once.
    pub max_jobs: usize,
    /// Seconds between two status queries.
    pub poll_seconds: f64,
    /// GPUs of one cluster node: a trainer asking more spans several nodes.
    pub gpus_per_node: usize,
    /// The `exp` binary as the compute nodes see it (default: the running one).
    pub exp: Option<PathBuf>,
    /// Where Megatron-LM is on the cluster, for `trainer: megatron(…)` nodes.
    pub megatron: Option<MegatronInstall>,
}

/// `[megatron]`: a Megatron-LM source tree and the Python that runs it, as the compute
/// nodes see them. The job checks both and that the tree is the trainer's version.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MegatronInstall {
    pub source: PathBuf,
    pub python: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            file: None,
            job: Job::default(),
            kinds: BTreeMap::new(),
            nodes: BTreeMap::new(),
            max_jobs: 100,
            poll_seconds: 5.0,
            gpus_per_node: 8,
            exp: None,
            megatron: None,
        }
    }
}

impl Settings {
    /// What the job of node `name` of kind `kind` asks for.
    pub fn job(&self, kind: &str, name: &str) -> Job {
        let mut job = self.job.clone();
        for over in [self.kinds.get(kind), self.nodes.get(name)].into_iter().flatten() {
            let pick = |a: &mut Option<String>, b: &Option<String>| {
                if b.is_some() {
                    a.clone_from(b);
                }
            };
            pick(&mut job.partition, &over.partition);
            pick(&mut job.account, &over.account);
            pick(&mut job.qos, &over.qos);
            pick(&mut job.time, &over.time);
            pick(&mut job.mem, &over.mem);
            job.cpus = over.cpus.or(job.cpus);
            job.sbatch.extend(over.sbatch.iter().cloned());
            job.setup.extend(over.setup.iter().cloned());
        }
        job
    }

    /// Reads the settings: `explicit` (must exist), else `slurm.toml` beside the
    /// experiment if there is one, else the defaults. `kinds` are the stage kinds a
    /// `[kinds.…]` table may name. `Err` holds the diagnostics and their sources.
    pub fn load(explicit: Option<&Path>, experiment: &Path, kinds: &[&str]) -> Result<Settings, Problems> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let beside = experiment.parent().unwrap_or(Path::new(".")).join(DEFAULT_FILE);
                if !beside.is_file() {
                    return Ok(Settings::default());
                }
                beside
            }
        };
        let mut sources = SourceMap::default();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                let id = sources.add(path.display().to_string(), &path, String::new());
                let d = Diagnostic::error(
                    Code::BadSetting,
                    format!("cannot read the settings file `{}`: {e}", path.display()),
                    Span::new(id, 0, 0),
                    "here",
                );
                return Err(Problems { sources, diagnostics: vec![d] });
            }
        };
        let id = sources.add(path.display().to_string(), &path, text.clone());
        match parse(&text, id, kinds) {
            Ok(mut s) => {
                s.file = Some(path);
                Ok(s)
            }
            Err(diagnostics) => Err(Problems { sources, diagnostics }),
        }
    }
}

/// Diagnostics about a settings file, with its text to render them.
#[derive(Debug)]
pub struct Problems {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

impl Problems {
    pub fn render(&self, color: bool) -> String {
        exp_dsl::diagnostic::render(&self.sources, &self.diagnostics, color)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    partition: Option<String>,
    account: Option<String>,
    qos: Option<String>,
    time: Option<Spanned<String>>,
    cpus: Option<Spanned<i64>>,
    mem: Option<Spanned<String>>,
    #[serde(default)]
    sbatch: Vec<Spanned<String>>,
    #[serde(default)]
    setup: Vec<String>,
}

/// The file: a job's settings at the top level (the fields of [`RawJob`] again: serde's
/// `flatten` cannot be combined with `deny_unknown_fields`, and an unknown key must be an
/// error), the driver's own, and the tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    partition: Option<String>,
    account: Option<String>,
    qos: Option<String>,
    time: Option<Spanned<String>>,
    cpus: Option<Spanned<i64>>,
    mem: Option<Spanned<String>>,
    #[serde(default)]
    sbatch: Vec<Spanned<String>>,
    #[serde(default)]
    setup: Vec<String>,
    max_jobs: Option<Spanned<i64>>,
    poll_seconds: Option<Spanned<f64>>,
    gpus_per_node: Option<Spanned<i64>>,
    exp: Option<String>,
    megatron: Option<MegatronInstall>,
    #[serde(default)]
    kinds: BTreeMap<Spanned<String>, RawJob>,
    #[serde(default)]
    nodes: BTreeMap<String, RawJob>,
}

fn parse(text: &str, file: usize, kinds: &[&str]) -> Result<Settings, Vec<Diagnostic>> {
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        vec![Diagnostic::error(
            Code::BadSetting,
            e.message().to_string(),
            Span::new(file, span.start, span.end),
            "here",
        )
        .with_help(HELP)]
    })?;
    let mut problems = Vec::new();
    let mut check = |ok: bool, spanned: std::ops::Range<usize>, message: String, label: &str| {
        if !ok {
            problems.push(Diagnostic::error(
                Code::BadSetting,
                message,
                Span::new(file, spanned.start, spanned.end),
                label,
            ));
        }
    };
    let top = RawJob {
        partition: raw.partition,
        account: raw.account,
        qos: raw.qos,
        time: raw.time,
        cpus: raw.cpus,
        mem: raw.mem,
        sbatch: raw.sbatch,
        setup: raw.setup,
    };
    let mut settings = Settings { job: job(top, &mut check), ..Settings::default() };
    if let Some(m) = &raw.max_jobs {
        check(*m.get_ref() >= 1, m.span(), format!("`max_jobs` must be at least 1, not {}", m.get_ref()), "too few");
        settings.max_jobs = (*m.get_ref()).max(1) as usize;
    }
    if let Some(p) = &raw.poll_seconds {
        let ok = p.get_ref().is_finite() && *p.get_ref() > 0.0;
        check(ok, p.span(), format!("`poll_seconds` must be more than 0, not {}", p.get_ref()), "not a wait");
        settings.poll_seconds = if ok { *p.get_ref() } else { 5.0 };
    }
    if let Some(g) = &raw.gpus_per_node {
        check(*g.get_ref() >= 1, g.span(), format!("`gpus_per_node` must be at least 1, not {}", g.get_ref()), "");
        settings.gpus_per_node = (*g.get_ref()).max(1) as usize;
    }
    settings.exp = raw.exp.map(PathBuf::from);
    settings.megatron = raw.megatron;
    for (kind, raw) in raw.kinds {
        if !kinds.contains(&kind.get_ref().as_str()) {
            let hint = exp_dsl::suggest::closest(kind.get_ref(), kinds.iter().copied());
            let message = format!(
                "no stage kind `{}`{}",
                kind.get_ref(),
                hint.map(|h| format!("; did you mean `{h}`?")).unwrap_or_default()
            );
            check(false, kind.span(), message, "not a kind (`exp stages` lists them)");
        }
        let j = job(raw, &mut check);
        settings.kinds.insert(kind.into_inner(), j);
    }
    for (name, raw) in raw.nodes {
        let j = job(raw, &mut check);
        settings.nodes.insert(name, j);
    }
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(problems)
    }
}

const HELP: &str = "the settings are `partition`, `account`, `qos`, `time`, `cpus`, `mem`, `sbatch`, `setup`, \
                    `max_jobs`, `poll_seconds`, `gpus_per_node`, `exp`, and the tables `[kinds.KIND]` and \
                    `[nodes.NAME]` (docs/slurm.md)";

fn job(raw: RawJob, check: &mut impl FnMut(bool, std::ops::Range<usize>, String, &str)) -> Job {
    if let Some(t) = &raw.time {
        check(
            is_slurm_time(t.get_ref()),
            t.span(),
            format!("`{}` is not a Slurm time limit", t.get_ref()),
            "expected `minutes`, `h:mm:ss`, `d-hh:mm:ss` or `UNLIMITED`",
        );
    }
    if let Some(c) = &raw.cpus {
        check(*c.get_ref() >= 1, c.span(), format!("`cpus` must be at least 1, not {}", c.get_ref()), "too few");
    }
    if let Some(m) = &raw.mem {
        check(
            is_slurm_memory(m.get_ref()),
            m.span(),
            format!("`{}` is not a Slurm memory size", m.get_ref()),
            "expected a number with an optional unit K, M, G or T: `16G`",
        );
    }
    for o in &raw.sbatch {
        let s = o.get_ref();
        let owned = [
            "--dependency",
            "-d",
            "--output",
            "-o",
            "--error",
            "-e",
            "--chdir",
            "-D",
            "--job-name",
            "-J",
            "--parsable",
        ];
        let clash = owned.iter().find(|f| s == *f || s.starts_with(&format!("{f}=")));
        check(
            s.starts_with('-') && clash.is_none(),
            o.span(),
            match clash {
                Some(f) => format!("`{f}` is set by exp for every job"),
                None => format!("`{s}` is not an sbatch option"),
            },
            "an option of sbatch, such as `--exclusive` or `--constraint=h100`",
        );
    }
    Job {
        partition: raw.partition,
        account: raw.account,
        qos: raw.qos,
        time: raw.time.map(Spanned::into_inner),
        cpus: raw.cpus.map(|c| (*c.get_ref()).max(1) as usize),
        mem: raw.mem.map(Spanned::into_inner),
        sbatch: raw.sbatch.into_iter().map(Spanned::into_inner).collect(),
        setup: raw.setup,
    }
}

/// Slurm's time formats (`man sbatch`, `--time`): `minutes`, `minutes:seconds`,
/// `hours:minutes:seconds`, `days-hours`, `days-hours:minutes`, `days-hours:minutes:seconds`.
pub fn is_slurm_time(t: &str) -> bool {
    if matches!(t, "UNLIMITED" | "INFINITE" | "unlimited" | "infinite") {
        return true;
    }
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    if days.is_some_and(|d| !number(d)) {
        return false;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    parts.iter().all(|p| number(p)) && if days.is_some() { parts.len() <= 3 } else { (1..=3).contains(&parts.len()) }
}

fn is_slurm_memory(m: &str) -> bool {
    let digits = m.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && m.len() - digits.len() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Settings, Vec<String>> {
        parse(text, 0, &["cpt", "sft", "jsonl"]).map_err(|ds| ds.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn a_node_takes_its_kinds_then_its_own_settings() {
        let s = parsed(
            "partition = \"cpu\"\ntime = \"1:00:00\"\nsbatch = [\"--exclusive\"]\nmax_jobs = 4\n\
             [kinds.cpt]\npartition = \"gpu\"\ntime = \"2-00:00:00\"\nsbatch = [\"--constraint=h100\"]\n\
             [nodes.cpt_en]\ntime = \"72:00:00\"\nsetup = [\"module load cuda\"]\n",
        )
        .expect("valid settings");
        assert_eq!(s.max_jobs, 4);
        let j = s.job("cpt", "cpt_en");
        assert_eq!(j.partition.as_deref(), Some("gpu"));
        assert_eq!(j.time.as_deref(), Some("72:00:00"));
        assert_eq!(j.sbatch, ["--exclusive", "--constraint=h100"]);
        assert_eq!(j.setup, ["module load cuda"]);
        assert_eq!(s.job("jsonl", "en").partition.as_deref(), Some("cpu"));
    }

    #[test]
    fn bad_settings_are_diagnostics() {
        let e = parsed("time = \"an hour\"\nmax_jobs = 0\n[kinds.cptt]\n").expect_err("bad");
        assert_eq!(
            e,
            [
                "`an hour` is not a Slurm time limit",
                "`max_jobs` must be at least 1, not 0",
                "no stage kind `cptt`; did you mean `cpt`?"
            ]
        );
        let e = parsed("partitoin = \"gpu\"\n").expect_err("unknown key");
        assert!(e[0].contains("partitoin"), "{e:?}");
        let e = parsed("sbatch = [\"--output=x\"]\n").expect_err("owned option");
        assert_eq!(e, ["`--output` is set by exp for every job"]);
    }

    #[test]
    fn slurm_time_formats() {
        for ok in ["30", "30:00", "4:00:00", "2-00", "2-12:00", "2-12:00:00", "UNLIMITED"] {
            assert!(is_slurm_time(ok), "{ok}");
        }
        for bad in ["", "an hour", "1:2:3:4", "-1", "1h", "2-1:2:3:4"] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
        assert!(is_slurm_memory("16G") && is_slurm_memory("512") && !is_slurm_memory("16GB"));
    }
}
