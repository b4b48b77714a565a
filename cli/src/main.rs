//! `shmkit`: see what sits in `/dev/shm`, check shmkit objects, and remove the ones nobody
//! uses. A front end to [`shmkit::inspect`].
//!
//! Each subcommand is one module in `cmd/` with its clap `Args` and a `run` that returns an
//! [`Outcome`] (what to print, and the exit status). `shmkit mq create|send|recv|peek` works
//! message queues from the shell.

mod cmd;
mod fail;
mod format;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fail::Failure;

const EXIT_STATUS: &str = "\
Exit status:
  0  success (for `check`: the object is sound; warnings may be printed)
  1  `check` found problems; an object is in use or could not be removed; `mq send` found the
     queue full, `mq recv` or `mq peek` found it empty (after --timeout, if given); other errors
  2  bad usage, or an invalid object name
  3  no such object
  4  permission denied";

/// Inspect, check and clean up the shared memory objects of shmkit (and others) in /dev/shm.
#[derive(Debug, Parser)]
#[command(name = "shmkit", version, after_long_help = EXIT_STATUS)]
struct Cli {
    /// Print JSON instead of text (for scripts)
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the shmkit objects in /dev/shm (with --all, every object)
    Ls(cmd::ls::Args),
    /// Show an object's header and, for shmkit objects, what its kind adds
    Info(cmd::info::Args),
    /// Run the sanity checks on an object; exit status 0 when it is sound
    Check(cmd::check::Args),
    /// Remove objects that nobody uses
    Rm(cmd::rm::Args),
    /// Remove objects left behind by dead processes (nothing in use is removed)
    Clean(cmd::clean::Args),
    /// Message queues from the shell: create, send, receive, peek
    Mq(cmd::mq::Args),
}

/// What a command prints and how the process exits.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// For standard output.
    pub(crate) out: String,
    /// For standard error (each line is prefixed with `shmkit: `).
    pub(crate) err: Vec<String>,
    /// The exit status.
    pub(crate) code: u8,
}

impl Outcome {
    /// Records a failure: its message on standard error, and its exit status unless an earlier
    /// failure set one.
    pub(crate) fn fail(&mut self, failure: Failure) {
        if self.code == 0 {
            self.code = failure.code;
        }
        self.err.push(failure.message);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Ls(args) => cmd::ls::run(args, cli.json),
        Command::Info(args) => cmd::info::run(args, cli.json),
        Command::Check(args) => cmd::check::run(args, cli.json),
        Command::Rm(args) => cmd::rm::run(args, cli.json),
        Command::Clean(args) => cmd::clean::run(args, cli.json),
        Command::Mq(args) => cmd::mq::run(args, cli.json),
    };
    let outcome = result.unwrap_or_else(|failure| {
        let mut outcome = Outcome::default();
        outcome.fail(failure);
        outcome
    });
    // A closed pipe (`shmkit ls | head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(outcome.out.as_bytes());
    let mut stderr = std::io::stderr().lock();
    for line in &outcome.err {
        let _ = writeln!(stderr, "shmkit: {line}");
    }
    ExitCode::from(outcome.code)
}
