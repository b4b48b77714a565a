//! `shmkit ls`: the objects in /dev/shm.
//!
//! `USED` and `FREE` are shown for managed segments (size minus free bytes, and the bytes in the
//! allocator's free blocks) and message queues (queued messages and free slots, each times the
//! largest message size); other kinds have none ("-").

use shmkit::inspect::{self, ObjectInfo};

use crate::Outcome;
use crate::fail::Failure;
use crate::format::{self, JsonObject};

/// Options of `shmkit ls`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Also list foreign objects (no shmkit header: other programs', Boost's, plain shared
    /// memory) and objects this user may not read
    #[arg(short, long)]
    all: bool,
}

/// Lists the objects.
pub(crate) fn run(args: &Args, json: bool) -> Result<Outcome, Failure> {
    let objects = inspect::list().map_err(|e| Failure::of("cannot list /dev/shm", &e))?;
    let (shown, hidden): (Vec<&ObjectInfo>, Vec<&ObjectInfo>) =
        objects.iter().partition(|o| args.all || o.kind.is_shmkit());
    let mut outcome = Outcome::default();
    if json {
        let list: Vec<JsonObject<'_>> = shown.iter().map(|o| JsonObject::new(o)).collect();
        outcome.out = format::json(&list);
        return Ok(outcome);
    }
    if shown.is_empty() {
        outcome.out.push_str(if args.all {
            "/dev/shm is empty\n"
        } else {
            "no shmkit objects in /dev/shm\n"
        });
    } else {
        let rows: Vec<Vec<String>> = shown
            .iter()
            .map(|o| {
                let [used, free] = format::usage(o);
                vec![
                    o.kind.to_string(),
                    o.name.clone(),
                    format::size(o.size),
                    used,
                    free,
                    o.state.map_or("-".to_owned(), |s| s.to_string()),
                    format::creator(o),
                    o.created_at.map_or("-".to_owned(), format::utc),
                    format::users(o),
                ]
            })
            .collect();
        outcome.out = format::table(
            &[
                "KIND",
                "NAME",
                "SIZE",
                "USED",
                "FREE",
                "STATE",
                "CREATOR",
                "CREATED (UTC)",
                "USERS",
            ],
            &rows,
        );
    }
    if !hidden.is_empty() {
        outcome.out.push_str(&format!(
            "({} other object{} in /dev/shm not shown: `shmkit ls --all` lists them)\n",
            hidden.len(),
            if hidden.len() == 1 { "" } else { "s" }
        ));
    }
    let mut uninspected: Vec<u32> = shown
        .iter()
        .flat_map(|o| o.uninspected.iter().copied())
        .collect();
    uninspected.sort_unstable();
    uninspected.dedup();
    if !uninspected.is_empty() {
        outcome.out.push_str(&format!(
            "?: users may be missing: {} could use these objects but cannot be inspected by \
             this user\n",
            format::processes(&uninspected)
        ));
    }
    Ok(outcome)
}
