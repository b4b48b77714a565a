//! Test support for shmkit: real child processes, unique names, cleanup.
//!
//! Cross-process tests re-execute the test binary itself as a child with a *role*. A test file
//! lists its roles once with [`child_roles!`], which defines a test named `child_entry_point`:
//! in a normal run it returns at once; in a child (started by [`child`]) it runs the requested
//! role function with the arguments the parent passed.
//!
//! ```ignore
//! use shmkit_testkit::{child, child_roles, report};
//!
//! child_roles!(writer);
//!
//! fn writer(args: &[String]) {
//!     // ... open shared memory named args[0], write ...
//!     report("wrote", 42);
//! }
//!
//! #[test]
//! fn parent_sees_child_write() {
//!     let out = child("writer").arg("some-name").run();
//!     assert_eq!(out.value("wrote"), "42");
//! }
//! ```
//!
//! Roles report results with [`report`] (a `SHMKIT-REPORT key=value` line on stdout), which the
//! parent reads back with [`Output::value`] / [`Output::values`]. A role that panics makes the
//! child exit non-zero, which [`ChildBuilder::run`] turns into a failure of the parent test.
//!
//! Names come from [`unique_name`] (pid plus a counter), and [`Cleanup`] removes shared memory
//! objects and files when dropped, also when the test panics.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Environment variable carrying the role name to a child.
pub const ROLE_ENV: &str = "SHMKIT_TEST_ROLE";
/// Environment variable carrying the role's arguments, separated by `\x1f`.
pub const ARGS_ENV: &str = "SHMKIT_TEST_ARGS";
/// How long [`ChildBuilder::run`] and [`Child::wait`] wait before killing a child and failing.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

const REPORT_PREFIX: &str = "SHMKIT-REPORT ";

/// Defines the `child_entry_point` test that dispatches to the listed role functions
/// (each `fn(&[String])`) when this binary runs as a child.
#[macro_export]
macro_rules! child_roles {
    ($($role:ident),* $(,)?) => {
        /// Entry point for child processes started by `shmkit_testkit::child`; returns at once
        /// in a normal test run.
        #[test]
        fn child_entry_point() {
            $crate::dispatch(&[$((stringify!($role), $role as $crate::Role)),*]);
        }
    };
}

/// A child role: a function of the arguments the parent passed.
pub type Role = fn(&[String]);

/// Runs the role named in [`ROLE_ENV`], if any; used by [`child_roles!`].
///
/// # Panics
///
/// If the role is not in `roles` (a typo in the parent test).
pub fn dispatch(roles: &[(&str, Role)]) {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let args: Vec<String> = match std::env::var(ARGS_ENV) {
        Ok(s) if !s.is_empty() => s.split('\x1f').map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let Some((_, f)) = roles.iter().find(|(name, _)| *name == role) else {
        panic!(
            "unknown child role {role:?}; known: {:?}",
            roles.iter().map(|r| r.0).collect::<Vec<_>>()
        );
    };
    f(&args);
    std::io::stdout().flush().ok();
}

/// Whether this process is a child started by [`child`].
pub fn is_child() -> bool {
    std::env::var_os(ROLE_ENV).is_some()
}

/// Prints a `key=value` result line for the parent to read with [`Output::value`].
pub fn report(key: &str, value: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{REPORT_PREFIX}{key}={value}").expect("write report");
    out.flush().expect("flush report");
}

/// A name unique to this process and call, safe as a shared memory name:
/// `shmkit-t-<pid>-<counter>-<tag>`.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = format!("shmkit-t-{}-{n}-{tag}", std::process::id());
    name.truncate(200);
    name
}

/// A unique path in the system's temporary directory (not created).
pub fn unique_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(unique_name(tag))
}

/// Removes the registered shared memory names and files when dropped (also on panic).
/// Missing objects are ignored.
#[derive(Debug, Default)]
pub struct Cleanup {
    shm: Vec<String>,
    files: Vec<PathBuf>,
}

impl Cleanup {
    /// An empty cleanup list.
    pub fn new() -> Cleanup {
        Cleanup::default()
    }

    /// Registers a shared memory object name (removed from `/dev/shm`).
    pub fn shm(&mut self, name: impl Into<String>) -> &mut Cleanup {
        self.shm.push(name.into());
        self
    }

    /// Registers a file path.
    pub fn file(&mut self, path: impl Into<PathBuf>) -> &mut Cleanup {
        self.files.push(path.into());
        self
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.shm {
            let _ = std::fs::remove_file(shm_path(name));
        }
        for path in &self.files {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Where Linux keeps the shared memory object `name`.
pub fn shm_path(name: &str) -> PathBuf {
    PathBuf::from("/dev/shm").join(name)
}

/// Starts building a child process running `role` (see the [crate docs](crate)).
pub fn child(role: &str) -> ChildBuilder {
    ChildBuilder {
        role: role.to_owned(),
        args: Vec::new(),
        env: Vec::new(),
        timeout: DEFAULT_TIMEOUT,
    }
}

/// A child process about to be started; see [`child`].
#[derive(Debug, Clone)]
pub struct ChildBuilder {
    role: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl ChildBuilder {
    /// Adds one argument for the role.
    pub fn arg(&mut self, arg: impl ToString) -> &mut ChildBuilder {
        let arg = arg.to_string();
        assert!(
            !arg.contains('\x1f'),
            "child arguments may not contain \\x1f"
        );
        self.args.push(arg);
        self
    }

    /// Adds several arguments.
    pub fn args<I: IntoIterator<Item = T>, T: ToString>(&mut self, args: I) -> &mut ChildBuilder {
        for a in args {
            self.arg(a);
        }
        self
    }

    /// Sets an environment variable in the child.
    pub fn env(&mut self, key: &str, value: impl ToString) -> &mut ChildBuilder {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    /// How long [`run`](ChildBuilder::run) waits (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(&mut self, timeout: Duration) -> &mut ChildBuilder {
        self.timeout = timeout;
        self
    }

    /// Starts the child.
    ///
    /// # Panics
    ///
    /// If the test binary cannot be re-executed.
    pub fn spawn(&self) -> Child {
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = Command::new(exe);
        cmd.args([
            "child_entry_point",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ROLE_ENV, &self.role)
        .env(ARGS_ENV, self.args.join("\x1f"))
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut inner = cmd.spawn().expect("spawn child test process");
        let stdout = pump(inner.stdout.take().expect("stdout"));
        let stderr = pump(inner.stderr.take().expect("stderr"));
        Child {
            inner,
            role: self.role.clone(),
            stdout: Some(stdout),
            stderr: Some(stderr),
            timeout: self.timeout,
        }
    }

    /// Starts the child, waits for it and checks it succeeded.
    ///
    /// # Panics
    ///
    /// If the child fails, or runs longer than the timeout (it is then killed); the panic
    /// message carries the child's output.
    pub fn run(&self) -> Output {
        let out = self.spawn().wait();
        out.assert_success();
        out
    }
}

fn pump(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// A running child process; see [`ChildBuilder::spawn`].
#[derive(Debug)]
pub struct Child {
    inner: std::process::Child,
    role: String,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    timeout: Duration,
}

impl Child {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.inner.id()
    }

    /// Kills the child with `SIGKILL` (no cleanup runs in it) and reaps it.
    pub fn kill(mut self) -> Output {
        let _ = self.inner.kill();
        self.finish_wait(None)
    }

    /// Waits for the child to exit (up to its timeout; then it is killed and this panics).
    pub fn wait(self) -> Output {
        let deadline = Instant::now() + self.timeout;
        self.finish_wait(Some(deadline))
    }

    /// Whether the child has exited (without reaping it for good).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.inner.try_wait(), Ok(Some(_)))
    }

    fn finish_wait(mut self, deadline: Option<Instant>) -> Output {
        let status = loop {
            match self.inner.try_wait().expect("try_wait") {
                Some(s) => break s,
                None if deadline.is_some_and(|d| Instant::now() > d) => {
                    let _ = self.inner.kill();
                    let _ = self.inner.wait();
                    let out = self.collect(None);
                    panic!(
                        "child role {:?} timed out after {:?}\n--- stdout\n{}\n--- stderr\n{}",
                        self.role, self.timeout, out.stdout, out.stderr
                    );
                }
                None if deadline.is_none() => break self.inner.wait().expect("wait"),
                None => thread::sleep(Duration::from_millis(2)),
            }
        };
        self.collect(Some(status))
    }

    fn collect(&mut self, status: Option<ExitStatus>) -> Output {
        let stdout = self.stdout.take().map(|h| h.join().unwrap_or_default());
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
        Output {
            role: self.role.clone(),
            status,
            stdout: stdout.unwrap_or_default(),
            stderr: stderr.unwrap_or_default(),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.inner.try_wait() {
            let _ = self.inner.kill();
            let _ = self.inner.wait();
        }
    }
}

/// What a finished child left: exit status and output.
#[derive(Debug)]
pub struct Output {
    role: String,
    /// The exit status (`None` only if it could not be collected).
    pub status: Option<ExitStatus>,
    /// Everything the child printed on stdout.
    pub stdout: String,
    /// Everything the child printed on stderr.
    pub stderr: String,
}

impl Output {
    /// Whether the child exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The signal that killed the child, if one did.
    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status.and_then(|s| s.signal())
    }

    /// Panics with the child's output unless it succeeded.
    pub fn assert_success(&self) -> &Output {
        assert!(
            self.success(),
            "child role {:?} failed with {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.role,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Every value reported under `key`, in order.
    pub fn values(&self, key: &str) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix(REPORT_PREFIX))
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.to_owned())
            .collect()
    }

    /// The single value reported under `key`.
    ///
    /// # Panics
    ///
    /// If the child reported `key` not exactly once.
    pub fn value(&self, key: &str) -> String {
        let mut v = self.values(key);
        assert_eq!(
            v.len(),
            1,
            "child role {:?} reported {key:?} {} times\n--- stdout\n{}\n--- stderr\n{}",
            self.role,
            v.len(),
            self.stdout,
            self.stderr
        );
        v.pop().expect("one value")
    }
}

/// Polls `cond` every millisecond until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Forks this process; the child runs `f` and exits with its return value (via `_exit`, running
/// no destructors or atexit handlers). Returns the child's exit code, or `-signal` if a signal
/// killed it.
///
/// Only for tests of memory shared with forked children (anonymous shared memory): after `fork`
/// in a multi-threaded test binary the child may only do async-signal-safe work, so `f` must not
/// allocate, lock, or print: plain memory reads and writes only.
///
/// # Safety
///
/// `f` must be async-signal-safe (see above).
pub unsafe fn fork_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: fork has no memory-safety preconditions; the child only runs `f` (async-signal
    // safe by the caller's contract) and then `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = f();
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer; `pid` is our child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.raw_os_error(), Some(libc::EINTR), "waitpid: {e}");
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    }
}

/// Sets the process umask and returns the previous one (`umask(2)`), for permission tests
/// that run in a child process.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// The effective user id (`geteuid(2)`).
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Drops this process's privileges to the `nobody` user and group (65534), for permission tests
/// that would otherwise pass only because the tests run as root. Call it only in a child process.
///
/// # Panics
///
/// If the process is not root or the switch fails.
pub fn become_nobody() {
    assert!(is_child(), "become_nobody is for child processes only");
    // SAFETY: these calls take plain integers / a null list and have no memory preconditions.
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "setgroups");
        assert_eq!(libc::setgid(65534), 0, "setgid");
        assert_eq!(libc::setuid(65534), 0, "setuid");
    }
}
