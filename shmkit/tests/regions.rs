//! Shared memory objects, file mappings, anonymous and XSI memory, and mapped regions, tested
//! across real processes (the test binary re-executed as a child; see shmkit-testkit).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shmkit::{
    Access, Advice, ErrorKind, FileMapping, MappedRegion, OpenMode, Permissions, RemoveOnDrop,
    SharedMemory, XsiKey, XsiSharedMemory,
};
use shmkit_testkit::{
    Cleanup, child, child_roles, euid, report, shm_path, unique_name, unique_path, wait_until,
};

child_roles!(
    racer,
    create_with_umask,
    open_rw_as_reader,
    cow_writer,
    file_writer,
    xsi_peer,
    shm_writer,
);

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

// ---------------------------------------------------------------- creation matrix

#[test]
fn create_new_on_existing_name_is_already_exists() {
    let name = unique_name("exists");
    let _c = RemoveOnDrop::shared_memory(&name);
    let first = SharedMemory::create(&name).unwrap();
    assert!(first.created());
    let err = SharedMemory::create(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(err.to_string().contains(&name), "{err}");
    // open_or_create opens the existing one instead.
    let again = SharedMemory::open_or_create(&name).unwrap();
    assert!(!again.created());
}

#[test]
fn open_and_remove_of_missing_name_is_not_found() {
    let name = unique_name("missing");
    assert_eq!(
        SharedMemory::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        SharedMemory::open_read_only(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        SharedMemory::remove(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn remove_unlinks_the_name_but_mappings_live_on() {
    let name = unique_name("unlink");
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(4096).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    region.write_at(0, b"still here").unwrap();
    SharedMemory::remove(&name).unwrap();
    assert!(!shm_path(&name).exists());
    let mut buf = [0; 10];
    region.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"still here");
    // The name can be reused at once, for a new, empty object.
    let fresh = SharedMemory::create(&name).unwrap();
    let _c = RemoveOnDrop::shared_memory(&name);
    assert_eq!(fresh.len().unwrap(), 0);
}

/// Child: races `open_or_create` against its siblings, then writes its mark and waits to see
/// every sibling's mark.
fn racer(args: &[String]) {
    let (name, idx, n, start): (&str, usize, usize, u128) = (
        &args[0],
        args[1].parse().unwrap(),
        args[2].parse().unwrap(),
        args[3].parse().unwrap(),
    );
    while now_ms() < start {
        std::hint::spin_loop();
    }
    let shm = SharedMemory::open_or_create(name).unwrap();
    if shm.created() {
        shm.set_len(4096).unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(30), || shm.len().unwrap() == 4096),
        "the creator never sized the object"
    );
    let region = MappedRegion::map(&shm).unwrap();
    region.write_at(idx, &[idx as u8 + 1]).unwrap();
    let all_seen = wait_until(Duration::from_secs(30), || {
        let mut marks = vec![0u8; n];
        region.read_at(0, &mut marks).unwrap();
        marks.iter().enumerate().all(|(i, &m)| m == i as u8 + 1)
    });
    report("created", shm.created());
    report("all_seen", all_seen);
}

#[test]
fn eight_processes_racing_open_or_create_make_exactly_one_creator() {
    const N: usize = 8;
    let name = unique_name("race");
    let _c = RemoveOnDrop::shared_memory(&name);
    let start = now_ms() + 500;
    let children: Vec<_> = (0..N)
        .map(|i| {
            child("racer")
                .args([
                    name.clone(),
                    i.to_string(),
                    N.to_string(),
                    start.to_string(),
                ])
                .spawn()
        })
        .collect();
    let outs: Vec<_> = children.into_iter().map(|c| c.wait()).collect();
    let mut creators = 0;
    for out in &outs {
        out.assert_success();
        if out.value("created") == "true" {
            creators += 1;
        }
        assert_eq!(out.value("all_seen"), "true");
    }
    assert_eq!(creators, 1, "exactly one process creates the object");
    // And the parent sees all the marks too.
    let region = MappedRegion::map(&SharedMemory::open_read_only(&name).unwrap()).unwrap();
    let mut marks = [0u8; N];
    region.read_at(0, &mut marks).unwrap();
    assert_eq!(marks, [1, 2, 3, 4, 5, 6, 7, 8]);
}

// ---------------------------------------------------------------- permissions

/// Child: sets its umask, creates an object with the given mode, reports the resulting mode.
fn create_with_umask(args: &[String]) {
    let name = &args[0];
    let mask = u32::from_str_radix(&args[1], 8).unwrap();
    let mode = u32::from_str_radix(&args[2], 8).unwrap();
    shmkit_testkit::set_umask(mask);
    let shm = SharedMemory::options()
        .create_new(true)
        .permissions(Permissions::from_mode(mode))
        .open(name)
        .unwrap();
    let st = std::fs::metadata(shm_path(name)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    report("mode", format!("{:o}", st.permissions().mode() & 0o777));
    report(
        "reported",
        format!("{:o}", shm.permissions().unwrap().mode()),
    );
}

#[test]
fn permissions_are_applied_exactly_whatever_the_umask() {
    for (mask, mode) in [
        ("022", "600"),
        ("077", "600"),
        ("077", "666"),
        ("022", "664"),
        ("000", "640"),
    ] {
        let name = unique_name("perm");
        let _c = RemoveOnDrop::shared_memory(&name);
        let out = child("create_with_umask")
            .args([name.as_str(), mask, mode])
            .run();
        assert_eq!(out.value("mode"), mode, "umask {mask}");
        assert_eq!(out.value("reported"), mode, "umask {mask}");
    }
}

#[test]
fn default_permissions_are_owner_only() {
    let name = unique_name("defperm");
    let _c = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::create(&name).unwrap();
    assert_eq!(shm.permissions().unwrap().mode(), 0o600);
    assert_eq!(shm.owner_uid().unwrap(), euid());
}

/// Child: as a user who may only read the object, tries to open it read-write and read-only.
fn open_rw_as_reader(args: &[String]) {
    if euid() == 0 {
        // Root bypasses permission checks: test as an unprivileged user instead.
        shmkit_testkit::become_nobody();
    }
    let name = &args[0];
    let rw = SharedMemory::open(name).unwrap_err();
    report("rw", format!("{:?}", rw.kind()));
    let ro = SharedMemory::open_read_only(name).unwrap();
    let region = MappedRegion::map(&ro).unwrap();
    let mut b = [0; 3];
    region.read_at(0, &mut b).unwrap();
    report("read", String::from_utf8_lossy(&b));
    let err = MappedRegion::options()
        .access(Access::ReadWrite)
        .map(&ro)
        .unwrap_err();
    report("map_rw", format!("{:?}", err.kind()));
}

#[test]
fn opening_read_write_what_you_may_only_read_is_permission_denied() {
    let name = unique_name("ro-perm");
    let _c = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::options()
        .create_new(true)
        .permissions(Permissions::from_mode(0o444))
        .open(&name)
        .unwrap();
    shm.set_len(4096).unwrap();
    MappedRegion::map(&shm)
        .unwrap()
        .write_at(0, b"abc")
        .unwrap();
    let out = child("open_rw_as_reader").arg(&name).run();
    assert_eq!(out.value("rw"), "PermissionDenied");
    assert_eq!(out.value("read"), "abc");
    assert_eq!(out.value("map_rw"), "PermissionDenied");
}

#[test]
fn set_len_on_a_read_only_handle_is_permission_denied() {
    let name = unique_name("ro-setlen");
    let _c = RemoveOnDrop::shared_memory(&name);
    SharedMemory::create(&name).unwrap();
    let ro = SharedMemory::open_read_only(&name).unwrap();
    assert_eq!(
        ro.set_len(10).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
}

// ---------------------------------------------------------------- access modes

/// Child: maps copy-on-write, writes, and reports what it sees.
fn cow_writer(args: &[String]) {
    let shm = SharedMemory::open_read_only(&args[0]).unwrap();
    let region = MappedRegion::options()
        .access(Access::CopyOnWrite)
        .map(&shm)
        .unwrap();
    region.write_at(0, b"BBBB").unwrap();
    let mut b = [0; 4];
    region.read_at(0, &mut b).unwrap();
    report("own_view", String::from_utf8_lossy(&b));
}

#[test]
fn copy_on_write_changes_stay_in_the_writing_process() {
    let name = unique_name("cow");
    let _c = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(4096).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    region.write_at(0, b"AAAA").unwrap();

    let out = child("cow_writer").arg(&name).run();
    assert_eq!(out.value("own_view"), "BBBB");
    let mut b = [0; 4];
    region.read_at(0, &mut b).unwrap();
    assert_eq!(
        &b, b"AAAA",
        "a copy-on-write change leaked to another process"
    );
    let fresh = MappedRegion::map(&SharedMemory::open_read_only(&name).unwrap()).unwrap();
    fresh.read_at(0, &mut b).unwrap();
    assert_eq!(&b, b"AAAA", "a copy-on-write change was persisted");
}

#[test]
fn read_only_regions_cannot_be_written() {
    let name = unique_name("ro-map");
    let _c = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(4096).unwrap();
    for access in [Access::ReadOnly, Access::ReadPrivate] {
        let mut region = MappedRegion::options().access(access).map(&shm).unwrap();
        assert_eq!(region.access(), access);
        assert_eq!(
            region.write_at(0, b"x").unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        // SAFETY: nobody writes this object during the test.
        let err = unsafe { region.as_mut_slice() }.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        // SAFETY: as above.
        assert_eq!(unsafe { region.as_slice() }.len(), 4096);
    }
    // A read-only handle maps read-only by default.
    let ro = SharedMemory::open_read_only(&name).unwrap();
    assert_eq!(MappedRegion::map(&ro).unwrap().access(), Access::ReadOnly);
}

#[test]
fn mapping_an_empty_object_or_past_its_end_is_an_error() {
    let name = unique_name("empty");
    let _c = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::create(&name).unwrap();
    assert!(shm.is_empty().unwrap());
    let err = MappedRegion::map(&shm).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("empty"), "{err}");
    shm.set_len(100).unwrap();
    for (offset, len) in [(100, 0), (101, 0), (0, 101), (50, 51), (u64::MAX, 1)] {
        let err = MappedRegion::options()
            .offset(offset)
            .len(len)
            .map(&shm)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{offset} {len}");
    }
    assert_eq!(
        shm.set_len(u64::MAX).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn as_mut_slice_writes_are_seen_by_other_mappings() {
    let name = unique_name("mut-slice");
    let _c = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(10_000).unwrap();
    let mut region = MappedRegion::options().offset(4000).map(&shm).unwrap();
    assert_eq!(region.len(), 6000);
    // SAFETY: no other mapping touches the object while the slice lives.
    unsafe { region.as_mut_slice() }.unwrap().fill(0x5a);
    let whole = MappedRegion::map(&shm).unwrap();
    let mut b = [0; 2];
    whole.read_at(3999, &mut b).unwrap();
    assert_eq!(b, [0, 0x5a]);
}

#[test]
fn address_hint_is_honoured_or_refused_never_forced() {
    let name = unique_name("hint");
    let _c = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::create(&name).unwrap();
    let page = MappedRegion::page_size();
    shm.set_len(4 * page as u64).unwrap();

    // Find a free address: map, note it, unmap, map there. Tests run on threads of this
    // process, so another mapping may take the range between the unmap and the hinted map; the
    // hint is then refused with `Busy` (never forced over it), and we try a fresh address.
    let mut attempt = 0;
    let (addr, at) = loop {
        attempt += 1;
        let addr = {
            let probe = MappedRegion::map(&shm).unwrap();
            probe.as_ptr() as usize
        };
        match MappedRegion::options().address(addr).map(&shm) {
            Ok(at) => break (addr, at),
            Err(e) if e.kind() == ErrorKind::Busy && attempt < 50 => continue,
            Err(e) => panic!("attempt {attempt}: {e}"),
        }
    };
    assert_eq!(at.as_ptr() as usize, addr);
    at.write_at(0, b"hinted").unwrap();

    // The range is now taken: a second request must fail, not replace the mapping.
    let err = MappedRegion::options().address(addr).map(&shm).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    let mut b = [0; 6];
    at.read_at(0, &mut b).unwrap();
    assert_eq!(&b, b"hinted");

    // Misaligned address or offset with an address: InvalidArgument.
    for (a, off) in [(addr + 1, 0), (addr + 8 * page, 1)] {
        let err = MappedRegion::options()
            .address(a)
            .offset(off)
            .map(&shm)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
}

#[test]
fn flush_async_and_advise_are_accepted_on_shared_memory() {
    let name = unique_name("advise");
    let _c = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(3 * 4096 + 17).unwrap();
    let region = MappedRegion::options().offset(17).map(&shm).unwrap();
    for a in [
        Advice::Normal,
        Advice::Sequential,
        Advice::Random,
        Advice::WillNeed,
        Advice::DontNeed,
    ] {
        region.advise(a).unwrap();
    }
    region.write_at(5, b"kept").unwrap();
    region.advise(Advice::DontNeed).unwrap();
    let mut b = [0; 4];
    region.read_at(5, &mut b).unwrap();
    assert_eq!(&b, b"kept", "DontNeed must not discard data");
    region.flush_async(0, 0).unwrap();
    region.flush(1, 10).unwrap();
    assert_eq!(
        region.flush(0, region.len() + 1).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

// ---------------------------------------------------------------- file mappings

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn file_mapping_at_unaligned_offsets_reads_the_right_bytes() {
    let path = unique_path("file-offsets");
    let mut c = Cleanup::new();
    c.file(&path);
    let page = MappedRegion::page_size();
    let data = pattern(3 * page + 123);
    std::fs::write(&path, &data).unwrap();
    let file = FileMapping::open(&path, OpenMode::ReadOnly).unwrap();
    assert_eq!(file.len().unwrap(), data.len() as u64);
    for (off, len) in [
        (0, 0),
        (1, 10),
        (page - 1, 2),
        (page, page),
        (page + 1, 0),
        (2 * page + 7, 500),
        (data.len() - 1, 1),
    ] {
        let region = MappedRegion::options()
            .offset(off as u64)
            .len(len)
            .map(&file)
            .unwrap();
        let want = if len == 0 {
            &data[off..]
        } else {
            &data[off..off + len]
        };
        assert_eq!(region.len(), want.len());
        let mut got = vec![0; want.len()];
        region.read_at(0, &mut got).unwrap();
        assert_eq!(got, want, "offset {off} len {len}");
        // SAFETY: nobody writes the file during the test.
        assert_eq!(unsafe { region.as_slice() }, want);
    }
    // The handle was opened read-only: a shared writable map is refused, a private one works.
    assert_eq!(
        MappedRegion::options()
            .access(Access::ReadWrite)
            .map(&file)
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    let private = MappedRegion::options()
        .access(Access::CopyOnWrite)
        .map(&file)
        .unwrap();
    private.write_at(0, b"zz").unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        data,
        "copy-on-write reached the file"
    );
}

/// Child: maps the file read-write at an unaligned offset, writes and flushes.
fn file_writer(args: &[String]) {
    let file = FileMapping::open(&args[0], OpenMode::ReadWrite).unwrap();
    let off: u64 = args[1].parse().unwrap();
    let region = MappedRegion::options()
        .offset(off)
        .len(8)
        .map(&file)
        .unwrap();
    region.write_at(0, b"FLUSHED!").unwrap();
    region.flush(0, 8).unwrap();
}

#[test]
fn flush_makes_writes_of_another_process_visible_to_fs_read() {
    let path = unique_path("file-flush");
    let mut c = Cleanup::new();
    c.file(&path);
    let data = pattern(10_000);
    std::fs::write(&path, &data).unwrap();
    child("file_writer")
        .args([path.display().to_string(), "4093".into()])
        .run();
    let after = std::fs::read(&path).unwrap();
    assert_eq!(&after[4093..4101], b"FLUSHED!");
    assert_eq!(&after[..4093], &data[..4093]);
    assert_eq!(&after[4101..], &data[4101..]);
}

#[test]
fn file_mapping_errors() {
    let missing = unique_path("no-file");
    assert_eq!(
        FileMapping::open(&missing, OpenMode::ReadOnly)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        FileMapping::remove(&missing).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let dir = std::env::temp_dir();
    assert_eq!(
        FileMapping::open(&dir, OpenMode::ReadOnly)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    let empty = unique_path("empty-file");
    let mut c = Cleanup::new();
    c.file(&empty);
    std::fs::write(&empty, b"").unwrap();
    let file = FileMapping::open(&empty, OpenMode::ReadWrite).unwrap();
    assert_eq!(
        MappedRegion::map(&file).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    FileMapping::remove(&empty).unwrap();
    assert!(!empty.exists());
}

// ---------------------------------------------------------------- names

#[test]
fn every_bad_name_is_invalid_name_and_creates_nothing() {
    let long = "n".repeat(shmkit::MAX_NAME_LEN + 1);
    let bad = [
        "",
        ".",
        "..",
        "/lead",
        "a/b",
        "../escape",
        "trail/",
        "nul\0byte",
        &long,
    ];
    for name in bad {
        let ops: [(&str, shmkit::Result<()>); 5] = [
            ("create", SharedMemory::create(name).map(drop)),
            ("open", SharedMemory::open(name).map(drop)),
            (
                "open_or_create",
                SharedMemory::open_or_create(name).map(drop),
            ),
            (
                "options",
                SharedMemory::options()
                    .read_only()
                    .create(true)
                    .open(name)
                    .map(drop),
            ),
            ("remove", SharedMemory::remove(name)),
        ];
        for (op, r) in ops {
            assert_eq!(
                r.unwrap_err().kind(),
                ErrorKind::InvalidName,
                "{op}({name:?})"
            );
        }
    }
    // Nothing appeared in /dev/shm under any of these names (or their parts).
    for probe in ["lead", "a", "b", "escape", "trail", "nul"] {
        assert!(!shm_path(probe).exists(), "{probe} was created");
    }
    assert!(!std::path::Path::new("/dev/escape").exists());
}

#[test]
fn the_longest_valid_name_works() {
    let mut name = unique_name("long");
    name.push_str(&"x".repeat(shmkit::MAX_NAME_LEN - name.len()));
    assert_eq!(name.len(), shmkit::MAX_NAME_LEN);
    let _c = RemoveOnDrop::shared_memory(&name);
    SharedMemory::create(&name).unwrap();
    SharedMemory::open(&name).unwrap();
}

// ---------------------------------------------------------------- anonymous and XSI

#[test]
fn anonymous_memory_written_by_a_forked_child_is_seen_by_the_parent() {
    let region = MappedRegion::anonymous(10_000).unwrap();
    let ptr = region.as_mut_ptr() as usize;
    let child = move || {
        let p = ptr as *mut u8;
        for i in 0..10_000 {
            // SAFETY: the mapping is 10,000 bytes long and inherited by the child.
            unsafe { p.add(i).write_volatile((i % 256) as u8) };
        }
        0
    };
    // SAFETY: the child only writes plain bytes into the shared mapping, then `_exit`s.
    let code = unsafe { shmkit_testkit::fork_child(child) };
    assert_eq!(code, 0);
    let mut got = vec![0u8; 10_000];
    region.read_at(0, &mut got).unwrap();
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 256) as u8));
}

/// Child: opens an XSI segment by key or id, checks the parent's bytes and writes its own.
fn xsi_peer(args: &[String]) {
    let seg = match args[0].as_str() {
        "key" => XsiSharedMemory::open(
            XsiKey::from_path(&args[1], 42).unwrap(),
            OpenMode::ReadWrite,
        )
        .unwrap(),
        _ => XsiSharedMemory::open_by_id(args[1].parse().unwrap(), OpenMode::ReadWrite).unwrap(),
    };
    let region = MappedRegion::map(&seg).unwrap();
    let mut b = [0; 6];
    region.read_at(0, &mut b).unwrap();
    report("saw", String::from_utf8_lossy(&b));
    region.write_at(100, b"child").unwrap();
    report("len", seg.len().unwrap());
}

#[test]
fn xsi_create_attach_from_another_process_and_remove() {
    let keyfile = unique_path("xsi-key");
    let mut c = Cleanup::new();
    c.file(&keyfile);
    std::fs::write(&keyfile, b"").unwrap();
    let key = XsiKey::from_path(&keyfile, 42).unwrap();
    assert_eq!(
        XsiKey::from_path(&keyfile, 0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    let seg = XsiSharedMemory::create(key, 8192, Permissions::default()).unwrap();
    assert!(seg.created());
    assert_eq!(
        XsiSharedMemory::create(key, 8192, Permissions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    let same = XsiSharedMemory::open_or_create(key, 1, Permissions::default()).unwrap();
    assert!(!same.created());
    assert_eq!(same.id(), seg.id());

    let region = MappedRegion::map(&seg).unwrap();
    region.write_at(0, b"parent").unwrap();
    for how in [
        ("key", keyfile.display().to_string()),
        ("id", seg.id().to_string()),
    ] {
        let out = child("xsi_peer").args([how.0.to_string(), how.1]).run();
        assert_eq!(out.value("saw"), "parent");
        assert_eq!(out.value("len"), "8192");
    }
    let mut b = [0; 5];
    region.read_at(100, &mut b).unwrap();
    assert_eq!(&b, b"child");

    // XSI mappings are whole, shared, from offset 0.
    for opts in [
        MappedRegion::options().offset(1).clone(),
        MappedRegion::options().len(10).clone(),
        MappedRegion::options().access(Access::CopyOnWrite).clone(),
    ] {
        assert_eq!(opts.map(&seg).unwrap_err().kind(), ErrorKind::Unsupported);
    }
    assert_eq!(
        region.flush(0, 0).unwrap_err().kind(),
        ErrorKind::Unsupported
    );

    XsiSharedMemory::remove(seg.id()).unwrap();
    // Removed: the key is free again for a new segment, and the old memory stays attached.
    region.read_at(100, &mut b).unwrap();
    assert_eq!(&b, b"child");
    assert_eq!(
        XsiSharedMemory::open(key, OpenMode::ReadWrite)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    drop(region);
    assert!(XsiSharedMemory::open_by_id(seg.id(), OpenMode::ReadOnly).is_err());
    assert_eq!(
        XsiSharedMemory::create(XsiKey::private(), 0, Permissions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

// ---------------------------------------------------------------- basic cross-process sharing

/// Child: maps the object and writes a greeting.
fn shm_writer(args: &[String]) {
    let shm = SharedMemory::open(&args[0]).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    region.write_at(0, args[1].as_bytes()).unwrap();
    report("pid", std::process::id());
}

#[test]
fn a_child_process_writes_and_the_parent_reads() {
    let name = unique_name("xproc");
    let _c = RemoveOnDrop::shared_memory(&name);
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(1 << 20).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    let out = child("shm_writer")
        .args([name.as_str(), "hello parent"])
        .run();
    assert_ne!(out.value("pid"), std::process::id().to_string());
    let mut b = [0; 12];
    region.read_at(0, &mut b).unwrap();
    assert_eq!(&b, b"hello parent");
}

#[test]
fn remove_on_drop_cleans_up_when_a_test_panics() {
    let name = unique_name("panic");
    let n2 = name.clone();
    let r = std::thread::spawn(move || {
        let _g = RemoveOnDrop::shared_memory(&n2);
        SharedMemory::create(&n2).unwrap();
        panic!("boom");
    })
    .join();
    assert!(r.is_err());
    assert!(!shm_path(&name).exists());
    // disarm keeps the object.
    let g = RemoveOnDrop::shared_memory(&name);
    SharedMemory::create(&name).unwrap();
    g.disarm();
    assert!(shm_path(&name).exists());
    RemoveOnDrop::shared_memory(&name).remove_now().unwrap();
    assert!(!shm_path(&name).exists());
}
