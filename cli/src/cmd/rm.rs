//! `shmkit rm NAME...`: removes objects nobody uses.

use serde::Serialize;
use shmkit::inspect::{self, ObjectInfo};
use shmkit::{ErrorKind, SharedMemory};

use crate::Outcome;
use crate::fail::{self, Failure};
use crate::format;

/// Options of `shmkit rm`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The objects' names (as in /dev/shm, without a leading slash)
    #[arg(required = true)]
    names: Vec<String>,

    /// Remove even objects in use (processes that have them open keep their memory; new opens
    /// by name no longer find them)
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Serialize)]
struct JsonRm {
    removed: Vec<JsonRemoved>,
    errors: Vec<JsonError>,
}

#[derive(Debug, Serialize)]
struct JsonRemoved {
    name: String,
    kind: Option<&'static str>,
    users: Vec<u32>,
}

#[derive(Debug, Serialize)]
struct JsonError {
    name: String,
    message: String,
    exit_status: u8,
}

/// Removes each object; a failure on one does not stop the others.
pub(crate) fn run(args: &Args, json: bool) -> Result<Outcome, Failure> {
    let mut outcome = Outcome::default();
    let mut report = JsonRm {
        removed: Vec::new(),
        errors: Vec::new(),
    };
    for name in &args.names {
        match remove(name, args.force) {
            Ok(removed) => {
                if !json {
                    let kind = removed.kind.unwrap_or("object");
                    let mut line = format!("removed {name} ({kind})");
                    if !removed.users.is_empty() {
                        line.push_str(&format!(
                            "; {} still use it",
                            format::processes(&removed.users)
                        ));
                    }
                    outcome.out.push_str(&line);
                    outcome.out.push('\n');
                }
                report.removed.push(removed);
            }
            Err(failure) => {
                report.errors.push(JsonError {
                    name: name.clone(),
                    message: failure.message.clone(),
                    exit_status: failure.code,
                });
                outcome.fail(failure);
            }
        }
    }
    if json {
        outcome.out = format::json(&report);
    }
    Ok(outcome)
}

fn remove(name: &str, force: bool) -> Result<JsonRemoved, Failure> {
    let what = format!("cannot remove `{name}`");
    let removed = |info: &ObjectInfo| JsonRemoved {
        name: name.to_owned(),
        kind: Some(info.kind.as_str()),
        users: info.users.clone(),
    };
    if !force {
        return match inspect::remove(name) {
            Ok(info) => Ok(removed(&info)),
            Err(e) if e.kind() == ErrorKind::Busy => Err(Failure::new(
                fail::GENERAL,
                format!("{} (--force removes it anyway)", e.message()),
            )),
            Err(e) => Err(Failure::of(&what, &e)),
        };
    }
    // Forced: say what it was if that can be told, then remove the name whatever it is.
    let info = inspect::inspect(name).ok();
    SharedMemory::remove(name).map_err(|e| Failure::of(&what, &e))?;
    Ok(match &info {
        Some(info) => removed(info),
        None => JsonRemoved {
            name: name.to_owned(),
            kind: None,
            users: Vec::new(),
        },
    })
}
