//! Futexes and thread identity: `futex(2)` wait/wake on shared (not process-private) words,
//! `gettid(2)` cached per thread, and a liveness probe (`kill(tid, 0)` plus `/proc` state).

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;

/// What a [`futex_wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FutexWait {
    /// Woken by a `futex_wake`, or spuriously, or by a signal: re-check the word.
    Woken,
    /// The word did not hold the expected value when the call began.
    Changed,
    /// The timeout expired.
    TimedOut,
}

/// `FUTEX_WAIT` on a word that may live in memory shared between processes: sleeps while
/// `*word == expected`, at most `timeout` (measured on `CLOCK_MONOTONIC`, so wall-clock jumps do
/// not affect it).
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    let ts = timeout.map(|d| futex::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    });
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Ok(()) | Err(Errno::INTR) => FutexWait::Woken,
        Err(Errno::AGAIN) => FutexWait::Changed,
        Err(Errno::TIMEDOUT) => FutexWait::TimedOut,
        // EFAULT/EINVAL cannot happen for a valid, aligned &AtomicU32; treat as a spurious wake.
        Err(_) => FutexWait::Woken,
    }
}

/// `FUTEX_WAKE`: wakes up to `n` waiters sleeping on `word`; returns how many were woken.
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) -> usize {
    futex::wake(word, futex::Flags::empty(), n).unwrap_or(0)
}

static ATFORK: Once = Once::new();

thread_local! {
    /// This thread's id, 0 until first read. A `const` initialiser without destructor: plain
    /// thread-local memory, no lazy registration, so the fork handler below may touch it.
    static TID: Cell<u32> = const { Cell::new(0) };
}

/// Runs in the child after `fork`, in its only thread (the one that forked): that thread's id
/// changed, so forget the cached one. Only a thread-local store: async-signal-safe.
extern "C" fn after_fork_in_child() {
    TID.with(|c| c.set(0));
}

/// The calling thread's id (`gettid`), cached per thread and refreshed after `fork`. Used as the
/// owner tag in lock words: unique among live threads of one PID namespace, and a probe of it
/// tells whether the owner still lives.
#[inline]
pub(crate) fn current_tid() -> u32 {
    TID.with(|c| {
        let tid = c.get();
        if tid != 0 { tid } else { refresh_tid(c) }
    })
}

#[cold]
fn refresh_tid(c: &Cell<u32>) -> u32 {
    ATFORK.call_once(|| {
        // SAFETY: registering a handler has no memory preconditions; the handler only writes
        // this thread's thread-local cell, which is async-signal-safe.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    c.set(tid);
    tid
}

/// The calling process's id (`getpid`).
pub(crate) fn current_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// Whether thread or process `id` (in this PID namespace) is alive: `kill(id, 0)` succeeds or
/// fails with `EPERM` (it exists, owned by another user), and `/proc/<id>/stat` does not show it
/// as a zombie (dead but not yet reaped by its parent).
pub(crate) fn is_alive(id: u32) -> bool {
    let Some(pid) = i32::try_from(id)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) | Err(Errno::PERM) => {}
        Err(_) => return false,
    }
    match std::fs::read(format!("/proc/{id}/stat")) {
        // The state letter follows the command name, which is in parentheses and may itself
        // contain ')'; so look after the last one.
        Ok(stat) => match stat.iter().rposition(|&b| b == b')') {
            Some(i) => !matches!(stat.get(i + 2), Some(b'Z' | b'X' | b'x')),
            None => true,
        },
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}
