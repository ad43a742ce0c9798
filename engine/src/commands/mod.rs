//! One module per subcommand, each exposing `run(…) -> Result<ExitCode>`.

mod check;
mod diff;
mod executor;
mod experiment;
mod fmt;
mod gc;
mod graph;
mod log;
mod plan;
mod report;
mod run;
mod show;
mod stages;
mod status;

use crate::args::{Args, Command};
use std::process::ExitCode;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let color = crate::output::use_color(args.color);
    match args.command {
        Command::Check { files, profile, format, deny_warnings, settings } => {
            check::run(&files, profile, format, deny_warnings, settings.as_deref(), color)
        }
        Command::Fmt { files, check } => fmt::run(&files, check, color),
        Command::Show { file, node, lowered, profile, format } => match (lowered, node) {
            (true, _) => show::run(&file, profile, format, color),
            (false, Some(node)) => show::node(&file, &node, profile, args.store, color),
            (false, None) => show::nodes(&file, profile, args.store, color),
        },
        Command::Log { file, node, profile } => log::run(&file, &node, profile, args.store, color),
        Command::Report { file, profile } => report::run(&file, profile, args.store, color),
        Command::Graph { file, format, profile } => graph::run(&file, format, profile, args.store, color),
        Command::Gc { keep, profile, dry_run } => gc::run(args.store, &keep, profile, dry_run, color),
        Command::Verify { repair } => gc::verify(args.store, repair),
        Command::Stages { kind, markdown } => stages::run(kind.as_deref(), markdown),
        Command::Plan { file, executor, profile, against } => {
            let Some(executor) = executor::executor(&executor, &file, false, color)? else {
                return Ok(ExitCode::FAILURE);
            };
            plan::run(&file, profile, against.as_deref(), args.store, &executor, color)
        }
        Command::Run { file, check: true, nodes, profile, jobs, .. } => {
            run::check(&file, &nodes, profile, args.store, jobs.unwrap_or_else(exp_stages::cores), color)
        }
        Command::Run { file, executor, profile, jobs, only, keep_going, dry_run, time_limit, .. } => {
            let Some(executor) = executor::executor(&executor, &file, !dry_run, color)? else {
                return Ok(ExitCode::FAILURE);
            };
            let jobs = jobs.unwrap_or_else(exp_stages::cores);
            let options = exp_engine::run::Options { jobs, keep_going, only, executor, time_limits: time_limit };
            run::run(&file, profile, args.store, &options, dry_run, color)
        }
        Command::Job { spec } => {
            let Some(store) = args.store else { anyhow::bail!("`exp job` needs --store DIR") };
            exp_engine::slurm::job::run(&store, &spec)
        }
        Command::Diff { a, b, profile, json } => diff::run(&a, &b, profile, args.store, json, color),
        Command::Status { last, run } => status::run(args.store, last, run),
        Command::Encode { model, file, threads } => {
            use rayon::prelude::*;
            let sp = exp_stages::sentencepiece::SentencePiece::load(&model)?;
            let text = std::fs::read_to_string(&file)?;
            let lines: Vec<&str> = text.lines().collect();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            let started = std::time::Instant::now();
            let tokens: usize = pool.install(|| lines.par_iter().map(|l| sp.encode(l).len()).sum());
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{} lines, {:.1} MB, {tokens} tokens in {seconds:.2}s: {:.2} MB/s, {:.0} tokens/s ({threads} threads)",
                lines.len(),
                text.len() as f64 / 1e6,
                text.len() as f64 / 1e6 / seconds,
                tokens as f64 / seconds
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Hash { files } => {
            for f in files {
                println!("{}  {}", exp_engine::fingerprint::hash_file(&f)?, f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
