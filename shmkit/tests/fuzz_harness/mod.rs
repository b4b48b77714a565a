//! Byte-level fuzzing harness shared by `tests/fuzz_bytes.rs` (proptest, stable toolchain) and
//! the cargo-fuzz targets in `fuzz/` (nightly, libFuzzer), which include this file by path.
//!
//! A [`Case`] says which object to build ([`Surface`] and a variant), how to damage its bytes
//! ([`Edit`]s applied before it is opened, and more applied while it is open) and which
//! operations to run. [`run`] builds a valid object through the public API, drops every handle,
//! applies the edits through a plain mapping of the object (or the file), opens it again and runs
//! the operations. The outcome required of shmkit: every call returns (an `Err` or a valid
//! result), bounded by the timeouts passed; no panic, no hang, no crash. [`run`] returns a short
//! outcome string for statistics; it panics only when shmkit itself broke a promise (a result
//! that cannot be valid).
//!
//! Two states are steered away from, because they are documented limits and not bugs: a lock
//! word naming a *live* thread (the lock is then held for as long as that thread lives, and the
//! segment operations have no timeout), and a named-object header saying "initialising" with a
//! live creator (the opener waits its full open timeout, 1 s, as for a creator still at work).
//! [`sanitize`] turns such ids into an id no process can have.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use shmkit::alloc::{BestFit, MemoryAlgorithm, SeqFit};
use shmkit::segment::{HashIndex, NameIndex, OrderedIndex};
use shmkit::sync::{NamedCondvar, NamedMutex, NamedRecursiveMutex, NamedRwLock, NamedSemaphore};
use shmkit::sync::{NamedUpgradableRwLock, TryLockError};
use shmkit::{ManagedMappedFile, ManagedSharedMemory, MappedRegion, MessageQueue, SharedMemory};

/// What is fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// A named lock: mutex, recursive mutex, semaphore, rwlock, upgradable rwlock.
    Lock,
    /// A named message queue: its header, control block, bucket ring and slots.
    Queue,
    /// A managed shared memory segment: control block, allocator metadata, name index.
    Segment,
    /// A managed mapped file, truncated (or extended) at random lengths.
    File,
}

/// One change to the object's bytes.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Every byte from `at` to the end replaced by a pseudo-random stream from `seed`.
    Fill { at: u32, seed: u64 },
    /// `byte[at] ^= mask` (at is taken modulo the length).
    Flip { at: u32, mask: u8 },
    /// `bytes` written at `at` (modulo the length; clipped at the end).
    Write { at: u32, bytes: Vec<u8> },
    /// A known field of the surface's layout (index modulo the field list) set to an
    /// interesting value (index modulo [`INTERESTING`]), or to `raw` if that index is past it.
    Field { field: u16, value: u16, raw: u64 },
    /// The object resized to `len` bytes (modulo twice its length): only applied before open.
    Truncate { len: u32 },
}

/// One fuzz case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Which object, and with what parameters (kind of lock, index, queue geometry).
    pub variant: u8,
    /// Applied between creation and opening.
    pub before: Vec<Edit>,
    /// Applied while the object is open (never truncations: a mapping shrunk under a process
    /// raises `SIGBUS` by nature, as `FileMapping` documents).
    pub during: Vec<Edit>,
    /// Operation selectors and arguments.
    pub ops: Vec<u8>,
}

/// Values that tend to break range checks.
pub const INTERESTING: [u64; 18] = [
    0,
    1,
    2,
    3,
    7,
    63,
    64,
    4095,
    4096,
    0x7f,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    i64::MAX as u64,
    u64::MAX,
];

/// Offsets and widths of the named-object header fields, shared by every surface.
const HEADER_FIELDS: [(usize, usize); 10] = [
    (0, 8),  // magic
    (8, 4),  // layout version
    (12, 4), // kind
    (16, 4), // payload size
    (20, 4), // payload alignment
    (24, 4), // init state
    (28, 4), // creator pid
    (32, 8), // created at
    (40, 4), // payload offset
    (44, 4), // reserved
];

/// A pid (and thread id) no process can have: above Linux's `PID_MAX_LIMIT` (2^22) and inside
/// the lock words' 30-bit id field.
pub const DEAD_ID: u32 = 0x3fff_fff0;

fn alive(id: u32) -> bool {
    id != 0 && id <= i32::MAX as u32 && Path::new(&format!("/proc/{id}")).exists()
}

/// A decoder for cargo-fuzz input: turns raw bytes into a [`Case`].
pub struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
    fn edit(&mut self) -> Edit {
        match self.u8() % 5 {
            0 => Edit::Fill {
                at: self.u32(),
                seed: self.u64(),
            },
            1 => Edit::Flip {
                at: self.u32(),
                mask: self.u8(),
            },
            2 => {
                let at = self.u32();
                let n = usize::from(self.u8() % 32).min(self.0.len());
                let (b, rest) = self.0.split_at(n);
                self.0 = rest;
                Edit::Write {
                    at,
                    bytes: b.to_vec(),
                }
            }
            3 => Edit::Field {
                field: self.u16(),
                value: self.u16(),
                raw: self.u64(),
            },
            _ => Edit::Truncate { len: self.u32() },
        }
    }
}

impl Case {
    /// Decodes arbitrary bytes (cargo-fuzz input) into a case: every input is some case.
    pub fn from_bytes(data: &[u8]) -> Case {
        let mut b = Bytes(data);
        let variant = b.u8();
        let n_before = b.u8() % 8;
        let before = (0..n_before).map(|_| b.edit()).collect();
        let n_during = b.u8() % 4;
        let during = (0..n_during).map(|_| b.edit()).collect();
        let ops = b.0.iter().copied().take(64).collect();
        Case {
            variant,
            before,
            during,
            ops,
        }
    }
}

/// The object's bytes, seen through a mapping or a file.
trait Bytes2 {
    fn len(&self) -> usize;
    fn write(&self, at: usize, data: &[u8]);
    fn read(&self, at: usize, buf: &mut [u8]);
}

impl Bytes2 for MappedRegion {
    fn len(&self) -> usize {
        MappedRegion::len(self)
    }
    fn write(&self, at: usize, data: &[u8]) {
        self.write_at(at, data).expect("write inside the mapping");
    }
    fn read(&self, at: usize, buf: &mut [u8]) {
        self.read_at(at, buf).expect("read inside the mapping");
    }
}

struct FileBytes(std::fs::File);

impl Bytes2 for FileBytes {
    fn len(&self) -> usize {
        self.0.metadata().expect("fstat").len() as usize
    }
    fn write(&self, at: usize, data: &[u8]) {
        use std::os::unix::fs::FileExt;
        self.0.write_all_at(data, at as u64).expect("pwrite");
    }
    fn read(&self, at: usize, buf: &mut [u8]) {
        use std::os::unix::fs::FileExt;
        self.0.read_exact_at(buf, at as u64).expect("pread");
    }
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Applies one edit (truncations excepted) to `mem`; `fields` are the surface's known fields
/// after the header's.
fn apply(mem: &dyn Bytes2, edit: &Edit, fields: &[(usize, usize)]) {
    let len = mem.len();
    if len == 0 {
        return;
    }
    match edit {
        Edit::Fill { at, seed } => {
            let at = *at as usize % len;
            // Keep fills short enough to stay fast: at most 64 KiB.
            let end = len.min(at + (1 << 16));
            let mut s = *seed;
            let bytes: Vec<u8> = (at..end).map(|_| splitmix(&mut s) as u8).collect();
            mem.write(at, &bytes);
        }
        Edit::Flip { at, mask } => {
            let at = *at as usize % len;
            let mut b = [0u8];
            mem.read(at, &mut b);
            mem.write(at, &[b[0] ^ mask]);
        }
        Edit::Write { at, bytes } => {
            let at = *at as usize % len;
            let n = bytes.len().min(len - at);
            mem.write(at, &bytes[..n]);
        }
        Edit::Field { field, value, raw } => {
            let all: Vec<(usize, usize)> = HEADER_FIELDS.iter().chain(fields).copied().collect();
            let (at, width) = all[usize::from(*field) % all.len()];
            let v = INTERESTING
                .get(usize::from(*value) % (INTERESTING.len() + 4))
                .copied()
                .unwrap_or(*raw);
            if at + width <= len {
                mem.write(at, &v.to_ne_bytes()[..width]);
            }
        }
        Edit::Truncate { .. } => {}
    }
}

/// Replaces ids of live processes where a live id would make a call wait (see the module doc):
/// the lock word at `lock_at` (30-bit thread id) and the header's creator pid when the header
/// says initialising.
fn sanitize(mem: &dyn Bytes2, lock_at: Option<usize>) {
    let len = mem.len();
    if len >= 32 {
        let mut w = [0u8; 4];
        mem.read(24, &mut w);
        let state = u32::from_ne_bytes(w);
        mem.read(28, &mut w);
        if state == 1 && alive(u32::from_ne_bytes(w)) {
            mem.write(28, &DEAD_ID.to_ne_bytes());
        }
    }
    if let Some(at) = lock_at
        && at + 4 <= len
    {
        let mut w = [0u8; 4];
        mem.read(at, &mut w);
        let word = u32::from_ne_bytes(w);
        let tid = word & ((1 << 30) - 1);
        if alive(tid) {
            let word = (word & !((1 << 30) - 1)) | DEAD_ID;
            mem.write(at, &word.to_ne_bytes());
        }
    }
}

fn truncation(edits: &[Edit]) -> Option<u32> {
    edits.iter().rev().find_map(|e| match e {
        Edit::Truncate { len } => Some(*len),
        _ => None,
    })
}

/// Applies `edits` to the shared memory object `name`, then its last truncation, if any.
fn edit_shm(name: &str, edits: &[Edit], fields: &[(usize, usize)], lock_at: Option<usize>) {
    let shm = SharedMemory::open(name).expect("open the object to edit it");
    {
        let region = MappedRegion::map(&shm).expect("map the object to edit it");
        for e in edits {
            apply(&region, e, fields);
        }
        sanitize(&region, lock_at);
    }
    if let Some(t) = truncation(edits) {
        let len = shm.len().expect("len") as usize;
        let new = t as usize % (2 * len.max(1));
        shm.set_len_sparse(new as u64).expect("resize the object");
    }
}

/// Applies `edits` (no truncation) through an existing mapping of the open object.
fn edit_open(name: &str, edits: &[Edit], fields: &[(usize, usize)], lock_at: Option<usize>) {
    if edits.is_empty() {
        return;
    }
    let Ok(shm) = SharedMemory::open(name) else {
        return;
    };
    let Ok(region) = MappedRegion::map(&shm) else {
        return;
    };
    for e in edits {
        apply(&region, e, fields);
    }
    sanitize(&region, lock_at);
}

/// Whether the case's `during` edits are applied by a concurrent thread, over and over for as
/// long as the operations run (a peer scribbling *while* shmkit reads), instead of once between
/// two rounds of operations. Half of the cases with such edits.
fn concurrent(case: &Case) -> bool {
    case.variant >= 128 && !case.during.is_empty()
}

/// Runs `f` while another thread applies `edits` (and [`sanitize`]) to the object `name` in a
/// loop, through its own mapping; the thread stops when `f` returns. Only atomic stores reach
/// the object (`MappedRegion::write_at`), and the harness reads user data with atomic loads, so
/// the race is a race on values, as between processes, not undefined behaviour.
fn scribbling<R>(
    name: &str,
    edits: &[Edit],
    fields: &[(usize, usize)],
    lock_at: Option<usize>,
    f: impl FnOnce() -> R,
) -> R {
    let Ok(shm) = SharedMemory::open(name) else {
        return f();
    };
    let Ok(region) = MappedRegion::map(&shm) else {
        return f();
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            loop {
                for e in edits {
                    apply(&region, e, fields);
                }
                sanitize(&region, lock_at);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_micros(20));
            }
        });
        let r = f();
        stop.store(true, Ordering::Relaxed);
        r
    })
}

/// How long any waiting call may wait.
const T: Duration = Duration::from_millis(3);

fn kind(e: &shmkit::Error) -> String {
    format!("{:?}", e.kind())
}

fn lock_outcome<G>(r: Result<G, TryLockError<G>>) -> &'static str {
    match r {
        Ok(_) => "locked",
        Err(TryLockError::WouldBlock) => "would-block",
        Err(TryLockError::TimedOut) => "timed-out",
        Err(TryLockError::OwnerDied(_)) => "owner-died",
    }
}

/// Runs one case on an object named `name` (for [`Surface::File`], `path`), which must not
/// exist; removes it afterwards. Returns what happened, for statistics.
pub fn run(surface: Surface, name: &str, path: &Path, case: &Case) -> String {
    // Removes the objects also when a case panics (proptest catches the panic and goes on
    // shrinking, so a leftover would pile up per shrinking step).
    struct Remove<'a>(&'a str, &'a Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = SharedMemory::remove(self.0);
            let _ = SharedMemory::remove(&format!("{}-m", self.0));
            let _ = std::fs::remove_file(self.1);
        }
    }
    let _remove = Remove(name, path);
    match surface {
        Surface::Lock => run_lock(name, case),
        Surface::Queue => run_queue(name, case),
        Surface::Segment => match case.variant % 4 {
            0 => run_segment::<BestFit, HashIndex>(name, case),
            1 => run_segment::<BestFit, OrderedIndex>(name, case),
            2 => run_segment::<SeqFit, HashIndex>(name, case),
            _ => run_segment::<SeqFit, OrderedIndex>(name, case),
        },
        Surface::File => run_file(path, case),
    }
}

// ----- locks -------------------------------------------------------------------------------

fn run_lock(name: &str, case: &Case) -> String {
    // The payload starts at 64; the first word of every lock is its futex word.
    let fields = [(64, 4), (68, 4), (72, 8), (80, 8), (128, 8)];
    let which = case.variant % 6;
    match which {
        0 => drop(NamedMutex::create(name).expect("create")),
        1 => drop(NamedRecursiveMutex::create(name).expect("create")),
        2 => drop(NamedSemaphore::create(name, 2).expect("create")),
        3 => drop(NamedRwLock::create(name).expect("create")),
        4 => drop(NamedUpgradableRwLock::create(name).expect("create")),
        _ => drop(NamedCondvar::create(name).expect("create")),
    }
    let lock_at = (which != 2 && which != 5).then_some(64);
    edit_shm(name, &case.before, &fields, lock_at);
    macro_rules! open {
        ($t:ty) => {
            match <$t>::open(name) {
                Ok(l) => l,
                Err(e) => return kind(&e),
            }
        };
    }
    let scribbled = concurrent(case);
    let during = |case: &Case| {
        if !scribbled {
            edit_open(name, &case.during, &fields, lock_at);
        }
    };
    let body = || {
        let mut outcome = String::new();
        match which {
            0 => {
                let m = open!(NamedMutex);
                for round in 0..2 {
                    outcome = lock_outcome(m.lock_timeout(T)).to_owned();
                    let _ = lock_outcome(m.try_lock());
                    let _ = (m.is_locked(), m.is_consistent());
                    if round == 0 {
                        during(case);
                    }
                }
            }
            1 => {
                let m = open!(NamedRecursiveMutex);
                for round in 0..2 {
                    if let Ok(g) = m.lock_timeout(T) {
                        // Recursion on top of a scribbled count.
                        let _ = lock_outcome(m.try_lock());
                        drop(g);
                        outcome = "locked".to_owned();
                    } else {
                        outcome = "not-locked".to_owned();
                    }
                    if round == 0 {
                        during(case);
                    }
                }
            }
            2 => {
                let s = open!(NamedSemaphore);
                for round in 0..2 {
                    let took = s.wait_timeout(T);
                    let _ = s.try_wait();
                    let _ = s.value();
                    outcome = match s.post() {
                        Ok(()) => format!("posted-{took}"),
                        Err(e) => kind(&e),
                    };
                    if round == 0 {
                        during(case);
                    }
                }
            }
            3 => {
                let l = open!(NamedRwLock);
                for round in 0..2 {
                    outcome = lock_outcome(l.write_timeout(T)).to_owned();
                    let _ = lock_outcome(l.read_timeout(T));
                    let _ = lock_outcome(l.try_read());
                    let _ = lock_outcome(l.try_write());
                    if round == 0 {
                        during(case);
                    }
                }
            }
            5 => {
                // A damaged condvar, waited on with an intact mutex of our own.
                let cv = open!(NamedCondvar);
                let m_name = format!("{name}-m");
                let m = NamedMutex::create(&m_name).expect("create the condvar's mutex");
                for round in 0..2 {
                    cv.notify_one();
                    let g = m.lock_timeout(T).expect("our own mutex is free");
                    outcome = match cv.wait_timeout(g, T) {
                        Ok((_g, r)) => format!("waited-{}", r.timed_out()),
                        Err(_) => "wait-owner-died".to_owned(),
                    };
                    cv.notify_all();
                    if round == 0 {
                        during(case);
                    }
                }
                drop(m);
                let _ = NamedMutex::remove(&m_name);
            }
            _ => {
                let l = open!(NamedUpgradableRwLock);
                for round in 0..2 {
                    outcome = lock_outcome(l.write_timeout(T)).to_owned();
                    let _ = lock_outcome(l.upgradable_read_timeout(T));
                    let _ = lock_outcome(l.try_read());
                    let _ = lock_outcome(l.try_upgradable_read());
                    if round == 0 {
                        during(case);
                    }
                }
            }
        }
        outcome
    };
    if scribbled {
        scribbling(name, &case.during, &fields, lock_at, body)
    } else {
        body()
    }
}

// ----- message queues ----------------------------------------------------------------------

/// Control-block words of a queue (at 64 in the object), the bucket ring and the first slots.
fn queue_fields(max_msgs: usize, max_msg_size: usize) -> Vec<(usize, usize)> {
    let c = 64;
    let mut f: Vec<(usize, usize)> = (0..24).map(|i| (c + 8 * i, 8)).collect();
    f.extend((0..24).map(|i| (c + 4 * i, 4)));
    f.extend((0..48).map(|i| (c + 64 + 4 * i, 4)));
    let ring = c + 192;
    f.extend((0..4 * max_msgs).map(|i| (ring + 4 * i, 4)));
    let slots = (ring + 16 * max_msgs).next_multiple_of(64);
    let stride = (32 + max_msg_size).next_multiple_of(64);
    for s in 0..max_msgs.min(4) {
        f.extend((0..8).map(|i| (slots + s * stride + 4 * i, 4)));
        f.extend((0..4).map(|i| (slots + s * stride + 8 * i, 8)));
    }
    f
}

fn run_queue(name: &str, case: &Case) -> String {
    let max_msgs = 1 + usize::from(case.variant % 6);
    let max_msg_size = [1, 8, 24, 100][usize::from(case.variant / 6) % 4];
    let fields = queue_fields(max_msgs, max_msg_size);
    let lock_at = Some(128);
    {
        let q = MessageQueue::create(name, max_msgs, max_msg_size).expect("create");
        for i in 0..max_msgs.saturating_sub(1) {
            let len = (i * 7) % (max_msg_size + 1);
            q.send(&vec![i as u8; len], (i % 3) as u32)
                .expect("send to a fresh queue");
        }
    }
    edit_shm(name, &case.before, &fields, lock_at);
    let q = match MessageQueue::open(name) {
        Ok(q) => q,
        Err(e) => return kind(&e),
    };
    let cap = q.capacity();
    let size = q.max_msg_size();
    // A peer may rewrite the geometry consistently (a smaller maximum size within the same
    // slot stride, say): any geometry open accepts must be one create could have made.
    assert!(
        (1..=shmkit::mq::MAX_MSGS).contains(&cap) && size <= shmkit::mq::MAX_MSG_SIZE,
        "open accepted an impossible geometry: {cap} messages of {size} bytes"
    );
    let _ = (max_msgs, max_msg_size);
    let mut buf = vec![0u8; size];
    let mut outcome = "ok".to_owned();
    let mut note = |r: shmkit::Result<()>| {
        if let Err(e) = r {
            outcome = kind(&e);
        }
    };
    let ops = if case.ops.is_empty() {
        &[0, 1, 2, 3][..]
    } else {
        &case.ops
    };
    let mut run_ops = |mid_edit: bool| {
        for (i, &op) in ops.iter().enumerate() {
            if mid_edit && i == ops.len() / 2 {
                edit_open(name, &case.during, &fields, lock_at);
            }
            let msg = vec![op; usize::from(op) % (size + 1)];
            match op % 9 {
                0 => note(q.try_send(&msg, u32::from(op)).map(drop)),
                1 => note(q.send_timeout(&msg, u32::from(op / 9), T).map(drop)),
                2 => note(q.try_receive(&mut buf).map(|r| {
                    if let Some((n, _)) = r {
                        assert!(n <= size, "a received length past the maximum");
                    }
                })),
                3 => note(q.receive_timeout(&mut buf, T).map(drop)),
                4 => {
                    let n = q.len();
                    let _ = q.is_empty();
                    assert!(n <= cap, "len {n} above capacity {cap}");
                }
                5 => note(q.try_receive_vec().map(|r| {
                    if let Some((v, _)) = r {
                        assert!(v.len() <= size);
                    }
                })),
                6 => note(q.peek_vec().map(drop)),
                7 => note(q.try_receive_in_place().map(|s| {
                    if let Some(s) = s {
                        let _ = s.priority();
                    }
                })),
                _ => note(q.try_reserve().and_then(|s| match s {
                    Some(slot) => slot.commit(msg.len(), 1),
                    None => Ok(()),
                })),
            }
        }
    };
    if concurrent(case) {
        scribbling(name, &case.during, &fields, lock_at, || run_ops(false));
    } else {
        run_ops(true);
    }
    outcome
}

// ----- managed segments --------------------------------------------------------------------

/// The control block (64..320) word by word, and the start of the area (the algorithm's
/// header and the first blocks' headers).
fn segment_fields() -> Vec<(usize, usize)> {
    let mut f: Vec<(usize, usize)> = (0..32).map(|i| (64 + 8 * i, 8)).collect();
    f.extend((0..40).map(|i| (4096 + 8 * i, 8)));
    f.extend((0..16).map(|i| (4096 + 320 + 16 * i, 8)));
    f
}

const NAMES: [&str; 6] = ["alpha", "beta", "gamma", "delta", "an-array", "epsilon"];
const SEG_LOCK: usize = 112;

fn populate<M: MemoryAlgorithm, I: NameIndex>(seg: &shmkit::SegmentManager<M, I>) {
    for (i, n) in NAMES.iter().enumerate().take(4) {
        seg.construct(n, AtomicU64::new(i as u64 * 11))
            .expect("construct");
    }
    seg.construct_array(NAMES[4], 5, |i| AtomicU32::new(i as u32 * 7))
        .expect("construct_array");
    seg.construct_unique(AtomicU16::new(99))
        .expect("construct_unique");
    for k in 0..4 {
        let h = seg.allocate(24 + 40 * k).expect("allocate");
        if k % 2 == 0 {
            seg.deallocate(h).expect("deallocate");
        }
    }
}

/// Runs the operations on an open segment (read-write); returns the last error kind or "ok".
fn exercise<M: MemoryAlgorithm, I: NameIndex>(
    seg: &mut shmkit::SegmentManager<M, I>,
    ops: &[u8],
) -> String {
    let mut outcome = "ok".to_owned();
    let ops = if ops.is_empty() {
        &[0, 1, 2, 3, 4, 5, 6][..]
    } else {
        ops
    };
    for &op in ops {
        let name = NAMES[usize::from(op / 8) % NAMES.len()];
        let r: shmkit::Result<()> = match op % 8 {
            0 => seg
                .find::<AtomicU64>(name)
                .map(|v| std::hint::black_box(v.map(|v| v.load(Ordering::Relaxed))))
                .map(drop),
            1 => seg
                .find_array::<AtomicU32>(name)
                .map(|v| {
                    std::hint::black_box(
                        v.map(|v| v.iter().map(|x| x.load(Ordering::Relaxed)).sum::<u32>()),
                    )
                })
                .map(drop),
            2 => seg.construct(name, AtomicU64::new(5)).map(drop),
            3 => seg.destroy::<AtomicU64>(name).map(drop),
            4 => seg.check_sanity(),
            5 => seg
                .allocate(usize::from(op))
                .and_then(|h| seg.deallocate(h)),
            6 => seg
                .find_unique::<AtomicU16>()
                .map(|v| std::hint::black_box(v.map(|v| v.load(Ordering::Relaxed))))
                .map(drop),
            _ => seg.named_objects().map(|v| {
                for o in v {
                    let _ = o;
                }
            }),
        };
        if let Err(e) = r {
            outcome = kind(&e);
        }
    }
    let _ = seg.free_memory();
    outcome
}

fn run_segment<M: MemoryAlgorithm, I: NameIndex>(name: &str, case: &Case) -> String {
    let size = [1 << 14, 1 << 16][usize::from(case.variant / 4) % 2];
    let fields = segment_fields();
    {
        let seg = ManagedSharedMemory::<M, I>::create(name, size).expect("create");
        populate(&seg);
    }
    edit_shm(name, &case.before, &fields, Some(SEG_LOCK));
    // Read-only first: finds without the lock, over whatever the edits left.
    let ro = match ManagedSharedMemory::<M, I>::open_read_only(name) {
        Ok(ro) => {
            for n in NAMES {
                let _ = ro
                    .find::<AtomicU64>(n)
                    .map(|v| v.map(|v| v.load(Ordering::Relaxed)));
            }
            let _ = ro
                .find_unique::<AtomicU16>()
                .map(|v| v.map(|v| v.load(Ordering::Relaxed)));
            let _ = ro.check_sanity();
            let _ = ro.named_objects();
            assert!(
                ro.construct("ro", 1u8).is_err(),
                "construct in a read-only segment"
            );
            "ro-ok".to_owned()
        }
        Err(e) => kind(&e),
    };
    let mut seg = match ManagedSharedMemory::<M, I>::open(name) {
        Ok(s) => s,
        Err(e) => return format!("{ro}/{}", kind(&e)),
    };
    let half = case.ops.len() / 2;
    if concurrent(case) {
        let (first, second) = scribbling(name, &case.during, &fields, Some(SEG_LOCK), || {
            (
                exercise(&mut seg, &case.ops[..half]),
                exercise(&mut seg, &case.ops[half..]),
            )
        });
        return format!("{ro}/{first}/{second}/concurrent");
    }
    let first = exercise(&mut seg, &case.ops[..half]);
    edit_open(name, &case.during, &fields, Some(SEG_LOCK));
    let second = exercise(&mut seg, &case.ops[half..]);
    format!("{ro}/{first}/{second}")
}

fn run_file(path: &Path, case: &Case) -> String {
    let size = 1 << 15;
    let fields = segment_fields();
    {
        let seg = ManagedMappedFile::<BestFit, HashIndex>::create(path, size).expect("create");
        populate(&seg);
    }
    {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open the file to edit it");
        let mem = FileBytes(f);
        for e in &case.before {
            apply(&mem, e, &fields);
        }
        sanitize(&mem, Some(SEG_LOCK));
        // Always truncate (the point of this surface): at the case's length, or at a length
        // derived from the variant.
        let len = mem.len();
        let t = truncation(&case.before).unwrap_or(u32::from(case.variant) * 131);
        let new = t as usize % (len + len / 4);
        mem.0.set_len(new as u64).expect("truncate");
    }
    let ro = match ManagedMappedFile::<BestFit, HashIndex>::open_read_only(path) {
        Ok(ro) => {
            for n in NAMES {
                let _ = ro
                    .find::<AtomicU64>(n)
                    .map(|v| v.map(|v| v.load(Ordering::Relaxed)));
            }
            let _ = ro.check_sanity();
            "ro-ok".to_owned()
        }
        Err(e) => kind(&e),
    };
    let mut seg = match ManagedMappedFile::<BestFit, HashIndex>::open(path) {
        Ok(s) => s,
        Err(e) => return format!("{ro}/{}", kind(&e)),
    };
    let out = exercise(&mut seg, &case.ops);
    format!("{ro}/{out}")
}

/// A name and path for case number `n` of this process.
pub fn names(tag: &str, n: u64) -> (String, PathBuf) {
    let name = format!("shmkit-fz-{}-{tag}-{n}", std::process::id());
    let path = std::env::temp_dir().join(&name);
    (name, path)
}
