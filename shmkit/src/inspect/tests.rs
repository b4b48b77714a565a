//! Tests of `inspect` against real objects: headers written by `sync::named`, lock words held
//! by this process, headers damaged by hand.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use shmkit_testkit::{Cleanup, unique_name};

use super::*;
use crate::sync::{
    NamedCondvar, NamedMutex, NamedRecursiveMutex, NamedRwLock, NamedSemaphore,
    NamedUpgradableRwLock,
};

/// Writes `bytes` at `offset` of object `name` through a writable mapping of its own.
fn poke(name: &str, offset: usize, bytes: &[u8]) {
    let shm = SharedMemory::open(name).unwrap();
    MappedRegion::map(&shm)
        .unwrap()
        .write_at(offset, bytes)
        .unwrap();
}

/// The id of a thread that has exited.
fn dead_tid() -> u32 {
    std::thread::spawn(sys::current_tid).join().unwrap()
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn errors(problems: &[Problem]) -> Vec<&str> {
    problems
        .iter()
        .filter(|p| p.is_error())
        .map(|p| p.message.as_str())
        .collect()
}

fn warnings(problems: &[Problem]) -> Vec<&str> {
    problems
        .iter()
        .filter(|p| !p.is_error())
        .map(|p| p.message.as_str())
        .collect()
}

#[test]
fn headers_written_by_named_objects_decode() {
    let mut cleanup = Cleanup::new();
    let n: Vec<String> = (0..6).map(|i| unique_name(&format!("hdr{i}"))).collect();
    for name in &n {
        cleanup.shm(name);
    }
    let _m = NamedMutex::create(&n[0]).unwrap();
    let _r = NamedRecursiveMutex::create(&n[1]).unwrap();
    let _c = NamedCondvar::create(&n[2]).unwrap();
    let _s = NamedSemaphore::create(&n[3], 5).unwrap();
    let _w = NamedRwLock::create(&n[4]).unwrap();
    let _u = NamedUpgradableRwLock::create(&n[5]).unwrap();
    let expected = [
        (ObjectKind::Mutex, 1, 4),
        (ObjectKind::RecursiveMutex, 2, 8),
        (ObjectKind::Condvar, 3, 8),
        (ObjectKind::Semaphore, 4, 8),
        (ObjectKind::RwLock, 5, 264),
        (ObjectKind::UpgradableRwLock, 6, 264),
    ];
    let me = std::process::id();
    for (name, (kind, code, size)) in n.iter().zip(expected) {
        let info = inspect(name).unwrap();
        assert_eq!(info.name, *name);
        assert_eq!(info.kind, kind, "{name}");
        assert_eq!(info.kind_code, Some(code));
        assert_eq!(info.layout_version, Some(1));
        assert_eq!(info.state, Some(State::Ready));
        assert_eq!(
            info.payload,
            Some(PayloadLayout {
                size,
                align: 4,
                offset: 64
            })
        );
        assert_eq!(info.size, 64 + u64::from(size));
        assert_eq!(info.creator_pid, Some(me));
        assert_eq!(info.creator_alive, Some(true));
        let age = SystemTime::now()
            .duration_since(info.created_at.unwrap())
            .unwrap();
        assert!(age < Duration::from_secs(60), "{age:?}");
        assert_eq!(info.permissions.mode(), 0o600);
        assert_eq!(info.owner_uid, shmkit_testkit::euid());
        assert!(info.users.contains(&me), "{info:?}");
        assert!(info.note.is_none());
        assert_eq!(check(name).unwrap(), []);
        assert!(details(name).unwrap().is_some(), "{name}");
    }
    // `list` says the same.
    let all = list().unwrap();
    for (name, (kind, ..)) in n.iter().zip(expected) {
        let found = all.iter().find(|o| o.name == *name).unwrap();
        assert_eq!(found.kind, kind);
        assert!(found.users.contains(&me));
    }
}

#[test]
fn details_read_the_lock_words() {
    let mut cleanup = Cleanup::new();
    let tid = sys::current_tid();
    let me = Value::Text(format!("thread {tid} (alive)"));

    let m = unique_name("det-m");
    cleanup.shm(&m);
    let mutex = NamedMutex::create(&m).unwrap();
    let d = details(&m).unwrap().unwrap();
    assert_eq!(d.get("locked"), Some(&Value::Bool(false)));
    assert_eq!(d.get("owner"), Some(&Value::Text("none".into())));
    let guard = mutex.lock().unwrap();
    let d = details(&m).unwrap().unwrap();
    assert_eq!(d.get("locked"), Some(&Value::Bool(true)));
    assert_eq!(d.get("owner"), Some(&me));
    assert_eq!(d.get("consistent"), Some(&Value::Bool(true)));
    assert_eq!(check(&m).unwrap(), [], "a live owner is fine");
    drop(guard);

    let r = unique_name("det-r");
    cleanup.shm(&r);
    let rec = NamedRecursiveMutex::create(&r).unwrap();
    let g1 = rec.lock().unwrap();
    let g2 = rec.lock().unwrap();
    let d = details(&r).unwrap().unwrap();
    assert_eq!(d.get("owner"), Some(&me));
    assert_eq!(d.get("depth"), Some(&Value::Number(2)));
    drop((g2, g1));

    let s = unique_name("det-s");
    cleanup.shm(&s);
    let sem = NamedSemaphore::create(&s, 7).unwrap();
    assert!(sem.try_wait());
    let d = details(&s).unwrap().unwrap();
    assert_eq!(d.get("count"), Some(&Value::Number(6)));
    assert_eq!(d.get("sleepers"), Some(&Value::Number(0)));

    let c = unique_name("det-c");
    cleanup.shm(&c);
    let cv = NamedCondvar::create(&c).unwrap();
    cv.notify_one();
    cv.notify_all();
    let d = details(&c).unwrap().unwrap();
    assert_eq!(d.get("notifications"), Some(&Value::Number(2)));

    let w = unique_name("det-w");
    cleanup.shm(&w);
    let rw = NamedRwLock::create(&w).unwrap();
    let r1 = rw.read().unwrap();
    let r2 = rw.read().unwrap();
    let d = details(&w).unwrap().unwrap();
    assert_eq!(d.get("read locks"), Some(&Value::Number(2)));
    assert_eq!(d.get("owner mode"), Some(&Value::Text("none".into())));
    assert_eq!(
        d.tables[0].rows,
        [vec![
            Value::Number(u64::from(tid)),
            Value::Number(2),
            Value::Bool(true)
        ]]
    );
    drop((r2, r1));
    let wg = rw.write().unwrap();
    let d = details(&w).unwrap().unwrap();
    assert_eq!(d.get("owner"), Some(&me));
    assert_eq!(d.get("owner mode"), Some(&Value::Text("writer".into())));
    assert!(d.tables.is_empty());
    drop(wg);

    let u = unique_name("det-u");
    cleanup.shm(&u);
    let up = NamedUpgradableRwLock::create(&u).unwrap();
    let ug = up.upgradable_read().unwrap();
    let d = details(&u).unwrap().unwrap();
    assert_eq!(d.get("owner mode"), Some(&Value::Text("upgradable".into())));
    drop(ug);
}

#[test]
fn dead_owners_are_warnings_not_errors() {
    let mut cleanup = Cleanup::new();
    let dead = dead_tid();

    let m = unique_name("dead-m");
    cleanup.shm(&m);
    drop(NamedMutex::create(&m).unwrap());
    poke(&m, 64, &dead.to_ne_bytes());
    let problems = check(&m).unwrap();
    assert_eq!(errors(&problems), Vec::<&str>::new());
    assert!(
        warnings(&problems)[0].contains(&format!("thread {dead}, which is dead")),
        "{problems:?}"
    );
    let d = details(&m).unwrap().unwrap();
    assert_eq!(
        d.get("owner"),
        Some(&Value::Text(format!("thread {dead} (dead)")))
    );

    // Inconsistent, unlocked; then an owner id no thread can have.
    poke(&m, 64, &(1u32 << 30).to_ne_bytes());
    let problems = check(&m).unwrap();
    assert!(
        warnings(&problems)[0].contains("inconsistent"),
        "{problems:?}"
    );
    poke(&m, 64, &((1u32 << 30) - 1).to_ne_bytes());
    let problems = check(&m).unwrap();
    assert!(
        warnings(&problems)[0].contains("cannot be a thread id"),
        "{problems:?}"
    );
    assert!(errors(&problems).is_empty());

    // A reader slot of a dead thread, and a gate without owner.
    let w = unique_name("dead-w");
    cleanup.shm(&w);
    drop(NamedRwLock::create(&w).unwrap());
    poke(&w, 64 + 8 + 4 * 5, &((3u32 << 22) | dead).to_ne_bytes());
    poke(&w, 64, &(1u32 << 22).to_ne_bytes());
    let problems = check(&w).unwrap();
    assert!(errors(&problems).is_empty(), "{problems:?}");
    let w = warnings(&problems);
    assert!(w.iter().any(|m| m.contains("gate")), "{problems:?}");
    assert!(
        w.iter()
            .any(|m| m.contains(&format!("3 read lock(s) held by thread {dead}"))),
        "{problems:?}"
    );
}

#[test]
fn damaged_headers_are_reported() {
    let mut cleanup = Cleanup::new();
    let fresh = |tag: &str, cleanup: &mut Cleanup| {
        let name = unique_name(tag);
        cleanup.shm(&name);
        drop(NamedMutex::create(&name).unwrap());
        name
    };
    let u32b = |v: u32| v.to_ne_bytes();
    let me = std::process::id();

    // Marked corrupt.
    let n = fresh("bad-corrupt", &mut cleanup);
    poke(&n, 24, &u32b(CORRUPT));
    assert_eq!(inspect(&n).unwrap().state, Some(State::Corrupt));
    assert!(errors(&check(&n).unwrap())[0].contains("marked corrupt"));
    assert!(details(&n).unwrap().is_none());

    // A state word that is no state.
    let n = fresh("bad-state", &mut cleanup);
    poke(&n, 24, &u32b(77));
    assert_eq!(inspect(&n).unwrap().state, Some(State::Corrupt));
    assert!(errors(&check(&n).unwrap())[0].contains("no state"));

    // Initialising: by a live creator a warning, by a dead one an error.
    let n = fresh("bad-init", &mut cleanup);
    poke(&n, 24, &u32b(INITIALISING));
    let problems = check(&n).unwrap();
    assert!(errors(&problems).is_empty(), "{problems:?}");
    assert!(warnings(&problems)[0].contains(&format!("initialised by process {me}")));
    let dead = dead_pid();
    poke(&n, 28, &u32b(dead));
    let info = inspect(&n).unwrap();
    assert_eq!(info.creator_pid, Some(dead));
    assert_eq!(info.creator_alive, Some(false));
    assert!(errors(&check(&n).unwrap())[0].contains("died while initialising"));

    // Another layout version.
    let n = fresh("bad-version", &mut cleanup);
    poke(&n, 8, &u32b(2));
    let info = inspect(&n).unwrap();
    assert_eq!(info.kind, ObjectKind::Unknown);
    assert_eq!(info.layout_version, Some(2));
    assert_eq!(info.state, None);
    assert!(info.note.unwrap().contains("layout version 2"));
    assert!(errors(&check(&n).unwrap())[0].contains("layout version 2"));

    // An unknown kind.
    let n = fresh("bad-kind", &mut cleanup);
    poke(&n, 12, &u32b(99));
    let info = inspect(&n).unwrap();
    assert_eq!(info.kind, ObjectKind::Unknown);
    assert_eq!(info.kind_code, Some(99));
    assert!(errors(&check(&n).unwrap())[0].contains("unknown kind code 99"));
    assert!(details(&n).unwrap().is_none());

    // Another kind's payload layout.
    let n = fresh("bad-layout", &mut cleanup);
    poke(&n, 16, &u32b(5));
    assert!(errors(&check(&n).unwrap())[0].contains("incompatible shmkit build"));
    assert!(details(&n).unwrap().is_none());

    // Truncated below its payload, then below its header.
    let n = fresh("bad-short", &mut cleanup);
    let shm = SharedMemory::open(&n).unwrap();
    shm.set_len_sparse(66).unwrap();
    assert!(errors(&check(&n).unwrap())[0].contains("truncated"));
    shm.set_len_sparse(40).unwrap();
    let info = inspect(&n).unwrap();
    assert_eq!(info.kind, ObjectKind::Unknown);
    assert_eq!(info.state, Some(State::Corrupt));
    assert!(errors(&check(&n).unwrap())[0].contains("truncated shmkit object: 40 bytes"));

    // No magic: foreign.
    let n = fresh("bad-magic", &mut cleanup);
    poke(&n, 0, b"garbage!");
    assert_eq!(inspect(&n).unwrap().kind, ObjectKind::Foreign);
    assert!(errors(&check(&n).unwrap())[0].starts_with("not a shmkit object"));

    // Implausible but harmless fields: warnings.
    let n = fresh("bad-soft", &mut cleanup);
    poke(&n, 28, &u32b(0));
    poke(&n, 32, &u64::MAX.to_ne_bytes());
    poke(&n, 50, &[1]);
    let info = inspect(&n).unwrap();
    assert_eq!(info.creator_pid, None);
    assert_eq!(info.created_at, None);
    let problems = check(&n).unwrap();
    assert!(errors(&problems).is_empty(), "{problems:?}");
    assert_eq!(warnings(&problems).len(), 3, "{problems:?}");
}

#[test]
fn users_are_found_through_descriptors_and_mappings() {
    let mut cleanup = Cleanup::new();
    let me = std::process::id();
    let n = unique_name("users");
    cleanup.shm(&n);
    let shm = SharedMemory::create(&n).unwrap();
    shm.set_len(4096).unwrap();
    assert!(inspect(&n).unwrap().users.contains(&me), "open descriptor");
    let region = MappedRegion::map(&shm).unwrap();
    drop(shm);
    assert!(inspect(&n).unwrap().users.contains(&me), "mapping");
    drop(region);
    let info = inspect(&n).unwrap();
    assert!(!info.users.contains(&me), "{info:?}");
}

#[test]
fn entries_that_are_not_objects_are_left_out() {
    let mut cleanup = Cleanup::new();
    let dir = unique_name("dir");
    let fifo = unique_name("fifo");
    let link = unique_name("link");
    let target = unique_name("target");
    cleanup.shm(&target).shm(&fifo).shm(&link);
    std::fs::create_dir(sys::shm_path(&dir)).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(sys::shm_path(&fifo))
        .status()
        .unwrap();
    assert!(made.success());
    drop(SharedMemory::create(&target).unwrap());
    std::os::unix::fs::symlink(sys::shm_path(&target), sys::shm_path(&link)).unwrap();

    let all = list().unwrap(); // must not block on the FIFO
    for name in [&dir, &fifo, &link] {
        assert!(all.iter().all(|o| o.name != *name), "{name} listed");
        assert_eq!(
            inspect(name).unwrap_err().kind(),
            ErrorKind::InvalidArgument,
            "{name}"
        );
    }
    assert!(all.iter().any(|o| o.name == target));
    std::fs::remove_dir(sys::shm_path(&dir)).unwrap();
}

#[test]
fn remove_and_clean_spare_what_is_in_use() {
    let mut cleanup = Cleanup::new();
    let prefix = unique_name("clean-");
    let idle = format!("{prefix}idle");
    let held = format!("{prefix}held");
    let dying = format!("{prefix}dying");
    let starting = format!("{prefix}starting");
    let foreign = format!("{prefix}foreign");
    for n in [&idle, &held, &dying, &starting, &foreign] {
        cleanup.shm(n);
    }
    drop(NamedMutex::create(&idle).unwrap());
    let keep = NamedSemaphore::create(&held, 0).unwrap();
    // Initialising by a dead creator: stale. By a live one (this process): kept.
    drop(NamedMutex::create(&dying).unwrap());
    poke(&dying, 24, &INITIALISING.to_ne_bytes());
    poke(&dying, 28, &dead_pid().to_ne_bytes());
    drop(NamedMutex::create(&starting).unwrap());
    poke(&starting, 24, &INITIALISING.to_ne_bytes());
    SharedMemory::create(&foreign)
        .unwrap()
        .set_len(100)
        .unwrap();

    assert_eq!(remove(&held).unwrap_err().kind(), ErrorKind::Busy);

    let report = clean(CleanOptions::new().prefix(prefix.clone()).dry_run(true)).unwrap();
    let mut removed: Vec<&str> = report.removed.iter().map(|i| i.name.as_str()).collect();
    removed.sort();
    assert_eq!(removed, [dying.as_str(), idle.as_str()], "{report:?}");
    assert!(inspect(&idle).is_ok(), "a dry run removes nothing");
    let mut kept: Vec<(&str, &str)> = report
        .kept
        .iter()
        .map(|k| (k.name.as_str(), k.reason.as_str()))
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(kept[0].0, held);
    assert!(kept[0].1.contains("in use by process"), "{kept:?}");
    assert_eq!(kept[1].0, starting);
    assert!(kept[1].1.contains("is alive"), "{kept:?}");

    let report = clean(CleanOptions::new().prefix(prefix.clone())).unwrap();
    assert_eq!(report.removed.len(), 2);
    for gone in [&idle, &dying] {
        assert_eq!(inspect(gone).unwrap_err().kind(), ErrorKind::NotFound);
    }
    assert!(inspect(&foreign).is_ok(), "foreign objects only when asked");

    let report = clean(CleanOptions::new().prefix(prefix.clone()).foreign(true)).unwrap();
    assert_eq!(report.removed.len(), 1);
    assert_eq!(report.removed[0].name, foreign);
    assert!(inspect(&held).is_ok());

    drop(keep);
    assert_eq!(remove(&held).unwrap().kind, ObjectKind::Semaphore);
    assert_eq!(remove(&held).unwrap_err().kind(), ErrorKind::NotFound);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever an object holds, inspecting and checking it gives an answer, never a panic.
    #[test]
    fn any_object_contents_are_answered(
        len in 0usize..400,
        mut bytes in proptest::collection::vec(any::<u8>(), 400),
        header in 0u8..3,
        kind in 0u32..9,
        state in 0u32..5,
    ) {
        if header > 0 {
            bytes[..8].copy_from_slice(&crate::sync::named::object::MAGIC);
        }
        if header > 1 {
            bytes[8..12].copy_from_slice(&1u32.to_ne_bytes());
            bytes[12..16].copy_from_slice(&kind.to_ne_bytes());
            bytes[24..28].copy_from_slice(&state.to_ne_bytes());
            bytes[40..44].copy_from_slice(&64u32.to_ne_bytes());
        }
        let name = unique_name("prop");
        let mut cleanup = Cleanup::new();
        cleanup.shm(&name);
        let shm = SharedMemory::create(&name).unwrap();
        if len > 0 {
            shm.set_len(len as u64).unwrap();
            MappedRegion::map(&shm).unwrap().write_at(0, &bytes[..len]).unwrap();
        }
        drop(shm);
        let info = inspect(&name).unwrap();
        prop_assert_eq!(info.size, len as u64);
        let problems = check(&name).unwrap();
        if info.kind == ObjectKind::Foreign || info.kind == ObjectKind::Unknown {
            prop_assert!(problems.iter().any(Problem::is_error));
        }
        let _ = details(&name).unwrap();
    }
}

/// A 16 KiB segment with a few objects, made with algorithm `M` and index `I`.
fn small_segment<M: crate::alloc::MemoryAlgorithm, I: crate::segment::NameIndex>(name: &str) {
    let seg: crate::ManagedSharedMemory<M, I> =
        crate::ManagedSharedMemory::create(name, 1 << 14).unwrap();
    if I::KIND != crate::segment::IndexKind::Null {
        for i in 0..20u64 {
            seg.construct(&format!("object-{i}"), i).unwrap();
        }
        seg.construct_unique([1u32; 8]).unwrap();
    }
    seg.construct_anonymous(3u64).unwrap();
}

#[test]
fn segments_of_every_algorithm_and_index_are_detailed_and_checked() {
    use crate::alloc::{BestFit, SeqFit};
    use crate::segment::{HashIndex, NullIndex, OrderedIndex};
    type Maker = (fn(&str), &'static str, &'static str);
    let makers: [Maker; 6] = [
        (small_segment::<BestFit, HashIndex>, "best-fit", "hashed"),
        (
            small_segment::<BestFit, OrderedIndex>,
            "best-fit",
            "ordered",
        ),
        (small_segment::<BestFit, NullIndex>, "best-fit", "null"),
        (small_segment::<SeqFit, HashIndex>, "seq-fit", "hashed"),
        (small_segment::<SeqFit, OrderedIndex>, "seq-fit", "ordered"),
        (small_segment::<SeqFit, NullIndex>, "seq-fit", "null"),
    ];
    for (make, algorithm, index) in makers {
        let name = unique_name("seg-kinds");
        let mut cleanup = Cleanup::new();
        cleanup.shm(&name);
        make(&name);
        let d = details(&name).unwrap().unwrap();
        assert_eq!(d.get("algorithm"), Some(&Value::Text(algorithm.into())));
        assert_eq!(d.get("index"), Some(&Value::Text(index.into())));
        let usage = inspect(&name).unwrap().usage.unwrap();
        assert_eq!(d.get("free bytes"), Some(&Value::Number(usage.free)));
        assert_eq!(usage.used + usage.free, 1 << 14);
        if index != "null" {
            assert_eq!(d.get("named objects"), Some(&Value::Number(20)));
            assert_eq!(d.tables[0].rows.len(), 20);
            assert_eq!(d.tables[1].rows.len(), 1);
        }
        assert_eq!(check(&name).unwrap(), []);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Scribbled segments (any bytes anywhere after the header, in any of the algorithm and
    /// index combinations) give figures, problems or errors, never a panic or a hang.
    #[test]
    fn scribbled_segments_are_answered(
        maker in 0usize..4,
        // Mostly the control block, the algorithm's header and the objects (up to ~6 KiB).
        runs in proptest::collection::vec(
            (64usize..8192, proptest::collection::vec(any::<u8>(), 1..48)),
            1..6,
        ),
    ) {
        use crate::alloc::{BestFit, SeqFit};
        use crate::segment::{HashIndex, OrderedIndex};
        let name = unique_name("seg-prop");
        let mut cleanup = Cleanup::new();
        cleanup.shm(&name);
        [
            small_segment::<BestFit, HashIndex>,
            small_segment::<BestFit, OrderedIndex>,
            small_segment::<SeqFit, HashIndex>,
            small_segment::<SeqFit, OrderedIndex>,
        ][maker](&name);
        for (at, bytes) in &runs {
            poke(&name, *at, bytes);
        }
        let info = inspect(&name).unwrap();
        if let Some(u) = info.usage {
            prop_assert!(u.used + u.free <= info.size);
        }
        let _ = check(&name).unwrap();
        let _ = details(&name).unwrap();
    }
}

#[test]
fn names_that_are_not_utf8_are_listed_and_removable() {
    use std::os::unix::ffi::OsStrExt;
    let prefix = unique_name("bytes-");
    let mut raw = prefix.as_bytes().to_vec();
    raw.extend_from_slice(b"\xff\xfe");
    let file = OsStr::from_bytes(&raw);
    let path = sys::shm_path(file);
    std::fs::write(&path, b"not a shmkit object").unwrap();
    let listed = list().unwrap();
    let info = listed
        .iter()
        .find(|o| o.name.starts_with(&prefix))
        .expect("listed");
    assert_eq!(info.kind, ObjectKind::Foreign);
    assert_eq!(info.name, format!("{prefix}\u{FFFD}\u{FFFD}"));
    let report = clean(CleanOptions::new().prefix(prefix.clone()).foreign(true)).unwrap();
    assert_eq!(report.removed.len(), 1, "{report:?}");
    assert!(!path.exists());
}
