//! What `inspect` knows about each kind of named object: its public name, the payload layout
//! this build writes, and the kind's own hooks for [`details`](super::details) and
//! [`check`](super::check).
//!
//! # Adding a kind (message queues, managed segments)
//!
//! A new [`Kind`] variant makes the two `match`es below fail to compile until it is handled:
//!
//! 1. `object_kind`: map it to a new [`ObjectKind`] variant (add one in `mod.rs`, with its
//!    `as_str` name, which is also the CLI's and the JSON's).
//! 2. `hooks`: return its payload's size and alignment (`payload::<ControlBlock>()`), and, when the
//!    kind's module has them, a `details` function (figures and tables for `shmkit info`) and a
//!    `check` function (its own consistency checks for `shmkit check`). Both get a [`View`]: the
//!    whole object mapped read-only and the payload's offset. They must treat every byte as
//!    untrusted (bounds-check every offset read from the object, bound every walk) and must
//!    not write. `None` prints "details: not yet available for this kind" and runs only the
//!    header checks. A `usage` function gives `shmkit ls` its used and free bytes from `pread`
//!    copies (it must not map the object).
//!
//! Managed segments have their hooks in `segment.rs` (they open the segment read-only through
//! `segment::peek`, whatever its algorithm and index); message queues read their figures
//! through `mq::shared::inspect_figures`, so each layout stays described in one place.

use super::{Details, Field, ObjectKind, Problem, Table, Usage, Value};
use crate::error::Result;
use crate::region::{MappedRegion, SharedMemory};
use crate::sync::named::object::Kind;
use crate::sync::{
    CondvarAny, Mutex, RecursiveMutex, RwLock, RwLockState, Semaphore, UpgradableRwLock, WordState,
};
use crate::sys;

/// The public name of a kind this build knows.
pub(crate) fn object_kind(kind: Kind) -> ObjectKind {
    match kind {
        Kind::Mutex => ObjectKind::Mutex,
        Kind::RecursiveMutex => ObjectKind::RecursiveMutex,
        Kind::Condvar => ObjectKind::Condvar,
        Kind::Semaphore => ObjectKind::Semaphore,
        Kind::RwLock => ObjectKind::RwLock,
        Kind::UpgradableRwLock => ObjectKind::UpgradableRwLock,
        Kind::MessageQueue => ObjectKind::MessageQueue,
        Kind::Segment => ObjectKind::Segment,
        Kind::MappedFileSegment => ObjectKind::MappedFileSegment,
    }
}

/// `(size, align)` of payload type `T`.
const fn payload<T>() -> (usize, usize) {
    (size_of::<T>(), align_of::<T>())
}

/// A kind's `details` hook.
pub(crate) type DetailsHook = fn(&View<'_>) -> Result<Details>;

/// A kind's `check` hook: pushes what it finds.
pub(crate) type CheckHook = fn(&View<'_>, &mut Vec<Problem>) -> Result<()>;

/// A kind's `usage` hook: `read(offset, buf)` copies the object's bytes at `offset` (from the
/// object's start) into `buf` with `pread`, `false` when they cannot all be read;
/// `payload_offset` is where the header says the payload starts. `None`: no plausible figures.
pub(crate) type UsageHook =
    fn(read: &dyn Fn(usize, &mut [u8]) -> bool, payload_offset: usize) -> Option<Usage>;

/// A kind's hooks; see the module docs.
pub(crate) struct Hooks {
    /// The payload this build writes for the kind, `(size, align)` (what `Layout::of` takes
    /// from the payload type): a header saying otherwise was written by an incompatible build.
    pub(crate) payload: (usize, usize),
    /// Figures and tables for `inspect::details`; `None`: not available yet.
    pub(crate) details: Option<DetailsHook>,
    /// The kind's own checks, run on a ready object whose header is sound; they push what they
    /// find.
    pub(crate) check: Option<CheckHook>,
    /// Used and free capacity for `list` (`shmkit ls`), from `pread` copies of the object's
    /// bytes (no mapping: `ls` maps nothing); `None`: the kind has no such figures.
    pub(crate) usage: Option<UsageHook>,
}

/// The hooks of `kind`.
pub(crate) fn hooks(kind: Kind) -> Hooks {
    match kind {
        // A segment file copied into /dev/shm is a segment like any other.
        Kind::Segment | Kind::MappedFileSegment => Hooks {
            payload: crate::segment::CONTROL_LAYOUT,
            details: Some(super::segment::details),
            check: Some(super::segment::check),
            usage: Some(super::segment::usage),
        },
        Kind::MessageQueue => Hooks {
            payload: crate::mq::shared::CONTROL_LAYOUT,
            details: Some(queue_details),
            check: None,
            usage: Some(queue_usage),
        },
        Kind::Mutex => Hooks {
            payload: payload::<Mutex<()>>(),
            details: Some(mutex_details),
            check: Some(mutex_check),
            usage: None,
        },
        Kind::RecursiveMutex => Hooks {
            payload: payload::<RecursiveMutex<()>>(),
            details: Some(recursive_details),
            check: Some(mutex_check),
            usage: None,
        },
        Kind::Condvar => Hooks {
            payload: payload::<CondvarAny>(),
            details: Some(condvar_details),
            check: None,
            usage: None,
        },
        Kind::Semaphore => Hooks {
            payload: payload::<Semaphore>(),
            details: Some(semaphore_details),
            check: None,
            usage: None,
        },
        Kind::RwLock => Hooks {
            payload: payload::<RwLock<()>>(),
            details: Some(rwlock_details),
            check: Some(rwlock_check),
            usage: None,
        },
        Kind::UpgradableRwLock => Hooks {
            payload: payload::<UpgradableRwLock<()>>(),
            details: Some(rwlock_details),
            check: Some(rwlock_check),
            usage: None,
        },
    }
}

/// A named object as the hooks see it: mapped read-only, header validated against the kind's
/// layout (so `payload_offset + layout size <= region.len()`), payload bytes untrusted.
pub(crate) struct View<'a> {
    /// The object's name, for messages.
    pub(crate) name: &'a str,
    /// The object, opened read-only: hooks that need their own mapping (segments map it
    /// privately) map this.
    pub(crate) shm: &'a SharedMemory,
    /// The whole object, mapped read-only: read it with `read_at` (atomic copies).
    pub(crate) region: &'a MappedRegion,
    /// Where the payload starts.
    pub(crate) payload_offset: usize,
}

impl View<'_> {
    /// The `index`-th 32-bit word of the payload (a copy; another process may change it).
    pub(crate) fn word(&self, index: usize) -> Result<u32> {
        let mut b = [0; 4];
        self.region
            .read_at(self.payload_offset + 4 * index, &mut b)?;
        Ok(u32::from_ne_bytes(b))
    }

    /// The first `n` 32-bit words of the payload.
    pub(crate) fn words(&self, n: usize) -> Result<Vec<u32>> {
        (0..n).map(|i| self.word(i)).collect()
    }
}

// Payload layouts read below (each type is `repr(C)`; the sizes are pinned here, the offsets by
// the tests in `mod.rs`, which lock real objects and read them back):
//
// | kind | words |
// |---|---|
// | mutex | 0: the `RawMutex` word |
// | recursive mutex | 0: the `RawMutex` word, 1: the owner's recursion count |
// | condvar | 0: notification sequence, 1: sleepers |
// | semaphore | 0: count, 1: sleepers |
// | rwlock, upgradable rwlock | 0: state, 1: drain, 2..66: reader slots |
const _: () = {
    assert!(size_of::<Mutex<()>>() == 4);
    assert!(size_of::<RecursiveMutex<()>>() == 8);
    assert!(size_of::<CondvarAny>() == 8);
    assert!(size_of::<Semaphore>() == 8);
    assert!(size_of::<RwLock<()>>() == 4 * RwLockState::WORDS);
    assert!(size_of::<UpgradableRwLock<()>>() == 4 * RwLockState::WORDS);
};

/// Thread ids are below `PID_MAX_LIMIT` (2^22 on 64-bit Linux): anything above was scribbled.
const MAX_TID: u32 = 1 << 22;

fn field(name: &str, value: Value) -> Field {
    Field {
        name: name.to_owned(),
        value,
    }
}

/// "thread 1234 (alive)", "none".
fn thread(tid: u32) -> Value {
    if tid == 0 {
        Value::Text("none".to_owned())
    } else {
        let alive = if sys::is_alive(tid) { "alive" } else { "dead" };
        Value::Text(format!("thread {tid} ({alive})"))
    }
}

fn mutex_fields(word: WordState) -> Vec<Field> {
    vec![
        field("locked", Value::Bool(word.owner != 0)),
        field("owner", thread(word.owner)),
        field("consistent", Value::Bool(!word.inconsistent)),
        field("waiters", Value::Bool(word.waiters)),
    ]
}

fn mutex_details(view: &View<'_>) -> Result<Details> {
    Ok(Details {
        fields: mutex_fields(WordState::decode(view.word(0)?)),
        tables: Vec::new(),
    })
}

fn recursive_details(view: &View<'_>) -> Result<Details> {
    let word = WordState::decode(view.word(0)?);
    let mut fields = mutex_fields(word);
    if word.owner != 0 {
        fields.push(field("depth", Value::Number(u64::from(view.word(1)?))));
    }
    Ok(Details {
        fields,
        tables: Vec::new(),
    })
}

/// An owner's id: implausible, dead (the next locker takes over), or fine.
fn owner_problems(what: &str, tid: u32, problems: &mut Vec<Problem>) {
    if tid == 0 {
        return;
    }
    if tid >= MAX_TID {
        problems.push(Problem::warning(format!(
            "{what} word names owner {tid}, which cannot be a thread id (the word was \
             overwritten); the next locker takes the lock over and is told OwnerDied"
        )));
    } else if !sys::is_alive(tid) {
        problems.push(Problem::warning(format!(
            "held by thread {tid}, which is dead: the next locker takes it over and is told \
             OwnerDied"
        )));
    }
}

fn inconsistent_problem(problems: &mut Vec<Problem>) {
    problems.push(Problem::warning(
        "marked inconsistent: an owner died (or panicked) holding it; lockers are told \
         OwnerDied until one repairs the data and marks it consistent",
    ));
}

fn mutex_check(view: &View<'_>, problems: &mut Vec<Problem>) -> Result<()> {
    let word = WordState::decode(view.word(0)?);
    owner_problems("the lock", word.owner, problems);
    if word.inconsistent {
        inconsistent_problem(problems);
    }
    Ok(())
}

fn condvar_details(view: &View<'_>) -> Result<Details> {
    Ok(Details {
        fields: vec![
            field("notifications", Value::Number(u64::from(view.word(0)?))),
            field("sleepers", Value::Number(u64::from(view.word(1)?))),
        ],
        tables: Vec::new(),
    })
}

fn queue_details(view: &View<'_>) -> Result<Details> {
    let words = view.words(crate::mq::shared::CONTROL_LAYOUT.0 / 4)?;
    Ok(Details {
        fields: crate::mq::shared::inspect_figures(&words)
            .into_iter()
            .map(|(name, v)| field(name, Value::Number(v)))
            .collect(),
        tables: Vec::new(),
    })
}

/// A queue's capacity in message bytes: used = queued messages × the largest message size,
/// free = free slots × the same (slot headers are not counted).
fn queue_usage(read: &dyn Fn(usize, &mut [u8]) -> bool, payload_offset: usize) -> Option<Usage> {
    let mut bytes = vec![0u8; crate::mq::shared::CONTROL_LAYOUT.0];
    if !read(payload_offset, &mut bytes) {
        return None;
    }
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let figures = crate::mq::shared::inspect_figures(&words);
    let figure = |name: &str| figures.iter().find(|(n, _)| *n == name).map(|&(_, v)| v);
    let slot = figure("max message size")?;
    let queued = figure("messages queued")?;
    let free = figure("free slots")?;
    // Implausible words (more messages or free slots than the capacity) give no figures.
    let capacity = figure("capacity (max messages)")?;
    if queued > capacity || free > capacity {
        return None;
    }
    Some(Usage {
        used: queued * slot,
        free: free * slot,
    })
}

fn semaphore_details(view: &View<'_>) -> Result<Details> {
    Ok(Details {
        fields: vec![
            field("count", Value::Number(u64::from(view.word(0)?))),
            field("sleepers", Value::Number(u64::from(view.word(1)?))),
        ],
        tables: Vec::new(),
    })
}

fn rwlock_details(view: &View<'_>) -> Result<Details> {
    let state = RwLockState::decode(&view.words(RwLockState::WORDS)?);
    let mode = match (state.owner != 0, state.gate) {
        (false, _) => "none",
        (true, true) => "writer",
        (true, false) => "upgradable",
    };
    let held: u64 = state.readers.iter().map(|&(_, n)| u64::from(n)).sum();
    let rows = state
        .readers
        .iter()
        .map(|&(tid, count)| {
            vec![
                Value::Number(u64::from(tid)),
                Value::Number(u64::from(count)),
                Value::Bool(sys::is_alive(tid)),
            ]
        })
        .collect::<Vec<_>>();
    let mut tables = Vec::new();
    if !rows.is_empty() {
        tables.push(Table {
            title: "readers".to_owned(),
            columns: vec!["thread".to_owned(), "locks".to_owned(), "alive".to_owned()],
            rows,
        });
    }
    Ok(Details {
        fields: vec![
            field("owner", thread(state.owner)),
            field("owner mode", Value::Text(mode.to_owned())),
            field("read locks", Value::Number(held)),
            field("consistent", Value::Bool(!state.inconsistent)),
        ],
        tables,
    })
}

fn rwlock_check(view: &View<'_>, problems: &mut Vec<Problem>) -> Result<()> {
    let state = RwLockState::decode(&view.words(RwLockState::WORDS)?);
    owner_problems("the state", state.owner, problems);
    if state.gate && state.owner == 0 {
        problems.push(Problem::warning(
            "the writer gate is closed without an owner (the word was overwritten): the next \
             locker reopens it and is told OwnerDied",
        ));
    }
    if state.inconsistent {
        inconsistent_problem(problems);
    }
    for &(tid, count) in &state.readers {
        if tid == 0 || tid >= MAX_TID || !sys::is_alive(tid) {
            problems.push(Problem::warning(format!(
                "{count} read lock(s) held by thread {tid}, which is dead: the next writer \
                 reclaims them"
            )));
        }
    }
    Ok(())
}
