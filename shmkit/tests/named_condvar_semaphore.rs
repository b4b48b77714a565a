//! `NamedSemaphore`, `NamedCondvar`, `NamedRwLock` and `NamedUpgradableRwLock` across real
//! processes: creation semantics, validation, use from two processes, owner death.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use shmkit::sync::{
    Lockable, NamedCondvar, NamedMutex, NamedRwLock, NamedSemaphore, NamedUpgradableRwLock,
    RwLockWriteGuard, TryLockError, UpgradableGuard,
};
use shmkit::{ErrorKind, MappedRegion, RemoveOnDrop, SharedMemory};
use shmkit_testkit::{child, child_roles, report, unique_name};

child_roles!(ponger, waiter, rw_holder);

#[test]
fn creation_matrix_and_kind_checks() {
    let s = unique_name("nsem");
    let c = unique_name("ncv");
    let _g = (
        RemoveOnDrop::shared_memory(&s),
        RemoveOnDrop::shared_memory(&c),
    );

    assert_eq!(
        NamedSemaphore::open(&s).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        NamedCondvar::open(&c).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let sem = NamedSemaphore::create(&s, 2).unwrap();
    assert!(sem.created());
    let cv = NamedCondvar::create(&c).unwrap();
    assert_eq!(
        NamedSemaphore::create(&s, 0).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        NamedCondvar::create(&c).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );

    // The initial count is ignored when opening, as in Boost.
    let again = NamedSemaphore::open_or_create(&s, 99).unwrap();
    assert!(!again.created());
    assert_eq!(again.value(), 2);
    assert!(!NamedCondvar::open_or_create(&c).unwrap().created());

    // Kinds are checked.
    let e = NamedCondvar::open(&s).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    assert_eq!(
        NamedMutex::open(&c).unwrap_err().kind(),
        ErrorKind::Incompatible
    );
    assert_eq!(
        NamedSemaphore::open(&c).unwrap_err().kind(),
        ErrorKind::Incompatible
    );

    for bad in ["", "a/b", ".."] {
        assert_eq!(
            NamedSemaphore::create(bad, 0).unwrap_err().kind(),
            ErrorKind::InvalidName
        );
        assert_eq!(
            NamedCondvar::create(bad).unwrap_err().kind(),
            ErrorKind::InvalidName
        );
    }
    drop((sem, cv));
    NamedSemaphore::remove(&s).unwrap();
    assert_eq!(
        NamedSemaphore::open(&s).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// Child: answers each ping with a pong, `n` times.
fn ponger(args: &[String]) {
    let ping = NamedSemaphore::open(&args[0]).unwrap();
    let pong = NamedSemaphore::open(&args[1]).unwrap();
    let n: u32 = args[2].parse().unwrap();
    for _ in 0..n {
        assert!(ping.wait_timeout(Duration::from_secs(30)), "no ping");
        pong.post().unwrap();
    }
    report("answered", n);
}

#[test]
fn two_processes_ping_pong_through_named_semaphores() {
    const N: u32 = 2_000;
    let (a, b) = (unique_name("ping"), unique_name("pong"));
    let _g = (
        RemoveOnDrop::shared_memory(&a),
        RemoveOnDrop::shared_memory(&b),
    );
    let ping = NamedSemaphore::create(&a, 0).unwrap();
    let pong = NamedSemaphore::create(&b, 0).unwrap();
    let c = child("ponger")
        .args([a.as_str(), b.as_str(), &N.to_string()])
        .spawn();
    for i in 0..N {
        ping.post().unwrap();
        assert!(
            pong.wait_timeout(Duration::from_secs(30)),
            "no pong for ping {i}"
        );
    }
    assert_eq!(c.wait().value("answered"), N.to_string());
    assert_eq!((ping.value(), pong.value()), (0, 0));
    assert!(!pong.wait_timeout(Duration::from_millis(20)));
}

/// Child: takes the named rwlock in the given mode, raises its semaphore, then waits for the
/// release semaphore (or to be killed).
fn rw_holder(args: &[String]) {
    let ready = NamedSemaphore::open(&args[2]).unwrap();
    let release = NamedSemaphore::open(&args[3]).unwrap();
    match args[1].as_str() {
        "read" => {
            let lock = NamedRwLock::open(&args[0]).unwrap();
            let _g = lock.read().unwrap();
            ready.post().unwrap();
            release.wait();
        }
        "write" => {
            let lock = NamedRwLock::open(&args[0]).unwrap();
            let _g = lock.write().unwrap();
            ready.post().unwrap();
            release.wait();
        }
        "upgradable-lock-read" => {
            let lock = NamedUpgradableRwLock::open(&args[0]).unwrap();
            let _g = lock.read().unwrap();
            ready.post().unwrap();
            release.wait();
        }
        _ => {
            let lock = NamedUpgradableRwLock::open(&args[0]).unwrap();
            let _g = lock.upgradable_read().unwrap();
            ready.post().unwrap();
            release.wait();
        }
    }
}

struct RwFixture {
    lock: String,
    ready: NamedSemaphore,
    release: NamedSemaphore,
    names: [String; 2],
    _cleanup: [RemoveOnDrop; 3],
}

impl RwFixture {
    fn new(tag: &str) -> RwFixture {
        let (lock, r, q) = (
            unique_name(tag),
            unique_name("ready"),
            unique_name("release"),
        );
        RwFixture {
            ready: NamedSemaphore::create(&r, 0).unwrap(),
            release: NamedSemaphore::create(&q, 0).unwrap(),
            _cleanup: [
                RemoveOnDrop::shared_memory(&lock),
                RemoveOnDrop::shared_memory(&r),
                RemoveOnDrop::shared_memory(&q),
            ],
            lock,
            names: [r, q],
        }
    }

    fn holder(&self, mode: &str) -> shmkit_testkit::Child {
        let c = child("rw_holder")
            .args([self.lock.as_str(), mode, &self.names[0], &self.names[1]])
            .spawn();
        assert!(
            self.ready.wait_timeout(Duration::from_secs(30)),
            "holder never locked"
        );
        c
    }
}

#[test]
fn named_rwlocks_exclude_across_processes_and_check_kinds() {
    let f = RwFixture::new("nrw");
    let lock = NamedRwLock::create(&f.lock).unwrap();
    assert_eq!(
        NamedRwLock::create(&f.lock).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        NamedUpgradableRwLock::open(&f.lock).unwrap_err().kind(),
        ErrorKind::Incompatible
    );
    assert_eq!(
        NamedMutex::open(&f.lock).unwrap_err().kind(),
        ErrorKind::Incompatible
    );

    // A reader in another process: we can read too, not write.
    let reader = f.holder("read");
    assert!(lock.try_read().is_ok());
    assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
    assert!(matches!(
        lock.write_timeout(Duration::from_millis(30)),
        Err(TryLockError::TimedOut)
    ));
    f.release.post().unwrap();
    reader.wait().assert_success();
    drop(lock.write_timeout(Duration::from_secs(10)).unwrap());

    // A writer killed while holding the lock: the next writer is told, and recovers.
    let writer = f.holder("write");
    assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
    writer.kill();
    let mut g = lock.write().unwrap_err().into_inner();
    RwLockWriteGuard::mark_consistent(&mut g);
    drop(g);
    assert!(lock.is_consistent());
    drop(lock.read().unwrap());
}

#[test]
fn named_upgradable_rwlock_transfers_across_processes() {
    let f = RwFixture::new("nurw");
    let lock = NamedUpgradableRwLock::open_or_create(&f.lock).unwrap();
    assert!(lock.created());
    assert_eq!(
        NamedRwLock::open(&f.lock).unwrap_err().kind(),
        ErrorKind::Incompatible
    );

    // Another process holds the upgradable lock: we may read, not take upgradable or write.
    let up_holder = f.holder("upgradable");
    let r = lock.read().unwrap();
    assert!(matches!(
        lock.try_upgradable_read(),
        Err(TryLockError::WouldBlock)
    ));
    assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
    drop(r);
    f.release.post().unwrap();
    up_holder.wait().assert_success();

    // Our upgradable lock cannot become a write lock while another process reads.
    let reader = f.holder("upgradable-lock-read");
    let up = lock.upgradable_read().unwrap();
    let up = UpgradableGuard::try_upgrade(up).expect_err("a reader is in");
    let up = match UpgradableGuard::upgrade_timeout(up, Duration::from_millis(30)) {
        Err(up) => up,
        Ok(_) => panic!("upgraded while a reader held the lock"),
    };
    f.release.post().unwrap();
    reader.wait().assert_success();
    let w = UpgradableGuard::upgrade_timeout(up, Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("the reader left: the upgrade must succeed"));
    let up = RwLockWriteGuard::downgrade_to_upgradable(w);
    drop(UpgradableGuard::downgrade(up));
    assert!(!lock.is_locked());
}

/// Waits on `cond` with `guard` until `flags[0]` is set, after raising `flags[1]` ("about to
/// wait"); returns the flag's value.
fn wait_for_flag<G: Lockable>(cond: &NamedCondvar, guard: G, flags: &[AtomicU32; 2]) -> u32 {
    flags[1].store(1, Ordering::Release);
    let guard = cond
        .wait_while(guard, |_| flags[0].load(Ordering::Acquire) == 0)
        .unwrap();
    drop(guard);
    flags[0].load(Ordering::Acquire)
}

/// Child: waits on the named condvar holding the named mutex (`mutex`) or the named rwlock's
/// write lock (`rwlock`: `CondvarAny` works with any shmkit lock), until the parent sets the
/// flag in shared memory.
fn waiter(args: &[String]) {
    let cond = NamedCondvar::open(&args[2]).unwrap();
    let region = MappedRegion::map(&SharedMemory::open(&args[3]).unwrap()).unwrap();
    // SAFETY: these bytes are only accessed through this typed view.
    let flags: &[AtomicU32; 2] = unsafe { region.get(0) }.unwrap();
    let woke = match args[0].as_str() {
        "mutex" => {
            let mutex = NamedMutex::open(&args[1]).unwrap();
            wait_for_flag(&cond, mutex.lock().unwrap(), flags)
        }
        _ => {
            let lock = NamedRwLock::open(&args[1]).unwrap();
            wait_for_flag(&cond, lock.write().unwrap(), flags)
        }
    };
    report("woke", woke);
}

/// Parent side of the `waiter` handshake: creates the condvar and the flags, starts the child,
/// waits until it is about to wait, then (holding the lock, which proves the child released it
/// inside `wait`) sets the flag and notifies.
fn condvar_handshake<G>(kind: &str, lock_name: &str, take: impl Fn() -> G, value: u32) {
    let (c, s) = (unique_name("cvc"), unique_name("cvs"));
    let _g = (
        RemoveOnDrop::shared_memory(&c),
        RemoveOnDrop::shared_memory(&s),
    );
    let cond = NamedCondvar::create(&c).unwrap();
    let shm = SharedMemory::create(&s).unwrap();
    shm.set_len(4096).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    // SAFETY: as in the child.
    let flags: &[AtomicU32; 2] = unsafe { region.get(0) }.unwrap();
    let w = child("waiter")
        .args([kind, lock_name, c.as_str(), s.as_str()])
        .spawn();
    assert!(shmkit_testkit::wait_until(
        Duration::from_secs(30),
        || flags[1].load(Ordering::Acquire) == 1
    ));
    {
        let _guard = take();
        flags[0].store(value, Ordering::Release);
        cond.notify_all();
    }
    assert_eq!(w.wait().value("woke"), value.to_string());
}

#[test]
fn a_named_condvar_wakes_a_waiter_in_another_process() {
    let m = unique_name("cvm");
    let _g = RemoveOnDrop::shared_memory(&m);
    let mutex = NamedMutex::create(&m).unwrap();
    condvar_handshake("mutex", &m, || mutex.lock().unwrap(), 7);
}

#[test]
fn a_named_condvar_waits_with_a_rwlock_write_guard_across_processes() {
    let l = unique_name("cvl");
    let _g = RemoveOnDrop::shared_memory(&l);
    let lock = NamedRwLock::create(&l).unwrap();
    condvar_handshake("rwlock", &l, || lock.write().unwrap(), 5);
}
