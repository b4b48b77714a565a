//! Runs the synchronization examples (`mutex`, `condvar`, `semaphore`, `owner_death`), so none
//! rots: each is built by `cargo test` and run here as a child process (it starts its own
//! children), and the key lines of its output are checked.

use std::path::PathBuf;
use std::process::Command;

/// The directory cargo puts example binaries in, next to this test binary's `deps` directory.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} missing: cargo test builds examples before running tests",
        path.display()
    );
    path
}

/// Runs the example `name`, asserts it succeeded, and returns its standard output.
fn run(name: &str) -> String {
    let out = Command::new(example(name)).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn assert_lines(stdout: &str, expected: &[&str]) {
    for e in expected {
        assert!(stdout.contains(e), "{e:?} missing from:\n{stdout}");
    }
}

/// The example's objects are gone once it exits (names carry the example's pid).
fn assert_removed(stdout: &str, prefix: &str) {
    let pid = stdout
        .lines()
        .next()
        .and_then(|l| l.split("pid ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the first line names the parent's pid");
    let leftovers: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(&format!("-{pid}")))
        .collect();
    assert!(leftovers.is_empty(), "left in /dev/shm: {leftovers:?}");
}

#[test]
fn mutex_total_is_exact() {
    let stdout = run("mutex");
    assert_lines(
        &stdout,
        &[
            "constructed \"tally\"",
            "3 processes added 20000 each: counter = 60000 (expected 60000)",
            "exact total, no update lost",
        ],
    );
    assert_eq!(stdout.matches("added its 20000").count(), 3, "{stdout}");
    assert_eq!(stdout.matches("child : pid").count(), 2, "{stdout}");
    assert_removed(&stdout, "shmkit-example-mutex");
}

#[test]
fn condvar_producer_consumer_delivers_the_stream() {
    let stdout = run("condvar");
    assert_lines(
        &stdout,
        &[
            "constructed a 4-slot channel",
            "producer: pid",
            "found \"channel\" by name, sending 1..=2000",
            "producer: sent 2000 items and closed the channel",
            "consumer: received 2000 items, in order, sum = 2001000",
            "the channel is closed and drained",
        ],
    );
    assert_removed(&stdout, "shmkit-example-condvar");
}

#[test]
fn semaphore_ring_buffer_delivers_the_stream() {
    let stdout = run("semaphore");
    assert_lines(
        &stdout,
        &[
            "constructed an 8-slot ring",
            "(free = 8, filled = 0)",
            "writer: pid",
            "writer: wrote 5000 messages",
            "reader: received 5000 messages, in order, sum = 125025000",
            "reader: finally free = 8, filled = 0",
        ],
    );
    assert_removed(&stdout, "shmkit-example-semaphore");
}

#[test]
fn owner_death_is_reported_and_repaired() {
    let stdout = run("owner_death");
    assert_lines(
        &stdout,
        &[
            "alice = 1000, bob = 0 (sum 1000)",
            "child:  pid",
            "debited alice, about to credit bob... (holding the lock)",
            "killed the child",
            "with SIGKILL while it held the lock",
            "is_locked() = true",
            "Boost's named_mutex would now block every lock() forever",
            "lock() -> OwnerDied after",
            "the accounts read alice = 750, bob = 0 (sum 750)",
            "completed it: alice = 750, bob = 250 (sum 1000)",
            "before mark_consistent, is_consistent() = false",
            "marked it consistent: is_consistent() = true",
            "the next lock() is clean; alice + bob = 1000 (expected 1000)",
        ],
    );
    assert_removed(&stdout, "shmkit-example-owner-death");
}
