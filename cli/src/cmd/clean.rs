//! `shmkit clean --stale`: removes what dead processes left behind.

use shmkit::inspect::{self, CleanOptions, ObjectInfo};

use crate::Outcome;
use crate::fail::Failure;
use crate::format::{self, JsonObject};

/// Options of `shmkit clean`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Remove the shmkit objects nobody uses whose creator is dead or that are ready (the only
    /// mode today; required so that a bare `shmkit clean` never removes anything)
    #[arg(long, required = true)]
    stale: bool,

    /// Only say what would be removed
    #[arg(long)]
    dry_run: bool,

    /// Also remove foreign, unknown and unreadable objects that nobody uses
    #[arg(long)]
    foreign: bool,

    /// Only consider objects whose name starts with PREFIX
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
}

/// Cleans up.
pub(crate) fn run(args: &Args, json: bool) -> Result<Outcome, Failure> {
    debug_assert!(args.stale);
    let mut options = CleanOptions::new();
    options.dry_run(args.dry_run).foreign(args.foreign);
    if let Some(prefix) = &args.prefix {
        options.prefix(prefix.clone());
    }
    let report = inspect::clean(&options).map_err(|e| Failure::of("cannot clean up", &e))?;
    let mut outcome = Outcome::default();
    if json {
        let removed: Vec<JsonObject<'_>> = report.removed.iter().map(JsonObject::new).collect();
        let kept: Vec<serde_json::Value> = report
            .kept
            .iter()
            .map(|k| serde_json::json!({ "name": k.name, "reason": k.reason }))
            .collect();
        outcome.out = format::json(&serde_json::json!({
            "dry_run": args.dry_run,
            "removed": removed,
            "kept": kept,
        }));
        return Ok(outcome);
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for info in &report.removed {
        outcome
            .out
            .push_str(&format!("{verb} {} ({})\n", info.name, why_stale(info)));
    }
    if report.removed.is_empty() {
        outcome.out.push_str("nothing to remove\n");
    }
    for kept in &report.kept {
        outcome
            .out
            .push_str(&format!("kept {}: {}\n", kept.name, kept.reason));
    }
    Ok(outcome)
}

/// "mutex, ready, creator 12 dead, no users".
fn why_stale(info: &ObjectInfo) -> String {
    let mut parts = vec![info.kind.to_string()];
    if let Some(state) = info.state {
        parts.push(state.to_string());
    }
    if info.creator_pid.is_some() {
        parts.push(format!("creator {}", format::creator(info)));
    }
    parts.push("no users".to_owned());
    parts.join(", ")
}
