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
    /// Show what an experiment describes.
    ///
    /// With --lowered, prints the lowered graph: one entry per node with its stage kind,
    /// canonical parameters (units resolved, defaults filled) and inputs, by key.
    ///
    /// Example: exp show --lowered experiments/corpus-expansion.med --profile toy
    Show {
        /// The `.med` file.
        file: PathBuf,
        /// Print the lowered graph.
        #[arg(long, required = true)]
        lowered: bool,
        /// Use this profile's `let` values.
        #[arg(long)]
        profile: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Yaml)]
        format: GraphFormat,
    },
    /// List the stage kinds and their parameters.
    ///
    /// Example: exp stages cpt
    Stages {
        /// Show only this stage kind, with every parameter.
        kind: Option<String>,
    },
}
