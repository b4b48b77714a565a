//! Looking at the shared memory objects in `/dev/shm` from outside: what each one is, who uses
//! it, whether it is sound, and removing the ones nobody needs. The `shmkit` command
//! (`cargo install --path cli`) is a front end to this module.
//!
//! | function | does |
//! |---|---|
//! | [`list`] | every object in `/dev/shm`, shmkit's decoded from their header, the rest foreign |
//! | [`inspect`] | one object, by name |
//! | [`details`] | what a kind adds: a lock's owner, a semaphore's count, ... |
//! | [`check`] | the sanity checks: header, state, layout, lock words |
//! | [`remove`] | removes an object nobody uses |
//! | [`clean`], [`remove_stale`] | removes the shmkit objects left behind by dead processes |
//!
//! # Reading without trusting
//!
//! Any program can write any bytes into a shared memory object, so nothing read here is
//! trusted. Objects are opened read-only, without following symbolic links and without blocking;
//! headers are copied out with `pread` (never through a mapping, so an object shrunk meanwhile
//! cannot fault this process) after the object's size is known; every byte pattern decodes to
//! an [`ObjectInfo`] or is reported by [`check`], never a panic. Only [`details`] and [`check`]
//! map an object, read-only and only once its header has been validated; nothing here writes to
//! an object or takes its locks. (A managed segment is mapped privately, as the segment's own
//! read-only handles are, and opened read-only: its lock is not taken, and no write could reach
//! the object. [`ObjectInfo::usage`] is read with `pread` too.)
//!
//! # Users
//!
//! An object's [`users`](ObjectInfo::users) are the live processes that map it or hold it open,
//! found by reading `/proc/<pid>/maps` and `/proc/<pid>/fd` and matching the object's device and
//! inode. Reading another user's process (or a non-dumpable one, such as `ssh-agent`) needs
//! `CAP_SYS_PTRACE`, which root usually has: processes this process may not inspect are skipped,
//! and those that could have opened the object (they run as root or as its owner, its mode lets
//! group or others in, or they created it) are listed in
//! [`uninspected`](ObjectInfo::uninspected). When that list is not empty, `users` may be
//! incomplete ([`ObjectInfo::users_complete`]); run as root to see every process.
//!
//! An object is *in use* ([`ObjectInfo::in_use`]) when it has a user, or when its creator is
//! alive and could not be inspected (a privileged daemon that made an object for its clients).
//! [`remove`] and [`clean`] never remove an object in use. Other uninspected processes do not
//! keep an object: as an ordinary user, every process of root and of other users is
//! uninspected, and counting them would keep everything.
//!
//! The scan is a snapshot: a process may open an object just after it. Removing a name never
//! disturbs processes that have the object open or mapped (they keep the memory); a process
//! that opens the name after it is removed gets `NotFound`, or creates a new object.
//!
//! # Examples
//!
//! ```
//! use shmkit::inspect::{self, ObjectKind, State};
//! use shmkit::sync::NamedMutex;
//!
//! let name = format!("doc-inspect-{}", std::process::id());
//! let mutex = NamedMutex::create(&name)?;
//!
//! let info = inspect::inspect(&name)?;
//! assert_eq!(info.kind, ObjectKind::Mutex);
//! assert_eq!(info.state, Some(State::Ready));
//! assert_eq!(info.creator_pid, Some(std::process::id()));
//! assert!(info.users.contains(&std::process::id())); // this process maps it
//! assert!(inspect::check(&name)?.is_empty());
//!
//! drop(mutex);
//! NamedMutex::remove(&name)?;
//! # Ok::<(), shmkit::Error>(())
//! ```

mod header;
mod kinds;
mod segment;
mod users;

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind, Result};
use crate::name::validate_name;
use crate::region::{Access, MappedRegion, Permissions, SharedMemory};
use crate::sync::named::object::{
    CORRUPT, HEADER_SIZE, INITIALISING, Kind, LAYOUT_VERSION, Layout, READY, UNINIT,
};
use crate::sys::{self, FileId, FileStat, FileType};

use header::{Decoded, HeaderV1};
use kinds::View;
use users::UserScan;

/// What an object in `/dev/shm` is.
///
/// The shmkit kinds mirror the `kind` code of the named-object header; [`Unknown`] is a shmkit
/// object this build cannot interpret, [`Foreign`] anything without a shmkit header, and
/// [`Unreadable`] an object this process may not read. More kinds (message queues, managed
/// segments) will be added: match with a wildcard arm.
///
/// [`Unknown`]: ObjectKind::Unknown
/// [`Foreign`]: ObjectKind::Foreign
/// [`Unreadable`]: ObjectKind::Unreadable
///
/// # Examples
///
/// ```
/// use shmkit::inspect::ObjectKind;
///
/// assert_eq!(ObjectKind::RecursiveMutex.as_str(), "recursive-mutex");
/// assert_eq!(ObjectKind::Semaphore.to_string(), "semaphore");
/// assert!(ObjectKind::Mutex.is_shmkit());
/// assert!(!ObjectKind::Foreign.is_shmkit());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A [`NamedMutex`](crate::sync::NamedMutex).
    Mutex,
    /// A [`NamedRecursiveMutex`](crate::sync::NamedRecursiveMutex).
    RecursiveMutex,
    /// A [`NamedCondvar`](crate::sync::NamedCondvar).
    Condvar,
    /// A [`NamedSemaphore`](crate::sync::NamedSemaphore).
    Semaphore,
    /// A [`NamedRwLock`](crate::sync::NamedRwLock).
    RwLock,
    /// A [`NamedUpgradableRwLock`](crate::sync::NamedUpgradableRwLock).
    UpgradableRwLock,
    /// A [`MessageQueue`](crate::MessageQueue).
    MessageQueue,
    /// A [`ManagedSharedMemory`](crate::ManagedSharedMemory) (or XSI) segment.
    Segment,
    /// A [`ManagedMappedFile`](crate::ManagedMappedFile) segment (normally a file, not in
    /// `/dev/shm`).
    MappedFileSegment,
    /// A shmkit header this build cannot interpret: another layout version, a kind code it does
    /// not know (a newer shmkit), or a header cut short. [`ObjectInfo::note`] says which.
    Unknown,
    /// No shmkit header: a plain [`SharedMemory`] object, another program's object (Boost's
    /// objects and its `sem.*` POSIX semaphores, ...), or a shmkit object whose creator died
    /// before writing its header.
    Foreign,
    /// This process may not read the object (another user's), so what it is cannot be told.
    Unreadable,
}

impl ObjectKind {
    /// The kind's name, as the `shmkit` command prints it (also in its JSON).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::inspect::ObjectKind::UpgradableRwLock.as_str(), "upgradable-rwlock");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Mutex => "mutex",
            ObjectKind::RecursiveMutex => "recursive-mutex",
            ObjectKind::Condvar => "condvar",
            ObjectKind::Semaphore => "semaphore",
            ObjectKind::RwLock => "rwlock",
            ObjectKind::UpgradableRwLock => "upgradable-rwlock",
            ObjectKind::MessageQueue => "message-queue",
            ObjectKind::Segment => "segment",
            ObjectKind::MappedFileSegment => "mapped-file-segment",
            ObjectKind::Unknown => "unknown",
            ObjectKind::Foreign => "foreign",
            ObjectKind::Unreadable => "unreadable",
        }
    }

    /// Whether the object carries a shmkit header (every kind but `Foreign` and `Unreadable`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::inspect::ObjectKind;
    ///
    /// assert!(ObjectKind::Unknown.is_shmkit());
    /// assert!(!ObjectKind::Unreadable.is_shmkit());
    /// ```
    pub fn is_shmkit(self) -> bool {
        !matches!(self, ObjectKind::Foreign | ObjectKind::Unreadable)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A shmkit object's initialisation state, from its header.
///
/// # Examples
///
/// ```
/// use shmkit::inspect::State;
///
/// assert_eq!(State::Ready.as_str(), "ready");
/// assert_eq!(State::Initialising.to_string(), "initialising");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Nothing published yet: a creator between sizing the object and writing its header, or
    /// one that died there.
    Uninitialised,
    /// The creator is writing the payload; openers wait for it (or, if it died, replace it).
    Initialising,
    /// Complete and usable.
    Ready,
    /// Will never be ready: marked corrupt by its creator or a replacer, truncated, or a state
    /// word that is no state at all ([`check`] says which).
    Corrupt,
}

impl State {
    /// The state's name, as the `shmkit` command prints it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::inspect::State::Corrupt.as_str(), "corrupt");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            State::Uninitialised => "uninitialised",
            State::Initialising => "initialising",
            State::Ready => "ready",
            State::Corrupt => "corrupt",
        }
    }

    fn from_word(word: u32) -> State {
        match word {
            UNINIT => State::Uninitialised,
            INITIALISING => State::Initialising,
            READY => State::Ready,
            _ => State::Corrupt,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a shmkit object's payload sits and how big the header says it is.
///
/// # Examples
///
/// ```
/// use shmkit::sync::NamedSemaphore;
///
/// let name = format!("doc-inspect-layout-{}", std::process::id());
/// let _sem = NamedSemaphore::create(&name, 0)?;
/// let payload = shmkit::inspect::inspect(&name)?.payload.unwrap();
/// assert_eq!((payload.size, payload.align, payload.offset), (8, 4, 64));
/// NamedSemaphore::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PayloadLayout {
    /// The payload's size in bytes.
    pub size: u32,
    /// The payload's alignment.
    pub align: u32,
    /// Where the payload starts: the header's 64 bytes, or the alignment if larger.
    pub offset: u32,
}

/// What one object in `/dev/shm` is: its name and file attributes, what its shmkit header says
/// (for shmkit objects), and who uses it.
///
/// Header fields are `None` when they do not apply (a foreign object) or cannot be read (an
/// unknown layout version, an unreadable object).
///
/// # Examples
///
/// ```
/// use shmkit::inspect::{self, ObjectKind};
/// use shmkit::{Permissions, SharedMemory};
///
/// let name = format!("doc-inspect-info-{}", std::process::id());
/// let shm = SharedMemory::options()
///     .create_new(true)
///     .permissions(Permissions::from_mode(0o640))
///     .open(&name)?;
/// shm.set_len(4096)?;
///
/// let info = inspect::inspect(&name)?;
/// assert_eq!(info.kind, ObjectKind::Foreign); // a plain shared memory object has no header
/// assert_eq!(info.size, 4096);
/// assert_eq!(info.permissions.mode(), 0o640);
/// assert_eq!(info.state, None);
/// assert!(info.users.contains(&std::process::id())); // `shm` holds it open
/// SharedMemory::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectInfo {
    /// The object's name (its file name in `/dev/shm`; names that are not UTF-8 are shown
    /// with replacement characters).
    pub name: String,
    /// The object's size in bytes.
    pub size: u64,
    /// What the object is.
    pub kind: ObjectKind,
    /// The header's kind code, for a layout-version-1 header (also when the kind is unknown).
    pub kind_code: Option<u32>,
    /// The header's layout version.
    pub layout_version: Option<u32>,
    /// The header's initialisation state.
    pub state: Option<State>,
    /// The payload's size, alignment and offset, as the header states them.
    pub payload: Option<PayloadLayout>,
    /// The process that created (or last replaced) the object, as the header states it.
    pub creator_pid: Option<u32>,
    /// Whether that process is alive now (a probe by pid: a reused pid looks alive).
    pub creator_alive: Option<bool>,
    /// When the object was created, by the header (whole seconds).
    pub created_at: Option<SystemTime>,
    /// The object's permission bits.
    pub permissions: Permissions,
    /// The user owning the object.
    pub owner_uid: u32,
    /// The live processes that map the object or hold it open, in increasing order.
    pub users: Vec<u32>,
    /// Processes that could use the object but could not be inspected (another user's, or
    /// not dumpable): when not empty, [`users`](ObjectInfo::users) may be incomplete. See the
    /// [module docs](self#users).
    pub uninspected: Vec<u32>,
    /// Why the kind is [`Unknown`](ObjectKind::Unknown) or
    /// [`Unreadable`](ObjectKind::Unreadable).
    pub note: Option<String>,
    /// Used and free capacity, for ready managed segments and message queues (see [`Usage`]);
    /// `None` for other kinds, and when the figures cannot be read or are implausible.
    pub usage: Option<Usage>,
    /// The file name in `/dev/shm`, exactly (`name` is its lossy UTF-8 rendering).
    file: OsString,
    id: FileId,
}

impl ObjectInfo {
    /// Whether [`users`](ObjectInfo::users) is known to be complete: every process that could
    /// use the object was inspected.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-inspect-complete-{}", std::process::id());
    /// let _m = NamedMutex::create(&name)?;
    /// let info = shmkit::inspect::inspect(&name)?;
    /// if info.users_complete() {
    ///     assert_eq!(info.users, [std::process::id()]);
    /// }
    /// NamedMutex::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn users_complete(&self) -> bool {
        self.uninspected.is_empty()
    }

    /// Whether the object is in use: a live process maps it or holds it open, or its creator
    /// is alive and could not be inspected (see the [module docs](self#users)). [`remove`] and
    /// [`clean`] leave such objects alone.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-inspect-in-use-{}", std::process::id());
    /// let m = NamedMutex::create(&name)?;
    /// assert!(shmkit::inspect::inspect(&name)?.in_use());
    /// drop(m);
    /// assert!(!shmkit::inspect::inspect(&name)?.in_use());
    /// NamedMutex::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn in_use(&self) -> bool {
        in_use_reason(self).is_some()
    }
}

/// How much of an object's capacity is used, from [`ObjectInfo::usage`]: read with `pread`
/// from the object's control words (nothing is mapped), a snapshot for display.
///
/// | kind | `used` | `free` |
/// |---|---|---|
/// | managed segment | the segment's size minus `free` (control page, allocator metadata, objects, name index, raw blocks) | bytes in the allocator's free blocks ([`SegmentManager::free_memory`](crate::segment::SegmentManager::free_memory)) |
/// | message queue | queued messages × the largest message size | free slots × the largest message size |
///
/// # Examples
///
/// ```
/// use shmkit::ManagedSharedMemory;
///
/// let name = format!("doc-inspect-usage-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
/// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
/// seg.construct("block", [0u8; 1000])?;
/// let usage = shmkit::inspect::inspect(&name)?.usage.expect("a segment has usage figures");
/// assert_eq!(usage.free, seg.free_memory()? as u64);
/// assert_eq!(usage.used + usage.free, 1 << 16);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Usage {
    /// Bytes in use (see the table for each kind).
    pub used: u64,
    /// Bytes available.
    pub free: u64,
}

/// How serious a [`Problem`] is.
///
/// # Examples
///
/// ```
/// use shmkit::inspect::Severity;
///
/// assert!(Severity::Warning < Severity::Error);
/// assert_eq!(Severity::Error.as_str(), "error");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing, but the object works: a lock held by a dead owner (the next locker takes
    /// it over), a creation time in the future.
    Warning,
    /// The object is not usable as it is: not a shmkit object, corrupt, truncated, written by
    /// an incompatible build.
    Error,
}

impl Severity {
    /// `"warning"` or `"error"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(shmkit::inspect::Severity::Warning.as_str(), "warning");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding of [`check`].
///
/// # Examples
///
/// ```
/// use shmkit::SharedMemory;
///
/// let name = format!("doc-inspect-problem-{}", std::process::id());
/// SharedMemory::create(&name)?.set_len(64)?;
/// let problems = shmkit::inspect::check(&name)?;
/// assert!(problems[0].is_error());
/// assert!(problems[0].to_string().starts_with("error: not a shmkit object"));
/// SharedMemory::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong, and what follows from it.
    pub message: String,
}

impl Problem {
    pub(crate) fn error(message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub(crate) fn warning(message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Warning,
            message: message.into(),
        }
    }

    /// Whether the problem makes the object unsound ([`Severity::Error`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-inspect-is-error-{}", std::process::id());
    /// let _m = NamedMutex::create(&name)?;
    /// assert!(!shmkit::inspect::check(&name)?.iter().any(|p| p.is_error()));
    /// NamedMutex::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)
    }
}

/// What a kind adds to the header: figures ([`fields`](Details::fields)) and lists
/// ([`tables`](Details::tables)), from [`details`].
///
/// # Examples
///
/// ```
/// use shmkit::inspect::{self, Value};
/// use shmkit::sync::NamedSemaphore;
///
/// let name = format!("doc-inspect-details-{}", std::process::id());
/// let _sem = NamedSemaphore::create(&name, 3)?;
/// let details = inspect::details(&name)?.expect("semaphores have details");
/// assert_eq!(details.get("count"), Some(&Value::Number(3)));
/// NamedSemaphore::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Details {
    /// Named values, in display order.
    pub fields: Vec<Field>,
    /// Lists of records (a rwlock's readers; later, a segment's named objects).
    pub tables: Vec<Table>,
}

impl Details {
    /// The value of the field called `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::inspect::{self, Value};
    /// use shmkit::sync::NamedMutex;
    ///
    /// let name = format!("doc-inspect-get-{}", std::process::id());
    /// let m = NamedMutex::create(&name)?;
    /// let guard = m.lock().unwrap();
    /// let details = inspect::details(&name)?.unwrap();
    /// assert_eq!(details.get("locked"), Some(&Value::Bool(true)));
    /// drop(guard);
    /// NamedMutex::remove(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }
}

/// A named value in [`Details`].
///
/// # Examples
///
/// ```
/// use shmkit::sync::NamedSemaphore;
///
/// let name = format!("doc-inspect-field-{}", std::process::id());
/// let _sem = NamedSemaphore::create(&name, 1)?;
/// let details = shmkit::inspect::details(&name)?.unwrap();
/// assert_eq!(details.fields[0].name, "count");
/// NamedSemaphore::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Field {
    /// What the value is ("count", "owner", ...).
    pub name: String,
    /// The value.
    pub value: Value,
}

/// A value in [`Details`].
///
/// # Examples
///
/// ```
/// use shmkit::inspect::Value;
///
/// assert_eq!(Value::Number(3).to_string(), "3");
/// assert_eq!(Value::Bool(false).to_string(), "no");
/// assert_eq!(Value::Text("none".into()).to_string(), "none");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// A count or size.
    Number(u64),
    /// A yes/no fact.
    Bool(bool),
    /// Anything else, already formatted.
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Bool(true) => f.write_str("yes"),
            Value::Bool(false) => f.write_str("no"),
            Value::Text(s) => f.write_str(s),
        }
    }
}

/// A list of records in [`Details`]: a title, column names, and rows of as many values.
///
/// # Examples
///
/// ```
/// use shmkit::sync::NamedRwLock;
///
/// let name = format!("doc-inspect-table-{}", std::process::id());
/// let lock = NamedRwLock::create(&name)?;
/// let guard = lock.read().unwrap();
/// let details = shmkit::inspect::details(&name)?.unwrap();
/// let readers = &details.tables[0];
/// assert_eq!(readers.title, "readers");
/// assert_eq!(readers.columns, ["thread", "locks", "alive"]);
/// assert_eq!(readers.rows.len(), 1);
/// drop(guard);
/// NamedRwLock::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Table {
    /// What the rows are.
    pub title: String,
    /// The column names.
    pub columns: Vec<String>,
    /// The records, each with one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// What [`clean`] removes.
///
/// By default: shmkit objects (of a kind this build knows) that no live process uses and whose
/// creator is dead or that are ready, with any name, for real.
///
/// # Examples
///
/// ```
/// let mut options = shmkit::inspect::CleanOptions::new();
/// options.dry_run(true).prefix("my-app-");
/// ```
#[derive(Debug, Clone, Default)]
pub struct CleanOptions {
    foreign: bool,
    dry_run: bool,
    prefix: Option<String>,
}

impl CleanOptions {
    /// The defaults; see the type's docs.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = shmkit::inspect::CleanOptions::new();
    /// ```
    pub fn new() -> CleanOptions {
        CleanOptions::default()
    }

    /// Also remove objects that are not shmkit objects this build can interpret (foreign
    /// objects, unknown layouts or kinds, unreadable ones) when nobody uses them.
    ///
    /// # Examples
    ///
    /// ```
    /// shmkit::inspect::CleanOptions::new().foreign(true);
    /// ```
    pub fn foreign(&mut self, foreign: bool) -> &mut CleanOptions {
        self.foreign = foreign;
        self
    }

    /// Only report what would be removed.
    ///
    /// # Examples
    ///
    /// ```
    /// let report = shmkit::inspect::clean(shmkit::inspect::CleanOptions::new().dry_run(true))?;
    /// // Nothing was removed, whatever `report.removed` lists.
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn dry_run(&mut self, dry_run: bool) -> &mut CleanOptions {
        self.dry_run = dry_run;
        self
    }

    /// Only consider objects whose name starts with `prefix`.
    ///
    /// # Examples
    ///
    /// ```
    /// shmkit::inspect::CleanOptions::new().prefix("my-app-");
    /// ```
    pub fn prefix(&mut self, prefix: impl Into<String>) -> &mut CleanOptions {
        self.prefix = Some(prefix.into());
        self
    }
}

/// What [`clean`] did.
///
/// # Examples
///
/// ```
/// use shmkit::inspect::{self, CleanOptions};
/// use shmkit::sync::NamedMutex;
///
/// let prefix = format!("doc-inspect-report-{}-", std::process::id());
/// let m = NamedMutex::create(&format!("{prefix}a"))?;
/// let report = inspect::clean(CleanOptions::new().prefix(prefix.clone()))?;
/// assert!(report.removed.is_empty()); // in use by this process
/// assert_eq!(report.kept[0].name, format!("{prefix}a"));
/// drop(m);
/// NamedMutex::remove(&format!("{prefix}a"))?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CleanReport {
    /// The objects removed (or, in a dry run, that would be), as they were found.
    pub removed: Vec<ObjectInfo>,
    /// The objects considered and kept, with the reason.
    pub kept: Vec<Kept>,
}

/// An object [`clean`] considered and kept.
///
/// # Examples
///
/// ```
/// use shmkit::inspect::{self, CleanOptions};
/// use shmkit::sync::NamedSemaphore;
///
/// let prefix = format!("doc-inspect-kept-{}-", std::process::id());
/// let _s = NamedSemaphore::create(&format!("{prefix}s"), 0)?;
/// let report = inspect::clean(CleanOptions::new().prefix(prefix.clone()))?;
/// assert!(report.kept[0].reason.contains("in use"));
/// NamedSemaphore::remove(&format!("{prefix}s"))?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Kept {
    /// The object's name.
    pub name: String,
    /// Why it was kept.
    pub reason: String,
}

/// Every object in `/dev/shm`, sorted by name: shmkit objects decoded from their header,
/// everything else as [`Foreign`](ObjectKind::Foreign) (or
/// [`Unreadable`](ObjectKind::Unreadable)), with their users. Entries that are not regular files
/// (directories, symbolic links) are not shared memory objects and are left out.
///
/// # Errors
///
/// [`ErrorKind::NotFound`] if there is no `/dev/shm`; other errors listing it or `/proc`.
/// Problems with single objects are in their [`ObjectInfo`], not errors.
///
/// # Examples
///
/// ```
/// use shmkit::inspect::{self, ObjectKind};
/// use shmkit::sync::NamedSemaphore;
///
/// let name = format!("doc-inspect-list-{}", std::process::id());
/// let _sem = NamedSemaphore::create(&name, 0)?;
/// let all = inspect::list()?;
/// let mine = all.iter().find(|o| o.name == name).unwrap();
/// assert_eq!(mine.kind, ObjectKind::Semaphore);
/// NamedSemaphore::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn list() -> Result<Vec<ObjectInfo>> {
    let mut files = sys::list_dir(std::path::Path::new(sys::SHM_DIR))?;
    files.sort();
    let mut infos = Vec::with_capacity(files.len());
    for file in files {
        match Opened::open(&file) {
            Ok(opened) => infos.push(opened.info()),
            // Vanished since the listing, or not a regular file: not an object to list.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument) => {}
            Err(e) => return Err(e),
        }
    }
    // Every descriptor opened above is closed by now, so this process is not counted as a user
    // of what it merely looked at.
    add_users(&mut infos)?;
    Ok(infos)
}

/// The object `name`: what [`list`] says about it.
///
/// # Errors
///
/// [`ErrorKind::InvalidName`] (see [`validate_name`]);
/// [`ErrorKind::NotFound`] if there is no such object; [`ErrorKind::InvalidArgument`] if
/// `/dev/shm/<name>` is not a regular file. An object this process may not read is not an
/// error: its kind is [`Unreadable`](ObjectKind::Unreadable).
///
/// # Examples
///
/// ```
/// use shmkit::{ErrorKind, inspect};
///
/// let missing = format!("doc-inspect-missing-{}", std::process::id());
/// assert_eq!(inspect::inspect(&missing).unwrap_err().kind(), ErrorKind::NotFound);
/// assert_eq!(inspect::inspect("a/b").unwrap_err().kind(), ErrorKind::InvalidName);
/// ```
pub fn inspect(name: &str) -> Result<ObjectInfo> {
    validate_name(name)?;
    let mut infos = vec![Opened::open(name.as_ref())?.info()];
    add_users(&mut infos)?;
    Ok(infos.pop().expect("one object"))
}

/// What the kind of object `name` adds to its header (a lock's owner, a semaphore's count...),
/// or `None` when there is nothing more to show: a foreign, unknown or unreadable object, a
/// shmkit object that is not ready or whose header does not match this build, or a kind whose
/// details are not available yet.
///
/// The object is mapped read-only (a managed segment privately, opened read-only: its lock is
/// not taken); the values are a snapshot. A managed segment's details are its allocator figures
/// (`algorithm`, `index`, `size`, `used bytes`, `free bytes`, ...) and tables of its named and
/// unique objects; a segment that cannot be opened has one field, `segment`, saying why.
///
/// # Errors
///
/// As [`inspect`]; errors mapping the object.
///
/// # Examples
///
/// ```
/// use shmkit::inspect::{self, Value};
/// use shmkit::sync::NamedMutex;
///
/// let name = format!("doc-inspect-fn-details-{}", std::process::id());
/// let m = NamedMutex::create(&name)?;
/// let details = inspect::details(&name)?.unwrap();
/// assert_eq!(details.get("locked"), Some(&Value::Bool(false)));
/// drop(m);
/// NamedMutex::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// A managed segment's figures and objects:
///
/// ```
/// use shmkit::ManagedSharedMemory;
/// use shmkit::inspect::{self, Value};
///
/// let name = format!("doc-inspect-fn-details-seg-{}", std::process::id());
/// let _cleanup = shmkit::RemoveOnDrop::shared_memory(&name);
/// let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
/// seg.construct("answer", 42u64)?;
/// let details = inspect::details(&name)?.unwrap();
/// assert_eq!(details.get("algorithm"), Some(&Value::Text("best-fit".into())));
/// assert_eq!(details.get("free bytes"), Some(&Value::Number(seg.free_memory()? as u64)));
/// let named = &details.tables[0];
/// assert_eq!(named.title, "named objects");
/// assert_eq!(named.rows[0][0], Value::Text("answer".into()));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn details(name: &str) -> Result<Option<Details>> {
    validate_name(name)?;
    let opened = Opened::open(name.as_ref())?;
    let Some(Decoded::V1(h)) = opened.decoded else {
        return Ok(None);
    };
    let Some(kind) = Kind::from_code(h.kind_code) else {
        return Ok(None);
    };
    let hooks = kinds::hooks(kind);
    let mut problems = Vec::new();
    header_problems(&h, opened.stat.size, &mut problems);
    if h.state != READY || problems.iter().any(Problem::is_error) {
        return Ok(None);
    }
    let Some(details) = hooks.details else {
        return Ok(None);
    };
    opened.with_view(&h, details)?.map(Some)
}

/// Runs the sanity checks on object `name` and returns what they found; an empty list means
/// sound. The object is sound for use when no problem [`is_error`](Problem::is_error); warnings
/// describe states shmkit recovers from by itself (a lock whose owner died).
///
/// Checked today: the object carries a shmkit header of this layout version and a known kind;
/// its state is ready (an initialisation in progress by a live creator is a warning); its payload
/// layout is this build's and fits in the object; the creator pid, creation time and reserved
/// bytes are plausible; and, for ready objects, the kind's own checks (lock owners alive and
/// plausible, consistency marks, reader slots of dead threads; for managed segments,
/// [`SegmentManager::check_sanity`](crate::segment::SegmentManager::check_sanity): the memory
/// algorithm's structures and the name indexes, run on a read-only, lock-free handle, so a
/// segment whose lock is held is checked too). Message queues will add their own checks here.
///
/// # Errors
///
/// As [`inspect`]; [`ErrorKind::PermissionDenied`] if the object cannot be read;
/// [`ErrorKind::Busy`] if a managed segment is being grown or shrunk by another process for
/// more than two seconds. Problems with the object are returned, not errors.
///
/// # Examples
///
/// ```
/// use shmkit::inspect;
/// use shmkit::sync::NamedMutex;
///
/// let name = format!("doc-inspect-check-{}", std::process::id());
/// let _m = NamedMutex::create(&name)?;
/// assert!(inspect::check(&name)?.is_empty());
/// NamedMutex::remove(&name)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn check(name: &str) -> Result<Vec<Problem>> {
    validate_name(name)?;
    let opened = Opened::open(name.as_ref())?;
    let mut problems = Vec::new();
    let h = match &opened.decoded {
        None => {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "cannot check `{name}`: {} (owner uid {}, mode {:04o})",
                    opened.note.as_deref().unwrap_or("it cannot be read"),
                    opened.stat.uid,
                    opened.stat.mode
                ),
            ));
        }
        Some(Decoded::Foreign) => {
            problems.push(Problem::error(
                "not a shmkit object: it has no shmkit header (another program's object, a \
                 plain shared memory object, or a shmkit object whose creator died before \
                 writing its header)",
            ));
            return Ok(problems);
        }
        Some(Decoded::Truncated { len }) => {
            problems.push(Problem::error(format!(
                "truncated shmkit object: {len} bytes, less than its {HEADER_SIZE}-byte header"
            )));
            return Ok(problems);
        }
        Some(Decoded::OtherVersion { version }) => {
            problems.push(Problem::error(format!(
                "shmkit layout version {version}; this shmkit reads version {LAYOUT_VERSION}, so \
                 nothing more can be checked"
            )));
            return Ok(problems);
        }
        Some(Decoded::V1(h)) => *h,
    };
    header_problems(&h, opened.stat.size, &mut problems);
    if h.state == READY && !problems.iter().any(Problem::is_error) {
        let kind = Kind::from_code(h.kind_code).expect("header_problems checked the kind");
        if let Some(kind_check) = kinds::hooks(kind).check {
            opened.with_view(&h, |view| kind_check(view, &mut problems))??;
        }
    }
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    Ok(problems)
}

/// Removes the object `name` unless it is [in use](ObjectInfo::in_use), and returns what it
/// was.
///
/// Unlike [`SharedMemory::remove`], which removes a name unconditionally, this refuses objects
/// in use; any kind of object may be removed, foreign ones included.
///
/// # Errors
///
/// [`ErrorKind::Busy`] if the object is in use, or was replaced while being inspected;
/// [`ErrorKind::PermissionDenied`] if this user may not remove it; as [`inspect`].
///
/// # Examples
///
/// ```
/// use shmkit::{ErrorKind, inspect};
/// use shmkit::sync::NamedMutex;
///
/// let name = format!("doc-inspect-remove-{}", std::process::id());
/// let m = NamedMutex::create(&name)?;
/// assert_eq!(inspect::remove(&name).unwrap_err().kind(), ErrorKind::Busy); // `m` maps it
/// drop(m);
/// let removed = inspect::remove(&name)?;
/// assert_eq!(removed.kind, inspect::ObjectKind::Mutex);
/// assert_eq!(inspect::inspect(&name).unwrap_err().kind(), ErrorKind::NotFound);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn remove(name: &str) -> Result<ObjectInfo> {
    let info = inspect(name)?;
    if let Some(why) = in_use_reason(&info) {
        return Err(Error::new(
            ErrorKind::Busy,
            format!("not removing `{name}`: {why}"),
        ));
    }
    unlink_if_same(&info)?;
    Ok(info)
}

/// Removes what [`CleanOptions`] selects: by default, the shmkit objects that no live process
/// uses and whose creator is dead or that are ready. Nothing [in use](ObjectInfo::in_use) is
/// removed; foreign objects only when asked.
///
/// Objects are re-examined just before removal (same object behind the name, still no user);
/// one that is in use, changed, or cannot be removed (another user's) is reported in
/// [`CleanReport::kept`].
///
/// # Errors
///
/// As [`list`]. Failing to remove one object is not an error (it is kept, with the reason).
///
/// # Examples
///
/// ```
/// use shmkit::inspect::{self, CleanOptions};
/// use shmkit::sync::NamedMutex;
///
/// let prefix = format!("doc-inspect-clean-{}-", std::process::id());
/// let name = format!("{prefix}idle");
/// drop(NamedMutex::create(&name)?); // ready, and nobody maps it any more
/// let report = inspect::clean(CleanOptions::new().prefix(prefix.clone()))?;
/// assert_eq!(report.removed[0].name, name);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn clean(options: &CleanOptions) -> Result<CleanReport> {
    let mut report = CleanReport::default();
    let mut candidates = Vec::new();
    for info in list()? {
        if options
            .prefix
            .as_deref()
            .is_some_and(|p| !info.name.starts_with(p))
        {
            continue;
        }
        let known = info.kind.is_shmkit() && info.kind != ObjectKind::Unknown;
        if !known && !options.foreign {
            continue;
        }
        match stale_reason(&info, known) {
            Ok(()) => candidates.push(info),
            Err(reason) => report.kept.push(Kept {
                name: info.name,
                reason,
            }),
        }
    }
    if options.dry_run || candidates.is_empty() {
        report.removed = candidates;
        return Ok(report);
    }
    // Look again: a process may have started using a candidate since the listing.
    let ids = candidates.iter().map(|c| c.id).collect();
    let scan = UserScan::run(&ids)?;
    for info in candidates {
        let now = scan.users_of(info.id);
        let result = if now.is_empty() {
            unlink_if_same(&info)
        } else {
            Err(Error::new(
                ErrorKind::Busy,
                format!("in use by {}", pids(&now)),
            ))
        };
        match result {
            Ok(()) => report.removed.push(info),
            // Removed by someone else meanwhile: nothing to report.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => report.kept.push(Kept {
                name: info.name,
                reason: e.message().to_owned(),
            }),
        }
    }
    Ok(report)
}

/// Removes the stale shmkit objects: [`clean`] with the default options. Returns the names
/// removed.
///
/// This considers every shmkit object on the machine, including those of other programs of the
/// same user that are between two uses of an object they find by name (a ready named mutex that
/// nobody has open is removed); use [`clean`] with a [`prefix`](CleanOptions::prefix) to limit
/// it to one application's names.
///
/// # Errors
///
/// As [`clean`].
///
/// # Examples
///
/// ```no_run
/// for name in shmkit::inspect::remove_stale()? {
///     println!("removed {name}");
/// }
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn remove_stale() -> Result<Vec<String>> {
    Ok(clean(&CleanOptions::new())?
        .removed
        .into_iter()
        .map(|info| info.name)
        .collect())
}

/// "process 12", "processes 12, 13".
fn pids(pids: &[u32]) -> String {
    let list = pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if pids.len() == 1 {
        format!("process {list}")
    } else {
        format!("processes {list}")
    }
}

/// Why `info` counts as in use, if it does.
fn in_use_reason(info: &ObjectInfo) -> Option<String> {
    if !info.users.is_empty() {
        return Some(format!("in use by {}", pids(&info.users)));
    }
    let creator = info.creator_pid?;
    info.uninspected.contains(&creator).then(|| {
        format!(
            "its creator (process {creator}) is alive and cannot be inspected by this user, so \
             it may be using it (run as root to see it)"
        )
    })
}

/// Why [`clean`] keeps `info`, if it does (`known`: a shmkit kind this build knows).
fn stale_reason(info: &ObjectInfo, known: bool) -> std::result::Result<(), String> {
    if let Some(why) = in_use_reason(info) {
        return Err(why);
    }
    if !known || info.state == Some(State::Ready) {
        return Ok(());
    }
    match (info.creator_pid, info.creator_alive) {
        (Some(pid), Some(true)) => Err(format!(
            "{} and its creator (process {pid}) is alive",
            info.state.unwrap_or(State::Corrupt)
        )),
        _ => Ok(()),
    }
}

/// Removes `info`'s name if it still names the object `info` describes.
fn unlink_if_same(info: &ObjectInfo) -> Result<()> {
    let path = sys::shm_path(&info.file);
    let now = sys::lstat(&path)?;
    if now.id != info.id {
        return Err(Error::new(
            ErrorKind::Busy,
            format!(
                "`{}` was replaced by another object while being inspected; not removed",
                info.name
            ),
        ));
    }
    sys::remove_file(&path)
}

/// Fills in the users of `infos` from one scan of `/proc`.
fn add_users(infos: &mut [ObjectInfo]) -> Result<()> {
    let ids: HashSet<FileId> = infos.iter().map(|i| i.id).collect();
    let scan = UserScan::run(&ids)?;
    for info in infos {
        info.users = scan.users_of(info.id);
        let creator = info.creator_pid.filter(|&p| p != 0);
        info.uninspected = scan.uninspected_for(info.owner_uid, info.permissions.mode(), creator);
    }
    Ok(())
}

/// The header problems of a version-1 header `h` on an object of `size` bytes.
fn header_problems(h: &HeaderV1, size: u64, problems: &mut Vec<Problem>) {
    let Some(kind) = Kind::from_code(h.kind_code) else {
        problems.push(Problem::error(format!(
            "unknown kind code {} (made by a newer shmkit?): nothing more can be checked",
            h.kind_code
        )));
        return;
    };
    let noun = kind.noun();
    let creator = h.creator_pid;
    let alive = creator != 0 && sys::is_alive(creator);
    match h.state {
        READY => {}
        INITIALISING if alive => problems.push(Problem::warning(format!(
            "still being initialised by process {creator}"
        ))),
        INITIALISING => problems.push(Problem::error(format!(
            "its creator (process {creator}) died while initialising it: it will never be \
             ready (`open_or_create` replaces it; or remove it)"
        ))),
        UNINIT if alive => problems.push(Problem::warning(format!(
            "being created by process {creator} (header not yet published)"
        ))),
        UNINIT => problems.push(Problem::error(
            "its header was never published: its creator died while creating it; remove it",
        )),
        CORRUPT => problems.push(Problem::error(
            "marked corrupt: its creator failed to initialise it, or it was replaced; remove it",
        )),
        other => problems.push(Problem::error(format!(
            "its state word is {other}, which is no state (0 to 3): the header was overwritten"
        ))),
    }
    let (want_size, want_align) = kinds::hooks(kind).payload;
    let want_offset = Layout::new(kind, want_size, want_align).len() - want_size;
    let (size_, align, offset) = (
        h.payload_size as usize,
        h.payload_align as usize,
        h.payload_offset as usize,
    );
    if (size_, align, offset) != (want_size, want_align, want_offset) {
        problems.push(Problem::error(format!(
            "its header describes a {size_}-byte {noun} payload (align {align}, at offset \
             {offset}); this build's is {want_size} bytes (align {want_align}, at offset \
             {want_offset}): it was made by an incompatible shmkit build"
        )));
    } else if (offset + size_) as u64 > size {
        problems.push(Problem::error(format!(
            "truncated: {size} bytes, but its header and {noun} payload need {}",
            offset + size_
        )));
    }
    if creator == 0 {
        problems.push(Problem::warning(
            "its header names no creator process (pid 0)",
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if h.created_at == 0 {
        problems.push(Problem::warning("its header has no creation time"));
    } else if h.created_at > now.saturating_add(24 * 3600) {
        problems.push(Problem::warning(format!(
            "its creation time ({} s after 1970) is in the future",
            h.created_at
        )));
    }
    if !h.reserved_zero {
        problems.push(Problem::warning(
            "its header's reserved bytes are not zero (written by a newer shmkit, or overwritten)",
        ));
    }
}

/// An object opened for inspection: what `fstat` and the header say.
struct Opened {
    /// The `/dev/shm` entry.
    file: OsString,
    /// `None` when the object could not be opened for reading.
    fd: Option<sys::Fd>,
    stat: FileStat,
    /// `None` when the object could not be read.
    decoded: Option<Decoded>,
    /// Why it could not be read.
    note: Option<String>,
}

impl Opened {
    /// Opens the `/dev/shm` entry `file` (not validated: it may come from the directory).
    fn open(file: &OsStr) -> Result<Opened> {
        let path = sys::shm_path(file);
        let name = file.to_string_lossy();
        let lstat = sys::lstat(&path).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                Error::new(
                    ErrorKind::NotFound,
                    format!("no shared memory object `{name}` (no {})", path.display()),
                )
            } else {
                e
            }
        })?;
        if lstat.file_type != FileType::Regular {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{} is not a shared memory object (it is a {})",
                    path.display(),
                    match lstat.file_type {
                        FileType::Directory => "directory",
                        FileType::Symlink => "symbolic link",
                        _ => "special file",
                    }
                ),
            ));
        }
        let unreadable = |e: Error| Opened {
            file: file.to_owned(),
            fd: None,
            stat: lstat,
            decoded: None,
            note: Some(format!("cannot read it: {}", e.kind())),
        };
        let fd = match sys::open_shm_for_reading(file) {
            Ok(fd) => fd,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument) => {
                return Err(e);
            }
            Err(e) => return Ok(unreadable(e)),
        };
        let stat = match sys::fstat(&fd) {
            Ok(stat) => stat,
            Err(e) => return Ok(unreadable(e)),
        };
        let mut first = [0u8; HEADER_SIZE];
        let want = (stat.size.min(HEADER_SIZE as u64)) as usize;
        let n = match sys::read_at(&fd, 0, &mut first[..want]) {
            Ok(n) => n,
            Err(e) => return Ok(unreadable(e)),
        };
        Ok(Opened {
            file: file.to_owned(),
            fd: Some(fd),
            stat,
            decoded: Some(header::decode(&first[..n])),
            note: None,
        })
    }

    /// What the object is, without its users (closes the descriptor).
    fn info(self) -> ObjectInfo {
        let mut info = ObjectInfo {
            name: self.file.to_string_lossy().into_owned(),
            size: self.stat.size,
            kind: ObjectKind::Unreadable,
            kind_code: None,
            layout_version: None,
            state: None,
            payload: None,
            creator_pid: None,
            creator_alive: None,
            created_at: None,
            permissions: Permissions::from_mode(self.stat.mode),
            owner_uid: self.stat.uid,
            users: Vec::new(),
            uninspected: Vec::new(),
            note: self.note,
            usage: None,
            file: self.file,
            id: self.stat.id,
        };
        match self.decoded {
            None => {}
            Some(Decoded::Foreign) => info.kind = ObjectKind::Foreign,
            Some(Decoded::Truncated { len }) => {
                info.kind = ObjectKind::Unknown;
                info.state = Some(State::Corrupt);
                info.note = Some(format!(
                    "truncated shmkit object: {len} bytes, less than its {HEADER_SIZE}-byte header"
                ));
            }
            Some(Decoded::OtherVersion { version }) => {
                info.kind = ObjectKind::Unknown;
                info.layout_version = Some(version);
                info.note = Some(format!(
                    "shmkit layout version {version}; this shmkit reads version {LAYOUT_VERSION}"
                ));
            }
            Some(Decoded::V1(h)) => {
                match Kind::from_code(h.kind_code) {
                    Some(kind) => info.kind = kinds::object_kind(kind),
                    None => {
                        info.kind = ObjectKind::Unknown;
                        info.note = Some(format!(
                            "kind code {} is unknown to this shmkit (a newer one?)",
                            h.kind_code
                        ));
                    }
                }
                info.kind_code = Some(h.kind_code);
                info.layout_version = Some(LAYOUT_VERSION);
                info.state = Some(State::from_word(h.state));
                info.payload = Some(PayloadLayout {
                    size: h.payload_size,
                    align: h.payload_align,
                    offset: h.payload_offset,
                });
                if h.creator_pid != 0 {
                    info.creator_pid = Some(h.creator_pid);
                    info.creator_alive = Some(sys::is_alive(h.creator_pid));
                }
                if h.created_at != 0 {
                    info.created_at = UNIX_EPOCH.checked_add(Duration::from_secs(h.created_at));
                }
                if let (Some(kind), READY, Some(fd)) =
                    (Kind::from_code(h.kind_code), h.state, self.fd.as_ref())
                    && let Some(usage) = kinds::hooks(kind).usage
                {
                    let read = |at: usize, buf: &mut [u8]| {
                        sys::read_at(fd, at as u64, buf).is_ok_and(|n| n == buf.len())
                    };
                    // Figures that do not fit in the object were scribbled.
                    info.usage = usage(&read, h.payload_offset as usize)
                        .filter(|u| u.used.checked_add(u.free).is_some_and(|n| n <= info.size));
                }
            }
        }
        info
    }

    /// Maps the object read-only and runs `f` on it. Only for a header that passed
    /// [`header_problems`] without errors, which guarantees the payload fits.
    fn with_view<T>(self, h: &HeaderV1, f: impl FnOnce(&View<'_>) -> T) -> Result<T> {
        let fd = self.fd.expect("a decoded object has a descriptor");
        let name = self.file.to_string_lossy();
        let shm = SharedMemory::from_read_only_fd(fd, &name);
        let region = MappedRegion::options().access(Access::ReadOnly).map(&shm)?;
        // The object may have shrunk since the header was read: check again.
        let end = h.payload_offset as usize + h.payload_size as usize;
        if region.len() < end {
            return Err(Error::new(
                ErrorKind::Corrupted,
                format!(
                    "`{name}` shrank to {} bytes while being inspected",
                    region.len()
                ),
            ));
        }
        Ok(f(&View {
            name: &name,
            shm: &shm,
            region: &region,
            payload_offset: h.payload_offset as usize,
        }))
    }
}

#[cfg(test)]
mod tests;
