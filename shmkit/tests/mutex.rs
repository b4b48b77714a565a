//! `Mutex` and `RecursiveMutex` across real processes: mutual exclusion, owner death, timeouts.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmkit::sync::{Mutex, MutexGuard, RecursiveMutex, RecursiveMutexGuard, TryLockError};
use shmkit::{MappedRegion, RemoveOnDrop, SharedMemory};
use shmkit_testkit::{child, child_roles, report, unique_name, wait_until};

child_roles!(incrementer, hold_and_die, hold_until_released);

/// Layout of the test's shared memory object.
const MUTEX_AT: usize = 0; // Mutex<[u64; 2]>
const RECURSIVE_AT: usize = 64; // RecursiveMutex<AtomicU64>
const FLAG_AT: usize = 256; // AtomicU32 handshake word

struct Shared {
    _cleanup: Option<RemoveOnDrop>,
    region: MappedRegion,
}

impl Shared {
    fn create() -> (String, Shared) {
        let name = unique_name("mutex");
        let shm = SharedMemory::create(&name).unwrap();
        let cleanup = RemoveOnDrop::shared_memory(&name);
        shm.set_len(4096).unwrap();
        let region = MappedRegion::map(&shm).unwrap();
        (
            name,
            Shared {
                _cleanup: Some(cleanup),
                region,
            },
        )
    }

    fn open(name: &str) -> Shared {
        let region = MappedRegion::map(&SharedMemory::open(name).unwrap()).unwrap();
        Shared {
            _cleanup: None,
            region,
        }
    }

    fn mutex(&self) -> &Mutex<[u64; 2]> {
        // SAFETY: every process accesses these bytes only through this typed view.
        unsafe { self.region.get(MUTEX_AT) }.unwrap()
    }

    fn recursive(&self) -> &RecursiveMutex<AtomicU64> {
        // SAFETY: as above.
        unsafe { self.region.get(RECURSIVE_AT) }.unwrap()
    }

    fn flag(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { self.region.get(FLAG_AT) }.unwrap()
    }

    fn wait_flag(&self, value: u32) {
        assert!(
            wait_until(Duration::from_secs(30), || self
                .flag()
                .load(Ordering::Acquire)
                == value),
            "handshake flag never became {value}"
        );
    }
}

/// Child: `n` increments of both counters under the mutex (they must stay equal).
fn incrementer(args: &[String]) {
    let s = Shared::open(&args[0]);
    let n: u64 = args[1].parse().unwrap();
    let m = s.mutex();
    for _ in 0..n {
        let mut g = m.lock().unwrap();
        assert_eq!(g[0], g[1], "mutual exclusion broken");
        g[0] += 1;
        g[1] += 1;
    }
}

/// Child: locks (the plain or the recursive mutex), leaves the data half-updated, raises the
/// flag, and waits to be killed.
fn hold_and_die(args: &[String]) {
    let s = Shared::open(&args[0]);
    match args[1].as_str() {
        "mutex" => {
            let mut g = s.mutex().lock().unwrap();
            g[0] += 1; // g[1] not yet: the invariant is broken while we hold the lock
            s.flag().store(1, Ordering::Release);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        _ => {
            let a = s.recursive().lock().unwrap();
            let _b = s.recursive().lock().unwrap();
            a.store(0xdead, Ordering::Relaxed);
            s.flag().store(1, Ordering::Release);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Child: locks the mutex, raises the flag to 1, waits for 2, then unlocks and reports.
fn hold_until_released(args: &[String]) {
    let s = Shared::open(&args[0]);
    let g = s.mutex().lock().unwrap();
    s.flag().store(1, Ordering::Release);
    s.wait_flag(2);
    drop(g);
    report("released", true);
}

#[test]
fn four_processes_increment_a_plain_counter_exactly() {
    const PER_PROCESS: u64 = 1_000_000;
    let (name, s) = Shared::create();
    let kids: Vec<_> = (0..4)
        .map(|_| {
            child("incrementer")
                .args([name.clone(), PER_PROCESS.to_string()])
                .spawn()
        })
        .collect();
    for k in kids {
        k.wait().assert_success();
    }
    let g = s.mutex().lock().unwrap();
    assert_eq!(*g, [4 * PER_PROCESS, 4 * PER_PROCESS]);
}

fn kill_holder(name: &str, s: &Shared, which: &str) {
    s.flag().store(0, Ordering::Release);
    let holder = child("hold_and_die").args([name, which]).spawn();
    s.wait_flag(1);
    let out = holder.kill();
    assert_eq!(out.signal(), Some(9), "the holder must die by SIGKILL");
}

#[test]
fn owner_death_is_reported_repaired_and_then_clean() {
    let (name, s) = Shared::create();
    kill_holder(&name, &s, "mutex");
    assert!(
        s.mutex().is_locked(),
        "the dead owner's lock word is still set"
    );

    let start = Instant::now();
    let err = s.mutex().lock().unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "owner death detected late"
    );
    let mut g = err.into_inner();
    assert_eq!(*g, [1, 0], "the guard shows what the dead owner left");
    g[1] = g[0]; // repair
    MutexGuard::mark_consistent(&mut g);
    drop(g);

    assert!(s.mutex().is_consistent());
    let g = s.mutex().lock().expect("consistent after repair");
    assert_eq!(*g, [1, 1]);
}

#[test]
fn owner_death_unmarked_reports_again_to_the_next_locker() {
    let (name, s) = Shared::create();
    kill_holder(&name, &s, "mutex");
    drop(s.mutex().lock().unwrap_err()); // dropped without marking consistent
    assert!(!s.mutex().is_consistent());
    // The next locker (here another process) is told too.
    s.flag().store(0, Ordering::Release);
    let c = child("hold_until_released").arg(&name).spawn();
    // The child's unwrap() on an inconsistent mutex fails: it panics and exits non-zero.
    let out = c.wait();
    assert!(!out.success());
    assert!(out.stderr.contains("OwnerDied"), "{}", out.stderr);
    // And a recovering locker can clear it.
    let g = s.mutex().lock().unwrap_err().recover(|g| g[1] = g[0]);
    drop(g);
    assert!(s.mutex().lock().is_ok());
}

#[test]
fn recursive_mutex_owner_death_is_recovered() {
    let (name, s) = Shared::create();
    kill_holder(&name, &s, "recursive");
    let err = s.recursive().lock().unwrap_err();
    let mut g = err.into_inner();
    assert_eq!(g.load(Ordering::Relaxed), 0xdead);
    g.store(0, Ordering::Relaxed);
    RecursiveMutexGuard::mark_consistent(&mut g);
    // Re-entrant for the new owner, and released after both guards go.
    let inner = s.recursive().lock().unwrap();
    drop(inner);
    drop(g);
    assert!(!s.recursive().is_locked());
    assert!(s.recursive().lock().is_ok());
}

#[test]
fn timed_lock_waits_for_a_live_owner_and_gets_the_lock_on_release() {
    let (name, s) = Shared::create();
    let holder = child("hold_until_released").arg(&name).spawn();
    s.wait_flag(1);

    assert!(matches!(
        s.mutex().try_lock(),
        Err(TryLockError::WouldBlock)
    ));
    assert!(matches!(
        s.mutex().lock_timeout(Duration::ZERO),
        Err(TryLockError::TimedOut)
    ));
    let start = Instant::now();
    let r = s.mutex().lock_timeout(Duration::from_millis(150));
    let waited = start.elapsed();
    assert!(matches!(r, Err(TryLockError::TimedOut)), "{r:?}");
    assert!(
        waited >= Duration::from_millis(150),
        "returned early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
    drop(r);

    // A waiter blocked in lock() is woken by the release in the other process.
    let releaser = std::thread::spawn({
        let name = name.clone();
        move || {
            std::thread::sleep(Duration::from_millis(50));
            Shared::open(&name).flag().store(2, Ordering::Release);
        }
    });
    let g = s
        .mutex()
        .lock_timeout(Duration::from_secs(20))
        .expect("released by the other process");
    drop(g);
    releaser.join().unwrap();
    assert_eq!(holder.wait().value("released"), "true");
}

#[test]
fn a_panic_while_locked_marks_the_data_inconsistent() {
    let m = std::sync::Arc::new(Mutex::new(7u32));
    let m2 = m.clone();
    let r = std::thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("boom");
    })
    .join();
    assert!(r.is_err());
    let g = m.lock().unwrap_err().into_inner();
    assert_eq!(*g, 7);
}

#[test]
fn zeroed_memory_is_an_unlocked_mutex_and_lock_api_works() {
    let region = MappedRegion::anonymous(4096).unwrap();
    // SAFETY: only accessed through this view.
    let raw: &shmkit::sync::RawMutex = unsafe { region.get(0) }.unwrap();
    assert!(!raw.is_locked());

    let m: lock_api::Mutex<shmkit::sync::RawMutex, u32> = lock_api::Mutex::new(1);
    *m.lock() += 1;
    assert_eq!(*m.lock(), 2);
    assert!(m.try_lock_for(Duration::from_millis(1)).is_some());
    let g = m.lock();
    assert!(m.try_lock().is_none());
    drop(g);
}

/// Regression: a process forked while its parent holds a lock gets a copy of the guard; the
/// child dropping that copy must not release the parent's lock (the lock word is shared).
#[test]
fn a_forked_child_dropping_a_copied_guard_does_not_unlock_the_parent() {
    let region = MappedRegion::anonymous(4096).unwrap();
    // SAFETY: only accessed through this typed view (here and in the forked child).
    let m: &Mutex<u32> = unsafe { region.get(0) }.unwrap();
    let guard = m.lock().unwrap();
    let child = move || {
        drop(guard); // the child's copy: not the owner
        if m.is_locked() { 0 } else { 1 }
    };
    // SAFETY: the child only drops the guard (atomic operations, no allocation) and reads the
    // lock word.
    let code = unsafe { shmkit_testkit::fork_child(child) };
    assert_eq!(
        code, 0,
        "the child's copy of the guard released the parent's lock"
    );
    // The parent's guard was dropped with the closure, by its real owner.
    assert!(!m.is_locked());
}
