//! The `shmkit` binary against real objects made here: named locks, semaphores, message queues,
//! plain shared memory, hand-damaged headers, and objects left behind by child processes that
//! exited.
//!
//! Every object has a unique name (`shmkit-t-<pid>-...`), and `clean` runs with `--prefix`, so
//! these tests never touch what other tests (or other programs) have in /dev/shm.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use shmkit::alloc::SeqFit;
use shmkit::segment::{HashIndex, NullIndex, OrderedIndex};
use shmkit::sync::{NamedMutex, NamedRecursiveMutex, NamedRwLock, NamedSemaphore};
use shmkit::{ManagedSharedMemory, MappedRegion, MessageQueue, SharedMemory, ShmSafe};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name};

child_roles!(create_and_exit);

/// Creates a named mutex for each argument and exits, leaving them behind.
fn create_and_exit(names: &[String]) {
    for name in names {
        drop(NamedMutex::create(name).unwrap());
    }
    report("pid", std::process::id());
}

/// What a run of the binary did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shmkit"));
    cmd.args(args);
    cmd
}

fn run_command(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run shmkit");
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn shmkit(args: &[&str]) -> Run {
    run_command(command(args))
}

/// The `ls` table line naming `name`.
fn ls_line<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
}

fn exists(name: &str) -> bool {
    shmkit_testkit::shm_path(name).exists()
}

/// A header written by hand: shmkit's magic, layout version 1, a mutex, and `state`.
fn hand_written_header(name: &str, state: u32) {
    let shm = SharedMemory::create(name).unwrap();
    shm.set_len(4096).unwrap();
    let mut h = [0u8; 64];
    h[..8].copy_from_slice(b"shmkit\xA5\x5A");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (at, v) in [
        (8, 1),
        (12, 1),
        (16, 4),
        (20, 4),
        (24, state),
        (28, std::process::id()),
        (40, 64),
    ] {
        h[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    h[32..40].copy_from_slice(&now.to_ne_bytes());
    MappedRegion::map(&shm).unwrap().write_at(0, &h).unwrap();
}

#[test]
fn ls_shows_objects_with_their_kinds() {
    let mut cleanup = Cleanup::new();
    let (m, r, s, w, f) = (
        unique_name("ls-mutex"),
        unique_name("ls-rmutex"),
        unique_name("ls-sem"),
        unique_name("ls-rwlock"),
        unique_name("ls-plain"),
    );
    for n in [&m, &r, &s, &w, &f] {
        cleanup.shm(n);
    }
    let _mutex = NamedMutex::create(&m).unwrap();
    let _rmutex = NamedRecursiveMutex::create(&r).unwrap();
    let _sem = NamedSemaphore::create(&s, 2).unwrap();
    let _rw = NamedRwLock::create(&w).unwrap();
    let plain = SharedMemory::create(&f).unwrap();
    plain.set_len(8192).unwrap();
    let me = std::process::id();

    let run = shmkit(&["ls"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("KIND"), "{}", run.stdout);
    for (name, kind) in [
        (&m, "mutex"),
        (&r, "recursive-mutex"),
        (&s, "semaphore"),
        (&w, "rwlock"),
    ] {
        let line = ls_line(&run.stdout, name).unwrap_or_else(|| panic!("{name}: {run:?}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[0], kind, "{line}");
        assert!(line.contains(" ready "), "{line}");
        assert!(line.contains(&format!("{me} alive")), "{line}");
        assert!(cols.last().unwrap().contains(&me.to_string()), "{line}");
    }
    assert!(
        ls_line(&run.stdout, &f).is_none(),
        "foreign only with --all"
    );
    assert!(run.stdout.contains("not shown: `shmkit ls --all`"));

    let all = shmkit(&["ls", "--all"]);
    assert_eq!(all.code, 0, "{all:?}");
    let line = ls_line(&all.stdout, &f).unwrap();
    assert!(line.starts_with("foreign "), "{line}");
    assert!(line.contains("8.0 KiB"), "{line}");

    let json = shmkit(&["ls", "--all", "--json"]).json();
    let objects = json.as_array().unwrap();
    let find = |name: &str| {
        objects
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {json}"))
    };
    let mutex = find(&m);
    assert_eq!(mutex["kind"], "mutex");
    assert_eq!(mutex["kind_code"], 1);
    assert_eq!(mutex["state"], "ready");
    assert_eq!(mutex["layout_version"], 1);
    assert_eq!(mutex["size"], 68);
    assert_eq!(mutex["creator_pid"], me);
    assert_eq!(mutex["creator_alive"], true);
    assert_eq!(mutex["mode"], "0600");
    assert_eq!(mutex["payload"]["offset"], 64);
    assert!(mutex["users"].as_array().unwrap().contains(&me.into()));
    assert_eq!(mutex["in_use"], true);
    assert!(mutex["created_at"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(find(&r)["kind"], "recursive-mutex");
    assert_eq!(find(&s)["kind"], "semaphore");
    assert_eq!(find(&w)["kind"], "rwlock");
    let plain = find(&f);
    assert_eq!(plain["kind"], "foreign");
    assert_eq!(plain["size"], 8192);
    assert_eq!(plain["state"], Value::Null);

    // Without --all, only shmkit objects.
    let json = shmkit(&["ls", "--json"]).json();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&m.as_str()) && !names.contains(&f.as_str()));
}

#[test]
fn info_shows_the_header_and_details() {
    let mut cleanup = Cleanup::new();
    let m = unique_name("info-mutex");
    let f = unique_name("info-plain");
    cleanup.shm(&m).shm(&f);
    let mutex = NamedMutex::create(&m).unwrap();
    let guard = mutex.lock().unwrap();
    let me = std::process::id();

    let run = shmkit(&["info", &m]);
    assert_eq!(run.code, 0, "{run:?}");
    for expected in [
        format!("name:           {m}"),
        "kind:           mutex (code 1)".to_owned(),
        "size:           68 bytes (68 B)".to_owned(),
        "state:          ready".to_owned(),
        "layout version: 1".to_owned(),
        "payload:        4 bytes, align 4, at offset 64".to_owned(),
        format!("creator:        process {me} (alive)"),
        "permissions:    0600, owner uid".to_owned(),
        "details:\n  locked:         yes\n  owner:          thread ".to_owned(),
    ] {
        assert!(
            run.stdout.contains(&expected),
            "{expected:?} in\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains(" UTC\n"), "{}", run.stdout);

    let json = shmkit(&["info", "--json", &m]).json();
    assert_eq!(json["object"]["kind"], "mutex");
    assert_eq!(json["object"]["state"], "ready");
    assert_eq!(json["details"]["fields"]["locked"], true);
    assert_eq!(json["details"]["fields"]["consistent"], true);
    assert_eq!(json["details_note"], Value::Null);
    drop(guard);

    let plain = SharedMemory::create(&f).unwrap();
    plain.set_len(100).unwrap();
    let run = shmkit(&["info", &f]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("kind:           foreign\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("details:        none (not a shmkit object)")
    );
    assert!(!run.stdout.contains("state:"));
    let json = shmkit(&["info", "--json", &f]).json();
    assert_eq!(json["object"]["kind"], "foreign");
    assert_eq!(json["details"], Value::Null);
}

#[test]
fn check_exit_status_says_whether_the_object_is_sound() {
    let mut cleanup = Cleanup::new();
    let good = unique_name("check-good");
    let bad = unique_name("check-bad");
    let plain = unique_name("check-plain");
    let dead_owner = unique_name("check-dead-owner");
    cleanup.shm(&good).shm(&bad).shm(&plain).shm(&dead_owner);

    let _sem = NamedSemaphore::create(&good, 1).unwrap();
    let run = shmkit(&["check", &good]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{good}: sound\n"));
    let json = shmkit(&["check", "--json", &good]).json();
    assert_eq!(json["sound"], true);
    assert_eq!(json["problems"], serde_json::json!([]));

    hand_written_header(&bad, 7);
    let run = shmkit(&["check", &bad]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .starts_with(&format!("{bad}: NOT SOUND, 1 error"))
    );
    assert!(
        run.stdout.contains("error: its state word is 7"),
        "{}",
        run.stdout
    );
    let json = shmkit(&["check", "--json", &bad]).json();
    assert_eq!(json["sound"], false);
    assert_eq!(json["problems"][0]["severity"], "error");
    // `ls` still lists it, as a mutex in state corrupt.
    let line = shmkit(&["ls"]).stdout;
    let line = ls_line(&line, &bad).unwrap();
    assert!(
        line.starts_with("mutex ") && line.contains(" corrupt "),
        "{line}"
    );

    // The same header, ready: sound.
    SharedMemory::remove(&bad).unwrap();
    hand_written_header(&bad, 2);
    assert_eq!(shmkit(&["check", &bad]).code, 0);

    SharedMemory::create(&plain).unwrap().set_len(64).unwrap();
    let run = shmkit(&["check", &plain]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("error: not a shmkit object"));

    // A mutex held by a thread that is gone: a warning, still sound.
    drop(NamedMutex::create(&dead_owner).unwrap());
    let dead = std::thread::spawn(|| {
        // A thread id: the owner tag a lock word holds.
        std::fs::read_link("/proc/thread-self")
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
    })
    .join()
    .unwrap();
    let shm = SharedMemory::open(&dead_owner).unwrap();
    MappedRegion::map(&shm)
        .unwrap()
        .write_at(64, &dead.to_ne_bytes())
        .unwrap();
    let run = shmkit(&["check", &dead_owner]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("sound, with 1 warning"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("warning: held by thread {dead}, which is dead"))
    );
}

#[test]
fn rm_removes_and_reports() {
    let mut cleanup = Cleanup::new();
    let (a, b, held) = (
        unique_name("rm-a"),
        unique_name("rm-b"),
        unique_name("rm-held"),
    );
    let missing = unique_name("rm-missing");
    cleanup.shm(&a).shm(&b).shm(&held);
    drop(NamedMutex::create(&a).unwrap());
    SharedMemory::create(&b).unwrap().set_len(10).unwrap();
    let keep = NamedSemaphore::create(&held, 0).unwrap();

    let run = shmkit(&["rm", &a, &b]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("removed {a} (mutex)\nremoved {b} (foreign)\n")
    );
    assert!(!exists(&a) && !exists(&b));

    // In use: refused, and kept.
    let run = shmkit(&["rm", &held]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("in use by process {}", std::process::id())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force"));
    assert!(exists(&held));

    // Missing: an error; the other names are still removed.
    drop(NamedMutex::create(&a).unwrap());
    let run = shmkit(&["rm", &missing, &a]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("cannot remove `{missing}`: not found"))
    );
    assert_eq!(run.stdout, format!("removed {a} (mutex)\n"));

    let json = shmkit(&["rm", "--json", "--force", &held, &missing]);
    assert_eq!(json.code, 3);
    let json = json.json();
    assert_eq!(json["removed"][0]["name"], held.as_str());
    assert_eq!(json["removed"][0]["kind"], "semaphore");
    assert_eq!(json["errors"][0]["name"], missing.as_str());
    assert_eq!(json["errors"][0]["exit_status"], 3);
    assert!(!exists(&held));
    keep.post().unwrap();
    assert!(keep.try_wait(), "the handle still works");
}

#[test]
fn clean_stale_removes_only_what_dead_processes_left_unused() {
    let mut cleanup = Cleanup::new();
    let prefix = unique_name("clean-");
    let orphan = format!("{prefix}orphan");
    let reopened = format!("{prefix}reopened");
    let mine = format!("{prefix}mine");
    let plain = format!("{prefix}plain");
    cleanup.shm(&orphan).shm(&reopened).shm(&mine).shm(&plain);

    // A child creates two mutexes and exits: their creator is dead.
    let out = child("create_and_exit").args([&orphan, &reopened]).run();
    let child_pid = out.value("pid");
    // This process still has one of them open, and one of its own.
    let _reopened = NamedMutex::open(&reopened).unwrap();
    let _mine = NamedMutex::create(&mine).unwrap();
    SharedMemory::create(&plain).unwrap().set_len(64).unwrap();
    let me = std::process::id();

    let dry = shmkit(&["clean", "--stale", "--dry-run", "--prefix", &prefix]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout.starts_with(&format!(
            "would remove {orphan} (mutex, ready, creator {child_pid} dead, no users)\n"
        )),
        "{}",
        dry.stdout
    );
    assert!(exists(&orphan), "a dry run removes nothing");

    let run = shmkit(&["clean", "--stale", "--prefix", &prefix]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("removed {orphan} (mutex, ready, creator {child_pid} dead, no users)"),
            format!("kept {mine}: in use by process {me}"),
            format!("kept {reopened}: in use by process {me}"),
        ],
        "{}",
        run.stdout
    );
    assert!(!exists(&orphan));
    assert!(exists(&reopened) && exists(&mine) && exists(&plain));

    // Nothing left to remove; foreign objects only when asked.
    let json = shmkit(&["clean", "--stale", "--json", "--prefix", &prefix]).json();
    assert_eq!(json["removed"], serde_json::json!([]));
    assert_eq!(json["kept"].as_array().unwrap().len(), 2);
    let run = shmkit(&["clean", "--stale", "--foreign", "--prefix", &prefix]);
    assert!(
        run.stdout
            .starts_with(&format!("removed {plain} (foreign, no users)\n")),
        "{}",
        run.stdout
    );
    assert!(exists(&reopened) && exists(&mine));
}

#[test]
fn bad_names_and_missing_objects_fail_clearly() {
    let missing = unique_name("missing");
    for args in [
        vec!["info", ""],
        vec!["info", "a/b"],
        vec!["check", ".."],
        vec!["rm", "/leading-slash"],
    ] {
        let run = shmkit(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains("invalid name"), "{args:?}: {run:?}");
        assert!(run.stdout.is_empty());
    }
    let long = "n".repeat(300);
    assert_eq!(shmkit(&["info", &long]).code, 2);
    for cmd in ["info", "check", "rm"] {
        let run = shmkit(&[cmd, &missing]);
        assert_eq!(run.code, 3, "{cmd}: {run:?}");
        assert!(
            run.stderr
                .contains(&format!("no shared memory object `{missing}`")),
            "{cmd}: {}",
            run.stderr
        );
    }
    // Usage errors: clap's status 2.
    assert_eq!(shmkit(&["clean"]).code, 2, "clean needs --stale");
    assert_eq!(shmkit(&["rm"]).code, 2);
    assert_eq!(shmkit(&["frobnicate"]).code, 2);
    assert_eq!(shmkit(&["--help"]).code, 0);
}

#[test]
fn permission_problems_have_their_own_exit_status() {
    if shmkit_testkit::euid() != 0 {
        eprintln!("skipped: needs root to run the binary as another user");
        return;
    }
    let mut cleanup = Cleanup::new();
    let name = unique_name("perm");
    cleanup.shm(&name);
    drop(NamedMutex::create(&name).unwrap()); // root's, mode 0600
    let as_nobody = |args: &[&str]| {
        let mut cmd = command(args);
        std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
        std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
        run_command(cmd)
    };
    let probe = as_nobody(&["--version"]);
    if probe.code != 0 {
        eprintln!("skipped: `nobody` cannot run the test binary: {probe:?}");
        return;
    }
    let run = as_nobody(&["info", &name]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stdout.contains("kind:           unreadable"), "{run:?}");
    assert!(run.stderr.contains("permission denied"), "{run:?}");
    let run = as_nobody(&["check", &name]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("permission denied"), "{run:?}");
    let run = as_nobody(&["rm", &name]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(exists(&name));
    let run = as_nobody(&["ls", "--all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        ls_line(&run.stdout, &name)
            .unwrap()
            .starts_with("unreadable "),
        "{}",
        run.stdout
    );
}

#[test]
fn mq_create_send_peek_recv_in_priority_order() {
    let mut cleanup = Cleanup::new();
    let q = unique_name("mq");
    cleanup.shm(&q);

    let run = shmkit(&["mq", "create", &q, "--max-msgs", "2", "--max-size", "64"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("created message queue"), "{run:?}");
    let line = ls_line(&shmkit(&["ls"]).stdout, &q).map(str::to_owned);
    assert!(line.unwrap().starts_with("message-queue "));
    let json = shmkit(&["ls", "--json"]).json();
    let listed = json.as_array().unwrap().iter().find(|o| o["name"] == q);
    assert_eq!(listed.unwrap()["kind"], "message-queue");
    assert_eq!(listed.unwrap()["mode"], "0600");
    let run = shmkit(&["mq", "create", &q, "--max-msgs", "2", "--max-size", "64"]);
    assert_eq!(run.code, 1, "already exists: {run:?}");

    let run = shmkit(&["mq", "send", &q, "routine", "--priority", "1"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("priority 1 (1 queued)"), "{run:?}");
    let sent = shmkit(&["mq", "send", &q, "urgent", "--priority", "7", "--json"]).json();
    assert_eq!(sent["bytes"], 6);
    assert_eq!(sent["queued"], 2);
    let full = shmkit(&["mq", "send", &q, "more"]);
    assert_eq!(full.code, 1, "{full:?}");
    assert!(full.stderr.contains("the queue is full"), "{full:?}");
    let full = shmkit(&["mq", "send", &q, "more", "--timeout", "20"]);
    assert_eq!(full.code, 1, "{full:?}");
    assert!(full.stderr.contains("still full after 20 ms"), "{full:?}");

    // Peek shows the higher priority and leaves it queued.
    let run = shmkit(&["mq", "peek", &q]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "priority 7: urgent\n"));
    let peeked = shmkit(&["mq", "peek", &q, "--json"]).json();
    assert_eq!(peeked["text"], "urgent");
    assert_eq!(peeked["priority"], 7);
    assert_eq!(peeked["queued"], 2);

    let run = shmkit(&["mq", "recv", &q]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "priority 7: urgent\n"));
    let got = shmkit(&["mq", "recv", &q, "--json"]).json();
    assert_eq!(got["text"], "routine");
    assert_eq!(got["hex"], "726f7574696e65");
    assert_eq!(got["priority"], 1);
    assert_eq!(got["queued"], 0);

    // Empty: exit status 1, for recv (with and without a timeout) and peek.
    let empty = shmkit(&["mq", "recv", &q]);
    assert_eq!(empty.code, 1, "{empty:?}");
    assert!(empty.stderr.contains("the queue is empty"), "{empty:?}");
    assert!(empty.stdout.is_empty(), "{empty:?}");
    let empty = shmkit(&["mq", "recv", &q, "--timeout", "20"]);
    assert_eq!(empty.code, 1, "{empty:?}");
    assert!(empty.stderr.contains("within 20 ms"), "{empty:?}");
    let empty = shmkit(&["mq", "peek", &q]);
    assert_eq!(empty.code, 1, "{empty:?}");
    assert!(empty.stderr.contains("the queue is empty"), "{empty:?}");

    let run = shmkit(&["rm", &q]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!exists(&q));
}

#[test]
fn mq_recv_with_a_timeout_waits_for_a_message_and_shows_bytes_as_hex() {
    let mut cleanup = Cleanup::new();
    let q = unique_name("mq-wait");
    cleanup.shm(&q);
    let created = shmkit(&["mq", "create", &q, "--max-msgs", "4", "--max-size", "8"]);
    assert_eq!(created.code, 0, "{created:?}");

    let waiting = command(&["mq", "recv", &q, "--timeout", "20000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let sender = shmkit::MessageQueue::open(&q).unwrap();
    sender.send(&[0x00, 0xff, 0x41], 3).unwrap();
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "priority 3 (hex): 00ff41\n"
    );

    sender.send(b"\xff", 0).unwrap();
    let json = shmkit(&["mq", "peek", &q, "--json"]).json();
    assert_eq!(json["text"], Value::Null);
    assert_eq!(json["hex"], "ff");
    drop(sender);
    shmkit::MessageQueue::remove(&q).unwrap();
}

#[test]
fn mq_errors_have_their_exit_statuses() {
    let missing = unique_name("mq-missing");
    for args in [
        vec!["mq", "send", &missing, "x"],
        vec!["mq", "recv", &missing],
        vec!["mq", "peek", &missing],
    ] {
        let run = shmkit(&args);
        assert_eq!(run.code, 3, "{run:?}");
        assert!(run.stderr.contains("cannot open queue"), "{run:?}");
    }
    let run = shmkit(&[
        "mq",
        "create",
        "bad/name",
        "--max-msgs",
        "1",
        "--max-size",
        "1",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = shmkit(&[
        "mq",
        "create",
        &missing,
        "--max-msgs",
        "1",
        "--max-size",
        "1",
        "--mode",
        "9",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!exists(&missing));

    // A mutex is not a queue.
    let mut cleanup = Cleanup::new();
    let m = unique_name("mq-not-a-queue");
    cleanup.shm(&m);
    let _mutex = NamedMutex::create(&m).unwrap();
    let run = shmkit(&["mq", "peek", &m]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("cannot open queue"), "{run:?}");
}

// ----- managed segments ---------------------------------------------------------------------

/// Where a segment's memory algorithm keeps its free-byte count: the area starts at 4096, and
/// both algorithms keep `free` at word 2 of their header.
const FREE_COUNT_AT: usize = 4096 + 16;
/// Where a segment's lock word is: the control block at 64, the lock at 48 in it.
const LOCK_AT: usize = 64 + 48;

/// Fills a segment with the objects the segment tests look for: `alpha` (a `u64`), `beta` (an
/// array of 3 `u32`) and a unique `u16`.
fn fill<M: shmkit::alloc::MemoryAlgorithm, I: shmkit::segment::NameIndex>(
    seg: &ManagedSharedMemory<M, I>,
) {
    seg.construct("alpha", 7u64).unwrap();
    seg.construct_array("beta", 3, |i| i as u32).unwrap();
    seg.construct_unique(5u16).unwrap();
}

/// Writes `bytes` at `at` in object `name` through a raw mapping.
fn scribble(name: &str, at: usize, bytes: &[u8]) {
    let shm = SharedMemory::open(name).unwrap();
    MappedRegion::map(&shm)
        .unwrap()
        .write_at(at, bytes)
        .unwrap();
}

/// Reads the `u64` at `at` in object `name`.
fn peek_u64(name: &str, at: usize) -> u64 {
    let shm = SharedMemory::open(name).unwrap();
    let mut b = [0; 8];
    MappedRegion::map(&shm)
        .unwrap()
        .read_at(at, &mut b)
        .unwrap();
    u64::from_ne_bytes(b)
}

#[test]
fn info_lists_a_segments_objects_and_allocator_figures() {
    let mut cleanup = Cleanup::new();
    let name = unique_name("info-seg");
    cleanup.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16).unwrap();
    fill(&seg);
    let free = seg.free_memory().unwrap() as u64;
    let alpha = seg.find::<u64>("alpha").unwrap().unwrap();
    let alpha_at = seg.handle_of(alpha).unwrap().as_u64();

    let run = shmkit(&["info", &name]);
    assert_eq!(run.code, 0, "{run:?}");
    for expected in [
        "kind:           segment (code 8)".to_owned(),
        format!("usage:          {} bytes used (", (1u64 << 16) - free),
        format!("{free} bytes free"),
        "details:\n  algorithm:      best-fit\n  index:          hashed\n  size:           65536\n"
            .to_owned(),
        format!("  used bytes:     {}\n", (1u64 << 16) - free),
        format!("  free bytes:     {free}\n"),
        "  lock:           not held\n".to_owned(),
        "  named objects:  2\n".to_owned(),
        "  unique objects: 1\n".to_owned(),
        "  named objects:\n    NAME   FINGERPRINT".to_owned(),
        "  unique objects:\n    TYPE  FINGERPRINT".to_owned(),
    ] {
        assert!(
            run.stdout.contains(&expected),
            "{expected:?} in\n{}",
            run.stdout
        );
    }
    let row = |who: &str| {
        run.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(who))
            .unwrap_or_else(|| panic!("{who} in\n{}", run.stdout))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let fp = |f: u64| format!("{f:#018x}");
    let alpha_at_s = alpha_at.to_string();
    assert_eq!(
        row("alpha"),
        ["alpha", &fp(u64::FINGERPRINT), "1", "no", "8", &alpha_at_s]
    );
    assert_eq!(row("beta")[1..5], [&fp(u32::FINGERPRINT), "3", "yes", "12"]);
    assert_eq!(row("u16")[1..5], [&fp(u16::FINGERPRINT), "1", "no", "2"]);

    let json = shmkit(&["info", "--json", &name]).json();
    assert_eq!(json["object"]["kind"], "segment");
    assert_eq!(json["object"]["free"], free);
    assert_eq!(json["object"]["used"], (1u64 << 16) - free);
    let fields = &json["details"]["fields"];
    assert_eq!(fields["algorithm"], "best-fit");
    assert_eq!(fields["index"], "hashed");
    assert_eq!(fields["size"], 1u64 << 16);
    assert_eq!(fields["free bytes"], free);
    assert_eq!(fields["used bytes"], (1u64 << 16) - free);
    assert_eq!(fields["named objects"], 2);
    assert_eq!(fields["unique objects"], 1);
    let tables = json["details"]["tables"].as_array().unwrap();
    assert_eq!(tables[0]["title"], "named objects");
    assert_eq!(
        tables[0]["columns"],
        serde_json::json!(["name", "fingerprint", "len", "array", "bytes", "offset"])
    );
    let named = tables[0]["rows"].as_array().unwrap(); // sorted by name (hashed index)
    assert_eq!(
        named[0],
        serde_json::json!(["alpha", fp(u64::FINGERPRINT), 1, false, 8, alpha_at])
    );
    assert_eq!(named[1][0], "beta");
    assert_eq!(named[1][2], 3);
    assert_eq!(tables[1]["title"], "unique objects");
    assert_eq!(tables[1]["rows"][0][0], "u16");

    // Inspecting changed nothing, not one byte (the lock word included).
    let bytes = || {
        let shm = SharedMemory::open(&name).unwrap();
        let mut all = vec![0; 1 << 16];
        MappedRegion::map(&shm)
            .unwrap()
            .read_at(0, &mut all)
            .unwrap();
        all
    };
    let before = bytes();
    for args in [
        ["info", name.as_str()],
        ["check", name.as_str()],
        ["--json", "ls"],
    ] {
        let run = shmkit(&args);
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert!(before == bytes(), "the segment changed while inspected");
    assert_eq!(seg.free_memory().unwrap() as u64, free);
    seg.check_sanity().unwrap();
}

#[test]
fn info_and_check_open_every_algorithm_and_index_even_with_the_lock_held() {
    let mut cleanup = Cleanup::new();
    let (a, b, c) = (
        unique_name("seg-seq-ordered"),
        unique_name("seg-best-ordered"),
        unique_name("seg-seq-null"),
    );
    cleanup.shm(&a).shm(&b).shm(&c);
    let seq_ordered: ManagedSharedMemory<SeqFit, OrderedIndex> =
        ManagedSharedMemory::create(&a, 1 << 16).unwrap();
    fill(&seq_ordered);
    let best_ordered: ManagedSharedMemory<shmkit::alloc::BestFit, OrderedIndex> =
        ManagedSharedMemory::create(&b, 1 << 16).unwrap();
    fill(&best_ordered);
    let seq_null: ManagedSharedMemory<SeqFit, NullIndex> =
        ManagedSharedMemory::create(&c, 1 << 16).unwrap();
    seq_null.construct_anonymous(1u64).unwrap();

    for (name, algorithm, index, named) in [
        (&a, "seq-fit", "ordered", serde_json::json!(2)),
        (&b, "best-fit", "ordered", serde_json::json!(2)),
        (
            &c,
            "seq-fit",
            "null",
            serde_json::json!("none (null index: anonymous objects only)"),
        ),
    ] {
        let json = shmkit(&["info", "--json", name]).json();
        let fields = &json["details"]["fields"];
        assert_eq!(fields["algorithm"], algorithm, "{json}");
        assert_eq!(fields["index"], index, "{json}");
        assert_eq!(fields["named objects"], named, "{json}");
        let run = shmkit(&["check", name]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout, format!("{name}: sound\n"));
    }
    // The ordered index lists by (length, bytes).
    let json = shmkit(&["info", "--json", &a]).json();
    assert_eq!(json["details"]["tables"][0]["rows"][0][0], "beta");

    // This thread holds the segment lock while the command inspects it: the command takes no
    // lock, so it neither waits nor fails.
    let (info, check) = seq_ordered
        .atomic(|_| (shmkit(&["info", &a]), shmkit(&["check", &a])))
        .unwrap();
    assert_eq!(info.code, 0, "{info:?}");
    assert!(
        info.stdout.contains("  lock:           held by thread "),
        "{}",
        info.stdout
    );
    assert!(info.stdout.contains(" (alive)\n"), "{}", info.stdout);
    assert!(info.stdout.contains("    alpha "), "{}", info.stdout);
    assert_eq!(check.code, 0, "{check:?}");
    assert_eq!(check.stdout, format!("{a}: sound\n"));
}

#[test]
fn check_finds_a_corrupted_segment_and_info_survives_it() {
    let mut cleanup = Cleanup::new();
    let (counted, header, control, held) = (
        unique_name("seg-bad-free"),
        unique_name("seg-bad-header"),
        unique_name("seg-bad-control"),
        unique_name("seg-dead-lock"),
    );
    cleanup.shm(&counted).shm(&header).shm(&control).shm(&held);
    let mut alpha_at = 0;
    for name in [&counted, &header, &control, &held] {
        let seg: ManagedSharedMemory = ManagedSharedMemory::create(name, 1 << 16).unwrap();
        fill(&seg);
        alpha_at = seg
            .handle_of(seg.find::<u64>("alpha").unwrap().unwrap())
            .unwrap()
            .as_u64() as usize;
        let run = shmkit(&["check", name]);
        assert_eq!(run.code, 0, "{run:?}");
    }

    // The algorithm's free-byte count off by 16.
    let free = peek_u64(&counted, FREE_COUNT_AT);
    scribble(&counted, FREE_COUNT_AT, &(free + 16).to_ne_bytes());
    let run = shmkit(&["check", &counted]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .starts_with(&format!("{counted}: NOT SOUND, 1 error\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "error: the segment's sanity check failed: best-fit: the free byte count disagrees"
        ),
        "{}",
        run.stdout
    );
    let json = shmkit(&["check", "--json", &counted]).json();
    assert_eq!(json["sound"], false);
    assert_eq!(json["problems"][0]["severity"], "error");

    // An object header's check word scribbled: the index leads to no valid object.
    let check_word = alpha_at - 48 + 8;
    let word = peek_u64(&header, check_word);
    scribble(&header, check_word, &(word ^ 1).to_ne_bytes());
    let run = shmkit(&["check", &header]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("error: the segment's sanity check failed: "),
        "{}",
        run.stdout
    );
    let info = shmkit(&["info", &header]);
    assert_eq!(info.code, 0, "{info:?}");
    assert!(
        info.stdout.contains("  algorithm:      best-fit\n"),
        "{}",
        info.stdout
    );

    // The control block's format word destroyed: the segment does not open; `info` still shows
    // the header and says why there is nothing more.
    scribble(&control, 64, &[0xFF; 8]);
    let run = shmkit(&["check", &control]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("error: the segment cannot be opened: "),
        "{}",
        run.stdout
    );
    let info = shmkit(&["info", &control]);
    assert_eq!(info.code, 0, "{info:?}");
    assert!(
        info.stdout.contains("  segment:        cannot be opened: "),
        "{}",
        info.stdout
    );
    let json = shmkit(&["ls", "--json"]).json();
    let entry = json
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == control.as_str())
        .unwrap();
    assert_eq!(
        entry["used"],
        Value::Null,
        "no figures from a broken control block"
    );

    // The segment lock held by a thread that is gone: a warning, and still inspected.
    let dead = std::thread::spawn(|| {
        std::fs::read_link("/proc/thread-self")
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
    })
    .join()
    .unwrap();
    scribble(&held, LOCK_AT, &dead.to_ne_bytes());
    let run = shmkit(&["check", &held]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!(
            "warning: the segment lock is held by thread {dead}, which is dead"
        )),
        "{}",
        run.stdout
    );
    let info = shmkit(&["info", &held]);
    assert!(
        info.stdout
            .contains(&format!("  lock:           held by thread {dead} (dead")),
        "{}",
        info.stdout
    );
}

/// `shmkit`'s human sizes ("4.0 KiB"), to find them in `ls` lines.
fn human(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

#[test]
fn ls_shows_used_and_free_bytes_of_segments_and_queues() {
    let mut cleanup = Cleanup::new();
    let (s, q, m) = (
        unique_name("ls-seg"),
        unique_name("ls-queue"),
        unique_name("ls-seg-mutex"),
    );
    cleanup.shm(&s).shm(&q).shm(&m);
    let seg: ManagedSharedMemory<shmkit::alloc::BestFit, HashIndex> =
        ManagedSharedMemory::create(&s, 1 << 16).unwrap();
    fill(&seg);
    seg.construct("big", [0u8; 20_000]).unwrap();
    let free = seg.free_memory().unwrap() as u64;
    let used = (1u64 << 16) - free;
    let queue = MessageQueue::create(&q, 4, 100).unwrap();
    queue.send(b"hello", 0).unwrap();
    let _mutex = NamedMutex::create(&m).unwrap();

    let run = shmkit(&["ls"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("KIND  ") && run.stdout.contains("SIZE      USED"),
        "{}",
        run.stdout
    );
    // Columns are padded: compare with single spaces.
    let line = |name: &str| {
        let line = ls_line(&run.stdout, name).unwrap_or_else(|| panic!("{name}: {run:?}"));
        line.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let seg_line = line(&s);
    assert!(
        seg_line.contains(&format!(" 64.0 KiB {} {} ready ", human(used), human(free))),
        "{seg_line}"
    );
    let queue_line = line(&q);
    assert!(queue_line.contains(" 100 B 300 B ready "), "{queue_line}");
    let cols: Vec<&str> = ls_line(&run.stdout, &m)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(cols[4..6], ["-", "-"], "a mutex has no usage: {cols:?}");

    let json = shmkit(&["ls", "--json"]).json();
    let entry = |name: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {json}"))
            .clone()
    };
    assert_eq!(entry(&s)["used"], used);
    assert_eq!(entry(&s)["free"], free);
    assert_eq!(entry(&q)["used"], 100);
    assert_eq!(entry(&q)["free"], 300);
    assert_eq!(entry(&m)["used"], Value::Null);
    assert_eq!(entry(&m)["free"], Value::Null);
}
