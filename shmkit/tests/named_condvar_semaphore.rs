//! `NamedSemaphore` and `NamedCondvar` across real processes: creation semantics, validation,
//! and use from two processes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use shmkit::sync::{NamedCondvar, NamedMutex, NamedSemaphore};
use shmkit::{ErrorKind, MappedRegion, RemoveOnDrop, SharedMemory};
use shmkit_testkit::{child, child_roles, report, unique_name};

child_roles!(ponger, waiter);

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

/// Child: waits on the named condvar (with the named mutex) until the flag in shared memory is
/// set, counting its wake-ups.
fn waiter(args: &[String]) {
    let mutex = NamedMutex::open(&args[0]).unwrap();
    let cond = NamedCondvar::open(&args[1]).unwrap();
    let region = MappedRegion::map(&SharedMemory::open(&args[2]).unwrap()).unwrap();
    // SAFETY: these bytes are only accessed through this typed view.
    let flags: &[AtomicU32; 2] = unsafe { region.get(0) }.unwrap();
    let guard = mutex.lock().unwrap();
    flags[1].store(1, Ordering::Release); // "I am about to wait"
    let guard = cond
        .wait_while(guard, |_| flags[0].load(Ordering::Acquire) == 0)
        .unwrap();
    drop(guard);
    report("woke", flags[0].load(Ordering::Acquire));
}

#[test]
fn a_named_condvar_wakes_a_waiter_in_another_process() {
    let (m, c, s) = (unique_name("cvm"), unique_name("cvc"), unique_name("cvs"));
    let _g = (
        RemoveOnDrop::shared_memory(&m),
        RemoveOnDrop::shared_memory(&c),
        RemoveOnDrop::shared_memory(&s),
    );
    let mutex = NamedMutex::create(&m).unwrap();
    let cond = NamedCondvar::create(&c).unwrap();
    let shm = SharedMemory::create(&s).unwrap();
    shm.set_len(4096).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    // SAFETY: as in the child.
    let flags: &[AtomicU32; 2] = unsafe { region.get(0) }.unwrap();

    let w = child("waiter")
        .args([m.as_str(), c.as_str(), s.as_str()])
        .spawn();
    assert!(shmkit_testkit::wait_until(
        Duration::from_secs(30),
        || flags[1].load(Ordering::Acquire) == 1
    ));
    {
        // Taking the mutex proves the child is inside wait (it released the mutex there).
        let _guard = mutex.lock().unwrap();
        flags[0].store(7, Ordering::Release);
        cond.notify_all();
    }
    assert_eq!(w.wait().value("woke"), "7");
}
