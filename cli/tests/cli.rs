//! The `shmkit` binary against real objects made here: named locks, semaphores, plain shared
//! memory, hand-damaged headers, and objects left behind by child processes that exited.
//!
//! Every object has a unique name (`shmkit-t-<pid>-...`), and `clean` runs with `--prefix`, so
//! these tests never touch what other tests (or other programs) have in /dev/shm.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use shmkit::sync::{NamedMutex, NamedRecursiveMutex, NamedRwLock, NamedSemaphore};
use shmkit::{MappedRegion, SharedMemory};
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
