//! The hooks of managed segments ([`Kind::Segment`](crate::sync::named::object::Kind), and
//! segment files copied into `/dev/shm`): figures and object tables for
//! [`details`](super::details), the segment's own sanity check for [`check`](super::check),
//! used and free bytes for [`list`](super::list).
//!
//! The segment is opened read-only through `segment::peek` (see its docs for how the algorithm
//! and index are found: the index from the control block's `index_kind` word, the algorithm
//! by trying each algorithm of this build, whose `open` accepts only its own area header). The
//! handle maps the object privately and never takes the segment lock, so a segment whose lock
//! is held, even by a process that died, is still inspected, and nothing reaches the segment.
//! While inspecting, a shared `flock` is held on the object, as every segment handle does: an
//! offline grow or shrink (which needs it exclusively) is refused meanwhile instead of cutting
//! the mapping short under the inspector.

use std::time::{Duration, Instant};

use super::kinds::View;
use super::{Details, Field, Problem, Table, Usage, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::region::{Access, MappedRegion};
use crate::segment::ObjectInfo;
use crate::segment::peek::{self, LOCK_OFFSET, SegmentReader, USAGE_AREA, USAGE_CONTROL};
use crate::sync::WordState;
use crate::sys::{self, LockKind};

/// How long to wait for an offline grow or shrink (exclusive `flock`) to finish.
const FLOCK_WAIT: Duration = Duration::from_secs(2);
/// How often a failed check is repeated while a live process holds the segment lock (it may
/// be in the middle of an operation), and the pause between tries.
const RETRIES: u32 = 10;
const RETRY_PAUSE: Duration = Duration::from_millis(20);

fn field(name: &str, value: Value) -> Field {
    Field {
        name: name.to_owned(),
        value,
    }
}

/// Takes the shared `flock` on the object (released when the caller's descriptor closes).
fn hold_shared(view: &View<'_>) -> Result<()> {
    let path = sys::shm_path(std::ffi::OsStr::new(view.name));
    let deadline = Instant::now() + FLOCK_WAIT;
    loop {
        if sys::flock_try_lock(view.shm.fd(), LockKind::Shared, &path)? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "`{}` is being grown or shrunk by another process (still after \
                     {FLOCK_WAIT:?}); try again",
                    view.name
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The segment in `view`, opened read-only.
fn open(view: &View<'_>) -> Result<Box<dyn SegmentReader>> {
    hold_shared(view)?;
    let what = format!("`{}`", view.name);
    peek::open_read_only(
        || {
            MappedRegion::options()
                .access(Access::CopyOnWrite)
                .map(view.shm)
        },
        &what,
    )
}

/// The segment lock's word, decoded.
fn lock_word(view: &View<'_>) -> Result<WordState> {
    let mut b = [0; 4];
    view.region.read_at(LOCK_OFFSET, &mut b)?;
    Ok(WordState::decode(u32::from_ne_bytes(b)))
}

/// "thread 12 (alive)", "none".
fn holder(word: WordState) -> String {
    if word.owner == 0 {
        "not held".to_owned()
    } else {
        let alive = if sys::is_alive(word.owner) {
            "alive"
        } else {
            "dead: the next process to lock it repairs the segment"
        };
        format!("held by thread {} ({alive})", word.owner)
    }
}

fn object_rows(objects: &[ObjectInfo]) -> Vec<Vec<Value>> {
    objects
        .iter()
        .map(|o| {
            vec![
                Value::Text(o.name.clone()),
                Value::Text(format!("{:#018x}", o.fingerprint)),
                Value::Number(o.len as u64),
                Value::Bool(o.is_array),
                Value::Number(o.size as u64),
                Value::Number(o.handle.as_u64()),
            ]
        })
        .collect()
}

/// Adds the objects listed by `list` as a table called `title` (first column `first`), and
/// their count as a field (sorted by name if `sort`); a listing that fails (a broken index)
/// becomes the field's text.
fn objects(
    title: &str,
    first: &str,
    list: Result<Vec<ObjectInfo>>,
    sort: bool,
    fields: &mut Vec<Field>,
    tables: &mut Vec<Table>,
) {
    match list {
        Ok(mut objects) => {
            // The hashed index lists in hash order: show names sorted instead. (The ordered
            // index already lists by length, then bytes.)
            if sort {
                objects.sort_by(|a, b| a.name.cmp(&b.name));
            }
            fields.push(field(title, Value::Number(objects.len() as u64)));
            tables.push(Table {
                title: title.to_owned(),
                columns: [first, "fingerprint", "len", "array", "bytes", "offset"]
                    .map(str::to_owned)
                    .to_vec(),
                rows: object_rows(&objects),
            });
        }
        Err(e) => fields.push(field(
            title,
            Value::Text(format!(
                "cannot be listed: {} (`shmkit check` says more)",
                e.message()
            )),
        )),
    }
}

/// `shmkit info`: allocator figures, the lock, and the named and unique objects. A segment
/// that cannot be opened gives a `segment` field saying why (the header is still shown).
pub(crate) fn details(view: &View<'_>) -> Result<Details> {
    let seg = match open(view) {
        Ok(seg) => seg,
        Err(e) => {
            return Ok(Details {
                fields: vec![field(
                    "segment",
                    Value::Text(format!(
                        "cannot be opened: {} (`shmkit check` says more)",
                        e.message()
                    )),
                )],
                tables: Vec::new(),
            });
        }
    };
    let size = seg.size() as u64;
    let mut fields = vec![
        field("algorithm", Value::Text(seg.algorithm().to_owned())),
        field("index", Value::Text(seg.index().noun().to_owned())),
        field("size", Value::Number(size)),
    ];
    match seg.free_memory() {
        Ok(free) => {
            let free = free as u64;
            fields.push(field(
                "used bytes",
                Value::Number(size.saturating_sub(free)),
            ));
            fields.push(field("free bytes", Value::Number(free)));
        }
        Err(e) => fields.push(field(
            "free bytes",
            Value::Text(format!("unknown: {}", e.message())),
        )),
    }
    fields.push(field(
        "segment id",
        Value::Text(format!("{:#018x}", seg.segment_id())),
    ));
    fields.push(field("repairs after crashes", Value::Number(seg.repairs())));
    fields.push(field("lock", Value::Text(holder(lock_word(view)?))));
    let mut tables = Vec::new();
    if seg.index() == crate::segment::IndexKind::Null {
        fields.push(field(
            "named objects",
            Value::Text("none (null index: anonymous objects only)".to_owned()),
        ));
    } else {
        let sort = seg.index() == crate::segment::IndexKind::Hashed;
        objects(
            "named objects",
            "name",
            seg.named_objects(),
            sort,
            &mut fields,
            &mut tables,
        );
        objects(
            "unique objects",
            "type",
            seg.unique_objects(),
            sort,
            &mut fields,
            &mut tables,
        );
    }
    Ok(Details { fields, tables })
}

/// `shmkit check`: the segment's own sanity check ([`SegmentManager::check_sanity`]: the
/// algorithm's and the indexes'), and the state of its lock.
///
/// [`SegmentManager::check_sanity`]: crate::segment::SegmentManager::check_sanity
pub(crate) fn check(view: &View<'_>, problems: &mut Vec<Problem>) -> Result<()> {
    let word = lock_word(view)?;
    let live_holder = word.owner != 0 && sys::is_alive(word.owner);
    if word.owner != 0 && !live_holder {
        problems.push(Problem::warning(format!(
            "the segment lock is held by thread {}, which is dead: the next process to lock the \
             segment repairs it first (an error reported here may be what that repair fixes)",
            word.owner
        )));
    } else if word.inconsistent {
        problems.push(Problem::warning(
            "the segment lock is marked inconsistent: a holder died, and the next process to \
             lock the segment repairs it",
        ));
    }
    let seg = match open(view) {
        Ok(seg) => seg,
        Err(e) if e.kind() == ErrorKind::Busy => return Err(e),
        Err(e) => {
            problems.push(Problem::error(format!(
                "the segment cannot be opened: {}",
                e.message()
            )));
            return Ok(());
        }
    };
    let mut result = seg.check_sanity();
    let mut tries = 0;
    // A live holder may be in the middle of an operation: what looks broken may be a change
    // half made. Look again a few times before reporting it.
    while result.is_err() && tries < RETRIES && lock_word(view)?.owner != 0 {
        std::thread::sleep(RETRY_PAUSE);
        result = seg.check_sanity();
        tries += 1;
    }
    if let Err(e) = result {
        let mut message = format!("the segment's sanity check failed: {}", e.message());
        if live_holder {
            message.push_str(&format!(
                " (thread {} holds the segment lock and may be changing it: run the check \
                 again)",
                word.owner
            ));
        }
        problems.push(Problem::error(message));
    }
    Ok(())
}

/// `shmkit ls`: size and free bytes from the control block and the algorithm's area header.
pub(crate) fn usage(read: &dyn Fn(usize, &mut [u8]) -> bool, _payload: usize) -> Option<Usage> {
    let mut control = vec![0u8; USAGE_CONTROL.1];
    let mut area = vec![0u8; USAGE_AREA.1];
    if !read(USAGE_CONTROL.0, &mut control) || !read(USAGE_AREA.0, &mut area) {
        return None;
    }
    let (size, free) = peek::usage(&control, &area)?;
    Some(Usage {
        used: size - free,
        free,
    })
}
