//! Runs the per-component examples (`upgradable_lock`, `message_queue`, `mapped_file`,
//! `file_lock`, `named_objects`), so none rots: each is built by `cargo test` and run here as a
//! child process, and key lines of its output are checked.

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

/// Runs example `name`, checks it succeeded and printed each of `expected`, and returns its
/// standard output.
fn run(name: &str, expected: &[&str]) -> String {
    let out = Command::new(example(name)).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for e in expected {
        assert!(stdout.contains(e), "{e:?} missing from {name}:\n{stdout}");
    }
    stdout
}

#[test]
fn upgradable_lock_example() {
    let out = run(
        "upgradable_lock",
        &[
            "parent: holds the upgradable lock, balance = 100",
            "reads balance = 100 while the parent holds the upgradable lock",
            "try_upgrade() fails while the reader is in",
            "now holds the write lock",
            "parent: after both, balance = 150",
        ],
    );
    // The upgrade happens only once the reader has left.
    let left = out.find("child:  the reader leaves").unwrap();
    let upgraded = out.find("upgrade() waited").unwrap();
    assert!(left < upgraded, "upgraded before the reader left:\n{out}");
}

#[test]
fn message_queue_example() {
    run(
        "message_queue",
        &[
            "child:  order: high: alarm! | normal: job A | normal: job B | low: tidy up",
            "parent: received Reading { sensor: 1, priority: 9, value: 1.5 } (priority 9)",
            "parent: received Reading { sensor: 4, priority: 1, value: 6.0 } (priority 1)",
            "parent: both queues are removed",
        ],
    );
}

#[test]
fn mapped_file_example() {
    let out = run(
        "mapped_file",
        &[
            "run 1:  pid",
            "parent: run 1 has exited; the file is still there",
            "settings version 3, limits [10, 200, 3000], greeting \"persisted across runs!\"",
            "parent: settings.runs = 2 after both runs",
            "parent: removed the file: exists = false",
        ],
    );
    let line = out.lines().next().unwrap();
    let path = line.strip_prefix("parent: the file is ").unwrap();
    assert!(!std::path::Path::new(path).exists(), "{path} left behind");
}

#[test]
fn file_lock_example() {
    let out = run(
        "file_lock",
        &[
            "holds the exclusive lock",
            "parent: try_lock() -> None: the child holds the exclusive lock",
            "parent: killed the child",
            "parent: try_lock() -> Some: the kernel released the dead child's lock",
        ],
    );
    let line = out.lines().next().unwrap();
    let path = line.strip_prefix("parent: opened the lock file ").unwrap();
    assert!(!std::path::Path::new(path).exists(), "{path} left behind");
}

#[test]
fn named_objects_example() {
    let out = run(
        "named_objects",
        &[
            "found \"config\" by name: workers = 4, block_len = 32",
            "from the command line: \"hello through a handle\"",
            "get_by_handle::<Config> there -> TypeMismatch",
            "parent: the block is signed by pid",
            "parent: destroyed the block and \"config\" (true)",
            "parent: removed the segment shmkit-named-objects-",
        ],
    );
    let name = out
        .lines()
        .find_map(|l| l.strip_prefix("parent: removed the segment "))
        .unwrap();
    assert!(
        !std::path::Path::new("/dev/shm").join(name).exists(),
        "{name} left behind"
    );
}

#[test]
fn offset_list_example() {
    run(
        "offset_list",
        &[
            "parent: built [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] with offset pointers",
            "child:  walked 10 nodes (sum 55) and doubled each",
            "parent: after the child: [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]",
        ],
    );
}

#[test]
fn shared_vector_example() {
    run(
        "shared_vector",
        &[
            "parent: \"numbers\" holds 100 values, starting [99, 98, 97, 96, 95]",
            "sorted 100 numbers and appended their sum 4950",
            "parent: sorted by the child: true; last element (the child's sum): 4950",
            "its 101-element buffer with it",
        ],
    );
}

#[test]
fn shared_map_example() {
    run(
        "shared_map",
        &[
            "parent: \"squares\" holds 100 entries, 7 -> 49",
            "10..13 -> [(10, 100.0), (11, 121.0), (12, 144.0)]",
            "parent: after the child, 60 entries; from 96 on: [(96, 9216.0), (98, 9604.0), (100, 10000.0)",
            "bytes of nodes freed",
        ],
    );
}
