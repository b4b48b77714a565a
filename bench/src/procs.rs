//! Forked child processes and a start line in shared memory, mirroring `bench/boost/common.hpp`.
//! `shmkit-xbench` is single-threaded, so `fork` is safe to use here.

use std::sync::atomic::{AtomicU32, Ordering};

/// Two words in shared memory: children announce themselves on `ready` and spin until `go`.
#[repr(C)]
#[derive(Default, shmkit::ShmSafe)]
pub struct StartGate {
    ready: AtomicU32,
    go: AtomicU32,
}

impl StartGate {
    /// In a child: announce and wait for the start.
    pub fn arrive_and_wait(&self) {
        self.ready.fetch_add(1, Ordering::AcqRel);
        spin_until(|| self.go.load(Ordering::Acquire) != 0);
    }

    /// In the parent: wait until `n` children arrived.
    pub fn wait_ready(&self, n: u32) {
        spin_until(|| self.ready.load(Ordering::Acquire) >= n);
    }

    /// In the parent: start them.
    pub fn open(&self) {
        self.go.store(1, Ordering::Release);
    }
}

/// Spins until `pred` holds, yielding every 1024 polls.
pub fn spin_until(mut pred: impl FnMut() -> bool) {
    let mut n = 0u32;
    while !pred() {
        n = n.wrapping_add(1);
        if n.is_multiple_of(1024) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Forks a child running `f`; the child exits with 0 if `f` returns true, 1 otherwise, and dies
/// with the parent.
pub fn fork_child(f: impl FnOnce() -> bool) -> libc::pid_t {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: this program is single-threaded, so the child may run arbitrary code.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes plain integers.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(false);
        // SAFETY: _exit never returns and runs no destructors (the parent owns the objects).
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    pid
}

/// Waits for `pid`; true if it exited with status 0.
pub fn wait_child(pid: libc::pid_t) -> bool {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC), comparable across processes.
pub fn now_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}
