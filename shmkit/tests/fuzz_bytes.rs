//! Fuzzing on the stable toolchain: proptest-generated damage to the bytes of named locks,
//! message queues, managed segments and segment files, then every operation on them. Each
//! surface's cases run in a child process, so a crash (`SIGSEGV`, `SIGBUS`) or a hang (the
//! child's timeout) fails the test with the case that caused it, instead of killing the test
//! binary. The harness (what is built, damaged and called) is `fuzz_harness/mod.rs`, shared
//! with the cargo-fuzz targets in `fuzz/` (see FUZZING.md).
//!
//! `SHMKIT_FUZZ_CASES` sets the number of cases per surface (default 1000, sized for CI: the
//! whole file runs in well under 90 s on two loaded cores); `SHMKIT_FUZZ_SEED` sets the seed
//! (default fixed, so CI runs are reproducible; `random` draws one and prints it).

mod fuzz_harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fuzz_harness::{Case, Edit, Surface};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_path};

child_roles!(fuzz_batch);

const DEFAULT_CASES: u32 = 1000;

fn cases() -> u32 {
    std::env::var("SHMKIT_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn seed() -> u64 {
    match std::env::var("SHMKIT_FUZZ_SEED").as_deref() {
        Ok("random") => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            t ^ u64::from(std::process::id()) << 32
        }
        Ok(s) => s.parse().expect("SHMKIT_FUZZ_SEED: a u64 or `random`"),
        Err(_) => 0x5eed_f0e5,
    }
}

fn edit(truncate: bool) -> BoxedStrategy<Edit> {
    let fill = (0u32..8192, any::<u64>()).prop_map(|(at, seed)| Edit::Fill { at, seed });
    let fill_all = any::<u64>().prop_map(|seed| Edit::Fill { at: 0, seed });
    let flip = (any::<u32>(), 1u8..).prop_map(|(at, mask)| Edit::Flip { at, mask });
    let flip_low = (0u32..4608, 1u8..).prop_map(|(at, mask)| Edit::Flip { at, mask });
    let write = (0u32..8192, prop::collection::vec(any::<u8>(), 1..16))
        .prop_map(|(at, bytes)| Edit::Write { at, bytes });
    let field = (any::<u16>(), any::<u16>(), any::<u64>())
        .prop_map(|(field, value, raw)| Edit::Field { field, value, raw });
    if truncate {
        let trunc = any::<u32>().prop_map(|len| Edit::Truncate { len });
        prop_oneof![1 => fill_all, 1 => fill, 2 => flip, 3 => flip_low, 2 => write, 6 => field, 2 => trunc]
            .boxed()
    } else {
        prop_oneof![1 => fill, 1 => flip, 3 => flip_low, 2 => write, 6 => field].boxed()
    }
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        any::<u8>(),
        prop::collection::vec(edit(true), 0..5),
        prop::collection::vec(edit(false), 0..3),
        prop::collection::vec(any::<u8>(), 0..20),
    )
        .prop_map(|(variant, before, during, ops)| Case {
            variant,
            before,
            during,
            ops,
        })
}

fn surface(s: &str) -> Surface {
    match s {
        "lock" => Surface::Lock,
        "queue" => Surface::Queue,
        "segment" => Surface::Segment,
        "file" => Surface::File,
        other => panic!("unknown surface {other}"),
    }
}

/// Child: runs `cases` cases of one surface from `seed`, writing each case to `last` before it
/// runs (so the parent can name the case that crashed or hung), and reports the count and the
/// outcomes.
fn fuzz_batch(args: &[String]) {
    let surf = surface(&args[0]);
    let seed: u64 = args[1].parse().expect("seed");
    let n: u32 = args[2].parse().expect("cases");
    let last = Path::new(&args[3]);
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    for (i, b) in args[0].bytes().enumerate() {
        key[8 + i % 24] ^= b;
    }
    let config = Config {
        cases: n,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let outcomes = std::cell::RefCell::new(BTreeMap::<String, u32>::new());
    let executed = std::cell::Cell::new(0u64);
    let result = runner.run(&case_strategy(), |case| {
        std::fs::write(last, format!("{case:?}")).expect("write the case file");
        executed.set(executed.get() + 1);
        let (name, path) = fuzz_harness::names(&args[0], executed.get());
        let out = fuzz_harness::run(surf, &name, &path, &case);
        *outcomes.borrow_mut().entry(out).or_default() += 1;
        Ok(())
    });
    report("executed", executed.get());
    let summary: Vec<String> = outcomes
        .borrow()
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    report("outcomes", summary.join(" "));
    if let Err(e) = result {
        panic!("fuzz case failed (after shrinking): {e}");
    }
}

fn fuzz(surf: &str) {
    let mut c = Cleanup::new();
    let last = unique_path("fuzz-last-case");
    c.file(&last);
    let (n, seed) = (cases(), seed());
    let out = child("fuzz_batch")
        .args([surf.to_owned(), seed.to_string(), n.to_string()])
        .arg(last.display())
        .timeout(Duration::from_secs(60 + u64::from(n) / 2))
        .spawn();
    let prefix = format!("shmkit-fz-{}-", out.pid());
    let out = out.wait();
    let leftovers: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .chain(std::fs::read_dir(std::env::temp_dir()).unwrap())
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    for n in &leftovers {
        let _ = std::fs::remove_file(Path::new("/dev/shm").join(n));
        let _ = std::fs::remove_file(std::env::temp_dir().join(n));
    }
    let case = std::fs::read_to_string(&last).unwrap_or_default();
    assert!(
        out.success(),
        "fuzz child for {surf} (seed {seed}) failed with {:?} (signal {:?}); last case:\n{case}\n\
         --- stdout\n{}\n--- stderr\n{}",
        out.status,
        out.signal(),
        out.stdout,
        out.stderr
    );
    assert!(
        leftovers.is_empty(),
        "cases left objects behind: {leftovers:?}"
    );
    let executed: u64 = out.value("executed").parse().expect("executed count");
    println!(
        "fuzz_bytes {surf}: seed {seed}, {executed} cases, no crash, panic or hang; outcomes: {}",
        out.value("outcomes")
    );
    assert_eq!(executed, u64::from(n), "every case ran");
}

#[test]
fn fuzz_named_locks() {
    fuzz("lock");
}

#[test]
fn fuzz_message_queues() {
    fuzz("queue");
}

#[test]
fn fuzz_managed_segments() {
    fuzz("segment");
}

#[test]
fn fuzz_truncated_segment_files() {
    fuzz("file");
}

// ----- regressions: the exact bytes of every finding ---------------------------------------

/// Finding 1 (proptest, segment surface, seed 1795449029375411121): the ordered index's root
/// word set to `u64::MAX` (the bytes `ff ff ff ff ff ff ff ff` at offset 208, the unique
/// index's root; the same for the named index at 144) made `find_unique` / `find` panic with
/// "attempt to add with overflow" in the B-tree node prefetch, before the node was validated.
#[test]
fn regression_ordered_index_root_at_usize_max_is_corrupted_not_an_overflow() {
    use shmkit::alloc::BestFit;
    use shmkit::segment::OrderedIndex;
    use shmkit::{ErrorKind, ManagedSharedMemory, MappedRegion, SharedMemory};
    type Seg = ManagedSharedMemory<BestFit, OrderedIndex>;
    let mut c = Cleanup::new();
    for root_at in [208usize, 144] {
        let name = shmkit_testkit::unique_name("fz-reg-root");
        c.shm(&name);
        {
            let seg = Seg::create(&name, 1 << 16).unwrap();
            seg.construct("alpha", 1u64).unwrap();
            seg.construct_unique(2u16).unwrap();
        }
        {
            let shm = SharedMemory::open(&name).unwrap();
            let r = MappedRegion::map(&shm).unwrap();
            r.write_at(root_at, &[0xff; 8]).unwrap();
        }
        let seg = Seg::open(&name).unwrap();
        let found = (
            seg.find_unique::<u16>().map(|v| v.copied()),
            seg.find::<u64>("alpha").map(|v| v.copied()),
        );
        let corrupted = |r: Result<(), &shmkit::Error>| match r {
            Ok(()) => true,
            Err(e) => e.kind() == ErrorKind::Corrupted,
        };
        assert!(
            corrupted(found.0.as_ref().map(drop)) && corrupted(found.1.as_ref().map(drop)),
            "{found:?}"
        );
        // The index the root belongs to cannot be walked: the sanity check says so.
        assert_eq!(seg.check_sanity().unwrap_err().kind(), ErrorKind::Corrupted);
        let ro = Seg::open_read_only(&name).unwrap();
        let _ = ro.find_unique::<u16>().map(|v| v.copied());
        let _ = ro.find::<u64>("alpha").map(|v| v.copied());
    }
}

/// Finding 2 (proptest, segment surface, seed 1795514184373487973, 10,000 cases): the
/// ordered index's stored length set to `i64::MAX` (the bytes `ff ff ff ff ff ff ff 7f` at
/// offset 152, the named index root's length word) made the next `construct` panic with
/// "attempt to add with overflow" when it counted the new entry.
#[test]
fn regression_ordered_index_length_at_i64_max_does_not_overflow() {
    use shmkit::alloc::BestFit;
    use shmkit::segment::OrderedIndex;
    use shmkit::{ManagedSharedMemory, MappedRegion, SharedMemory};
    type Seg = ManagedSharedMemory<BestFit, OrderedIndex>;
    let mut c = Cleanup::new();
    let name = shmkit_testkit::unique_name("fz-reg-len");
    c.shm(&name);
    {
        let seg = Seg::create(&name, 1 << 14).unwrap();
        seg.construct("alpha", 1u64).unwrap();
    }
    {
        let shm = SharedMemory::open(&name).unwrap();
        let r = MappedRegion::map(&shm).unwrap();
        r.write_at(152, &i64::MAX.to_ne_bytes()).unwrap();
    }
    let mut seg = Seg::open(&name).unwrap();
    // Whether the damaged length is reported or not, every call returns.
    let _ = seg.construct("epsilon", 5u64);
    let _ = seg.destroy::<u64>("alpha");
    let _ = seg.destroy::<u64>("epsilon");
    let _ = seg.named_count();
    let _ = seg.check_sanity();
    // Lengths at the other extreme too: 0 with entries present, then removals.
    drop(seg);
    {
        let shm = SharedMemory::open(&name).unwrap();
        let r = MappedRegion::map(&shm).unwrap();
        r.write_at(152, &u64::MAX.to_ne_bytes()).unwrap();
    }
    let mut seg = Seg::open(&name).unwrap();
    let _ = seg.construct("zeta", 6u64);
    let _ = seg.destroy::<u64>("zeta");
    let _ = seg.check_sanity();
}
