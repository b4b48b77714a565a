//! Named synchronization objects (`NamedMutex`, `NamedRecursiveMutex`) across real processes:
//! the creation matrix, a race of creators, mutual exclusion, owner death, and validation of
//! foreign, mismatched, truncated and half-initialised objects.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shmkit::sync::{NamedMutex, NamedRecursiveMutex, TryLockError};
use shmkit::{ErrorKind, MappedRegion, Permissions, RemoveOnDrop, SharedMemory};
use shmkit_testkit::{child, child_roles, report, unique_name, wait_until};

child_roles!(racer, contender, lock_and_hang, lock_once, noop);

/// Header offsets (see `sync/named/object.rs`), for tests that write headers by hand.
const VERSION_AT: usize = 8;
const STATE_AT: usize = 24;
const PID_AT: usize = 28;
const HEADER_LEN: u64 = 64;

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// A small plain shared memory object for flags and counters, mapped.
fn scratch(name: &str) -> MappedRegion {
    let shm = SharedMemory::open_or_create(name).unwrap();
    if shm.created() {
        shm.set_len(4096).unwrap();
    }
    assert!(wait_until(Duration::from_secs(10), || shm.len().unwrap() == 4096));
    MappedRegion::map(&shm).unwrap()
}

fn flag(region: &MappedRegion) -> u32 {
    region.read::<u32>(0).unwrap()
}

fn set_flag(region: &MappedRegion, v: u32) {
    region.write(0, &v).unwrap();
}

/// A pid that belonged to a process which has exited and been reaped.
fn dead_pid() -> u32 {
    let c = child("noop").spawn();
    let pid = c.pid();
    c.wait().assert_success();
    pid
}

/// Opens the raw object behind a named one, to damage it.
fn raw_region(name: &str) -> MappedRegion {
    MappedRegion::map(&SharedMemory::open(name).unwrap()).unwrap()
}

fn noop(_: &[String]) {}

// ---------------------------------------------------------------- creation matrix

#[test]
fn creation_matrix() {
    let name = unique_name("matrix");
    let _c = RemoveOnDrop::shared_memory(&name);

    assert_eq!(
        NamedMutex::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        NamedRecursiveMutex::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        NamedMutex::remove(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let m = NamedMutex::create(&name).unwrap();
    assert!(m.created());
    assert_eq!(m.name(), name);
    let err = NamedMutex::create(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(err.to_string().contains(&name), "{err}");
    // The namespace is shared: any kind, or a plain shared memory object, collides.
    assert_eq!(
        NamedRecursiveMutex::create(&name).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        SharedMemory::create(&name).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    let opened = NamedMutex::open(&name).unwrap();
    assert!(!opened.created());
    let again = NamedMutex::open_or_create(&name).unwrap();
    assert!(!again.created());

    // Remove unlinks the name; open handles keep working; the name can be reused at once.
    NamedMutex::remove(&name).unwrap();
    assert_eq!(
        NamedMutex::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    drop(m.lock().unwrap());
    let fresh = NamedMutex::open_or_create(&name).unwrap();
    assert!(fresh.created());
    let _held = fresh.lock().unwrap();
    assert!(
        opened.try_lock().is_ok(),
        "the removed mutex is another one"
    );

    // The recursive mutex has the same matrix.
    let rname = unique_name("rmatrix");
    let _rc = RemoveOnDrop::shared_memory(&rname);
    let r = NamedRecursiveMutex::create(&rname).unwrap();
    assert!(r.created());
    assert_eq!(
        NamedRecursiveMutex::create(&rname).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert!(!NamedRecursiveMutex::open(&rname).unwrap().created());
    assert!(
        !NamedRecursiveMutex::open_or_create(&rname)
            .unwrap()
            .created()
    );
    NamedRecursiveMutex::remove(&rname).unwrap();
    assert_eq!(
        NamedRecursiveMutex::open(&rname).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn bad_names_are_invalid_before_any_system_call() {
    let long = "n".repeat(shmkit::MAX_NAME_LEN + 1);
    for bad in ["", ".", "..", "a/b", "/x", "nul\0", long.as_str()] {
        let kinds = [
            NamedMutex::create(bad).map(drop),
            NamedMutex::create_with(bad, Permissions::unrestricted()).map(drop),
            NamedMutex::open(bad).map(drop),
            NamedMutex::open_or_create(bad).map(drop),
            NamedMutex::remove(bad),
            NamedRecursiveMutex::create(bad).map(drop),
            NamedRecursiveMutex::open(bad).map(drop),
            NamedRecursiveMutex::open_or_create(bad).map(drop),
            NamedRecursiveMutex::remove(bad),
        ]
        .map(|r| r.unwrap_err().kind());
        assert!(
            kinds.iter().all(|&k| k == ErrorKind::InvalidName),
            "{bad:?}: {kinds:?}"
        );
    }
}

#[test]
fn permissions_are_applied_exactly() {
    for mode in [0o600, 0o640, 0o666] {
        let name = unique_name("perm");
        let _c = RemoveOnDrop::shared_memory(&name);
        NamedMutex::create_with(&name, Permissions::from_mode(mode)).unwrap();
        let got = SharedMemory::open(&name).unwrap().permissions().unwrap();
        assert_eq!(got.mode(), mode);
    }
    let name = unique_name("perm-default");
    let _c = RemoveOnDrop::shared_memory(&name);
    NamedRecursiveMutex::open_or_create(&name).unwrap();
    let got = SharedMemory::open(&name).unwrap().permissions().unwrap();
    assert_eq!(got.mode(), 0o600);
}

/// Child: at `start`, races `open_or_create` on the named mutex, then increments the plain
/// counter in the shared memory object `counter` `iters` times under the mutex.
fn racer(args: &[String]) {
    let (name, counter, start, iters): (&str, &str, u128, u32) = (
        &args[0],
        &args[1],
        args[2].parse().unwrap(),
        args[3].parse().unwrap(),
    );
    let region = scratch(counter);
    while now_ms() < start {
        std::hint::spin_loop();
    }
    let mutex = NamedMutex::open_or_create(name).unwrap();
    report("created", mutex.created());
    for _ in 0..iters {
        let _guard = mutex.lock().unwrap();
        // A plain read-modify-write: exact only if the lock excludes every other process.
        let v = region.read::<u64>(8).unwrap();
        region.write(8, &(v + 1)).unwrap();
    }
}

/// Starts `N` racers on `name` and checks that exactly one created the mutex and that all
/// used the same one.
fn race(name: &str, iters: u64) {
    const N: usize = 8;
    let counter = unique_name("race-counter");
    let _cc = RemoveOnDrop::shared_memory(&counter);
    let region = scratch(&counter);
    let start = now_ms() + 400;
    let children: Vec<_> = (0..N)
        .map(|_| {
            child("racer")
                .args([
                    name.to_owned(),
                    counter.clone(),
                    start.to_string(),
                    iters.to_string(),
                ])
                .spawn()
        })
        .collect();
    let outs: Vec<_> = children.into_iter().map(|c| c.wait()).collect();
    let mut creators = 0;
    for out in &outs {
        out.assert_success();
        if out.value("created") == "true" {
            creators += 1;
        }
    }
    assert_eq!(creators, 1, "exactly one process creates the mutex");
    assert_eq!(region.read::<u64>(8).unwrap(), N as u64 * iters);
}

#[test]
fn eight_processes_racing_open_or_create_share_one_mutex() {
    let name = unique_name("race");
    let _c = RemoveOnDrop::shared_memory(&name);
    race(&name, 10_000);
}

#[test]
fn eight_processes_racing_to_replace_a_stale_mutex_share_one_new_mutex() {
    let name = unique_name("race-stale");
    let _c = RemoveOnDrop::shared_memory(&name);
    drop(NamedMutex::create(&name).unwrap());
    let raw = raw_region(&name);
    raw.write(STATE_AT, &1u32).unwrap();
    raw.write(PID_AT, &dead_pid()).unwrap();
    race(&name, 1_000);
    assert_eq!(
        raw.read::<u32>(STATE_AT).unwrap(),
        3,
        "the stale one is marked"
    );
}

// ---------------------------------------------------------------- two processes

/// Child: finds the mutex held by the parent, then blocks on it until the parent lets go.
fn contender(args: &[String]) {
    let (name, flags) = (&args[0], &args[1]);
    let flags = scratch(flags);
    let m = NamedMutex::open(name).unwrap();
    report(
        "try_lock_blocked",
        matches!(m.try_lock(), Err(TryLockError::WouldBlock)),
    );
    report(
        "timed_out",
        matches!(
            m.lock_timeout(Duration::from_millis(30)),
            Err(TryLockError::TimedOut)
        ),
    );
    set_flag(&flags, 1);
    let guard = m.lock().unwrap();
    // The parent sets 2 just before it unlocks: seeing anything else means no exclusion.
    report("saw_when_locked", flag(&flags));
    set_flag(&flags, 3);
    drop(guard);
}

#[test]
fn two_processes_exclude_each_other() {
    let name = unique_name("pair");
    let flags_name = unique_name("pair-flags");
    let _c = RemoveOnDrop::shared_memory(&name);
    let _cf = RemoveOnDrop::shared_memory(&flags_name);
    let flags = scratch(&flags_name);
    let m = NamedMutex::create(&name).unwrap();
    let guard = m.lock().unwrap();
    let c = child("contender")
        .args([name.as_str(), flags_name.as_str()])
        .spawn();
    assert!(wait_until(Duration::from_secs(30), || flag(&flags) == 1));
    // The child is (about to be) blocked in lock(): give it time to get there.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(flag(&flags), 1, "the child got past a held lock");
    set_flag(&flags, 2);
    drop(guard);
    let out = c.wait();
    out.assert_success();
    assert_eq!(out.value("try_lock_blocked"), "true");
    assert_eq!(out.value("timed_out"), "true");
    assert_eq!(out.value("saw_when_locked"), "2");
    assert_eq!(flag(&flags), 3);
    // And the parent can lock again, cleanly.
    assert!(m.lock().is_ok());
}

// ---------------------------------------------------------------- owner death

/// Child: locks the named `kind` (twice, nested, if recursive), raises the flag and waits to be
/// killed.
fn lock_and_hang(args: &[String]) {
    let (kind, name, flags) = (&args[0], &args[1], &args[2]);
    let flags = scratch(flags);
    match kind.as_str() {
        "mutex" => {
            let m = NamedMutex::open(name).unwrap();
            let g = m.lock().unwrap();
            set_flag(&flags, 1);
            std::thread::sleep(Duration::from_secs(600));
            drop(g);
        }
        _ => {
            let m = NamedRecursiveMutex::open(name).unwrap();
            let outer = m.lock().unwrap();
            let inner = m.lock().unwrap();
            set_flag(&flags, 1);
            std::thread::sleep(Duration::from_secs(600));
            drop((inner, outer));
        }
    }
}

/// Child: locks the named `kind` once, reports whether an owner had died, and marks it
/// consistent if told to.
fn lock_once(args: &[String]) {
    let (kind, name, mark) = (&args[0], &args[1], args[2] == "mark");
    let died = match kind.as_str() {
        "mutex" => match NamedMutex::open(name).unwrap().lock() {
            Ok(_) => false,
            Err(died) => {
                if mark {
                    died.into_inner().mark_consistent();
                }
                true
            }
        },
        _ => match NamedRecursiveMutex::open(name).unwrap().lock() {
            Ok(_) => false,
            Err(died) => {
                if mark {
                    died.into_inner().mark_consistent();
                }
                true
            }
        },
    };
    report("owner_died", died);
}

/// What the owner-death test needs from either named mutex.
trait Lockable {
    fn create(name: &str) -> Self;
    /// Locks, returning whether an owner had died; marks consistent if `mark`.
    fn lock_report(&self, mark: bool) -> bool;
    /// Locks twice (nested for the recursive one, in turn for the plain one): both clean.
    fn lock_clean_twice(&self) -> bool;
}

impl Lockable for NamedMutex {
    fn create(name: &str) -> Self {
        NamedMutex::create(name).unwrap()
    }
    fn lock_report(&self, mark: bool) -> bool {
        match self.lock() {
            Ok(_) => false,
            Err(died) => {
                let mut g = died.into_inner();
                if mark {
                    g.mark_consistent();
                }
                true
            }
        }
    }
    fn lock_clean_twice(&self) -> bool {
        let first = self.lock().is_ok();
        let second = self.lock_timeout(Duration::from_secs(5)).is_ok();
        first && second
    }
}

impl Lockable for NamedRecursiveMutex {
    fn create(name: &str) -> Self {
        NamedRecursiveMutex::create(name).unwrap()
    }
    fn lock_report(&self, mark: bool) -> bool {
        match self.lock() {
            Ok(_) => false,
            Err(died) => {
                let mut g = died.into_inner();
                if mark {
                    g.mark_consistent();
                }
                true
            }
        }
    }
    fn lock_clean_twice(&self) -> bool {
        let Ok(outer) = self.lock() else { return false };
        let inner = self.try_lock();
        let ok = inner.is_ok();
        drop(inner);
        drop(outer);
        ok && !self.is_locked()
    }
}

fn owner_death<M: Lockable>(kind: &str) {
    let name = unique_name("death");
    let flags_name = unique_name("death-flags");
    let _c = RemoveOnDrop::shared_memory(&name);
    let _cf = RemoveOnDrop::shared_memory(&flags_name);
    let flags = scratch(&flags_name);
    let m = M::create(&name);

    // Marked: one report, then clean locks.
    let holder = child("lock_and_hang")
        .args([kind, name.as_str(), flags_name.as_str()])
        .spawn();
    assert!(wait_until(Duration::from_secs(30), || flag(&flags) == 1));
    holder.kill();
    assert!(m.lock_report(true), "the parent is told the owner died");
    assert!(
        m.lock_clean_twice(),
        "marked consistent: later locks are clean"
    );
    assert!(!m.lock_report(false));

    // Unmarked: the next locker (another process) is told again, and may mark it.
    set_flag(&flags, 0);
    let holder = child("lock_and_hang")
        .args([kind, name.as_str(), flags_name.as_str()])
        .spawn();
    assert!(wait_until(Duration::from_secs(30), || flag(&flags) == 1));
    holder.kill();
    assert!(m.lock_report(false));
    assert!(m.lock_report(false), "unmarked: reported again");
    let out = child("lock_once").args([kind, name.as_str(), "mark"]).run();
    assert_eq!(out.value("owner_died"), "true", "unmarked: reported again");
    assert!(!m.lock_report(false), "the other process marked it");
    assert!(m.lock_clean_twice());
}

#[test]
fn named_mutex_owner_death_is_reported_and_recoverable() {
    owner_death::<NamedMutex>("mutex");
}

#[test]
fn named_recursive_mutex_owner_death_is_reported_and_recoverable() {
    owner_death::<NamedRecursiveMutex>("recursive");
}

// ---------------------------------------------------------------- validation

#[test]
fn a_foreign_object_is_incompatible_and_left_alone() {
    let name = unique_name("foreign");
    let _c = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(4096).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let junk: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    region.write_at(0, &junk).unwrap();

    for err in [
        NamedMutex::open(&name).unwrap_err(),
        NamedMutex::open_or_create(&name).unwrap_err(),
        NamedRecursiveMutex::open(&name).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
        assert!(err.to_string().contains("not a shmkit object"), "{err}");
        assert!(err.to_string().contains(&name), "{err}");
    }
    let mut back = vec![0; 4096];
    region.read_at(0, &mut back).unwrap();
    assert_eq!(back, junk, "open_or_create never replaces a foreign object");
}

#[test]
fn an_empty_plain_shared_memory_object_is_incompatible_after_the_open_timeout() {
    let name = unique_name("plain");
    let _c = RemoveOnDrop::shared_memory(&name);
    SharedMemory::create(&name).unwrap();
    let started = Instant::now();
    let err = NamedMutex::open(&name).unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn a_named_object_of_another_kind_is_incompatible() {
    let name = unique_name("kind");
    let _c = RemoveOnDrop::shared_memory(&name);
    NamedMutex::create(&name).unwrap();
    for err in [
        NamedRecursiveMutex::open(&name).unwrap_err(),
        NamedRecursiveMutex::open_or_create(&name).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
        assert!(
            err.to_string()
                .contains("is a shmkit mutex, not a recursive mutex"),
            "{err}"
        );
    }
    let rname = unique_name("rkind");
    let _rc = RemoveOnDrop::shared_memory(&rname);
    NamedRecursiveMutex::create(&rname).unwrap();
    let err = NamedMutex::open(&rname).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
    assert!(
        err.to_string()
            .contains("is a shmkit recursive mutex, not a mutex"),
        "{err}"
    );
    // Both still work as what they are.
    assert!(NamedMutex::open(&name).unwrap().lock().is_ok());
    assert!(NamedRecursiveMutex::open(&rname).unwrap().lock().is_ok());
}

#[test]
fn another_layout_version_is_incompatible() {
    let name = unique_name("version");
    let _c = RemoveOnDrop::shared_memory(&name);
    drop(NamedMutex::create(&name).unwrap());
    raw_region(&name).write(VERSION_AT, &99u32).unwrap();
    let err = NamedMutex::open(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
    assert!(err.to_string().contains("layout version 99"), "{err}");
}

#[test]
fn a_truncated_object_is_an_error() {
    // (length, expected kind): with the magic intact the object is a damaged shmkit object
    // (Corrupted); too short to hold the magic, it cannot be told from a foreign one.
    for (len, kind) in [
        (HEADER_LEN + 2, ErrorKind::Corrupted),
        (20, ErrorKind::Corrupted),
        (4, ErrorKind::Incompatible),
    ] {
        let name = unique_name("trunc");
        let _c = RemoveOnDrop::shared_memory(&name);
        drop(NamedMutex::create(&name).unwrap());
        SharedMemory::open(&name)
            .unwrap()
            .set_len_sparse(len)
            .unwrap();
        let started = Instant::now();
        for err in [
            NamedMutex::open(&name).unwrap_err(),
            NamedMutex::open_or_create(&name).unwrap_err(),
        ] {
            assert_eq!(err.kind(), kind, "{len} bytes: {err}");
        }
        assert!(started.elapsed() < Duration::from_millis(500), "no waiting");
    }
}

#[test]
fn a_creator_that_died_while_initialising_is_corrupted_and_replaced() {
    let dead = dead_pid();
    for (state, kind) in [(1u32, "mutex"), (3, "mutex"), (1, "recursive")] {
        let name = unique_name("dead-creator");
        let _c = RemoveOnDrop::shared_memory(&name);
        if kind == "mutex" {
            drop(NamedMutex::create(&name).unwrap());
        } else {
            drop(NamedRecursiveMutex::create(&name).unwrap());
        }
        let raw = raw_region(&name);
        raw.write(STATE_AT, &state).unwrap();
        raw.write(PID_AT, &dead).unwrap();

        let started = Instant::now();
        let err = if kind == "mutex" {
            NamedMutex::open(&name).unwrap_err()
        } else {
            NamedRecursiveMutex::open(&name).unwrap_err()
        };
        assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
        if state == 1 {
            assert!(err.to_string().contains("died while initialising"), "{err}");
            assert!(err.to_string().contains(&dead.to_string()), "{err}");
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "never a hang"
        );

        // open_or_create replaces it with a fresh, working object.
        let fresh_works = if kind == "mutex" {
            let m = NamedMutex::open_or_create(&name).unwrap();
            m.created() && m.lock().is_ok()
        } else {
            let m = NamedRecursiveMutex::open_or_create(&name).unwrap();
            m.created() && m.lock().is_ok()
        };
        assert!(fresh_works, "state {state}, {kind}");
        // The stale object was marked corrupt, so holders of it learn it is dead.
        assert_eq!(raw.read::<u32>(STATE_AT).unwrap(), 3);
    }
}

#[test]
fn open_waits_for_a_live_creator_and_gives_up_after_the_timeout() {
    let name = unique_name("slow-creator");
    let _c = RemoveOnDrop::shared_memory(&name);
    drop(NamedMutex::create(&name).unwrap());
    let raw = raw_region(&name);
    // "Initialising" by this (live) process.
    raw.write(STATE_AT, &1u32).unwrap();
    raw.write(PID_AT, &std::process::id()).unwrap();

    let started = Instant::now();
    let err = NamedMutex::open(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() >= Duration::from_millis(900));

    // A creator that finishes while the opener waits is waited for.
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            raw.write(STATE_AT, &2u32).unwrap();
        });
        let started = Instant::now();
        let m = NamedMutex::open(&name).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(90));
        assert!(m.lock().is_ok());
    });
}

/// Handles may be shared between and sent to threads (guards may not: the owner is a thread).
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<NamedMutex>();
    send_sync::<NamedRecursiveMutex>();
};
