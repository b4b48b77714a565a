//! Names and files under attack: names that try to leave `/dev/shm`, symbolic links planted
//! where a segment file goes, and objects owned by another user or with unexpected permissions.
//! The permission cases need root (to become `nobody` in a child: root itself bypasses
//! permission checks) and are skipped, with the reason printed, otherwise.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use shmkit::alloc::BestFit;
use shmkit::segment::HashIndex;
use shmkit::sync::{
    NamedCondvar, NamedMutex, NamedRecursiveMutex, NamedRwLock, NamedSemaphore,
    NamedUpgradableRwLock,
};
use shmkit::{
    ErrorKind, FileLock, FileMapping, ManagedMappedFile, ManagedSharedMemory, MappedRegion,
    MessageQueue, OpenMode, Permissions, SharedMemory, TypedQueue,
};
use shmkit_testkit::{Cleanup, child, child_roles, euid, report, unique_name, unique_path};

child_roles!(open_as_nobody);

type Seg = ManagedSharedMemory<BestFit, HashIndex>;
type File = ManagedMappedFile<BestFit, HashIndex>;

/// Names that must never reach `shm_open`.
fn bad_names() -> Vec<String> {
    vec![
        String::new(),
        ".".into(),
        "..".into(),
        "../x".into(),
        "../../etc/passwd".into(),
        "/x".into(),
        "/".into(),
        "a/b".into(),
        "x/".into(),
        "a\0b".into(),
        "\0".into(),
        "x".repeat(254),
        "x".repeat(4096),
    ]
}

/// Every named constructor and static, by name.
fn every_named_call(name: &str) -> Vec<(&'static str, shmkit::Result<()>)> {
    fn r<T>(x: shmkit::Result<T>) -> shmkit::Result<()> {
        x.map(drop)
    }
    let p = Permissions::default();
    vec![
        ("SharedMemory::create", r(SharedMemory::create(name))),
        ("SharedMemory::open", r(SharedMemory::open(name))),
        (
            "SharedMemory::open_read_only",
            r(SharedMemory::open_read_only(name)),
        ),
        (
            "SharedMemory::open_or_create",
            r(SharedMemory::open_or_create(name)),
        ),
        (
            "ShmOptions::open",
            r(SharedMemory::options().create(true).open(name)),
        ),
        ("SharedMemory::remove", SharedMemory::remove(name)),
        ("NamedMutex::create", r(NamedMutex::create(name))),
        (
            "NamedMutex::create_with",
            r(NamedMutex::create_with(name, p)),
        ),
        ("NamedMutex::open", r(NamedMutex::open(name))),
        (
            "NamedMutex::open_or_create",
            r(NamedMutex::open_or_create(name)),
        ),
        ("NamedMutex::remove", NamedMutex::remove(name)),
        (
            "NamedRecursiveMutex::create",
            r(NamedRecursiveMutex::create(name)),
        ),
        (
            "NamedRecursiveMutex::open",
            r(NamedRecursiveMutex::open(name)),
        ),
        (
            "NamedRecursiveMutex::open_or_create",
            r(NamedRecursiveMutex::open_or_create(name)),
        ),
        (
            "NamedRecursiveMutex::remove",
            NamedRecursiveMutex::remove(name),
        ),
        ("NamedSemaphore::create", r(NamedSemaphore::create(name, 1))),
        ("NamedSemaphore::open", r(NamedSemaphore::open(name))),
        (
            "NamedSemaphore::open_or_create",
            r(NamedSemaphore::open_or_create(name, 1)),
        ),
        ("NamedSemaphore::remove", NamedSemaphore::remove(name)),
        ("NamedRwLock::create", r(NamedRwLock::create(name))),
        ("NamedRwLock::open", r(NamedRwLock::open(name))),
        (
            "NamedRwLock::open_or_create",
            r(NamedRwLock::open_or_create(name)),
        ),
        ("NamedRwLock::remove", NamedRwLock::remove(name)),
        (
            "NamedUpgradableRwLock::create",
            r(NamedUpgradableRwLock::create(name)),
        ),
        (
            "NamedUpgradableRwLock::open",
            r(NamedUpgradableRwLock::open(name)),
        ),
        (
            "NamedUpgradableRwLock::open_or_create",
            r(NamedUpgradableRwLock::open_or_create(name)),
        ),
        (
            "NamedUpgradableRwLock::remove",
            NamedUpgradableRwLock::remove(name),
        ),
        ("NamedCondvar::create", r(NamedCondvar::create(name))),
        ("NamedCondvar::open", r(NamedCondvar::open(name))),
        (
            "NamedCondvar::open_or_create",
            r(NamedCondvar::open_or_create(name)),
        ),
        ("NamedCondvar::remove", NamedCondvar::remove(name)),
        ("MessageQueue::create", r(MessageQueue::create(name, 4, 16))),
        (
            "MessageQueue::create_with",
            r(MessageQueue::create_with(name, 4, 16, p)),
        ),
        ("MessageQueue::open", r(MessageQueue::open(name))),
        (
            "MessageQueue::open_or_create",
            r(MessageQueue::open_or_create(name, 4, 16)),
        ),
        ("MessageQueue::remove", MessageQueue::remove(name)),
        ("TypedQueue::create", r(TypedQueue::<u64>::create(name, 4))),
        ("TypedQueue::open", r(TypedQueue::<u64>::open(name))),
        (
            "TypedQueue::open_or_create",
            r(TypedQueue::<u64>::open_or_create(name, 4)),
        ),
        ("TypedQueue::remove", TypedQueue::<u64>::remove(name)),
        ("ManagedSharedMemory::create", r(Seg::create(name, 1 << 16))),
        (
            "ManagedSharedMemory::create_with",
            r(Seg::create_with(name, 1 << 16, p)),
        ),
        ("ManagedSharedMemory::open", r(Seg::open(name))),
        (
            "ManagedSharedMemory::open_or_create",
            r(Seg::open_or_create(name, 1 << 16)),
        ),
        (
            "ManagedSharedMemory::open_read_only",
            r(Seg::open_read_only(name)),
        ),
        (
            "ManagedSharedMemory::open_copy_on_write",
            r(Seg::open_copy_on_write(name)),
        ),
        ("ManagedSharedMemory::grow", r(Seg::grow(name, 4096))),
        (
            "ManagedSharedMemory::shrink_to_fit",
            r(Seg::shrink_to_fit(name)),
        ),
        ("ManagedSharedMemory::remove", Seg::remove(name)),
    ]
}

#[test]
fn names_that_leave_dev_shm_are_invalid_for_every_named_constructor() {
    let before: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for name in bad_names() {
        for (call, r) in every_named_call(&name) {
            let e = r.expect_err(&format!("{call}({name:?}) succeeded"));
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{call}({name:?}): {e:?}");
            assert!(
                !e.message().is_empty(),
                "{call}: an error without a message"
            );
        }
    }
    // Nothing was created anywhere by those calls: not in /dev/shm, not above it.
    assert!(!Path::new("/dev/x").exists() && !Path::new("/x").exists());
    let after: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !before.contains(n))
        .filter(|n| n.to_string_lossy().starts_with('x') || n.is_empty())
        .collect();
    assert!(after.is_empty(), "created: {after:?}");
}

#[test]
fn a_symlink_where_a_segment_file_goes_is_never_followed() {
    let mut c = Cleanup::new();
    let target = unique_path("link-target");
    let link = unique_path("planted-link");
    c.file(&target).file(&link);
    std::fs::write(&target, b"precious data that must survive").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();

    // Creating through the link fails (O_EXCL | O_NOFOLLOW), whatever the call.
    for (call, r) in [
        ("create", File::create(&link, 1 << 16).map(drop)),
        (
            "create_with",
            File::create_with(&link, 1 << 16, Permissions::default()).map(drop),
        ),
        (
            "open_or_create",
            File::open_or_create(&link, 1 << 16).map(drop),
        ),
    ] {
        let e = r.expect_err(&format!("{call} through a symbolic link succeeded"));
        assert!(
            matches!(
                e.kind(),
                ErrorKind::AlreadyExists | ErrorKind::InvalidArgument
            ),
            "{call}: {e:?}"
        );
    }
    // Opening through the link fails too (O_NOFOLLOW: ELOOP), even when the target is a
    // valid segment file.
    for (call, r) in [
        ("open", File::open(&link).map(drop)),
        ("open_read_only", File::open_read_only(&link).map(drop)),
        (
            "open_copy_on_write",
            File::open_copy_on_write(&link).map(drop),
        ),
        ("grow", File::grow(&link, 4096).map(drop)),
        ("shrink_to_fit", File::shrink_to_fit(&link).map(drop)),
    ] {
        let e = r.expect_err(&format!("{call} through a symbolic link succeeded"));
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{call}: {e:?}");
        assert!(e.to_string().contains("symbolic link"), "{call}: {e}");
        assert!(
            e.to_string().contains(&*link.to_string_lossy()),
            "{call}: the message does not name the path: {e}"
        );
    }
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"precious data that must survive"
    );
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());

    // A link to a real segment file is refused as well.
    let seg_path = unique_path("link-seg");
    c.file(&seg_path);
    drop(File::create(&seg_path, 1 << 16).unwrap());
    let link2 = unique_path("planted-link-seg");
    c.file(&link2);
    std::os::unix::fs::symlink(&seg_path, &link2).unwrap();
    assert!(File::open(&link2).is_err());
    assert!(File::open_read_only(&link2).is_err());
    File::open(&seg_path).unwrap().check_sanity().unwrap();

    // A dangling link (the classic /tmp attack: the target does not exist yet) is not
    // followed to create the target.
    let missing = unique_path("link-missing-target");
    let link3 = unique_path("planted-dangling");
    c.file(&missing).file(&link3);
    std::os::unix::fs::symlink(&missing, &link3).unwrap();
    assert!(File::create(&link3, 1 << 16).is_err());
    assert!(File::open_or_create(&link3, 1 << 16).is_err());
    assert!(
        !missing.exists(),
        "a segment was created through a dangling link"
    );
}

#[test]
fn file_mapping_and_file_lock_open_existing_files_only() {
    // FileMapping and FileLock never create: a dangling link or a missing path is NotFound,
    // and nothing is created at the target.
    let mut c = Cleanup::new();
    let missing = unique_path("fm-missing");
    let link = unique_path("fm-dangling");
    c.file(&missing).file(&link);
    std::os::unix::fs::symlink(&missing, &link).unwrap();
    assert_eq!(
        FileMapping::open(&link, OpenMode::ReadWrite)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        FileLock::open(&link).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(!missing.exists());
    // Directories and FIFOs are not files to map or lock.
    let dir = unique_path("fm-dir");
    std::fs::create_dir(&dir).unwrap();
    let r1 = FileMapping::open(&dir, OpenMode::ReadOnly).unwrap_err();
    let r2 = FileLock::open(&dir).unwrap_err();
    std::fs::remove_dir(&dir).unwrap();
    assert_eq!(r1.kind(), ErrorKind::InvalidArgument, "{r1}");
    assert_eq!(r2.kind(), ErrorKind::InvalidArgument, "{r2}");
}

// ----- another user's objects ---------------------------------------------------------------

fn perm_kind(r: shmkit::Result<()>) -> String {
    match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("{:?}: {e}", e.kind()),
    }
}

/// Child: becomes `nobody`, then opens what root made and reports each outcome.
fn open_as_nobody(args: &[String]) {
    shmkit_testkit::become_nobody();
    let [private, zero, public, file, zero_file] = args else {
        panic!("args: {args:?}")
    };
    let r = |x: shmkit::Result<()>| perm_kind(x);
    // Root's private (0o600) objects of every kind.
    report("shm_private", r(SharedMemory::open(private).map(drop)));
    report(
        "shm_private_ro",
        r(SharedMemory::open_read_only(private).map(drop)),
    );
    report(
        "mutex_private",
        r(NamedMutex::open(&format!("{private}-mutex")).map(drop)),
    );
    report(
        "mq_private",
        r(MessageQueue::open(&format!("{private}-mq")).map(drop)),
    );
    report(
        "seg_private",
        r(Seg::open(&format!("{private}-seg")).map(drop)),
    );
    report(
        "seg_private_ro",
        r(Seg::open_read_only(&format!("{private}-seg")).map(drop)),
    );
    // Mode 0o000.
    report("shm_zero", r(SharedMemory::open_read_only(zero).map(drop)));
    report(
        "mutex_zero",
        r(NamedMutex::open(&format!("{zero}-mutex")).map(drop)),
    );
    // Mode 0o644 made by root: readable, not writable.
    report("shm_public_rw", r(SharedMemory::open(public).map(drop)));
    report(
        "shm_public_ro",
        r(SharedMemory::open_read_only(public).and_then(|s| {
            let m = MappedRegion::map(&s)?;
            let mut b = [0u8; 2];
            m.read_at(0, &mut b)
        })),
    );
    report(
        "mutex_public",
        r(NamedMutex::open(&format!("{public}-mutex")).map(drop)),
    );
    report(
        "seg_public_rw",
        r(Seg::open(&format!("{public}-seg")).map(drop)),
    );
    report(
        "seg_public_ro",
        r(Seg::open_read_only(&format!("{public}-seg")).and_then(|s| s.check_sanity())),
    );
    // Open-or-create of another user's object is not a create: still refused.
    report(
        "mutex_private_ooc",
        r(NamedMutex::open_or_create(&format!("{private}-mutex")).map(drop)),
    );
    report("shm_private_remove", r(SharedMemory::remove(private)));
    // Files.
    report("file_private", r(File::open(file).map(drop)));
    report("file_private_ro", r(File::open_read_only(file).map(drop)));
    report("file_lock_zero", r(FileLock::open(zero_file).map(drop)));
    report(
        "file_map_zero",
        r(FileMapping::open(zero_file, OpenMode::ReadOnly).map(drop)),
    );
}

#[test]
fn another_users_objects_are_permission_denied_with_a_clear_message() {
    if euid() != 0 {
        println!(
            "skipped: not root (euid {}): cannot switch to another user to test permissions",
            euid()
        );
        return;
    }
    let mut c = Cleanup::new();
    let private = unique_name("perm-private");
    let zero = unique_name("perm-zero");
    let public = unique_name("perm-public");
    for base in [&private, &zero, &public] {
        for suffix in ["", "-mutex", "-mq", "-seg"] {
            c.shm(format!("{base}{suffix}"));
        }
    }
    let mode = |m| Permissions::from_mode(m);
    // Root's objects: default permissions (0o600), 0o000, 0o644.
    let shm = SharedMemory::create(&private).unwrap();
    shm.set_len(4096).unwrap();
    drop(NamedMutex::create(&format!("{private}-mutex")).unwrap());
    drop(MessageQueue::create(&format!("{private}-mq"), 4, 16).unwrap());
    drop(Seg::create(&format!("{private}-seg"), 1 << 16).unwrap());
    let z = SharedMemory::options()
        .create_new(true)
        .permissions(mode(0o000))
        .open(&zero)
        .unwrap();
    z.set_len(4096).unwrap();
    drop(NamedMutex::create_with(&format!("{zero}-mutex"), mode(0o000)).unwrap());
    let p = SharedMemory::options()
        .create_new(true)
        .permissions(mode(0o644))
        .open(&public)
        .unwrap();
    p.set_len(4096).unwrap();
    drop(NamedMutex::create_with(&format!("{public}-mutex"), mode(0o644)).unwrap());
    drop(Seg::create_with(&format!("{public}-seg"), 1 << 16, mode(0o644)).unwrap());
    // Files, in a directory nobody may enter (the temp directory is world-writable and sticky).
    let file = unique_path("perm-file");
    let zero_file = unique_path("perm-zero-file");
    c.file(&file).file(&zero_file);
    drop(File::create(&file, 1 << 16).unwrap());
    std::fs::write(&zero_file, b"x").unwrap();
    std::fs::set_permissions(&zero_file, std::fs::Permissions::from_mode(0o000)).unwrap();

    let out = child("open_as_nobody")
        .args([&private, &zero, &public])
        .arg(file.display())
        .arg(zero_file.display())
        .run();
    let denied = |key: &str, name: &str| {
        let v = out.value(key);
        assert!(v.starts_with("PermissionDenied: "), "{key}: {v}");
        assert!(
            v.contains(name),
            "{key}: the message does not name the object: {v}"
        );
    };
    denied("shm_private", &private);
    denied("shm_private_ro", &private);
    denied("mutex_private", &private);
    denied("mq_private", &private);
    denied("seg_private", &private);
    denied("seg_private_ro", &private);
    denied("shm_zero", &zero);
    denied("mutex_zero", &zero);
    denied("shm_public_rw", &public);
    assert_eq!(out.value("shm_public_ro"), "ok");
    denied("mutex_public", &public);
    denied("seg_public_rw", &public);
    assert_eq!(out.value("seg_public_ro"), "ok");
    denied("mutex_private_ooc", &private);
    denied("shm_private_remove", &private);
    denied("file_private", &file.to_string_lossy());
    denied("file_private_ro", &file.to_string_lossy());
    denied("file_lock_zero", &zero_file.to_string_lossy());
    denied("file_map_zero", &zero_file.to_string_lossy());
    // Nothing was removed or replaced.
    assert!(SharedMemory::open(&private).is_ok());
    NamedMutex::open(&format!("{private}-mutex")).unwrap();
}
