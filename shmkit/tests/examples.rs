//! Runs the examples, so none rots: each is built by `cargo test` and run here as a child
//! process, and its output is checked.

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

#[test]
fn tour_runs_and_shows_the_child_write() {
    let out = Command::new(example("tour")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tour failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "parent: read \"hello from the child process",
        "counter = 400000",
        "lock() -> OwnerDied",
        "the next lock() is clean",
        "in order: URGENT job (priority 9) done, routine job 1 (priority 0) done, routine job 2",
        "\"precious job\" is delivered again",
        "child:  pid",
        "found \"scoreboard\" by name",
        "scoreboard = [10, 20, 35, 40], updates = 1",
        "TypeMismatch",
        "child:  added order 1003 and a note for alice, and a new customer, bob",
        "customers [\"alice\", \"bob\"]; alice's orders [1001, 1002, 1003], note 2 = Some(\"ships to Oxford\")",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
}
