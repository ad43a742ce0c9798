//! Command-line arguments (clap derive). A command's doc comment is its `--help`.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `exp`: declarative experiments for domain-adapted LLMs.
///
/// An experiment is a `.med` file declaring sources, mixtures, training and evaluation.
/// `exp check` finds every error in it before anything runs; `exp fmt` lays it out;
/// `exp show --lowered` prints the graph it describes.
///
/// Start with: exp check experiments/corpus-expansion.med
#[derive(Debug, Parser)]
#[command(name = "exp", version, about, long_about, max_term_width = 100)]
pub struct Args {
    /// When to colour output: on a terminal (auto), always or never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    /// The store of artifacts (default: `.exp/` next to the experiment file). Share one
    /// between experiments and people by pointing them at the same folder.
    #[arg(long, global = true, env = "EXP_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticFormat {
    /// rustc-style text with the source line and a caret.
    Text,
    /// One JSON object per diagnostic, one per line.
    Json,
}

/// Where `exp run` computes nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// On this machine, in this process.
    Local,
    /// One Slurm job per node; the store must be on a file system the cluster shares.
    Slurm,
}

/// The executor options of `run` and `plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecutorArgs {
    /// Where nodes are computed: here (local) or as Slurm jobs (slurm).
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    pub executor: ExecutorKind,
    /// The Slurm settings file (default: `slurm.toml` beside the experiment, if there is
    /// one). Settings never change an identity.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrawFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Yaml,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check experiment files: syntax, names, imports, loops, cycles, types and every
    /// stage parameter, in every profile.
    ///
    /// Reports all errors and warnings it finds, each with file:line:column, the source
    /// line and what was expected. Exits with 1 if there is an error, 0 otherwise
    /// (warnings alone do not fail).
    ///
    /// Example: exp check experiments/corpus-expansion.med
    Check {
        /// The `.med` files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check with this profile's `let` values only (default: the file's own values and
        /// every profile).
        #[arg(long)]
        profile: Option<String>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = DiagnosticFormat::Text)]
        format: DiagnosticFormat,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// Also check this Slurm settings file (`slurm.toml`).
        #[arg(long, value_name = "FILE")]
        settings: Option<PathBuf>,
    },
    /// Format experiment files in the one canonical layout, keeping comments.
    ///
    /// Formatting never changes meaning: the formatted file lowers to the same graph.
    /// With --check, changes nothing and exits with 1 if a file is not formatted.
    ///
    /// Example: exp fmt experiments/*.med
    Fmt {
        /// The `.med` files to format in place.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only report files that are not formatted (exit 1), and show how they differ.
        #[arg(long)]
        check: bool,
    },
    /// Show what an experiment describes, or one of its nodes.
    ///
    /// With a NODE (a definition name), prints its manifest: identity, parameters, inputs
    /// and files, outputs, metrics, timings, and its lineage up (inputs) and down (stored
    /// users). With --lowered, prints the lowered graph: one entry per node with its stage
    /// kind, canonical parameters (units resolved, defaults filled) and inputs, by key.
    /// With neither, lists the nodes and whether the store holds them.
    ///
    /// Examples: exp show experiments/first-run.med mixed
    ///           exp show --lowered experiments/corpus-expansion.med --profile toy
    Show {
        /// The `.med` file.
        file: PathBuf,
        /// A definition of the experiment.
        node: Option<String>,
        /// Print the lowered graph.
        #[arg(long, conflicts_with = "node")]
        lowered: bool,
        /// Use this profile's `let` values.
        #[arg(long)]
        profile: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Yaml)]
        format: GraphFormat,
    },
    /// Show what running an experiment would compute, and why.
    ///
    /// Lists every node as cached or to run, with the reason: never run, a parameter that
    /// changed (old → new), an input that changed, a new stage version, a data file whose
    /// bytes changed. The comparison is with the store's record of this experiment's last
    /// run, or with another experiment file given by --against.
    ///
    /// Each node to compute also says where it would run: on a CPU slot or a GPU of this
    /// machine (the local executor), with the Megatron-LM layout a trainer declares for
    /// cluster scale, and what this machine lacks for it (no GPU, a build without `cuda`).
    /// Nodes whose data is absent are `blocked`, so a full-scale file plans on a laptop.
    /// With --executor slurm, each node to compute shows the job it would be: its
    /// `sbatch` options from the stage's needs and the settings file.
    ///
    /// Example: exp plan experiments/first-run.med
    /// Example: exp plan experiments/corpus-expansion.med   (the paper's scale)
    /// Example: exp plan --executor slurm --settings slurm.toml experiments/corpus-expansion.med
    Plan {
        /// The `.med` file.
        file: PathBuf,
        #[command(flatten)]
        executor: ExecutorArgs,
        /// Use this profile's `let` values.
        #[arg(long)]
        profile: Option<String>,
        /// Explain differences against this experiment file instead of the last run.
        #[arg(long, value_name = "FILE")]
        against: Option<PathBuf>,
    },
    /// Run an experiment: compute every node the store does not hold yet.
    ///
    /// Independent nodes run side by side within -j CPU slots (and one per GPU), with live
    /// progress. Ctrl-C cancels the running stages and leaves the store consistent; the
    /// next run resumes.
    /// A failing node stops its dependents; with --keep-going the rest go on. Exits with
    /// 1 if a node failed, 130 if interrupted.
    ///
    /// With --executor slurm, each node becomes a Slurm job running `exp job` on a compute
    /// node (the store, the data and this binary must be on a shared file system): jobs are
    /// submitted with `afterok` dependencies, polled with one `squeue` per interval, and a
    /// node succeeded when its artifact is in the store. Ctrl-C cancels this run's jobs; a
    /// driver killed outright leaves them running, and the next run waits for them.
    ///
    /// With --check, nothing new is computed: the nodes the store holds (all, or those
    /// named after the file) are computed again here, one after another, in a scratch
    /// folder and compared byte for byte with what is stored, as `nix build --check` does; each node that differs is
    /// named with its first differing file, and the exit status is 1. A node whose stage
    /// cannot give the same bytes twice (a served model, GPU kernels) is listed, not
    /// recomputed.
    ///
    /// Example: exp run experiments/first-run.med -j 2
    /// Example: exp run --executor slurm experiments/corpus-expansion.med
    /// Example: exp run --check --profile toy experiments/corpus-expansion.med cpt_en_dominant
    Run {
        /// The `.med` file.
        file: PathBuf,
        /// With --check: the definitions to check (default: every one the store holds).
        #[arg(value_name = "NODE", requires = "check")]
        nodes: Vec<String>,
        /// Recompute stored nodes and compare them byte for byte with the store.
        #[arg(long, conflicts_with_all = ["dry_run", "only", "keep_going", "time_limit", "settings"])]
        check: bool,
        #[command(flatten)]
        executor: ExecutorArgs,
        /// Use this profile's `let` values.
        #[arg(long)]
        profile: Option<String>,
        /// CPU slots for stages running at once (default: the machine's cores).
        #[arg(short = 'j', long)]
        jobs: Option<usize>,
        /// Run only these definitions (and what they need); repeat it or separate names
        /// with commas: `--only mixed,budgeted`.
        #[arg(long, value_name = "NAME", value_delimiter = ',')]
        only: Vec<String>,
        /// Go on with independent nodes after a failure.
        #[arg(long)]
        keep_going: bool,
        /// Stop a node that runs longer than this, as a failure that names the limit:
        /// `2h` for every node, `jmedbench=30m` for a kind, `eval_base=90s` for one
        /// definition (the most specific wins; repeat it for several). A stage is asked
        /// to stop and, if it does not within 5 s (a call that never returns), is
        /// abandoned: nothing it writes is published. On Slurm, a job's limit is its
        /// `time` in slurm.toml.
        #[arg(long, value_name = "[NAME|KIND=]DURATION")]
        time_limit: Vec<exp_engine::limits::TimeLimit>,
        /// Show the plan and run nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Compare two experiments by identity: what only one has, what changed and how, and
    /// what running the second would compute given the store.
    ///
    /// Example: exp diff experiments/corpus-expansion.med experiments/ablation-no-textbooks.med
    Diff {
        /// The first experiment.
        a: PathBuf,
        /// The second experiment.
        b: PathBuf,
        /// Use this profile's `let` values in both.
        #[arg(long)]
        profile: Option<String>,
        /// Print JSON for tools.
        #[arg(long)]
        json: bool,
    },
    /// Print a node's log: from the store if it completed, else from its last failed run.
    ///
    /// Example: exp log experiments/first-run.med mixed
    Log {
        /// The `.med` file.
        file: PathBuf,
        /// A definition of the experiment.
        node: String,
        /// Use this profile's `let` values.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Show where an experiment's reports are and print the comparison's tables.
    ///
    /// Lists each report node (`compare`, `corpus_card`) the store holds: its folder, with
    /// `report.html` (self-contained, figures inline), `report.md`, the CSV tables and the
    /// PNG/SVG figures; then prints `report.md`. Reports not computed yet are named with
    /// the command that computes them.
    ///
    /// Example: exp report --profile toy experiments/corpus-expansion.med
    Report {
        /// The `.med` file.
        file: PathBuf,
        /// Use this profile's `let` values.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Print an experiment's graph for Graphviz (dot) or Mermaid.
    ///
    /// Example: exp graph experiments/corpus-expansion.med --format mermaid
    Graph {
        /// The `.med` file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DrawFormat::Dot)]
        format: DrawFormat,
        /// Use this profile's `let` values.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Remove stored artifacts that no kept experiment reaches, and report the bytes freed.
    ///
    /// Kept by default: the last recorded state of every experiment run with this store.
    /// With --keep, only the current graphs of the given files (in --profile's values).
    ///
    /// Example: exp gc --keep experiments/corpus-expansion.med --profile toy --dry-run
    Gc {
        /// Keep what this experiment reaches (repeat for several; default: every
        /// experiment's last run).
        #[arg(long, value_name = "FILE")]
        keep: Vec<PathBuf>,
        /// The profile whose graphs --keep keeps.
        #[arg(long, requires = "keep")]
        profile: Option<String>,
        /// Report what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rehash every stored artifact; report and quarantine any whose bytes changed (or
    /// whose manifest does not read), so it is never served and the next run recomputes it.
    ///
    /// An index that is damaged (truncated, overwritten) or lost while artifacts remain is
    /// rebuilt from the manifests whenever the store is opened. With --repair the index's
    /// nodes, lineage and metrics are recorded anew from the manifests of the intact
    /// artifacts, and each definition the index lacks is restored (what only runs
    /// recorded, their history and Slurm jobs, is in no manifest).
    ///
    /// Example: exp verify --store .exp
    /// Example: exp verify --repair --store .exp
    Verify {
        /// Also record every intact artifact in the index anew from its manifest.
        #[arg(long)]
        repair: bool,
    },
    /// List the recent runs recorded in the store and how they ended; for a Slurm run,
    /// each node's job: its id, state and elapsed time.
    ///
    /// The jobs shown are those of the newest Slurm run, or of run N with --run N.
    ///
    /// Example: exp status --store .exp
    Status {
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        last: usize,
        /// Show the jobs of this run.
        #[arg(long, value_name = "N")]
        run: Option<i64>,
    },
    /// Compute one node of a job spec into the store: what a Slurm job script runs on
    /// its compute node (written by `exp run --executor slurm` under `logs/<run>/`).
    #[command(hide = true)]
    Job {
        /// The job's spec (`logs/<run>/<node>.json`).
        spec: PathBuf,
    },
    /// Print the blake3 hash of files as the store computes it (memory-mapped,
    /// multi-threaded): for benchmarks against `b3sum`.
    #[command(hide = true)]
    Hash { files: Vec<PathBuf> },
    /// Tokenise a text file (one document per line) with a SentencePiece model and print
    /// throughput: for benchmarks against SentencePiece.
    #[command(hide = true)]
    Encode {
        model: PathBuf,
        file: PathBuf,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// List the stage kinds and their parameters.
    ///
    /// Example: exp stages cpt
    Stages {
        /// Show only this stage kind, with every parameter.
        kind: Option<String>,
        /// Print the whole catalogue as Markdown (every kind and parameter), as
        /// `docs/language.md` holds it.
        #[arg(long, conflicts_with = "kind")]
        markdown: bool,
    },
}
