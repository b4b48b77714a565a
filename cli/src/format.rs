//! Text and JSON renderings shared by the commands.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use shmkit::inspect::{Details, ObjectInfo, Value};

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// "68 B", "4.0 KiB", "1.5 MiB".
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `time` in UTC, "2025-11-23 15:03:12".
pub(crate) fn utc(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().min(i64::MAX as u64) as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The `USED` and `FREE` columns of `ls`: human sizes, or "-" for kinds without them.
pub(crate) fn usage(info: &ObjectInfo) -> [String; 2] {
    match info.usage {
        Some(u) => [size(u.used), size(u.free)],
        None => ["-".to_owned(), "-".to_owned()],
    }
}

/// "0600".
pub(crate) fn mode(info: &ObjectInfo) -> String {
    format!("{:04o}", info.permissions.mode())
}

/// "1234 alive", "1234 dead", "-".
pub(crate) fn creator(info: &ObjectInfo) -> String {
    match (info.creator_pid, info.creator_alive) {
        (Some(pid), Some(true)) => format!("{pid} alive"),
        (Some(pid), _) => format!("{pid} dead"),
        (None, _) => "-".to_owned(),
    }
}

/// "12,34", "-"; with "?" ("?" alone, or "12,34,?") when some processes that could use the
/// object could not be inspected.
pub(crate) fn users(info: &ObjectInfo) -> String {
    match (info.users.is_empty(), info.users_complete()) {
        (true, true) => "-".to_owned(),
        (true, false) => "?".to_owned(),
        (false, true) => pid_list(&info.users, ","),
        (false, false) => format!("{},?", pid_list(&info.users, ",")),
    }
}

/// "process 12", "processes 12, 34".
pub(crate) fn processes(pids: &[u32]) -> String {
    let s = if pids.len() == 1 { "" } else { "es" };
    format!("process{s} {}", pid_list(pids, ", "))
}

/// `pids` joined by `sep`.
pub(crate) fn pid_list(pids: &[u32], sep: &str) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

/// The JSON form of an [`ObjectInfo`]: the same fields, times as Unix seconds and UTC text,
/// the mode as octal text.
#[derive(Debug, Serialize)]
pub(crate) struct JsonObject<'a> {
    name: &'a str,
    kind: &'static str,
    kind_code: Option<u32>,
    size: u64,
    layout_version: Option<u32>,
    state: Option<&'static str>,
    payload: Option<JsonPayload>,
    creator_pid: Option<u32>,
    creator_alive: Option<bool>,
    created_at: Option<u64>,
    created_at_utc: Option<String>,
    mode: String,
    owner_uid: u32,
    users: &'a [u32],
    users_complete: bool,
    uninspected: &'a [u32],
    in_use: bool,
    note: Option<&'a str>,
    /// Managed segments: size minus free bytes; message queues: queued messages × the largest
    /// message size. `null` for other kinds.
    used: Option<u64>,
    /// Managed segments: bytes in free blocks; message queues: free slots × the largest
    /// message size. `null` for other kinds.
    free: Option<u64>,
}

#[derive(Debug, Serialize)]
struct JsonPayload {
    size: u32,
    align: u32,
    offset: u32,
}

impl<'a> JsonObject<'a> {
    pub(crate) fn new(info: &'a ObjectInfo) -> JsonObject<'a> {
        JsonObject {
            name: &info.name,
            kind: info.kind.as_str(),
            kind_code: info.kind_code,
            size: info.size,
            layout_version: info.layout_version,
            state: info.state.map(|s| s.as_str()),
            payload: info.payload.map(|p| JsonPayload {
                size: p.size,
                align: p.align,
                offset: p.offset,
            }),
            creator_pid: info.creator_pid,
            creator_alive: info.creator_alive,
            created_at: info
                .created_at
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            created_at_utc: info.created_at.map(utc),
            mode: mode(info),
            owner_uid: info.owner_uid,
            users: &info.users,
            users_complete: info.users_complete(),
            uninspected: &info.uninspected,
            in_use: info.in_use(),
            note: info.note.as_deref(),
            used: info.usage.map(|u| u.used),
            free: info.usage.map(|u| u.free),
        }
    }
}

/// A details value as JSON: numbers and booleans as such, text as a string.
pub(crate) fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Number(n) => serde_json::Value::from(*n),
        Value::Bool(b) => serde_json::Value::from(*b),
        Value::Text(s) => serde_json::Value::from(s.as_str()),
        other => serde_json::Value::from(other.to_string()),
    }
}

/// Details as JSON: `{"fields": {name: value}, "tables": [{"title", "columns", "rows"}]}`.
pub(crate) fn json_details(details: &Details) -> serde_json::Value {
    let fields: serde_json::Map<String, serde_json::Value> = details
        .fields
        .iter()
        .map(|f| (f.name.clone(), json_value(&f.value)))
        .collect();
    let tables: Vec<serde_json::Value> = details
        .tables
        .iter()
        .map(|t| {
            serde_json::json!({
                "title": t.title,
                "columns": t.columns,
                "rows": t.rows.iter()
                    .map(|r| r.iter().map(json_value).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "fields": fields, "tables": tables })
}

/// `value` as pretty JSON with a final newline.
pub(crate) fn json(value: &impl Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("JSON of plain data");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sizes_are_human() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(4096), "4.0 KiB");
        assert_eq!(size(3 << 19), "1.5 MiB");
        assert_eq!(size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn times_are_utc() {
        let t = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(utc(t(0)), "1970-01-01 00:00:00");
        assert_eq!(utc(t(951_782_400)), "2000-02-29 00:00:00");
        assert_eq!(utc(t(1_763_910_192)), "2025-11-23 15:03:12");
    }

    #[test]
    fn tables_align_and_trim() {
        let t = table(
            &["A", "BB"],
            &[vec!["xyz".into(), "1".into()], vec!["".into(), "".into()]],
        );
        assert_eq!(t, "A    BB\nxyz  1\n\n");
    }
}
