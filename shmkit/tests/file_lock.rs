//! `FileLock` tested across real processes (the test binary re-executed as a child; see
//! shmkit-testkit).
//!
//! Children cannot report through stdout before they exit, so the handshakes go through marker
//! files: a holder creates `<lock>.locked-<tag>` once it holds the lock, then waits for
//! `<lock>.release-<tag>` before letting go.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use shmkit::sync::{FileLockGuard, FileLockSharedGuard};
use shmkit::{ErrorKind, FileLock};
use shmkit_testkit::{Child, Cleanup, child, child_roles, report, unique_path, wait_until};

child_roles!(holder, probe);

/// How long a handshake may take before the test fails (generous: the machine is shared).
const HANDSHAKE: Duration = Duration::from_secs(20);

/// A lock file plus its marker files, all removed when dropped.
struct Fixture {
    path: PathBuf,
    cleanup: Cleanup,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let path = unique_path(tag);
        std::fs::write(&path, b"").unwrap();
        let mut cleanup = Cleanup::new();
        cleanup.file(&path);
        Fixture { path, cleanup }
    }

    fn marker(&mut self, what: &str, tag: &str) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{what}-{tag}"));
        let marker = PathBuf::from(name);
        self.cleanup.file(&marker);
        marker
    }

    /// Starts a child holding the lock (`kind` is `exclusive` or `shared`) and waits until it
    /// holds it. Returns the child and the marker that releases it.
    fn spawn_holder(&mut self, kind: &str, tag: &str) -> (Child, PathBuf) {
        let locked = self.marker("locked", tag);
        let release = self.marker("release", tag);
        let mut c = child("holder")
            .args([
                path_arg(&self.path),
                kind,
                path_arg(&locked),
                path_arg(&release),
            ])
            .spawn();
        assert!(
            wait_until(HANDSHAKE, || locked.exists() || c.has_exited()),
            "holder {tag} never took the lock"
        );
        assert!(!c.has_exited(), "holder {tag} exited early: {:?}", c.wait());
        (c, release)
    }

    /// What another process sees: whether it could take the lock exclusive, and shared.
    fn probe(&self) -> (bool, bool) {
        let out = child("probe").arg(path_arg(&self.path)).run();
        (
            out.value("exclusive") == "true",
            out.value("shared") == "true",
        )
    }
}

fn path_arg(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn release(marker: &Path) {
    std::fs::write(marker, b"").unwrap();
}

// ---------------------------------------------------------------- child roles

/// Child: takes the lock (`exclusive` or `shared`) on `args[0]`, creates the marker `args[2]`,
/// waits for the marker `args[3]`, then releases the lock and exits.
fn holder(args: &[String]) {
    let (path, kind, locked, release) = (&args[0], &args[1], &args[2], &args[3]);
    let mut lock = FileLock::open(path).unwrap();
    let wait_for_release = || {
        std::fs::write(locked, b"").unwrap();
        assert!(
            wait_until(HANDSHAKE, || Path::new(release).exists()),
            "never released"
        );
    };
    match kind.as_str() {
        "exclusive" => {
            let _guard = lock.lock().unwrap();
            wait_for_release();
        }
        "shared" => {
            let _guard = lock.lock_shared().unwrap();
            wait_for_release();
        }
        other => panic!("unknown lock kind {other:?}"),
    }
    report("released", true);
}

/// Child: reports whether it can take the lock on `args[0]` exclusive, then shared (releasing
/// each at once).
fn probe(args: &[String]) {
    let mut lock = FileLock::open(&args[0]).unwrap();
    report("exclusive", lock.try_lock().unwrap().is_some());
    report("shared", lock.try_lock_shared().unwrap().is_some());
}

// ---------------------------------------------------------------- across processes

#[test]
fn exclusive_holder_in_another_process_blocks_every_lock() {
    let mut fx = Fixture::new("fl-excl");
    let (holder, release_it) = fx.spawn_holder("exclusive", "a");

    let mut lock = FileLock::open(&fx.path).unwrap();
    assert!(lock.try_lock().unwrap().is_none());
    assert!(lock.try_lock_shared().unwrap().is_none());

    let start = Instant::now();
    let err = lock.lock_timeout(Duration::from_millis(100)).unwrap_err();
    let waited = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        waited >= Duration::from_millis(100),
        "gave up after {waited:?}"
    );
    assert!(err.to_string().contains(path_arg(&fx.path)), "{err}");

    let start = Instant::now();
    let err = lock.lock_shared_timeout(Duration::ZERO).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "zero is one try"
    );

    release(&release_it);
    assert_eq!(holder.wait().assert_success().value("released"), "true");
    let start = Instant::now();
    let _guard = lock.lock_timeout(Duration::from_secs(5)).unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_waiting_lock_timeout_gets_the_lock_when_the_holder_releases() {
    let mut fx = Fixture::new("fl-handoff");
    let (holder, release_it) = fx.spawn_holder("exclusive", "a");
    let mut lock = FileLock::open(&fx.path).unwrap();
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        release(&release_it);
        holder.wait().assert_success();
    });
    let start = Instant::now();
    let guard = lock.lock_timeout(Duration::from_secs(10)).unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(50),
        "got it after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "got it after {waited:?}");
    releaser.join().unwrap();
    drop(guard);
}

#[test]
fn sigkill_of_the_holder_frees_the_lock() {
    let mut fx = Fixture::new("fl-kill");
    let (holder, _never_released) = fx.spawn_holder("exclusive", "a");

    let mut lock = FileLock::open(&fx.path).unwrap();
    assert!(lock.try_lock().unwrap().is_none(), "the holder has it");

    let out = holder.kill();
    assert_eq!(out.signal(), Some(libc::SIGKILL));
    assert!(out.values("released").is_empty(), "killed before releasing");

    let start = Instant::now();
    let _guard = lock.lock_timeout(Duration::from_secs(5)).unwrap();
    let waited = start.elapsed();
    assert!(waited < Duration::from_secs(1), "took {waited:?}");
}

#[test]
fn shared_holders_coexist_and_keep_out_the_exclusive_lock_until_both_release() {
    let mut fx = Fixture::new("fl-shared");
    let (mut a, release_a) = fx.spawn_holder("shared", "a");
    let (b, release_b) = fx.spawn_holder("shared", "b");
    // Both hold it at once: b took it while a, not yet released, still held it.
    assert!(!a.has_exited() && !release_a.exists());

    let mut lock = FileLock::open(&fx.path).unwrap();
    assert!(lock.try_lock().unwrap().is_none());
    assert_eq!(
        fx.probe(),
        (false, true),
        "a third process may share, not exclude"
    );
    {
        let _reader = lock.try_lock_shared().unwrap().expect("readers share");
    }

    release(&release_a);
    a.wait().assert_success();
    assert!(
        lock.try_lock().unwrap().is_none(),
        "b still holds it shared"
    );
    let err = lock.lock_timeout(Duration::from_millis(20)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);

    release(&release_b);
    b.wait().assert_success();
    let _writer = lock.lock_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        fx.probe(),
        (false, false),
        "now the parent excludes everyone"
    );
}

#[test]
fn closing_other_descriptors_of_the_file_keeps_the_lock() {
    // With Boost's fcntl locks, closing any descriptor of the file drops the process's locks.
    let fx = Fixture::new("fl-close");
    let mut lock = FileLock::open(&fx.path).unwrap();
    let _guard = lock.lock().unwrap();

    drop(FileLock::open(&fx.path).unwrap());
    drop(std::fs::File::open(&fx.path).unwrap());
    std::fs::read(&fx.path).unwrap();

    assert_eq!(fx.probe(), (false, false), "still held");
}

// ---------------------------------------------------------------- within one process

#[test]
fn two_handles_in_one_process_exclude_each_other() {
    let fx = Fixture::new("fl-handles");
    let mut a = FileLock::open(&fx.path).unwrap();
    let mut b = FileLock::open(&fx.path).unwrap();

    let held = a.lock().unwrap();
    assert!(b.try_lock().unwrap().is_none());
    assert!(b.try_lock_shared().unwrap().is_none());
    assert_eq!(
        b.lock_timeout(Duration::from_millis(20))
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    drop(held);

    let shared = a.lock_shared().unwrap();
    assert!(b.try_lock().unwrap().is_none());
    let also = b.try_lock_shared().unwrap().expect("shared locks coexist");
    drop((shared, also));

    assert!(b.try_lock().unwrap().is_some());
    // The handle can lock again after each guard.
    let again = a.lock_timeout(Duration::ZERO).unwrap();
    again.unlock().unwrap();
}

#[test]
fn a_thread_with_its_own_handle_waits_for_another_threads_lock() {
    let fx = Fixture::new("fl-threads");
    let mut a = FileLock::open(&fx.path).unwrap();
    let mut b = FileLock::open(&fx.path).unwrap();
    let held = a.lock().unwrap();

    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _guard = b.lock().unwrap();
        tx.send(()).unwrap();
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "the other thread's handle got the lock while it was held"
    );
    drop(held);
    rx.recv_timeout(HANDSHAKE)
        .expect("the waiting thread got the lock");
    waiter.join().unwrap();
}

#[test]
fn an_unrepresentable_timeout_waits_like_lock() {
    let fx = Fixture::new("fl-max");
    let mut lock = FileLock::open(&fx.path).unwrap();
    drop(lock.lock_timeout(Duration::MAX).unwrap());
    drop(lock.lock_shared_timeout(Duration::MAX).unwrap());
}

#[test]
fn handles_and_guards_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<FileLock>();
    check::<FileLockGuard<'static>>();
    check::<FileLockSharedGuard<'static>>();
}

// ---------------------------------------------------------------- opening

#[test]
fn a_missing_file_is_not_found() {
    let path = unique_path("fl-missing");
    let err = FileLock::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains(path_arg(&path)), "{err}");
    assert!(!path.exists(), "open never creates the file");
}

#[test]
fn a_directory_or_fifo_is_an_invalid_argument() {
    let err = FileLock::open(std::env::temp_dir()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    // A FIFO without a writer: must be refused, not hang in open.
    let fifo = unique_path("fl-fifo");
    let mut cleanup = Cleanup::new();
    cleanup.file(&fifo);
    let c_path = std::ffi::CString::new(path_arg(&fifo)).unwrap();
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let err = FileLock::open(&fifo).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn path_is_the_one_opened() {
    let fx = Fixture::new("fl-path");
    assert_eq!(FileLock::open(&fx.path).unwrap().path(), fx.path);
}
