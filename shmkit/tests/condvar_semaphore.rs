//! Condition variables, semaphores and barriers across real processes (the test binary
//! re-executed as a child; see shmkit-testkit): producer/consumer without lost wake-ups, timeouts,
//! waiters killed with SIGKILL, barrier generations and leaders, `CondvarAny` with a recursive
//! mutex.
//!
//! Events are ordered by handshakes through shared memory. Where a test needs a child to be
//! *asleep* in the kernel (not just spinning) before it acts, it polls `/proc/<pid>/task/*/stat`
//! until every thread of the child sleeps, after a shared-memory handshake that says the child
//! entered the wait.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmkit::sync::{Barrier, Condvar, CondvarAny, Mutex, MutexGuard, RecursiveMutex, Semaphore};
use shmkit::{MappedRegion, RemoveOnDrop, SharedMemory, ShmSafe};
use shmkit_testkit::{ChildBuilder, child, child_roles, report, unique_name, wait_until};

child_roles!(
    cv_producer,
    cv_consumer,
    sem_producer,
    sem_consumer,
    cv_timed_waiter,
    sem_timed_waiter,
    cv_waiter,
    sem_waiter,
    cv_die_holding,
    barrier_party,
    any_peer,
);

/// Items sent through each producer/consumer pair.
const ITEMS: u64 = 100_000;
/// Ring buffer slots.
const SLOTS: u64 = 64;
/// How long a child may run before the test fails (a lost wake-up shows up as this).
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- helpers

/// A fresh, zeroed shared memory object of one page, mapped; removed when the guard drops.
fn new_shm(tag: &str) -> (String, RemoveOnDrop, MappedRegion) {
    let name = unique_name(tag);
    let shm = SharedMemory::create(&name).unwrap();
    let cleanup = RemoveOnDrop::shared_memory(&name);
    shm.set_len(4096).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    (name, cleanup, region)
}

fn open_shm(name: &str) -> MappedRegion {
    MappedRegion::map(&SharedMemory::open(name).unwrap()).unwrap()
}

/// The shared object of type `T` at `offset`.
fn at<T: ShmSafe>(region: &MappedRegion, offset: usize) -> &T {
    // SAFETY: every test uses each offset of its object for one type only, in every process,
    // and touches those bytes only through references from `get`/`put`.
    unsafe { region.get(offset).unwrap() }
}

fn spawn(role: &str, args: &[&str]) -> shmkit_testkit::Child {
    builder(role, args).spawn()
}

fn builder(role: &str, args: &[&str]) -> ChildBuilder {
    let mut b = child(role);
    b.args(args).timeout(CHILD_TIMEOUT);
    b
}

/// Whether every thread of process `pid` is asleep (state `S`): a waiter that only spins or
/// yields is running (`R`).
fn all_threads_asleep(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut seen = false;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read(task.path().join("stat")) else {
            return false;
        };
        // The state letter follows the command name in parentheses (which may contain ')').
        let Some(i) = stat.iter().rposition(|&b| b == b')') else {
            return false;
        };
        if stat.get(i + 2) != Some(&b'S') {
            return false;
        }
        seen = true;
    }
    seen
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for all processes, so a child's wake-up time can
/// be compared with the parent's post time.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A sleeping semaphore waiter re-checks by itself once a second; a post must wake it well
/// before that, or the wake-up was lost.
const WAKE_LATENCY_LIMIT_NS: u64 = 500_000_000;

fn assert_woken_promptly(posted_ns: u64, out: &shmkit_testkit::Output) {
    let woke_ns: u64 = out.value("woke_ns").parse().unwrap();
    let latency = woke_ns.saturating_sub(posted_ns);
    assert!(
        latency < WAKE_LATENCY_LIMIT_NS,
        "woken {latency} ns after the post: the post's wake-up was lost"
    );
}

fn wait_asleep(pids: &[u32]) {
    assert!(
        wait_until(Duration::from_secs(20), || pids
            .iter()
            .all(|&p| all_threads_asleep(p))),
        "children {pids:?} never fell asleep"
    );
}

// ---------------------------------------------------------------- condvar producer/consumer

// Layout: a ring of 64 slots plus head (items pushed) and tail (items popped) under one mutex,
// and two condition variables.
const RING: usize = 0; // Mutex<[u64; 66]>: 8 + 528 bytes
const NOT_EMPTY: usize = 1024;
const NOT_FULL: usize = 1088;
const HEAD: usize = SLOTS as usize;
const TAIL: usize = SLOTS as usize + 1;

fn cv_producer(args: &[String]) {
    let region = open_shm(&args[0]);
    let ring: &Mutex<[u64; 66]> = at(&region, RING);
    let not_empty: &Condvar = at(&region, NOT_EMPTY);
    let not_full: &Condvar = at(&region, NOT_FULL);
    for v in 1..=ITEMS {
        let mut g = not_full
            .wait_while(ring.lock().unwrap(), |r| r[HEAD] - r[TAIL] == SLOTS)
            .unwrap();
        let head = g[HEAD];
        g[(head % SLOTS) as usize] = v;
        g[HEAD] = head + 1;
        drop(g);
        not_empty.notify_one();
    }
    report("sent", ITEMS);
}

fn cv_consumer(args: &[String]) {
    let region = open_shm(&args[0]);
    let ring: &Mutex<[u64; 66]> = at(&region, RING);
    let not_empty: &Condvar = at(&region, NOT_EMPTY);
    let not_full: &Condvar = at(&region, NOT_FULL);
    let (mut sum, mut in_order, mut received) = (0u64, true, 0u64);
    for expected in 1..=ITEMS {
        let mut g = not_empty
            .wait_while(ring.lock().unwrap(), |r| r[HEAD] == r[TAIL])
            .unwrap();
        let tail = g[TAIL];
        let v = g[(tail % SLOTS) as usize];
        g[TAIL] = tail + 1;
        drop(g);
        not_full.notify_one();
        in_order &= v == expected;
        sum += v;
        received += 1;
    }
    report("received", received);
    report("sum", sum);
    report("in_order", in_order);
}

#[test]
fn condvar_producer_consumer_across_processes_loses_no_wakeup() {
    let (name, _cleanup, region) = new_shm("cv-ring");
    let consumer = spawn("cv_consumer", &[&name]);
    let producer = spawn("cv_producer", &[&name]);
    let (p, c) = (producer.wait(), consumer.wait());
    p.assert_success();
    c.assert_success();
    assert_eq!(p.value("sent"), ITEMS.to_string());
    assert_eq!(c.value("received"), ITEMS.to_string());
    assert_eq!(c.value("sum"), (ITEMS * (ITEMS + 1) / 2).to_string());
    assert_eq!(c.value("in_order"), "true");
    let g = at::<Mutex<[u64; 66]>>(&region, RING).lock().unwrap();
    assert_eq!((g[HEAD], g[TAIL]), (ITEMS, ITEMS));
}

// ---------------------------------------------------------------- semaphore producer/consumer

const SEM_ITEMS: usize = 0;
const SEM_SLOTS: usize = 8;
const SEM_RING: usize = 64; // [AtomicU64; 64]

fn sem_producer(args: &[String]) {
    let region = open_shm(&args[0]);
    let items: &Semaphore = at(&region, SEM_ITEMS);
    let slots: &Semaphore = at(&region, SEM_SLOTS);
    let ring: &[AtomicU64; SLOTS as usize] = at(&region, SEM_RING);
    for v in 1..=ITEMS {
        slots.wait();
        ring[((v - 1) % SLOTS) as usize].store(v, Ordering::Relaxed);
        items.post().unwrap();
    }
    report("sent", ITEMS);
}

fn sem_consumer(args: &[String]) {
    let region = open_shm(&args[0]);
    let items: &Semaphore = at(&region, SEM_ITEMS);
    let slots: &Semaphore = at(&region, SEM_SLOTS);
    let ring: &[AtomicU64; SLOTS as usize] = at(&region, SEM_RING);
    let (mut sum, mut in_order, mut received) = (0u64, true, 0u64);
    for expected in 1..=ITEMS {
        items.wait();
        let v = ring[((expected - 1) % SLOTS) as usize].load(Ordering::Relaxed);
        slots.post().unwrap();
        in_order &= v == expected;
        sum += v;
        received += 1;
    }
    report("received", received);
    report("sum", sum);
    report("in_order", in_order);
}

#[test]
fn semaphore_producer_consumer_across_processes_delivers_everything_once() {
    let (name, _cleanup, region) = new_shm("sem-ring");
    // SAFETY: nothing references these bytes yet, and no child runs yet.
    unsafe { region.put(SEM_SLOTS, Semaphore::new(SLOTS as u32)).unwrap() };
    let consumer = spawn("sem_consumer", &[&name]);
    let producer = spawn("sem_producer", &[&name]);
    let (p, c) = (producer.wait(), consumer.wait());
    p.assert_success();
    c.assert_success();
    assert_eq!(p.value("sent"), ITEMS.to_string());
    assert_eq!(c.value("received"), ITEMS.to_string());
    assert_eq!(c.value("sum"), (ITEMS * (ITEMS + 1) / 2).to_string());
    assert_eq!(c.value("in_order"), "true");
    assert_eq!(at::<Semaphore>(&region, SEM_ITEMS).value(), 0);
    assert_eq!(at::<Semaphore>(&region, SEM_SLOTS).value(), SLOTS as u32);
}

// ---------------------------------------------------------------- timeouts

// Layout for the timed tests: a mutex over [entered, flag], a condvar, a semaphore.
const T_MUTEX: usize = 0; // Mutex<[u32; 2]>
const T_CV: usize = 64;
const T_SEM: usize = 128;

#[test]
fn condvar_wait_timeout_times_out_when_nobody_notifies() {
    let (_name, _cleanup, region) = new_shm("cv-timeout");
    let m: &Mutex<[u32; 2]> = at(&region, T_MUTEX);
    let cv: &Condvar = at(&region, T_CV);
    let timeout = Duration::from_millis(150);

    let start = Instant::now();
    let (g, r) = cv.wait_timeout(m.lock().unwrap(), timeout).unwrap();
    assert!(r.timed_out());
    assert!(start.elapsed() >= timeout, "{:?}", start.elapsed());
    drop(g);
    assert!(!m.is_locked());

    let start = Instant::now();
    let (g, r) = cv
        .wait_timeout_while(m.lock().unwrap(), timeout, |d| d[1] == 0)
        .unwrap();
    assert!(r.timed_out());
    assert!(start.elapsed() >= timeout);
    drop(g);

    let deadline = Instant::now() + timeout;
    let (g, r) = cv.wait_until(m.lock().unwrap(), deadline).unwrap();
    assert!(r.timed_out());
    assert!(Instant::now() >= deadline);

    // Zero: timed out at once, and the mutex stays locked throughout.
    let start = Instant::now();
    let (g, r) = cv.wait_timeout(g, Duration::ZERO).unwrap();
    assert!(r.timed_out());
    assert!(m.is_locked());
    assert!(start.elapsed() < Duration::from_secs(1));
    drop(g);
}

/// Child: enters a timed wait (saying so under the mutex), reports whether it timed out and how
/// long it waited.
fn cv_timed_waiter(args: &[String]) {
    let region = open_shm(&args[0]);
    let m: &Mutex<[u32; 2]> = at(&region, T_MUTEX);
    let cv: &Condvar = at(&region, T_CV);
    let mut g = m.lock().unwrap();
    g[0] = 1;
    let start = Instant::now();
    let mut timed_out = false;
    // One plain wait_timeout first (a spurious return is allowed, so loop on the flag).
    while g[1] == 0 && !timed_out {
        let (g2, r) = cv.wait_timeout(g, Duration::from_secs(20)).unwrap();
        g = g2;
        timed_out = r.timed_out();
    }
    report("timed_out", timed_out);
    report("flag", g[1]);
    report("waited_ms", start.elapsed().as_millis());
}

#[test]
fn condvar_wait_timeout_returns_early_when_notified_from_another_process() {
    let (name, _cleanup, region) = new_shm("cv-early");
    let m: &Mutex<[u32; 2]> = at(&region, T_MUTEX);
    let cv: &Condvar = at(&region, T_CV);
    let waiter = spawn("cv_timed_waiter", &[&name]);
    // The child sets `entered` under the mutex and keeps it until its wait releases it: once we
    // see the flag, it waits.
    assert!(wait_until(Duration::from_secs(20), || m.lock().unwrap()[0] == 1));
    wait_asleep(&[waiter.pid()]);
    m.lock().unwrap()[1] = 1;
    cv.notify_one();
    let out = waiter.wait();
    out.assert_success();
    assert_eq!(out.value("timed_out"), "false");
    assert_eq!(out.value("flag"), "1");
    let waited: u64 = out.value("waited_ms").parse().unwrap();
    assert!(waited < 20_000, "waited {waited} ms");
}

#[test]
fn semaphore_timeouts_and_try_wait_on_zero() {
    let (_name, _cleanup, region) = new_shm("sem-timeout");
    let sem: &Semaphore = at(&region, T_SEM);
    let start = Instant::now();
    assert!(!sem.try_wait());
    assert!(!sem.wait_timeout(Duration::ZERO));
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "try_wait and a zero timeout must not wait: {:?}",
        start.elapsed()
    );

    let timeout = Duration::from_millis(150);
    let start = Instant::now();
    assert!(!sem.wait_timeout(timeout));
    assert!(start.elapsed() >= timeout, "{:?}", start.elapsed());

    let deadline = Instant::now() + timeout;
    assert!(!sem.wait_until(deadline));
    assert!(Instant::now() >= deadline);
    assert_eq!(sem.value(), 0);
}

/// Child: says it entered, then waits on the semaphore with a long timeout.
fn sem_timed_waiter(args: &[String]) {
    let region = open_shm(&args[0]);
    let entered: &AtomicU32 = at(&region, 0);
    let sem: &Semaphore = at(&region, T_SEM);
    entered.store(1, Ordering::SeqCst);
    let start = Instant::now();
    report("got", sem.wait_timeout(Duration::from_secs(20)));
    report("woke_ns", monotonic_ns());
    report("waited_ms", start.elapsed().as_millis());
}

#[test]
fn semaphore_wait_timeout_returns_early_when_posted_from_another_process() {
    let (name, _cleanup, region) = new_shm("sem-early");
    let entered: &AtomicU32 = at(&region, 0);
    let sem: &Semaphore = at(&region, T_SEM);
    let waiter = spawn("sem_timed_waiter", &[&name]);
    assert!(wait_until(Duration::from_secs(20), || entered
        .load(Ordering::SeqCst)
        == 1));
    wait_asleep(&[waiter.pid()]);
    let posted_ns = monotonic_ns();
    sem.post().unwrap();
    let out = waiter.wait();
    out.assert_success();
    assert_eq!(out.value("got"), "true");
    assert_woken_promptly(posted_ns, &out);
    let waited: u64 = out.value("waited_ms").parse().unwrap();
    assert!(waited < 20_000, "waited {waited} ms");
    assert_eq!(sem.value(), 0);
}

// ---------------------------------------------------------------- waiters killed by SIGKILL

// Layout: a mutex over [entered, permits, woken, _], a condvar.
const K_MUTEX: usize = 0; // Mutex<[u32; 4]>
const K_CV: usize = 64;

/// Child: counts itself in under the mutex, waits for a permit, takes it.
fn cv_waiter(args: &[String]) {
    let region = open_shm(&args[0]);
    let m: &Mutex<[u32; 4]> = at(&region, K_MUTEX);
    let cv: &Condvar = at(&region, K_CV);
    let mut g = m.lock().unwrap();
    g[0] += 1;
    let mut g = cv.wait_while(g, |d| d[1] == 0).unwrap();
    g[1] -= 1;
    g[2] += 1;
    report("woken", true);
}

#[test]
fn condvar_waiter_killed_while_waiting_does_not_hang_the_others() {
    let (name, _cleanup, region) = new_shm("cv-kill");
    let m: &Mutex<[u32; 4]> = at(&region, K_MUTEX);
    let cv: &Condvar = at(&region, K_CV);
    let entered = |n: u32| wait_until(Duration::from_secs(20), || m.lock().unwrap()[0] == n);

    let victim = spawn("cv_waiter", &[&name]);
    let survivor = spawn("cv_waiter", &[&name]);
    assert!(entered(2));
    wait_asleep(&[victim.pid(), survivor.pid()]);
    let killed = victim.kill();
    assert_eq!(killed.signal(), Some(libc::SIGKILL));

    // One permit, one notify_one: the survivor must get it (the dead sleeper left the queue).
    m.lock().unwrap()[1] = 1;
    cv.notify_one();
    let out = survivor.wait();
    out.assert_success();
    assert_eq!(out.value("woken"), "true");
    assert_eq!(m.lock().unwrap()[2], 1);

    // The condition variable keeps working: another waiter, another notify.
    let next = spawn("cv_waiter", &[&name]);
    assert!(entered(3));
    wait_asleep(&[next.pid()]);
    m.lock().unwrap()[1] = 1;
    cv.notify_one();
    next.wait().assert_success();
    let g = m.lock().unwrap();
    assert_eq!((g[1], g[2]), (0, 2));
    drop(g);
    cv.notify_all(); // nobody waits (a stale sleeper count only costs a spare system call)
    let (_g, r) = cv
        .wait_timeout(m.lock().unwrap(), Duration::from_millis(20))
        .unwrap();
    assert!(r.timed_out());
}

/// Child: counts itself in, then waits for a unit.
fn sem_waiter(args: &[String]) {
    let region = open_shm(&args[0]);
    let entered: &AtomicU32 = at(&region, 0);
    let sem: &Semaphore = at(&region, T_SEM);
    entered.fetch_add(1, Ordering::SeqCst);
    sem.wait();
    report("woke_ns", monotonic_ns());
    report("got", true);
}

#[test]
fn semaphore_waiter_killed_while_waiting_does_not_hang_the_others() {
    let (name, _cleanup, region) = new_shm("sem-kill");
    let entered: &AtomicU32 = at(&region, 0);
    let sem: &Semaphore = at(&region, T_SEM);
    let entered_is = |n: u32| {
        wait_until(Duration::from_secs(20), || {
            entered.load(Ordering::SeqCst) == n
        })
    };

    let victim = spawn("sem_waiter", &[&name]);
    let survivor = spawn("sem_waiter", &[&name]);
    assert!(entered_is(2));
    wait_asleep(&[victim.pid(), survivor.pid()]);
    assert_eq!(victim.kill().signal(), Some(libc::SIGKILL));

    let posted_ns = monotonic_ns();
    sem.post().unwrap();
    let out = survivor.wait();
    out.assert_success();
    assert_eq!(out.value("got"), "true");
    assert_woken_promptly(posted_ns, &out);
    assert_eq!(sem.value(), 0);

    // And it keeps working.
    let next = spawn("sem_waiter", &[&name]);
    assert!(entered_is(3));
    wait_asleep(&[next.pid()]);
    let posted_ns = monotonic_ns();
    sem.post().unwrap();
    let out = next.wait();
    out.assert_success();
    assert_woken_promptly(posted_ns, &out);
    assert_eq!(sem.value(), 0);
    sem.post().unwrap();
    assert!(sem.try_wait());
    assert!(!sem.try_wait());
}

// ---------------------------------------------------------------- owner death while relocking

const D_MUTEX: usize = 0; // Mutex<[u32; 2]>
const D_CV: usize = 64;
const D_HOLDING: usize = 128; // AtomicU32

/// Child: locks, sets the flag, notifies, says it holds the lock, and waits to be killed.
fn cv_die_holding(args: &[String]) {
    let region = open_shm(&args[0]);
    let m: &Mutex<[u32; 2]> = at(&region, D_MUTEX);
    let cv: &Condvar = at(&region, D_CV);
    let holding: &AtomicU32 = at(&region, D_HOLDING);
    let mut g = m.lock().unwrap();
    g[1] = 1;
    cv.notify_all();
    holding.store(1, Ordering::SeqCst);
    std::thread::sleep(CHILD_TIMEOUT);
    drop(g);
}

#[test]
fn condvar_wait_reports_owner_died_when_the_notifier_dies_holding_the_mutex() {
    let (name, _cleanup, region) = new_shm("cv-died");
    let m: &Mutex<[u32; 2]> = at(&region, D_MUTEX);
    let cv: &Condvar = at(&region, D_CV);
    let holding: &AtomicU32 = at(&region, D_HOLDING);
    let mut g = m.lock().unwrap();
    g[0] = 1;
    let notifier = spawn("cv_die_holding", &[&name]);
    let start = Instant::now();
    let result = std::thread::scope(|s| {
        s.spawn(move || {
            assert!(wait_until(Duration::from_secs(20), || holding
                .load(Ordering::SeqCst)
                == 1));
            assert_eq!(notifier.kill().signal(), Some(libc::SIGKILL));
        });
        cv.wait_timeout_while(g, Duration::from_secs(20), |d| d[1] == 0)
    });
    let died = result.expect_err("the notifier died holding the mutex");
    let (mut g, r) = died.into_inner();
    // Woken by the notification, not by the deadline (which would also see it, late).
    assert!(!r.timed_out() && start.elapsed() < Duration::from_secs(10));
    assert_eq!(*g, [1, 1]);
    MutexGuard::mark_consistent(&mut g);
    drop(g);
    assert!(m.is_consistent());
    assert!(m.lock().is_ok());
}

// ---------------------------------------------------------------- barrier

const PARTIES: u32 = 4;
const GENERATIONS: usize = 25;
const B_BARRIER: usize = 0;
const B_ARRIVED: usize = 64; // [AtomicU32; GENERATIONS]
const B_LEADERS: usize = 256; // [AtomicU32; GENERATIONS]
const B_EARLY: usize = 512; // AtomicU32: parties that left a generation before all arrived

fn barrier_party(args: &[String]) {
    let region = open_shm(&args[0]);
    let barrier: &Barrier = at(&region, B_BARRIER);
    let arrived: &[AtomicU32; GENERATIONS] = at(&region, B_ARRIVED);
    let leaders: &[AtomicU32; GENERATIONS] = at(&region, B_LEADERS);
    let early: &AtomicU32 = at(&region, B_EARLY);
    let mut led = 0;
    for g in 0..GENERATIONS {
        arrived[g].fetch_add(1, Ordering::SeqCst);
        let r = barrier.wait();
        if arrived[g].load(Ordering::SeqCst) != PARTIES {
            early.fetch_add(1, Ordering::SeqCst);
        }
        if r.is_leader() {
            leaders[g].fetch_add(1, Ordering::SeqCst);
            led += 1;
        }
    }
    report("led", led);
}

#[test]
fn barrier_of_four_processes_has_one_leader_per_generation() {
    let (name, _cleanup, region) = new_shm("barrier");
    // SAFETY: nothing references these bytes yet, and no child runs yet.
    let barrier = unsafe { region.put(B_BARRIER, Barrier::new(PARTIES)).unwrap() };
    assert_eq!(barrier.parties(), PARTIES);
    let parties: Vec<_> = (0..PARTIES)
        .map(|_| spawn("barrier_party", &[&name]))
        .collect();
    let mut led = 0;
    for p in parties {
        let out = p.wait();
        out.assert_success();
        led += out.value("led").parse::<usize>().unwrap();
    }
    assert_eq!(led, GENERATIONS);
    let arrived: &[AtomicU32; GENERATIONS] = at(&region, B_ARRIVED);
    let leaders: &[AtomicU32; GENERATIONS] = at(&region, B_LEADERS);
    for g in 0..GENERATIONS {
        assert_eq!(arrived[g].load(Ordering::SeqCst), PARTIES, "generation {g}");
        assert_eq!(leaders[g].load(Ordering::SeqCst), 1, "generation {g}");
    }
    assert_eq!(at::<AtomicU32>(&region, B_EARLY).load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------- CondvarAny

const A_MUTEX: usize = 0; // RecursiveMutex<AtomicU32>: the stage
const A_CV: usize = 64;
const ROUNDS: u32 = 50;

/// Child: answers each odd stage `2r + 1` with `2r + 2`.
fn any_peer(args: &[String]) {
    let region = open_shm(&args[0]);
    let m: &RecursiveMutex<AtomicU32> = at(&region, A_MUTEX);
    let cv: &CondvarAny = at(&region, A_CV);
    for r in 0..ROUNDS {
        let g = cv
            .wait_while(m.lock().unwrap(), |g| {
                g.load(Ordering::Relaxed) != 2 * r + 1
            })
            .unwrap();
        g.store(2 * r + 2, Ordering::Relaxed);
        drop(g);
        cv.notify_all();
    }
    report("rounds", ROUNDS);
}

#[test]
fn condvar_any_with_recursive_mutex_hands_off_between_processes() {
    let (name, _cleanup, region) = new_shm("cv-any");
    let m: &RecursiveMutex<AtomicU32> = at(&region, A_MUTEX);
    let cv: &CondvarAny = at(&region, A_CV);
    let peer = spawn("any_peer", &[&name]);
    for r in 0..ROUNDS {
        let g = m.lock().unwrap();
        g.store(2 * r + 1, Ordering::Relaxed);
        cv.notify_all();
        let (g, timed_out) = cv
            .wait_timeout_while(g, Duration::from_secs(20), |g| {
                g.load(Ordering::Relaxed) != 2 * r + 2
            })
            .unwrap();
        assert!(!timed_out.timed_out(), "round {r}");
        drop(g);
    }
    let out = peer.wait();
    out.assert_success();
    assert_eq!(out.value("rounds"), ROUNDS.to_string());
}

#[test]
#[should_panic(expected = "nested RecursiveMutex guard")]
fn condvar_any_refuses_a_nested_recursive_guard() {
    let m = RecursiveMutex::new(());
    let cv = CondvarAny::new();
    let _outer = m.lock().unwrap();
    let inner = m.lock().unwrap();
    let _ = cv.wait(inner);
}
