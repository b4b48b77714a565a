//! `shmkit check NAME`: the sanity checks.

use serde::Serialize;
use shmkit::inspect;

use crate::Outcome;
use crate::fail::{self, Failure};
use crate::format;

/// Options of `shmkit check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The object's name (as in /dev/shm, without a leading slash)
    name: String,
}

#[derive(Debug, Serialize)]
struct JsonCheck<'a> {
    name: &'a str,
    sound: bool,
    problems: Vec<JsonProblem<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonProblem<'a> {
    severity: &'static str,
    message: &'a str,
}

/// Checks the object: exit status 0 when no problem is an error.
pub(crate) fn run(args: &Args, json: bool) -> Result<Outcome, Failure> {
    let name = &args.name;
    let problems =
        inspect::check(name).map_err(|e| Failure::of(&format!("cannot check `{name}`"), &e))?;
    let sound = !problems.iter().any(|p| p.is_error());
    let mut outcome = Outcome {
        code: if sound { 0 } else { fail::GENERAL },
        ..Outcome::default()
    };
    if json {
        outcome.out = format::json(&JsonCheck {
            name,
            sound,
            problems: problems
                .iter()
                .map(|p| JsonProblem {
                    severity: p.severity.as_str(),
                    message: &p.message,
                })
                .collect(),
        });
        return Ok(outcome);
    }
    let warnings = problems.iter().filter(|p| !p.is_error()).count();
    let errors = problems.len() - warnings;
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    outcome.out = match (errors, warnings) {
        (0, 0) => format!("{name}: sound\n"),
        (0, w) => format!("{name}: sound, with {}\n", plural(w, "warning")),
        (e, 0) => format!("{name}: NOT SOUND, {}\n", plural(e, "error")),
        (e, w) => format!(
            "{name}: NOT SOUND, {} and {}\n",
            plural(e, "error"),
            plural(w, "warning")
        ),
    };
    for p in &problems {
        outcome.out.push_str(&format!("  {p}\n"));
    }
    Ok(outcome)
}
