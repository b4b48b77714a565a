//! Resource exhaustion: a full filesystem, absurd and zero sizes, no file descriptors left, no
//! address space left. Every case must be an `Err` at the call that runs out (never a panic, and
//! never a `SIGBUS` later when the memory is touched). The cases that change process limits run
//! in child processes; the full-filesystem case needs root (to mount a small tmpfs) and is
//! skipped, with the reason printed, otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use shmkit::alloc::BestFit;
use shmkit::segment::HashIndex;
use shmkit::{
    ErrorKind, ManagedExternalBuffer, ManagedHeapMemory, ManagedMappedFile, ManagedSharedMemory,
    ManagedXsiSharedMemory, MapOptions, MappedRegion, MessageQueue, SharedMemory, XsiKey,
    XsiSharedMemory,
};
use shmkit::{Permissions, RemoveOnDrop};
use shmkit_testkit::{Cleanup, child, child_roles, euid, report, unique_name, unique_path};

child_roles!(fill_small_tmpfs, no_descriptors_left, no_address_space_left);

type File = ManagedMappedFile<BestFit, HashIndex>;
type Shm = ManagedSharedMemory<BestFit, HashIndex>;

fn assert_kind<T: std::fmt::Debug>(r: shmkit::Result<T>, kinds: &[ErrorKind], what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected an error {kinds:?}, got Ok({v:?})"),
        Err(e) => {
            assert!(
                kinds.contains(&e.kind()),
                "{what}: expected {kinds:?}, got {e:?}"
            );
            assert!(
                !e.to_string().is_empty(),
                "{what}: an error without a message"
            );
        }
    }
}

// ----- absurd and zero sizes ----------------------------------------------------------------

const ABSURD: [usize; 4] = [
    usize::MAX,
    usize::MAX / 2 + 1,
    isize::MAX as usize,
    1 << 60, // beyond any address space (47 or 56 bits of virtual addresses)
];

#[test]
fn absurd_and_zero_sizes_are_invalid_arguments() {
    use ErrorKind::InvalidArgument as Inv;
    let mut c = Cleanup::new();
    for size in ABSURD.into_iter().chain([0]) {
        let what = |s: &str| format!("{s} of {size} bytes");

        let name = unique_name("absurd-seg");
        c.shm(&name);
        assert_kind(
            Shm::create(&name, size),
            &[Inv],
            &what("ManagedSharedMemory::create"),
        );
        assert!(
            SharedMemory::open(&name).is_err(),
            "a refused segment left its name behind"
        );
        assert_kind(
            Shm::open_or_create(&name, size),
            &[Inv],
            &what("open_or_create"),
        );
        assert!(SharedMemory::open(&name).is_err());

        let path = unique_path("absurd-file");
        c.file(&path);
        assert_kind(
            File::create(&path, size),
            &[Inv],
            &what("ManagedMappedFile::create"),
        );
        assert!(!path.exists(), "a refused segment file was left behind");
        assert_kind(
            File::open_or_create(&path, size),
            &[Inv],
            &what("mapped open_or_create"),
        );
        assert!(!path.exists());

        assert_kind(
            ManagedHeapMemory::<BestFit, HashIndex>::new(size),
            &[Inv],
            &what("ManagedHeapMemory::new"),
        );
        assert_kind(
            ManagedXsiSharedMemory::<BestFit, HashIndex>::create(XsiKey::private(), size),
            &[Inv],
            &what("ManagedXsiSharedMemory::create"),
        );
        assert_kind(
            XsiSharedMemory::create(XsiKey::private(), size, Permissions::default()),
            &[Inv],
            &what("XsiSharedMemory::create"),
        );
        assert_kind(
            MappedRegion::anonymous(size),
            &[Inv],
            &what("MappedRegion::anonymous"),
        );

        let q = unique_name("absurd-mq");
        c.shm(&q);
        // A zero-byte message size is a supported queue of empty messages (tests/message_queue.rs
        // uses one); a zero capacity is not.
        if size != 0 {
            assert_kind(
                MessageQueue::create(&q, 4, size),
                &[Inv],
                &what("queue message size"),
            );
            assert_kind(
                MessageQueue::anonymous(4, size),
                &[Inv],
                &what("anonymous queue"),
            );
        }
        assert_kind(
            MessageQueue::create(&q, size, 16),
            &[Inv],
            &what("queue capacity"),
        );
        assert_kind(
            MessageQueue::anonymous(size, 16),
            &[Inv],
            &what("anonymous capacity"),
        );
        assert_kind(
            MessageQueue::open_or_create(&q, size, 16),
            &[Inv],
            &what("queue open_or_create"),
        );
        assert!(
            SharedMemory::open(&q).is_err(),
            "a refused queue left its name"
        );
    }
    let mut empty: [u8; 0] = [];
    assert_kind(
        ManagedExternalBuffer::<BestFit, HashIndex>::create(&mut empty),
        &[Inv],
        "an empty external buffer",
    );
}

#[test]
fn absurd_set_len_and_grow_are_invalid_arguments() {
    use ErrorKind::InvalidArgument as Inv;
    let mut c = Cleanup::new();
    let name = unique_name("absurd-len");
    c.shm(&name);
    let shm = SharedMemory::create(&name).unwrap();
    for len in [u64::MAX, i64::MAX as u64 + 1] {
        assert_kind(shm.set_len(len), &[Inv], &format!("set_len({len})"));
        assert_kind(
            shm.set_len_sparse(len),
            &[Inv],
            &format!("set_len_sparse({len})"),
        );
    }
    // Within the file-size limit but beyond any memory: refused at sizing time.
    assert_kind(
        shm.set_len(i64::MAX as u64),
        &[Inv, ErrorKind::OutOfMemory],
        "set_len(i64::MAX)",
    );
    assert_eq!(shm.len().unwrap(), 0, "a refused set_len changed the size");
    shm.set_len(4096).unwrap();
    let r = MappedRegion::map(&shm).unwrap();
    assert_eq!(r.len(), 4096);
    assert_kind(
        MapOptions::new().len(usize::MAX).map(&shm),
        &[Inv],
        "mapping usize::MAX bytes",
    );
    assert_kind(
        MapOptions::new().offset(u64::MAX).map(&shm),
        &[Inv],
        "mapping at offset u64::MAX",
    );

    // Growing a segment by absurd amounts or by nothing.
    let seg_name = unique_name("absurd-grow");
    c.shm(&seg_name);
    drop(Shm::create(&seg_name, 1 << 16).unwrap());
    let path = unique_path("absurd-grow-file");
    c.file(&path);
    drop(File::create(&path, 1 << 16).unwrap());
    for extra in ABSURD.into_iter().chain([0]) {
        assert_kind(
            Shm::grow(&seg_name, extra),
            &[Inv],
            &format!("grow by {extra}"),
        );
        assert_kind(
            File::grow(&path, extra),
            &[Inv],
            &format!("file grow by {extra}"),
        );
        let mut heap = ManagedHeapMemory::<BestFit, HashIndex>::new(1 << 16).unwrap();
        assert_kind(heap.grow(extra), &[Inv], &format!("heap grow by {extra}"));
        heap.check_sanity().unwrap();
    }
    // The refused grows changed nothing.
    let seg = Shm::open(&seg_name).unwrap();
    assert_eq!(seg.size(), 1 << 16);
    seg.check_sanity().unwrap();
    let f = File::open(&path).unwrap();
    assert_eq!(f.size(), 1 << 16);
    f.check_sanity().unwrap();
}

// ----- a full filesystem --------------------------------------------------------------------

/// A tmpfs of `size` mounted on a fresh directory, unmounted (and the directory removed) on
/// drop, also while a panic unwinds.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        if euid() != 0 {
            return Err(format!("not root (euid {}): cannot mount a tmpfs", euid()));
        }
        let dir = unique_path("tmpfs");
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(Tmpfs { dir }),
            Ok(o) => {
                let _ = std::fs::remove_dir(&dir);
                Err(format!(
                    "mount -t tmpfs failed ({}): {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(format!("cannot run mount: {e}"))
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Busy (a child still holding a file): detach it, it goes when the last user does.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Child: on the 1 MiB tmpfs at `args[0]`, sizes that do not fit fail at the call, and memory
/// that a successful call sized can all be written.
fn fill_small_tmpfs(args: &[String]) {
    let dir = Path::new(&args[0]);
    let fits = dir.join("fits");
    let too_big = dir.join("too-big");

    // Bigger than the filesystem: refused at create, and nothing is left behind.
    assert_kind(
        File::create(&too_big, 4 << 20),
        &[ErrorKind::OutOfMemory],
        "a 4 MiB segment file on a 1 MiB tmpfs",
    );
    assert!(
        !too_big.exists(),
        "the refused segment file was left behind"
    );

    // 640 KiB fits; fill every byte of it.
    let seg = File::create(&fits, 640 << 10).unwrap();
    let mut n = 0;
    loop {
        let name = format!("chunk{n}");
        match seg.construct_array(&name, 4096, |i| (i as u8) ^ 0xa5) {
            Ok(_) => n += 1,
            Err(e) if e.kind() == ErrorKind::OutOfMemory => break,
            Err(e) => panic!("filling the segment: {e:?}"),
        }
    }
    while seg.allocate(64).is_ok() {}
    seg.check_sanity().unwrap();
    report("chunks", n);
    drop(seg);

    // A second 640 KiB no longer fits: refused at create.
    assert_kind(
        File::create(&too_big, 640 << 10),
        &[ErrorKind::OutOfMemory],
        "a second 640 KiB segment",
    );
    assert!(!too_big.exists());
    // Growing past the filesystem: refused at grow; the segment is unchanged and usable.
    assert_kind(
        File::grow(&fits, 1 << 20),
        &[ErrorKind::OutOfMemory],
        "growing by 1 MiB on a full tmpfs",
    );
    let seg = File::open(&fits).unwrap();
    assert_eq!(seg.size(), 640 << 10);
    seg.check_sanity().unwrap();
    for k in 0..n {
        let chunk = seg.find_array::<u8>(&format!("chunk{k}")).unwrap().unwrap();
        assert!(
            chunk
                .iter()
                .enumerate()
                .all(|(i, &b)| b == (i as u8) ^ 0xa5)
        );
    }
    drop(seg);
    // A grow that fits (the rest of the tmpfs, less a margin) succeeds, and the new memory is
    // really there: fill it.
    let grown = File::grow(&fits, 256 << 10).unwrap();
    let seg = File::open(&fits).unwrap();
    assert_eq!(seg.size(), grown);
    let mut more = 0;
    while seg
        .construct_array(&format!("more{more}"), 2048, |i| i as u8)
        .is_ok()
    {
        more += 1;
    }
    assert!(more > 0, "the grown memory could not be used");
    seg.check_sanity().unwrap();
    report("more", more);
}

/// Runs the child `role` with `arg` (one minute at most) and requires a clean exit: not killed
/// by a signal (a `SIGBUS` or `SIGSEGV` is what these tests exist to rule out), status 0.
fn run_to_clean_exit(role: &str, arg: impl std::fmt::Display) -> shmkit_testkit::Output {
    let out = child(role)
        .arg(arg)
        .timeout(Duration::from_secs(60))
        .spawn()
        .wait();
    assert_eq!(
        out.signal(),
        None,
        "the child died of a signal: {}",
        out.stderr
    );
    out.assert_success();
    out
}

#[test]
fn a_full_filesystem_is_an_error_at_sizing_time_never_a_sigbus() {
    let fs = match Tmpfs::mount("1m") {
        Ok(fs) => fs,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let out = run_to_clean_exit("fill_small_tmpfs", fs.dir.display());
    let chunks: u32 = out.value("chunks").parse().unwrap();
    assert!(
        chunks >= 100,
        "only {chunks} chunks of 4 KiB fit in 640 KiB"
    );
    println!(
        "1 MiB tmpfs: {chunks} chunks of 4 KiB filled a 640 KiB segment; after the refused \
         grows, a 256 KiB grow took {} more chunks of 2 KiB",
        out.value("more")
    );
    drop(fs);
}

// ----- no descriptors, no address space -----------------------------------------------------

fn set_limit(resource: libc::__rlimit_resource_t, soft: u64) {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `cur` is a valid out-pointer for getrlimit.
    assert_eq!(unsafe { libc::getrlimit(resource, &mut cur) }, 0);
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: cur.rlim_max,
    };
    // SAFETY: `new` is a valid rlimit; lowering a soft limit has no memory effects.
    let r = unsafe { libc::setrlimit(resource, &new) };
    assert_eq!(r, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// Child: with 32 descriptors, opening objects until the table is full gives errors.
fn no_descriptors_left(args: &[String]) {
    let prefix = &args[0];
    let mut guards = Vec::new();
    set_limit(libc::RLIMIT_NOFILE, 32);
    let mut held = Vec::new();
    let mut first_err = None;
    for i in 0..64 {
        let name = format!("{prefix}-{i}");
        guards.push(RemoveOnDrop::shared_memory(&name));
        match SharedMemory::create(&name) {
            Ok(s) => held.push(s),
            Err(e) => {
                first_err = Some(e);
                break;
            }
        }
    }
    let e = first_err.expect("32 descriptors ran out before 64 objects");
    assert!(
        matches!(e.kind(), ErrorKind::Io | ErrorKind::OutOfMemory),
        "EMFILE as {e:?}"
    );
    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
    report("opened", held.len());
    // With the table full, every constructor fails cleanly.
    let n = format!("{prefix}-x");
    guards.push(RemoveOnDrop::shared_memory(&n));
    assert!(Shm::create(&n, 1 << 16).is_err());
    assert!(MessageQueue::create(&n, 4, 16).is_err());
    assert!(shmkit::sync::NamedMutex::create(&n).is_err());
    assert!(File::create(std::env::temp_dir().join(&n), 1 << 16).is_err());
    assert!(SharedMemory::open(&n).is_err());
    // One descriptor freed: things work again.
    held.pop();
    held.pop();
    let seg = Shm::create(&n, 1 << 16).unwrap();
    seg.construct("x", 1u32).unwrap();
    report("recovered", true);
}

#[test]
fn running_out_of_descriptors_is_an_error() {
    let out = run_to_clean_exit("no_descriptors_left", unique_name("nofile"));
    assert!(out.value("opened").parse::<u32>().unwrap() < 32);
    assert_eq!(out.value("recovered"), "true");
}

fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Child: with the address space limited to what it uses plus 48 MiB, mappings fail cleanly.
fn no_address_space_left(args: &[String]) {
    let name = &args[0];
    let _guard = RemoveOnDrop::shared_memory(name);
    set_limit(libc::RLIMIT_AS, vm_size() + (48 << 20));
    let mut regions = Vec::new();
    let err = loop {
        match MappedRegion::anonymous(8 << 20) {
            Ok(r) => regions.push(r),
            Err(e) => break e,
        }
        assert!(regions.len() < 16, "the address space limit did not apply");
    };
    assert_eq!(err.kind(), ErrorKind::OutOfMemory, "{err:?}");
    report("mapped", regions.len());
    // A segment whose mapping does not fit: an error, and no object is left behind.
    assert!(Shm::create(name, 64 << 20).is_err());
    assert!(
        SharedMemory::open(name).is_err(),
        "a failed create left its object"
    );
    regions.clear();
    let seg = Shm::create(name, 1 << 20).unwrap();
    seg.construct("x", 1u32).unwrap();
    report("recovered", true);
}

#[test]
fn running_out_of_address_space_is_an_error() {
    let out = run_to_clean_exit("no_address_space_left", unique_name("rlimit-as"));
    assert_eq!(out.value("recovered"), "true");
}
