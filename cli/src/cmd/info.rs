//! `shmkit info NAME`: an object's header and what its kind adds.

use shmkit::inspect::{self, Details, ObjectInfo, ObjectKind, State};

use crate::Outcome;
use crate::fail::{self, Failure};
use crate::format::{self, JsonObject};

/// Options of `shmkit info`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The object's name (as in /dev/shm, without a leading slash)
    name: String,
}

/// Shows the object.
pub(crate) fn run(args: &Args, json: bool) -> Result<Outcome, Failure> {
    let name = &args.name;
    let failed = |e: &shmkit::Error| Failure::of(&format!("cannot inspect `{name}`"), e);
    let info = inspect::inspect(name).map_err(|e| failed(&e))?;
    let details = if info.kind.is_shmkit() {
        inspect::details(name).map_err(|e| failed(&e))?
    } else {
        None
    };
    let why_none = match details {
        Some(_) => None,
        None => Some(no_details(&info)),
    };
    let mut outcome = Outcome::default();
    if info.kind == ObjectKind::Unreadable {
        outcome.fail(Failure::new(
            fail::PERMISSION,
            format!(
                "cannot read `{name}`: permission denied (owner uid {}, mode {}); try as its \
                 owner or root",
                info.owner_uid,
                format::mode(&info)
            ),
        ));
    }
    if json {
        outcome.out = format::json(&serde_json::json!({
            "object": JsonObject::new(&info),
            "details": details.as_ref().map(format::json_details),
            "details_note": why_none,
        }));
        return Ok(outcome);
    }
    outcome.out = text(&info, details.as_ref(), why_none.as_deref());
    Ok(outcome)
}

/// Why there are no details to show.
fn no_details(info: &ObjectInfo) -> String {
    match info.kind {
        ObjectKind::Foreign => "none (not a shmkit object)".to_owned(),
        ObjectKind::Unreadable => "none (the object cannot be read)".to_owned(),
        ObjectKind::Unknown => format!(
            "none ({})",
            info.note.as_deref().unwrap_or("not interpretable")
        ),
        _ => match info.state {
            Some(State::Ready) => {
                let damaged = inspect::check(&info.name)
                    .map(|problems| problems.iter().any(|p| p.is_error()))
                    .unwrap_or(false);
                if damaged {
                    format!(
                        "none (the header is damaged: `shmkit check {}` says how)",
                        info.name
                    )
                } else {
                    "not yet available for this kind".to_owned()
                }
            }
            Some(state) => format!("none (the object is {state}, not ready)"),
            None => "none".to_owned(),
        },
    }
}

fn text(info: &ObjectInfo, details: Option<&Details>, why_none: Option<&str>) -> String {
    let mut lines: Vec<(String, String)> = vec![
        ("name".into(), info.name.clone()),
        (
            "kind".into(),
            match info.kind_code {
                Some(code) => format!("{} (code {code})", info.kind),
                None => info.kind.to_string(),
            },
        ),
        (
            "size".into(),
            format!("{} bytes ({})", info.size, format::size(info.size)),
        ),
    ];
    if let Some(u) = info.usage {
        lines.push((
            "usage".into(),
            format!(
                "{} bytes used ({}), {} bytes free ({})",
                u.used,
                format::size(u.used),
                u.free,
                format::size(u.free)
            ),
        ));
    }
    if let Some(note) = &info.note {
        lines.push(("note".into(), note.clone()));
    }
    if info.kind.is_shmkit() {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        lines.push(("state".into(), or_dash(info.state.map(|s| s.to_string()))));
        lines.push((
            "layout version".into(),
            or_dash(info.layout_version.map(|v| v.to_string())),
        ));
        lines.push((
            "payload".into(),
            or_dash(info.payload.map(|p| {
                format!(
                    "{} bytes, align {}, at offset {}",
                    p.size, p.align, p.offset
                )
            })),
        ));
        lines.push((
            "creator".into(),
            match (info.creator_pid, info.creator_alive) {
                (Some(pid), Some(true)) => format!("process {pid} (alive)"),
                (Some(pid), _) => format!("process {pid} (dead)"),
                (None, _) => "-".to_owned(),
            },
        ));
        lines.push((
            "created".into(),
            or_dash(info.created_at.map(|t| format!("{} UTC", format::utc(t)))),
        ));
    }
    lines.push((
        "permissions".into(),
        format!("{}, owner uid {}", format::mode(info), info.owner_uid),
    ));
    let mut users = if info.users.is_empty() {
        "none".to_owned()
    } else {
        format::pid_list(&info.users, ", ")
    };
    if !info.users_complete() {
        users.push_str(&format!(
            " (may be incomplete: {} could use it but cannot be inspected)",
            format::processes(&info.uninspected)
        ));
    }
    lines.push(("users".into(), users));

    let mut out = String::new();
    let label = |out: &mut String, indent: &str, k: &str, v: &str| {
        // At least one space after a label longer than the column.
        let k = format!("{k}:");
        out.push_str(&format!(
            "{indent}{k:<16}{}{v}\n",
            if k.len() >= 16 { " " } else { "" }
        ));
    };
    for (k, v) in &lines {
        label(&mut out, "", k, v);
    }
    match details {
        None => label(&mut out, "", "details", why_none.unwrap_or("none")),
        Some(d) => {
            out.push_str("details:\n");
            for f in &d.fields {
                label(&mut out, "  ", &f.name, &f.value.to_string());
            }
            for t in &d.tables {
                out.push_str(&format!("  {}:\n", t.title));
                let header: Vec<String> = t.columns.iter().map(|c| c.to_uppercase()).collect();
                let header: Vec<&str> = header.iter().map(String::as_str).collect();
                let rows: Vec<Vec<String>> = t
                    .rows
                    .iter()
                    .map(|r| r.iter().map(ToString::to_string).collect())
                    .collect();
                for line in format::table(&header, &rows).lines() {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
    }
    out
}
