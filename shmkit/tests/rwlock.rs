//! `RwLock` and `UpgradableRwLock` across real processes (the test binary re-executed as a
//! child; see shmkit-testkit): mutual exclusion, writer priority, every lock transfer, owner
//! death (writer, upgradable holder, reader), and the `lock_api` traits.
//!
//! Events are ordered with handshakes through atomics in the shared memory, never with sleeps.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use shmkit::sync::{
    OwnerDied, RawRwLock, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError, TryLockResult,
    Upgradable, UpgradableGuard, UpgradableRwLock,
};
use shmkit::{MappedRegion, RemoveOnDrop, SharedMemory, ShmSafe};
use shmkit_testkit::{child, child_roles, report, unique_name, wait_until};

child_roles!(writer, checker, holder, probe, churn_reader, worker);

/// Where the handshake flags live in the region (the lock is at offset 0).
const FLAGS: usize = 2048;
/// A child holds its lock.
const HELD: usize = 0;
/// The parent tells a holder to release.
const RELEASE: usize = 1;
/// Writers that have finished.
const WRITERS_DONE: usize = 2;
/// Read locks taken by churning readers.
const READS: usize = 3;
/// The parent tells churning readers to stop.
const STOP: usize = 4;
/// Operations completed by random workers.
const OPS: usize = 5;
/// Consistent reads that saw a torn pair (must stay 0).
const TORN: usize = 6;

const WAIT: Duration = Duration::from_secs(30);

type Pair = [u64; 2];

/// A shared memory object for one test, removed at the end.
struct Shm {
    name: String,
    region: MappedRegion,
    _cleanup: RemoveOnDrop,
}

impl Shm {
    fn create(tag: &str) -> Shm {
        let name = unique_name(tag);
        let shm = SharedMemory::create(&name).unwrap();
        let cleanup = RemoveOnDrop::shared_memory(&name);
        shm.set_len(4096).unwrap();
        Shm {
            region: MappedRegion::map(&shm).unwrap(),
            name,
            _cleanup: cleanup,
        }
    }
}

fn open(name: &str) -> MappedRegion {
    MappedRegion::map(&SharedMemory::open(name).unwrap()).unwrap()
}

fn at<T: ShmSafe>(region: &MappedRegion, offset: usize) -> &T {
    // SAFETY: every process maps the same layout (a lock at 0, flags at FLAGS) and reaches
    // those bytes only through these shared references.
    unsafe { region.get::<T>(offset).unwrap() }
}

fn flags(region: &MappedRegion) -> &[AtomicU32; 8] {
    at(region, FLAGS)
}

fn wait_flag(region: &MappedRegion, flag: usize, at_least: u32) {
    assert!(
        wait_until(WAIT, || flags(region)[flag].load(Ordering::SeqCst)
            >= at_least),
        "flag {flag} never reached {at_least}"
    );
}

fn outcome<G>(r: TryLockResult<G>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(TryLockError::WouldBlock) => "would_block",
        Err(TryLockError::TimedOut) => "timed_out",
        Err(TryLockError::OwnerDied(_)) => "owner_died",
    }
}

// ---------------------------------------------------------------- child roles

/// Child: `n` increments of both halves of the pair under the write lock.
fn writer(args: &[String]) {
    let region = open(&args[0]);
    let n: u64 = args[1].parse().unwrap();
    let lock: &RwLock<Pair> = at(&region, 0);
    for _ in 0..n {
        let mut g = lock.write().unwrap();
        g[0] += 1;
        g[1] += 1;
    }
    flags(&region)[WRITERS_DONE].fetch_add(1, Ordering::SeqCst);
}

/// Child: reads the pair until every writer is done, counting reads that see it torn.
fn checker(args: &[String]) {
    let region = open(&args[0]);
    let writers: u32 = args[1].parse().unwrap();
    let lock: &RwLock<Pair> = at(&region, 0);
    let (mut reads, mut torn) = (0u64, 0u64);
    loop {
        let done = flags(&region)[WRITERS_DONE].load(Ordering::SeqCst) == writers;
        let g = lock.read().unwrap();
        reads += 1;
        if g[0] != g[1] {
            torn += 1;
        }
        drop(g);
        if done {
            break;
        }
    }
    report("reads", reads);
    report("torn", torn);
}

/// Child: takes the lock of an `UpgradableRwLock<Pair>` in mode `args[1]` (`read`, `upgradable`
/// or `write`; a writer breaks the pair's invariant first), raises `HELD`, then either waits for
/// `RELEASE` (`args[2]` = `hold`) or for its death (`die`).
fn holder(args: &[String]) {
    let region = open(&args[0]);
    let lock: &UpgradableRwLock<Pair> = at(&region, 0);
    let then = args[2].as_str();
    match args[1].as_str() {
        "read" => hold(
            &region,
            lock.read().unwrap_or_else(OwnerDied::into_inner),
            then,
        ),
        "upgradable" => hold(
            &region,
            lock.upgradable_read().unwrap_or_else(OwnerDied::into_inner),
            then,
        ),
        "write" => {
            let mut g = lock.write().unwrap_or_else(OwnerDied::into_inner);
            g[0] += 1; // half of an update
            hold(&region, g, then);
        }
        other => panic!("unknown mode {other}"),
    }
}

fn hold<G>(region: &MappedRegion, guard: G, then: &str) {
    flags(region)[HELD].fetch_add(1, Ordering::SeqCst);
    match then {
        "hold" => wait_flag(region, RELEASE, 1),
        _ => loop {
            thread::park(); // until SIGKILL
        },
    }
    drop(guard);
}

/// Child: one non-blocking attempt (`read`, `write` or `upgradable`) on an
/// `UpgradableRwLock<Pair>`, reported as `result`.
fn probe(args: &[String]) {
    let region = open(&args[0]);
    let lock: &UpgradableRwLock<Pair> = at(&region, 0);
    let result = match args[1].as_str() {
        "read" => outcome(lock.try_read()),
        "write" => outcome(lock.try_write()),
        "upgradable" => outcome(lock.try_upgradable_read()),
        other => panic!("unknown op {other}"),
    };
    report("result", result);
}

/// Child: takes read locks back to back, each held ~200 µs, until `STOP`.
fn churn_reader(args: &[String]) {
    let region = open(&args[0]);
    let lock: &RwLock<Pair> = at(&region, 0);
    while flags(&region)[STOP].load(Ordering::SeqCst) == 0 {
        let g = lock.read().unwrap();
        flags(&region)[READS].fetch_add(1, Ordering::SeqCst);
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(200) {
            std::hint::black_box(&*g);
        }
    }
}

/// A tiny xorshift generator: tests need varied, not good, randomness.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Repairs the pair after an owner death (the dead writer may have done half an update).
fn repair(mut g: RwLockWriteGuard<'_, Pair, Upgradable>) -> RwLockWriteGuard<'_, Pair, Upgradable> {
    g[1] = g[0];
    RwLockWriteGuard::mark_consistent(&mut g);
    g
}

/// Child: random reads, writes, upgrades and timed writes on an `UpgradableRwLock<Pair>` until
/// killed; repairs after owner deaths, counts operations in `OPS` and torn consistent reads in
/// `TORN`.
fn worker(args: &[String]) {
    let region = open(&args[0]);
    let lock: &UpgradableRwLock<Pair> = at(&region, 0);
    let fl = flags(&region);
    let mut seed = u64::from(std::process::id()).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    loop {
        match next(&mut seed) % 5 {
            0 | 1 => {
                if let Ok(g) = lock.read()
                    && g[0] != g[1]
                {
                    fl[TORN].fetch_add(1, Ordering::SeqCst);
                }
            }
            2 => {
                let mut g = lock.write().unwrap_or_else(|e| repair(e.into_inner()));
                g[0] += 1;
                g[1] += 1;
            }
            3 => {
                let u = lock.upgradable_read().unwrap_or_else(OwnerDied::into_inner);
                let mut g = repair(UpgradableGuard::upgrade(u));
                g[0] += 1;
                g[1] += 1;
            }
            _ => match lock.write_timeout(Duration::from_micros(100)) {
                Ok(mut g) => {
                    g[0] += 1;
                    g[1] += 1;
                }
                Err(TryLockError::OwnerDied(e)) => drop(repair(e.into_inner())),
                Err(_) => {}
            },
        }
        fl[OPS].fetch_add(1, Ordering::SeqCst);
    }
}

fn probe_from_child(shm: &Shm, op: &str) -> String {
    child("probe")
        .args([shm.name.as_str(), op])
        .run()
        .value("result")
}

// ---------------------------------------------------------------- mutual exclusion

/// 4 writer processes × 1,000,000 increments of a plain pair, with 2 reader processes checking
/// on every read that the two halves are equal.
#[test]
fn writers_exclude_each_other_and_readers_never_see_a_torn_pair() {
    const WRITERS: u32 = 4;
    const PER_WRITER: u64 = 1_000_000;
    let shm = Shm::create("rw-mutex");
    let checkers: Vec<_> = (0..2)
        .map(|_| {
            child("checker")
                .args([shm.name.clone(), WRITERS.to_string()])
                .spawn()
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            child("writer")
                .args([shm.name.clone(), PER_WRITER.to_string()])
                .spawn()
        })
        .collect();
    for w in writers {
        w.wait().assert_success();
    }
    for c in checkers {
        let out = c.wait();
        out.assert_success();
        assert_eq!(out.value("torn"), "0", "a reader saw a half-done write");
        assert!(out.value("reads").parse::<u64>().unwrap() > 0);
    }
    let lock: &RwLock<Pair> = at(&shm.region, 0);
    let total = u64::from(WRITERS) * PER_WRITER;
    assert_eq!(*lock.read().unwrap(), [total, total]);
    assert!(!lock.is_locked());
}

// ---------------------------------------------------------------- writer priority

#[test]
fn a_waiting_writer_gets_in_while_readers_keep_reacquiring() {
    let shm = Shm::create("rw-prio");
    let readers: Vec<_> = (0..3)
        .map(|_| child("churn_reader").arg(&shm.name).spawn())
        .collect();
    wait_flag(&shm.region, READS, 300);
    let lock: &RwLock<Pair> = at(&shm.region, 0);
    let reads = &flags(&shm.region)[READS];

    for _ in 0..3 {
        let t = Instant::now();
        let w = lock.write_timeout(Duration::from_secs(10)).unwrap();
        let waited = t.elapsed();
        assert!(waited < Duration::from_secs(2), "writer waited {waited:?}");
        // Holding the write lock, no reader gets in.
        let before = reads.load(Ordering::SeqCst);
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        assert_eq!(reads.load(Ordering::SeqCst), before);
        drop(w);
        // Readers resume.
        let resumed = reads.load(Ordering::SeqCst) + 10;
        wait_flag(&shm.region, READS, resumed);
    }
    flags(&shm.region)[STOP].store(1, Ordering::SeqCst);
    for r in readers {
        r.wait().assert_success();
    }
}

#[test]
fn new_readers_wait_once_a_writer_waits_for_the_readers_inside() {
    let shm = Shm::create("rw-gate");
    let lock: &UpgradableRwLock<Pair> = at(&shm.region, 0);
    let reader = child("holder")
        .args([shm.name.as_str(), "read", "hold"])
        .spawn();
    wait_flag(&shm.region, HELD, 1);

    thread::scope(|s| {
        let w = s.spawn(|| {
            let mut g = lock.write().unwrap();
            g[0] = 5;
            g[1] = 5;
        });
        // The writer owns the lock and waits for the reader to leave (the first gate is shut).
        assert!(wait_until(WAIT, || lock.raw().is_locked_exclusive()));
        assert_eq!(lock.raw().reader_count(), 1);
        // Another process cannot read now, although only a reader holds the lock.
        assert_eq!(probe_from_child(&shm, "read"), "would_block");
        assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
        // The reader leaves; the writer gets in.
        flags(&shm.region)[RELEASE].store(1, Ordering::SeqCst);
        w.join().unwrap();
    });
    reader.wait().assert_success();
    assert_eq!(*lock.read().unwrap(), [5, 5]);
}

// ---------------------------------------------------------------- transfers

#[test]
fn every_lock_transfer_of_the_upgradable_lock() {
    let shm = Shm::create("rw-xfer");
    let lock: &UpgradableRwLock<Pair> = at(&shm.region, 0);
    let fl = flags(&shm.region);

    // write → upgradable (never blocks): readers are back, writers and upgraders still out.
    let mut w = lock.write().unwrap();
    w[0] = 1;
    w[1] = 1;
    assert_eq!(probe_from_child(&shm, "read"), "would_block");
    let u = RwLockWriteGuard::downgrade_to_upgradable(w);
    assert_eq!(*u, [1, 1]);
    assert_eq!(probe_from_child(&shm, "read"), "ok");
    assert_eq!(probe_from_child(&shm, "upgradable"), "would_block");
    assert_eq!(probe_from_child(&shm, "write"), "would_block");

    // upgradable → read (never blocks): another upgrader may come in, a writer may not.
    let r = UpgradableGuard::downgrade(u);
    assert_eq!(*r, [1, 1]);
    assert_eq!(probe_from_child(&shm, "upgradable"), "ok");
    assert_eq!(probe_from_child(&shm, "write"), "would_block");
    drop(r);

    // write → read (never blocks).
    let mut w = lock.write().unwrap();
    w[0] = 2;
    w[1] = 2;
    let r = RwLockWriteGuard::downgrade(w);
    assert_eq!(probe_from_child(&shm, "read"), "ok");
    assert_eq!(probe_from_child(&shm, "write"), "would_block");

    // read → upgradable (try): succeeds with no owner around.
    let u = RwLockReadGuard::try_upgrade_to_upgradable(r).unwrap();
    assert_eq!(lock.raw().reader_count(), 0);
    assert_eq!(probe_from_child(&shm, "upgradable"), "would_block");

    // upgradable → write (try) fails while another process reads, handing the guard back
    // unchanged: still the upgradable lock, readers still welcome.
    let reader = child("holder")
        .args([shm.name.as_str(), "read", "hold"])
        .spawn();
    wait_flag(&shm.region, HELD, 1);
    let u = UpgradableGuard::try_upgrade(u).unwrap_err();
    assert_eq!(*u, [2, 2]);
    assert!(!lock.raw().is_locked_exclusive());
    assert_eq!(probe_from_child(&shm, "upgradable"), "would_block");
    assert_eq!(probe_from_child(&shm, "read"), "ok");

    // upgradable → write (timed) times out while the reader stays, and hands the guard back.
    let t = Instant::now();
    let u = UpgradableGuard::upgrade_timeout(u, Duration::from_millis(100)).unwrap_err();
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(!lock.raw().is_locked_exclusive());
    assert_eq!(probe_from_child(&shm, "read"), "ok");

    // ... and succeeds once the reader leaves while it waits. New readers are held back during
    // the wait.
    let mut w = thread::scope(|s| {
        s.spawn(|| {
            assert!(wait_until(WAIT, || lock.raw().is_locked_exclusive()));
            assert_eq!(probe_from_child(&shm, "read"), "would_block");
            fl[RELEASE].store(1, Ordering::SeqCst);
        });
        UpgradableGuard::upgrade_timeout(u, Duration::from_secs(20)).unwrap()
    });
    reader.wait().assert_success();
    w[0] = 3;
    w[1] = 3;

    // read → write (try): fails while another process reads, succeeds when alone.
    let r = RwLockWriteGuard::downgrade(w);
    fl[HELD].store(0, Ordering::SeqCst);
    fl[RELEASE].store(0, Ordering::SeqCst);
    let reader = child("holder")
        .args([shm.name.as_str(), "read", "hold"])
        .spawn();
    wait_flag(&shm.region, HELD, 1);
    let r = RwLockReadGuard::try_upgrade(r).unwrap_err();
    assert_eq!(*r, [3, 3]);
    assert_eq!(lock.raw().reader_count(), 2);
    fl[RELEASE].store(1, Ordering::SeqCst);
    reader.wait().assert_success();
    let w = RwLockReadGuard::try_upgrade(r).unwrap();
    assert!(lock.raw().is_locked_exclusive());
    assert_eq!(lock.raw().reader_count(), 0);
    drop(w);

    // read → upgradable (try): fails while another process holds the upgradable lock.
    let r = lock.read().unwrap();
    fl[HELD].store(0, Ordering::SeqCst);
    fl[RELEASE].store(0, Ordering::SeqCst);
    let upgrader = child("holder")
        .args([shm.name.as_str(), "upgradable", "hold"])
        .spawn();
    wait_flag(&shm.region, HELD, 1);
    let r = RwLockReadGuard::try_upgrade_to_upgradable(r).unwrap_err();
    assert_eq!(lock.raw().reader_count(), 1);
    let r = RwLockReadGuard::try_upgrade(r).unwrap_err();
    fl[RELEASE].store(1, Ordering::SeqCst);
    upgrader.wait().assert_success();
    let u = RwLockReadGuard::try_upgrade_to_upgradable(r).unwrap();
    drop(u);
    assert!(!lock.is_locked());
    assert!(lock.is_consistent());
}

// ---------------------------------------------------------------- owner death

fn kill_holding(shm: &Shm, mode: &str) {
    flags(&shm.region)[HELD].store(0, Ordering::SeqCst);
    let c = child("holder")
        .args([shm.name.as_str(), mode, "die"])
        .spawn();
    wait_flag(&shm.region, HELD, 1);
    assert_eq!(c.kill().signal(), Some(libc::SIGKILL));
}

#[test]
fn a_writer_killed_holding_the_lock_is_reported_until_marked_consistent() {
    let shm = Shm::create("rw-wdeath");
    let lock: &UpgradableRwLock<Pair> = at(&shm.region, 0);

    kill_holding(&shm, "write");
    // A reader is not stuck behind the dead writer, and is told.
    let r = lock.read().unwrap_err().into_inner();
    assert_eq!(*r, [1, 0], "the dead writer's half-done update");
    drop(r);
    assert!(!lock.is_consistent());
    // The next writer is told too; it repairs and marks the data consistent.
    let mut w = lock.write().unwrap_err().into_inner();
    w[1] = w[0];
    RwLockWriteGuard::mark_consistent(&mut w);
    drop(w);
    assert!(lock.is_consistent());
    // From then on the lock works normally.
    *lock.write().unwrap() = [7, 7];
    assert_eq!(*lock.read().unwrap(), [7, 7]);
    assert_eq!(*lock.upgradable_read().unwrap(), [7, 7]);

    // Unmarked: every later locker, reader or writer, is told again.
    kill_holding(&shm, "write");
    let w = match lock.write() {
        Err(died) => died.into_inner(),
        Ok(_) => panic!("owner death not reported"),
    };
    assert_eq!(*w, [8, 7]);
    drop(w); // without marking
    assert!(lock.write().is_err());
    assert!(lock.read().is_err());
    assert!(matches!(lock.try_read(), Err(TryLockError::OwnerDied(_))));
    let w = lock.write().unwrap_err().recover(|w| w[1] = w[0]);
    drop(w);
    assert_eq!(*lock.read().unwrap(), [8, 8]);
}

#[test]
fn an_upgradable_holder_killed_holding_the_lock_is_reported_until_marked_consistent() {
    let shm = Shm::create("rw-udeath");
    let lock: &UpgradableRwLock<Pair> = at(&shm.region, 0);

    kill_holding(&shm, "upgradable");
    // Readers never waited for the upgradable holder, dead or alive.
    assert_eq!(*lock.read().unwrap(), [0, 0]);
    // The next upgrader takes over, is told, upgrades to repair, and marks consistent.
    let u = lock.upgradable_read().unwrap_err().into_inner();
    let mut w = UpgradableGuard::upgrade(u);
    w[0] = 1;
    w[1] = 1;
    RwLockWriteGuard::mark_consistent(&mut w);
    drop(w);
    assert_eq!(*lock.upgradable_read().unwrap(), [1, 1]);
    assert_eq!(*lock.write().unwrap(), [1, 1]);

    // Unmarked: a writer takes over and is told; then the next upgrader is told again and marks
    // consistent through its upgradable guard.
    kill_holding(&shm, "upgradable");
    drop(lock.write().unwrap_err().into_inner());
    let mut u = lock.upgradable_read().unwrap_err().into_inner();
    UpgradableGuard::mark_consistent(&mut u);
    drop(u);
    assert!(lock.is_consistent());
    assert!(lock.write().is_ok());
}

#[test]
fn a_reader_killed_holding_a_read_lock_does_not_block_writers() {
    let shm = Shm::create("rw-rdeath");
    let lock: &UpgradableRwLock<Pair> = at(&shm.region, 0);

    kill_holding(&shm, "read");
    assert_eq!(
        lock.raw().reader_count(),
        1,
        "the dead reader's lock is still counted"
    );
    let t = Instant::now();
    let w = lock.write_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    drop(w);
    assert!(lock.is_consistent(), "a dead reader wrote nothing");

    // The same for an upgrade waiting for readers to leave.
    let u = lock.upgradable_read().unwrap();
    kill_holding(&shm, "read");
    let t = Instant::now();
    let w = UpgradableGuard::upgrade_timeout(u, Duration::from_secs(5)).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    drop(w);
    assert!(!lock.is_locked());
}

#[test]
fn random_sigkills_never_wedge_the_lock() {
    const WORKERS: usize = 4;
    const KILLS: u64 = 40;
    let shm = Shm::create("rw-kills");
    let lock: &UpgradableRwLock<Pair> = at(&shm.region, 0);
    let ops = &flags(&shm.region)[OPS];
    let spawn = || child("worker").arg(&shm.name).spawn();
    let mut workers: Vec<_> = (0..WORKERS).map(|_| spawn()).collect();
    let mut seed = 0x5eed_u64;
    for kill in 0..KILLS {
        // The survivors keep making progress: nothing a killed worker left behind wedges them.
        let seen = ops.load(Ordering::SeqCst);
        assert!(
            wait_until(WAIT, || ops.load(Ordering::SeqCst) > seen + 50),
            "no progress before kill {kill}: {:?}",
            lock.raw()
        );
        let t = Instant::now();
        let pause = Duration::from_micros(next(&mut seed) % 2000);
        while t.elapsed() < pause {
            std::hint::spin_loop();
        }
        let victim = workers.swap_remove((next(&mut seed) % WORKERS as u64) as usize);
        victim.kill();
        workers.push(spawn());
    }
    for w in workers {
        w.kill();
    }
    // Whatever the last victims held, a writer gets in well within its timeout.
    let g = match lock.write_timeout(Duration::from_secs(10)) {
        Ok(g) => g,
        Err(TryLockError::OwnerDied(e)) => repair(e.into_inner()),
        Err(e) => panic!("{e:?}: {:?}", lock.raw()),
    };
    assert_eq!(g[0], g[1]);
    drop(g);
    assert_eq!(flags(&shm.region)[TORN].load(Ordering::SeqCst), 0);
    assert!(!lock.is_locked());
}

// ---------------------------------------------------------------- in-process behaviour

#[test]
fn a_thread_that_exits_holding_a_read_lock_does_not_block_writers() {
    let lock = RwLock::new(0u32);
    thread::scope(|s| {
        s.spawn(|| std::mem::forget(lock.read().unwrap()));
    });
    assert_eq!(lock.raw().reader_count(), 1);
    *lock.write_timeout(Duration::from_secs(5)).unwrap() = 1;
    assert_eq!(lock.raw().reader_count(), 0);
}

#[test]
fn a_panicking_writer_marks_the_data_inconsistent_a_panicking_reader_does_not() {
    let lock = UpgradableRwLock::new(0u32);
    thread::scope(|s| {
        assert!(
            s.spawn(|| {
                let _r = lock.read().unwrap();
                panic!("reader panics");
            })
            .join()
            .is_err()
        );
    });
    assert!(lock.is_consistent());
    thread::scope(|s| {
        assert!(
            s.spawn(|| {
                let _w = lock.write().unwrap();
                panic!("writer panics");
            })
            .join()
            .is_err()
        );
    });
    assert!(!lock.is_consistent());
    assert!(lock.read().is_err());
    drop(lock.write().unwrap_err().recover(|_| {}));
    assert!(lock.read().is_ok());
}

#[test]
fn recursive_read_locks_do_not_deadlock_against_a_waiting_writer() {
    let lock = RwLock::new(0u32);
    let r1 = lock.read().unwrap();
    thread::scope(|s| {
        let w = s.spawn(|| *lock.write().unwrap() += 1);
        assert!(wait_until(WAIT, || lock.raw().is_locked_exclusive()));
        let r2 = lock.read().unwrap(); // this thread already reads: admitted
        assert_eq!(*r2, 0);
        drop(r2);
        drop(r1);
        w.join().unwrap();
    });
    assert_eq!(*lock.read().unwrap(), 1);
}

#[test]
fn the_65th_concurrent_reading_thread_waits_for_a_slot() {
    const SLOTS: usize = 64;
    let lock = RwLock::new(0u32);
    let all_in = Barrier::new(SLOTS + 1);
    let release = Barrier::new(SLOTS + 1);
    thread::scope(|s| {
        for _ in 0..SLOTS {
            s.spawn(|| {
                let r = lock.read().unwrap();
                all_in.wait();
                release.wait();
                drop(r);
            });
        }
        all_in.wait();
        assert_eq!(lock.raw().reader_count(), SLOTS as u32);
        assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
        let waiter = s.spawn(|| *lock.read().unwrap());
        release.wait();
        assert_eq!(waiter.join().unwrap(), 0);
    });
    assert!(!lock.is_locked());
}

#[test]
fn timeouts_expire_and_zero_is_a_try() {
    let lock = UpgradableRwLock::new(0u32);
    let w = lock.write().unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            let t = Instant::now();
            assert!(matches!(
                lock.read_timeout(Duration::from_millis(30)),
                Err(TryLockError::TimedOut)
            ));
            assert!(t.elapsed() >= Duration::from_millis(30));
            assert!(matches!(
                lock.write_timeout(Duration::ZERO),
                Err(TryLockError::TimedOut)
            ));
            assert!(matches!(
                lock.upgradable_read_timeout(Duration::from_millis(10)),
                Err(TryLockError::TimedOut)
            ));
        });
    });
    drop(w);
    // A writer that times out waiting for readers lets new readers in again.
    let r = lock.read().unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            assert!(lock.write_timeout(Duration::from_millis(20)).is_err());
            assert!(lock.try_read().is_ok());
        });
    });
    drop(r);
    assert!(!lock.is_locked());
}

/// Who is inside, to check exclusion independently of the lock.
#[derive(Default)]
struct Inside {
    readers: AtomicI64,
    upgradable: AtomicI64,
    writers: AtomicI64,
    writes: AtomicI64,
}

impl Inside {
    fn read(&self, g: &Pair) {
        self.readers.fetch_add(1, Ordering::SeqCst);
        assert_eq!(self.writers.load(Ordering::SeqCst), 0);
        assert_eq!(g[0], g[1]);
        self.readers.fetch_sub(1, Ordering::SeqCst);
    }

    fn upgradable(&self, g: &Pair) {
        assert_eq!(self.upgradable.fetch_add(1, Ordering::SeqCst), 0);
        assert_eq!(self.writers.load(Ordering::SeqCst), 0);
        assert_eq!(g[0], g[1]);
        self.upgradable.fetch_sub(1, Ordering::SeqCst);
    }

    fn write(&self, g: &mut Pair) {
        assert_eq!(self.writers.fetch_add(1, Ordering::SeqCst), 0);
        assert_eq!(self.readers.load(Ordering::SeqCst), 0);
        assert_eq!(self.upgradable.load(Ordering::SeqCst), 0);
        g[0] += 1;
        g[1] += 1;
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.writers.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn mixed_operations_and_transfers_from_many_threads_keep_exclusion() {
    const THREADS: u64 = 8;
    const OPS_PER_THREAD: u64 = 5_000;
    let lock = UpgradableRwLock::new([0u64; 2]);
    let inside = Inside::default();
    let short = |seed: &mut u64| Duration::from_micros(next(seed) % 200);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (lock, inside) = (&lock, &inside);
            s.spawn(move || {
                let mut seed = (t + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                for _ in 0..OPS_PER_THREAD {
                    match next(&mut seed) % 11 {
                        0 => inside.read(&lock.read().unwrap()),
                        1 => {
                            if let Ok(g) = lock.read_timeout(short(&mut seed)) {
                                inside.read(&g);
                            }
                        }
                        2 => {
                            let (r1, r2) = (lock.read().unwrap(), lock.read().unwrap());
                            inside.read(&r1);
                            inside.read(&r2);
                        }
                        3 => inside.write(&mut lock.write().unwrap()),
                        4 => {
                            if let Ok(mut g) = lock.write_timeout(short(&mut seed)) {
                                inside.write(&mut g);
                            }
                        }
                        5 => {
                            let mut w = lock.write().unwrap();
                            inside.write(&mut w);
                            inside.read(&RwLockWriteGuard::downgrade(w));
                        }
                        6 => {
                            let mut w = lock.write().unwrap();
                            inside.write(&mut w);
                            let u = RwLockWriteGuard::downgrade_to_upgradable(w);
                            inside.upgradable(&u);
                            inside.read(&UpgradableGuard::downgrade(u));
                        }
                        7 => {
                            let u = lock.upgradable_read().unwrap();
                            inside.upgradable(&u);
                            inside.write(&mut UpgradableGuard::upgrade(u));
                        }
                        8 => {
                            let u = lock.upgradable_read().unwrap();
                            match UpgradableGuard::upgrade_timeout(u, short(&mut seed)) {
                                Ok(mut w) => inside.write(&mut w),
                                Err(u) => inside.upgradable(&u),
                            }
                        }
                        9 => match RwLockReadGuard::try_upgrade(lock.read().unwrap()) {
                            Ok(mut w) => inside.write(&mut w),
                            Err(r) => inside.read(&r),
                        },
                        _ => {
                            let r = lock.read().unwrap();
                            match RwLockReadGuard::try_upgrade_to_upgradable(r) {
                                Ok(u) => match UpgradableGuard::try_upgrade(u) {
                                    Ok(mut w) => inside.write(&mut w),
                                    Err(u) => inside.upgradable(&u),
                                },
                                Err(r) => inside.read(&r),
                            }
                        }
                    }
                }
            });
        }
    });
    let writes = inside.writes.load(Ordering::SeqCst) as u64;
    assert_eq!(*lock.read().unwrap(), [writes, writes]);
    assert!(!lock.is_locked());
    assert_eq!(lock.raw().reader_count(), 0);
}

// ---------------------------------------------------------------- lock_api

#[test]
fn lock_api_rwlock_over_the_raw_lock() {
    use lock_api::{RwLockUpgradableReadGuard as Upg, RwLockWriteGuard as W};

    let lock = Arc::new(lock_api::RwLock::<RawRwLock, u64>::new(0));
    {
        let a = lock.read();
        let b = lock.read();
        assert_eq!(*a + *b, 0);
        assert!(lock.try_write().is_none());
        assert!(lock.try_write_for(Duration::from_millis(5)).is_none());
    }
    let mut w = lock.write();
    *w = 1;
    assert!(lock.is_locked_exclusive());
    let r = W::downgrade(w);
    assert_eq!(*r, 1);
    drop(r);

    let u = lock.upgradable_read();
    assert!(lock.try_upgradable_read().is_none());
    let r = lock.read();
    let u = Upg::try_upgrade(u).unwrap_err();
    let u = Upg::try_upgrade_for(u, Duration::from_millis(5)).unwrap_err();
    drop(r);
    let mut w = Upg::upgrade(u);
    *w += 1;
    let u = W::downgrade_to_upgradable(w);
    let r = Upg::downgrade(u);
    assert_eq!(*r, 2);
    drop(r);

    let threads: Vec<_> = (0..4)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                for i in 0..5_000 {
                    if i % 2 == 0 {
                        *lock.write() += 1;
                    } else {
                        let v = *lock.read();
                        assert!(v >= 2);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*lock.read(), 2 + 4 * 2_500);
}
