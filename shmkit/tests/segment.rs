//! Managed segments: objects, indexes, open modes, corrupt input, grow/shrink, and crashes,
//! across real processes. Every index implementation runs the same suite.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmkit::alloc::{BestFit, MemoryAlgorithm, SeqFit};
use shmkit::segment::{HashIndex, InstanceKind, NameIndex, NullIndex, OrderedIndex};
use shmkit::sync::Mutex;
use shmkit::{
    ErrorKind, ManagedExternalBuffer, ManagedHeapMemory, ManagedMappedFile, ManagedSharedMemory,
    ManagedXsiSharedMemory, MappedRegion, SharedMemory, ShmSafe, XsiKey,
};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name, unique_path, wait_until};

child_roles!(
    racer,
    find_or_construct_racer,
    open_and_report,
    persistence_checker,
    crasher,
    holder,
    tour_like_child,
    die_in_atomic,
    atomic_holder,
    xsi_reader,
    churner,
    stable_finder,
);

type Shm<I> = ManagedSharedMemory<BestFit, I>;

macro_rules! by_index {
    ($kind:expr, $f:ident ( $($a:expr),* $(,)? )) => {
        match $kind {
            "hashed" => $f::<HashIndex>($($a),*),
            "ordered" => $f::<OrderedIndex>($($a),*),
            k => panic!("unknown index {k}"),
        }
    };
}

/// Generates one test per index for a generic test function.
macro_rules! for_each_index {
    ($($f:ident),* $(,)?) => {
        mod hashed {
            $( #[test] fn $f() { super::$f::<shmkit::segment::HashIndex>("hashed"); } )*
        }
        mod ordered {
            $( #[test] fn $f() { super::$f::<shmkit::segment::OrderedIndex>("ordered"); } )*
        }
    };
}

for_each_index!(
    objects_of_every_kind,
    type_mismatch_and_duplicates,
    segment_full_is_out_of_memory_and_consistent,
    random_operations_match_a_model,
    seq_fit_runs_the_same_operations,
    two_processes_race_on_10000_names,
    lock_free_finds_never_miss_a_name_while_another_process_churns,
    find_or_construct_raced_by_8_processes_constructs_once,
    persistence_of_a_mapped_file_across_processes,
    read_only_and_copy_on_write,
    grow_and_shrink_refused_while_open,
    crash_loop_100_kills,
    owner_death_in_atomic_is_repaired,
    corrupt_index_is_an_error_not_a_crash,
);

#[derive(ShmSafe, Debug, PartialEq)]
#[repr(C)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(ShmSafe, Debug)]
#[repr(C, align(256))]
struct Aligned {
    v: u64,
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ----- in-process behaviour ---------------------------------------------------------------

fn objects_of_every_kind<I: NameIndex>(_: &str) {
    let mut seg = ManagedHeapMemory::<BestFit, I>::new(1 << 20).unwrap();
    let p = seg.construct("point", Point { x: 1, y: -2 }).unwrap();
    assert_eq!(p, &Point { x: 1, y: -2 });
    let arr = seg.construct_array("arr", 10, |i| i as u32 * 3).unwrap();
    assert_eq!(arr[9], 27);
    let it = seg
        .construct_array_from_iter("iter", (0..5u16).map(|x| x * x))
        .unwrap();
    assert_eq!(it, &[0, 1, 4, 9, 16]);
    let empty = seg.construct_array("empty", 0, |_| 0u8).unwrap();
    assert!(empty.is_empty());
    let a = seg.construct("aligned", Aligned { v: 9 }).unwrap();
    assert_eq!((a as *const Aligned).addr() % 256, 0);
    let u = seg.construct_unique(AtomicU64::new(5)).unwrap();
    let anon = seg.construct_anonymous(Point { x: 7, y: 7 }).unwrap();
    let long = "a-rather-long-object-name-that-does-not-fit-in-the-prefix";
    seg.construct(long, 1u8).unwrap();
    seg.construct(
        "a-rather-long-object-name-that-does-not-fit-in-the-prefiy",
        2u8,
    )
    .unwrap();

    assert_eq!(
        seg.find::<Point>("point").unwrap(),
        Some(&Point { x: 1, y: -2 })
    );
    assert_eq!(seg.find_array::<u32>("arr").unwrap().unwrap().len(), 10);
    assert_eq!(seg.find::<u8>(long).unwrap(), Some(&1));
    assert_eq!(seg.find::<Aligned>("aligned").unwrap().unwrap().v, 9);
    assert_eq!(
        seg.find_unique::<AtomicU64>()
            .unwrap()
            .unwrap()
            .load(Ordering::Relaxed),
        5
    );
    assert_eq!(seg.instance_name(p).unwrap().as_deref(), Some("point"));
    assert_eq!(seg.instance_len(&arr[0]).unwrap(), 10);
    assert_eq!(seg.instance_kind(p).unwrap(), InstanceKind::Named);
    assert_eq!(seg.instance_kind(u).unwrap(), InstanceKind::Unique);
    assert_eq!(seg.instance_kind(anon).unwrap(), InstanceKind::Anonymous);
    assert_eq!(seg.instance_name(anon).unwrap(), None);
    assert_eq!(seg.instance_kind(a).unwrap(), InstanceKind::Named);
    assert!(seg.instance_name(&arr[1]).is_err(), "not an object start");

    let h = seg.handle_of(anon).unwrap();
    assert_eq!(seg.get_by_handle::<Point>(h).unwrap(), anon);
    assert_eq!(
        seg.get_by_handle::<u64>(h).unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    let ah = seg.handle_of(arr).unwrap();
    assert_eq!(seg.get_array_by_handle::<u32>(ah).unwrap(), arr);
    assert!(seg.get_by_handle::<u32>(ah).is_err());
    assert!(
        seg.get_by_handle::<u32>(shmkit::segment::Handle::from_u64(5000))
            .is_err()
    );

    let named = seg.named_objects().unwrap();
    assert_eq!(named.len(), 7);
    assert_eq!(seg.named_count().unwrap(), 7);
    assert_eq!(seg.unique_count().unwrap(), 1);
    let arr_info = named.iter().find(|o| o.name == "arr").unwrap();
    assert_eq!(
        (arr_info.len, arr_info.size, arr_info.is_array),
        (10, 40, true)
    );
    assert_eq!(arr_info.fingerprint, u32::FINGERPRINT);
    let uniq = seg.unique_objects().unwrap();
    assert_eq!(uniq[0].fingerprint, AtomicU64::FINGERPRINT);
    assert!(uniq[0].name.contains("AtomicU64"));
    if I::KIND == shmkit::segment::IndexKind::Ordered {
        let names: Vec<_> = named.iter().map(|o| o.name.clone()).collect();
        let mut sorted = names.clone();
        sorted.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
        assert_eq!(
            names, sorted,
            "ordered index iterates by length, then bytes"
        );
    }

    let raw = seg.allocate(1000).unwrap();
    assert!(seg.block_size(raw).unwrap() >= 1000);
    let raw2 = seg.allocate_aligned(10, 4096).unwrap();
    assert_eq!(raw2.as_u64() % 4096, 0);
    assert_eq!(
        seg.deallocate(h).unwrap_err().kind(),
        ErrorKind::InvalidArgument,
        "an object is not a raw block"
    );
    seg.check_sanity().unwrap();

    let ap: *const u32 = arr.as_ptr();
    let anon_p: *const Point = anon;
    assert!(seg.destroy::<Point>("point").unwrap());
    seg.destroy_ptr(ap).unwrap();
    seg.destroy_ptr(anon_p).unwrap();
    assert!(seg.destroy_unique::<AtomicU64>().unwrap());
    assert!(!seg.destroy_unique::<AtomicU64>().unwrap());
    assert_eq!(
        seg.destroy_ptr(anon_p).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    seg.deallocate(raw).unwrap();
    seg.deallocate(raw2).unwrap();
    for n in ["iter", "empty", "aligned", long] {
        let ok = match n {
            "iter" => seg.destroy::<u16>(n),
            "empty" | "a-rather-long-object-name-that-does-not-fit-in-the-prefix" => {
                seg.destroy::<u8>(n)
            }
            _ => seg.destroy::<Aligned>(n),
        };
        assert!(ok.unwrap(), "{n}");
    }
    assert!(
        seg.destroy::<u8>("a-rather-long-object-name-that-does-not-fit-in-the-prefiy")
            .unwrap()
    );
    seg.check_sanity().unwrap();
    assert_eq!(seg.named_count().unwrap(), 0);
    assert!(seg.named_objects().unwrap().is_empty());

    // Bad names.
    for bad in ["", "nul\0inside"] {
        assert_eq!(
            seg.construct(bad, 1u8).unwrap_err().kind(),
            ErrorKind::InvalidName
        );
    }
    let huge = "x".repeat(70_000);
    assert_eq!(
        seg.find::<u8>(&huge).unwrap_err().kind(),
        ErrorKind::InvalidName
    );
    // Nested construction under the recursive lock; atomic.
    let outer = seg
        .construct_with("outer", || *seg.construct("inner", 5u32).unwrap() + 1)
        .unwrap();
    assert_eq!(*outer, 6);
    let sum = seg
        .atomic(|s| {
            s.find::<u32>("inner").unwrap().unwrap() + s.find::<u32>("outer").unwrap().unwrap()
        })
        .unwrap();
    assert_eq!(sum, 11);
    seg.check_sanity().unwrap();
}

fn type_mismatch_and_duplicates<I: NameIndex>(_: &str) {
    let mut seg = ManagedHeapMemory::<BestFit, I>::new(1 << 16).unwrap();
    seg.construct("p", Point { x: 0, y: 0 }).unwrap();
    seg.construct_array("a", 3, |_| 0u64).unwrap();
    assert_eq!(
        seg.find::<u64>("p").unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    assert_eq!(
        seg.find::<[i32; 2]>("p").unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    assert_eq!(
        seg.find::<u64>("a").unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    assert_eq!(
        seg.find_array::<u32>("a").unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    assert_eq!(
        seg.find_array::<Point>("p").unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    assert_eq!(
        seg.destroy::<u32>("p").unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    assert_eq!(
        seg.find_or_construct("p", || 1u8).unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    let err = seg.construct("p", Point { x: 1, y: 1 }).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(err.to_string().contains("\"p\""), "{err}");
    assert_eq!(
        seg.construct("a", 1u8).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    seg.construct_unique(1u32).unwrap();
    assert_eq!(
        seg.construct_unique(2u32).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(seg.find::<Point>("p").unwrap(), Some(&Point { x: 0, y: 0 }));
    // A closure that constructs its own name: the outer construction fails cleanly.
    let err = seg
        .construct_with("self", || *seg.construct("self", 1u8).unwrap())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(seg.find::<u8>("self").unwrap(), Some(&1));
    // A lying iterator.
    struct Liar(u32);
    impl Iterator for Liar {
        type Item = u32;
        fn next(&mut self) -> Option<u32> {
            (self.0 < 2).then(|| {
                self.0 += 1;
                self.0
            })
        }
    }
    impl ExactSizeIterator for Liar {
        fn len(&self) -> usize {
            5
        }
    }
    assert_eq!(
        seg.construct_array_from_iter("liar", Liar(0))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(seg.find_array::<u32>("liar").unwrap(), None);
    // A panicking constructor leaves nothing behind.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = seg.construct_with("boom", || -> u64 { panic!("constructor panics") });
    }));
    assert!(caught.is_err());
    assert_eq!(seg.find::<u64>("boom").unwrap(), None);
    seg.check_sanity().unwrap();
    assert!(seg.destroy::<u8>("self").unwrap());
}

fn segment_full_is_out_of_memory_and_consistent<I: NameIndex>(_: &str) {
    let mut seg = ManagedHeapMemory::<BestFit, I>::new(64 << 10).unwrap();
    let mut n = 0;
    let err = loop {
        match seg.construct(&format!("obj{n:06}"), [n as u64; 4]) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::OutOfMemory, "{err}");
    assert!(n > 100, "{n}");
    seg.check_sanity().unwrap();
    assert_eq!(seg.named_count().unwrap(), n);
    let big = seg.construct_array("big", 1 << 20, |_| 0u8).unwrap_err();
    assert_eq!(big.kind(), ErrorKind::OutOfMemory);
    let huge = seg
        .construct_array("huge", usize::MAX / 2, |_| 0u64)
        .unwrap_err();
    assert_eq!(huge.kind(), ErrorKind::OutOfMemory);
    assert_eq!(
        seg.allocate(1 << 20).unwrap_err().kind(),
        ErrorKind::OutOfMemory
    );
    seg.check_sanity().unwrap();
    for i in 0..n {
        let v = seg
            .find::<[u64; 4]>(&format!("obj{i:06}"))
            .unwrap()
            .unwrap();
        assert_eq!(v[3], i as u64);
    }
    for i in (0..n).step_by(2) {
        assert!(seg.destroy::<[u64; 4]>(&format!("obj{i:06}")).unwrap());
    }
    seg.check_sanity().unwrap();
    seg.construct("after", 1u8).unwrap();
    seg.check_sanity().unwrap();
}

fn run_model<M: MemoryAlgorithm + Send, I: NameIndex>(ops: usize, seed: u64) {
    let mut seg = ManagedHeapMemory::<M, I>::new(2 << 20).unwrap();
    let mut model: HashMap<String, (u64, usize)> = HashMap::new();
    let mut rng = Rng(seed);
    for step in 0..ops {
        let k = rng.below(600);
        let name = if k.is_multiple_of(5) {
            format!("long-name-with-a-shared-prefix-{k:05}")
        } else {
            format!("n{k}")
        };
        match rng.below(4) {
            0 | 1 => {
                let len = (k % 4) as usize;
                let r = if len == 0 {
                    seg.construct(&name, mix(k)).map(|_| ())
                } else {
                    seg.construct_array(&name, len, |i| mix(k) + i as u64)
                        .map(|_| ())
                };
                match model.get(&name) {
                    Some(_) => assert_eq!(r.unwrap_err().kind(), ErrorKind::AlreadyExists),
                    None => {
                        r.unwrap();
                        model.insert(name, (mix(k), len));
                    }
                }
            }
            2 => {
                let found = if k.is_multiple_of(4) {
                    seg.find::<u64>(&name).unwrap().map(|v| (*v, 0))
                } else {
                    seg.find_array::<u64>(&name)
                        .unwrap()
                        .map(|v| (v[0], v.len()))
                };
                assert_eq!(found, model.get(&name).copied(), "{name}");
            }
            _ => {
                let gone = seg.destroy::<u64>(&name).unwrap();
                assert_eq!(gone, model.remove(&name).is_some(), "{name}");
            }
        }
        if step % 500 == 0 {
            seg.check_sanity().unwrap();
        }
    }
    seg.check_sanity().unwrap();
    assert_eq!(seg.named_count().unwrap(), model.len());
    let names: Vec<_> = model.keys().cloned().collect();
    for n in names {
        assert!(seg.destroy::<u64>(&n).unwrap());
    }
    seg.check_sanity().unwrap();
    assert_eq!(seg.named_count().unwrap(), 0);
}

fn random_operations_match_a_model<I: NameIndex>(_: &str) {
    run_model::<BestFit, I>(6000, 1);
}

fn seq_fit_runs_the_same_operations<I: NameIndex>(_: &str) {
    run_model::<SeqFit, I>(2000, 2);
}

#[test]
fn null_index_holds_anonymous_objects_only() {
    let mut seg = ManagedHeapMemory::<BestFit, NullIndex>::new(1 << 16).unwrap();
    for e in [
        seg.construct("x", 1u8).unwrap_err(),
        seg.find::<u8>("x").unwrap_err(),
        seg.construct_unique(1u8).unwrap_err(),
        seg.find_unique::<u8>().unwrap_err(),
        seg.destroy::<u8>("x").unwrap_err(),
        seg.reserve_named_objects(5).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Unsupported);
    }
    let a = seg.construct_anonymous(5u32).unwrap();
    assert_eq!(seg.instance_kind(a).unwrap(), InstanceKind::Anonymous);
    let p: *const u32 = a;
    assert!(seg.named_objects().unwrap().is_empty());
    seg.check_sanity().unwrap();
    seg.destroy_ptr(p).unwrap();
    seg.check_sanity().unwrap();
}

#[test]
fn opening_with_another_index_or_algorithm_is_incompatible() {
    let name = unique_name("seg-kinds");
    let mut c = Cleanup::new();
    c.shm(&name);
    let _seg = Shm::<HashIndex>::create(&name, 1 << 16).unwrap();
    let e = Shm::<OrderedIndex>::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible);
    assert!(e.to_string().contains("hashed index"), "{e}");
    let e = ManagedSharedMemory::<SeqFit, HashIndex>::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    // A plain named mutex is not a segment.
    let m = unique_name("seg-mutex");
    c.shm(&m);
    let _mutex = shmkit::sync::NamedMutex::create(&m).unwrap();
    assert_eq!(
        Shm::<HashIndex>::open(&m).unwrap_err().kind(),
        ErrorKind::Incompatible
    );
    assert_eq!(
        Shm::<HashIndex>::create(&unique_name("tiny"), 100)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn heap_grows_and_external_buffers_reopen() {
    let mut heap: ManagedHeapMemory = ManagedHeapMemory::new(1 << 14).unwrap();
    let mut n = 0;
    while heap.construct(&format!("k{n}"), n as u64).is_ok() {
        n += 1;
    }
    heap.grow(1 << 16).unwrap();
    heap.check_sanity().unwrap();
    heap.construct("more", 1u64).unwrap();
    for i in 0..n {
        assert_eq!(
            heap.find::<u64>(&format!("k{i}")).unwrap(),
            Some(&(i as u64))
        );
    }

    let mut buf = vec![0u8; (1 << 16) + 7];
    {
        let seg: ManagedExternalBuffer = ManagedExternalBuffer::create(&mut buf[3..]).unwrap();
        seg.construct("p", Point { x: 3, y: 4 }).unwrap();
        // A type aligned beyond the buffer's address is refused, never misplaced.
        let r = seg.construct("al", Aligned { v: 1 });
        if buf_base_aligned(&seg, 256) {
            assert!((r.unwrap() as *const Aligned).addr().is_multiple_of(256));
        } else {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidArgument);
        }
    }
    let seg: ManagedExternalBuffer = ManagedExternalBuffer::open(&mut buf[3..]).unwrap();
    assert_eq!(seg.find::<Point>("p").unwrap(), Some(&Point { x: 3, y: 4 }));
    drop(seg);
    let mut junk = vec![0xA5u8; 1 << 16];
    assert_eq!(
        <ManagedExternalBuffer>::open(&mut junk).unwrap_err().kind(),
        ErrorKind::Incompatible
    );
    let mut zero = vec![0u8; 1 << 16];
    assert!(<ManagedExternalBuffer>::open(&mut zero).is_err());
}

fn buf_base_aligned(seg: &ManagedExternalBuffer, align: usize) -> bool {
    let h = seg.allocate(8).unwrap();
    let p = seg.raw_ptr(h).unwrap();
    let base = p.addr() - h.as_u64() as usize;
    seg.deallocate(h).unwrap();
    base.is_multiple_of(align)
}

#[test]
fn xsi_segments_work_like_shared_memory() {
    let seg: ManagedXsiSharedMemory =
        ManagedXsiSharedMemory::create(XsiKey::private(), 1 << 16).unwrap();
    let id = seg.id();
    let v = seg.construct("v", AtomicU32::new(1)).unwrap();
    v.fetch_add(1, Ordering::Relaxed);
    seg.check_sanity().unwrap();
    drop(seg);
    ManagedXsiSharedMemory::remove(id).unwrap();
}

// ----- across processes -------------------------------------------------------------------

fn open_shm<I: NameIndex>(name: &str) -> Shm<I> {
    Shm::<I>::open(name).unwrap()
}

/// Child: `n` rounds of: construct its own name, find_or_construct a shared name, find the
/// other racer's name; then destroys its own names.
fn racer(args: &[String]) {
    fn run<I: NameIndex>(name: &str, me: &str, other: &str, n: usize) {
        let mut seg = open_shm::<I>(name);
        let pid = std::process::id() as u64;
        let mut seen_other = 0;
        for i in 0..n {
            seg.construct(&format!("{me}-{i}"), i as u64).unwrap();
            let s = seg
                .find_or_construct(&format!("shared-{i}"), || pid)
                .unwrap();
            assert!(*s != 0);
            if let Some(v) = seg.find::<u64>(&format!("{other}-{i}")).unwrap() {
                assert_eq!(*v, i as u64);
                seen_other += 1;
            }
        }
        for i in 0..n {
            assert_eq!(
                seg.find::<u64>(&format!("{me}-{i}")).unwrap(),
                Some(&(i as u64))
            );
            assert!(seg.destroy::<u64>(&format!("{me}-{i}")).unwrap());
        }
        report("seen_other", seen_other);
    }
    let n = args[4].parse().unwrap();
    by_index!(args[0].as_str(), run(&args[1], &args[2], &args[3], n));
}

fn two_processes_race_on_10000_names<I: NameIndex>(kind: &str) {
    const N: usize = 10_000;
    let name = unique_name("seg-race");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg = Shm::<I>::create(&name, 16 << 20).unwrap();
    let a = child("racer")
        .args([kind, &name, "a", "b", &N.to_string()])
        .spawn();
    let b = child("racer")
        .args([kind, &name, "b", "a", &N.to_string()])
        .spawn();
    a.wait().assert_success();
    b.wait().assert_success();
    seg.check_sanity().unwrap();
    assert_eq!(
        seg.named_count().unwrap(),
        N,
        "only the shared names are left"
    );
    let mut owners = HashMap::new();
    for i in 0..N {
        let v = *seg.find::<u64>(&format!("shared-{i}")).unwrap().unwrap();
        *owners.entry(v).or_insert(0) += 1;
        assert_eq!(seg.find::<u64>(&format!("a-{i}")).unwrap(), None);
    }
    assert!(owners.len() <= 2, "{owners:?}");
}

/// Child: constructs and destroys names as fast as it can (growing and shrinking the index:
/// B-tree splits and merges, hash table growth) until the `stop` flag is raised; reports how
/// many rounds it made.
fn churner(args: &[String]) {
    fn run<I: NameIndex>(name: &str) {
        let mut seg = open_shm::<I>(name);
        let stop = |seg: &Shm<I>| {
            seg.find::<AtomicU32>("stop")
                .unwrap()
                .unwrap()
                .load(Ordering::Acquire)
        };
        let mut rounds = 0u64;
        while stop(&seg) == 0 {
            for i in 0..2000u64 {
                seg.construct(&format!("churn-{rounds}-{i}"), i).unwrap();
            }
            for i in 0..2000u64 {
                assert!(seg.destroy::<u64>(&format!("churn-{rounds}-{i}")).unwrap());
            }
            rounds += 1;
            let progress = seg.find::<[AtomicU32; 2]>("progress").unwrap().unwrap();
            progress[0].fetch_add(1, Ordering::AcqRel);
        }
        report("rounds", rounds);
    }
    by_index!(args[0].as_str(), run(&args[1]));
}

/// Child: finds every stable name over and over until the `stop` flag is raised; through a
/// read-write handle each must be found with its value every time. A read-only handle cannot
/// take the lock: when it cannot get a read no writer disturbed within its patience, it may
/// miss or see `Corrupted` (as its docs say), but what it finds must be right; it reports how
/// often it missed.
fn stable_finder(args: &[String]) {
    fn run<I: NameIndex>(name: &str, n: usize) {
        let seg = open_shm::<I>(name);
        let ro = Shm::<I>::open_read_only(name).unwrap();
        let stop = seg.find::<AtomicU32>("stop").unwrap().unwrap();
        let progress = seg.find::<[AtomicU32; 2]>("progress").unwrap().unwrap();
        let (mut finds, mut ro_misses) = (0u64, 0u64);
        while stop.load(Ordering::Acquire) == 0 {
            for i in 0..n {
                let want = Some(&(i as u64 * 7));
                assert_eq!(seg.find::<u64>(&format!("stable-{i}")).unwrap(), want);
                match ro.find::<u64>(&format!("stable-{i}")) {
                    Ok(Some(v)) => assert_eq!(Some(v), want),
                    Ok(None) => ro_misses += 1,
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Corrupted, "{e}");
                        ro_misses += 1;
                    }
                }
                finds += 2;
            }
            assert_eq!(seg.find::<u64>("never-made").unwrap(), None);
            progress[1].fetch_add(1, Ordering::AcqRel);
        }
        report("finds", finds);
        report("ro_misses", ro_misses);
    }
    by_index!(args[0].as_str(), run(&args[1], args[2].parse().unwrap()));
}

/// Finds run without the segment lock (module docs, "Finds without the lock"): while one
/// process rebuilds the index over and over, another must find every name that stays, with its
/// value, every time, and never get an error.
fn lock_free_finds_never_miss_a_name_while_another_process_churns<I: NameIndex>(kind: &str) {
    const STABLE: usize = 500;
    let name = unique_name("seg-seqlock");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg = Shm::<I>::create(&name, 16 << 20).unwrap();
    for i in 0..STABLE {
        seg.construct(&format!("stable-{i}"), i as u64 * 7).unwrap();
    }
    let stop = seg.construct("stop", AtomicU32::new(0)).unwrap();
    let progress = seg
        .construct("progress", [AtomicU32::new(0), AtomicU32::new(0)])
        .unwrap();
    let churn = child("churner").args([kind, &name]).spawn();
    let finder = child("stable_finder")
        .args([kind, &name, &STABLE.to_string()])
        .spawn();
    // Both children are running (a slow start under load must not end the test before they
    // overlap), then they overlap for 1.5 s.
    assert!(wait_until(Duration::from_secs(60), || progress
        .iter()
        .all(|p| p.load(Ordering::Acquire) > 0)));
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(1, Ordering::Release);
    let churned: u64 = churn
        .wait()
        .assert_success()
        .value("rounds")
        .parse()
        .unwrap();
    let out = finder.wait();
    let found: u64 = out.assert_success().value("finds").parse().unwrap();
    let ro_misses: u64 = out.value("ro_misses").parse().unwrap();
    assert!(churned > 0 && found > 0, "rounds {churned}, finds {found}");
    eprintln!("{kind}: {churned} churn rounds, {found} finds, {ro_misses} read-only misses");
    seg.check_sanity().unwrap();
    assert_eq!(seg.named_count().unwrap(), STABLE + 2);
}

/// Child: waits for the start flag, then find_or_construct on one name with a slow
/// constructor that counts constructions.
fn find_or_construct_racer(args: &[String]) {
    fn run<I: NameIndex>(name: &str) {
        let seg = open_shm::<I>(name);
        let go = seg.find::<AtomicU32>("go").unwrap().unwrap();
        let ready = seg.find::<AtomicU32>("ready").unwrap().unwrap();
        ready.fetch_add(1, Ordering::AcqRel);
        while go.load(Ordering::Acquire) == 0 {
            std::hint::spin_loop();
        }
        let constructions = seg.find::<AtomicU32>("constructions").unwrap().unwrap();
        let v = seg
            .find_or_construct("the-one", || {
                constructions.fetch_add(1, Ordering::AcqRel);
                std::thread::sleep(Duration::from_millis(20));
                std::process::id() as u64
            })
            .unwrap();
        report("value", *v);
        report("handle", seg.handle_of(v).unwrap().as_u64());
    }
    by_index!(args[0].as_str(), run(&args[1]));
}

fn find_or_construct_raced_by_8_processes_constructs_once<I: NameIndex>(kind: &str) {
    let name = unique_name("seg-foc");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg = Shm::<I>::create(&name, 1 << 20).unwrap();
    let go = seg.construct("go", AtomicU32::new(0)).unwrap();
    let ready = seg.construct("ready", AtomicU32::new(0)).unwrap();
    let constructions = seg.construct("constructions", AtomicU32::new(0)).unwrap();
    let kids: Vec<_> = (0..8)
        .map(|_| child("find_or_construct_racer").args([kind, &name]).spawn())
        .collect();
    assert!(wait_until(Duration::from_secs(60), || ready
        .load(Ordering::Acquire)
        == 8));
    go.store(1, Ordering::Release);
    let outs: Vec<_> = kids.into_iter().map(|k| k.wait()).collect();
    for o in &outs {
        o.assert_success();
    }
    assert_eq!(constructions.load(Ordering::Acquire), 1);
    let values: std::collections::HashSet<_> = outs.iter().map(|o| o.value("value")).collect();
    let handles: std::collections::HashSet<_> = outs.iter().map(|o| o.value("handle")).collect();
    assert_eq!((values.len(), handles.len()), (1, 1));
    seg.check_sanity().unwrap();
}

/// Child: opens the mapped file, checks what the parent wrote, adds its own object.
fn persistence_checker(args: &[String]) {
    fn run<I: NameIndex>(path: &str) {
        let seg = ManagedMappedFile::<BestFit, I>::open(path).unwrap();
        seg.check_sanity().unwrap();
        assert_eq!(
            seg.find::<Point>("point").unwrap(),
            Some(&Point { x: 10, y: 20 })
        );
        let v = seg.find_array::<u64>("squares").unwrap().unwrap();
        assert!(v.iter().enumerate().all(|(i, &x)| x == (i * i) as u64));
        assert_eq!(*seg.find_unique::<u32>().unwrap().unwrap(), 77);
        let m = seg.find::<Mutex<u64>>("mutex").unwrap().unwrap();
        *m.lock().unwrap() += 1;
        seg.construct("from-child", std::process::id() as u64)
            .unwrap();
        seg.flush().unwrap();
        report("named", seg.named_count().unwrap());
    }
    by_index!(args[0].as_str(), run(&args[1]));
}

fn persistence_of_a_mapped_file_across_processes<I: NameIndex>(kind: &str) {
    let path = unique_path("seg-file");
    let mut c = Cleanup::new();
    c.file(&path);
    {
        let seg = ManagedMappedFile::<BestFit, I>::create(&path, 1 << 20).unwrap();
        seg.construct("point", Point { x: 10, y: 20 }).unwrap();
        seg.construct_array("squares", 100, |i| (i * i) as u64)
            .unwrap();
        seg.construct_unique(77u32).unwrap();
        seg.construct("mutex", Mutex::new(5u64)).unwrap();
        seg.flush().unwrap();
    }
    let out = child("persistence_checker")
        .args([kind, path.to_str().unwrap()])
        .run();
    assert_eq!(out.value("named"), "4");
    let seg = ManagedMappedFile::<BestFit, I>::open(&path).unwrap();
    seg.check_sanity().unwrap();
    assert_eq!(
        *seg.find::<Mutex<u64>>("mutex")
            .unwrap()
            .unwrap()
            .lock()
            .unwrap(),
        6
    );
    assert!(seg.find::<u64>("from-child").unwrap().is_some());
    assert_eq!(
        ManagedMappedFile::<BestFit, I>::create(&path, 1 << 16)
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    // A symbolic link is never followed.
    let link = unique_path("seg-link");
    c.file(&link);
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(ManagedMappedFile::<BestFit, I>::open(&link).is_err());
    assert_eq!(
        ManagedMappedFile::<BestFit, I>::create(&link, 1 << 16)
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
}

fn read_only_and_copy_on_write<I: NameIndex>(_: &str) {
    let name = unique_name("seg-modes");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg = Shm::<I>::create(&name, 1 << 20).unwrap();
    seg.construct("x", 7u64).unwrap();
    seg.construct("m", Mutex::new(1u32)).unwrap();

    let mut ro = Shm::<I>::open_read_only(&name).unwrap();
    assert!(ro.is_read_only());
    assert_eq!(ro.find::<u64>("x").unwrap(), Some(&7));
    for e in [
        ro.construct("y", 1u8).unwrap_err(),
        ro.find_or_construct("x", || 1u64).unwrap_err(),
        ro.allocate(8).unwrap_err(),
        ro.atomic(|_| ()).unwrap_err(),
        ro.reserve_named_objects(4).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    }
    assert_eq!(
        ro.destroy::<u64>("x").unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    ro.check_sanity().unwrap();
    assert!(ro.free_memory().unwrap() > 0);
    // Later changes by others are visible to finds (on pages this process has not written).
    seg.construct("later", 8u64).unwrap();
    assert_eq!(ro.find::<u64>("later").unwrap(), Some(&8));
    // Locking a lock found through a read-only handle does not fault (private page).
    *ro.find::<Mutex<u32>>("m").unwrap().unwrap().lock().unwrap() += 10;
    assert_eq!(
        *seg.find::<Mutex<u32>>("m")
            .unwrap()
            .unwrap()
            .lock()
            .unwrap(),
        1
    );

    let mut cow = Shm::<I>::open_copy_on_write(&name).unwrap();
    cow.construct("private", 1u8).unwrap();
    assert!(cow.destroy::<u64>("x").unwrap());
    cow.check_sanity().unwrap();
    assert_eq!(seg.find::<u8>("private").unwrap(), None);
    assert_eq!(seg.find::<u64>("x").unwrap(), Some(&7));
    seg.check_sanity().unwrap();
}

/// Child: opens the segment, raises a flag, holds it open until the flag is lowered.
fn holder(args: &[String]) {
    fn run<I: NameIndex>(name: &str, flag_name: &str) {
        let _seg = open_shm::<I>(name);
        let flag = MappedRegion::map(&SharedMemory::open(flag_name).unwrap()).unwrap();
        flag.write_at(0, &[1]).unwrap();
        let mut b = [1u8];
        while b[0] == 1 {
            std::thread::sleep(Duration::from_millis(1));
            flag.read_at(0, &mut b).unwrap();
        }
    }
    by_index!(args[0].as_str(), run(&args[1], &args[2]));
}

fn grow_and_shrink_refused_while_open<I: NameIndex>(kind: &str) {
    let name = unique_name("seg-grow");
    let flag_name = unique_name("seg-grow-flag");
    let mut c = Cleanup::new();
    c.shm(&name).shm(&flag_name);
    let flag_shm = SharedMemory::create(&flag_name).unwrap();
    flag_shm.set_len(4096).unwrap();
    let flag = MappedRegion::map(&flag_shm).unwrap();
    {
        let seg = Shm::<I>::create(&name, 1 << 16).unwrap();
        for i in 0..50 {
            seg.construct(&format!("g{i}"), [i as u64; 8]).unwrap();
        }
    }
    let h = child("holder").args([kind, &name, &flag_name]).spawn();
    assert!(wait_until(Duration::from_secs(60), || {
        let mut b = [0];
        flag.read_at(0, &mut b).unwrap();
        b[0] == 1
    }));
    assert_eq!(
        Shm::<I>::grow(&name, 1 << 16).unwrap_err().kind(),
        ErrorKind::Busy
    );
    assert_eq!(
        Shm::<I>::shrink_to_fit(&name).unwrap_err().kind(),
        ErrorKind::Busy
    );
    flag.write_at(0, &[0]).unwrap();
    h.wait().assert_success();

    assert_eq!(Shm::<I>::grow(&name, 1 << 16).unwrap(), 2 << 16);
    {
        let seg = open_shm::<I>(&name);
        seg.check_sanity().unwrap();
        for i in 0..50 {
            assert_eq!(
                seg.find::<[u64; 8]>(&format!("g{i}")).unwrap(),
                Some(&[i as u64; 8])
            );
        }
        for i in 50..300 {
            seg.construct(&format!("g{i}"), [i as u64; 8]).unwrap();
        }
        assert_eq!(
            Shm::<I>::grow(&name, 4096).unwrap_err().kind(),
            ErrorKind::Busy
        );
    }
    let small = Shm::<I>::shrink_to_fit(&name).unwrap();
    assert!(small < 2 << 16);
    assert_eq!(
        SharedMemory::open(&name).unwrap().len().unwrap(),
        small as u64
    );
    let seg = open_shm::<I>(&name);
    seg.check_sanity().unwrap();
    for i in 0..300 {
        assert_eq!(
            seg.find::<[u64; 8]>(&format!("g{i}")).unwrap(),
            Some(&[i as u64; 8])
        );
    }
}

/// Child: takes the segment lock through `atomic`, half-constructs nothing, raises a flag
/// object and waits to be killed.
fn die_in_atomic(args: &[String]) {
    fn run<I: NameIndex>(name: &str) {
        let seg = open_shm::<I>(name);
        seg.atomic(|s| {
            s.construct("made-in-atomic", 1u64).unwrap();
            s.find::<AtomicU32>("flag")
                .unwrap()
                .unwrap()
                .store(1, Ordering::Release);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        })
        .unwrap();
    }
    by_index!(args[0].as_str(), run(&args[1]));
}

fn owner_death_in_atomic_is_repaired<I: NameIndex>(kind: &str) {
    let name = unique_name("seg-atomic-death");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg = Shm::<I>::create(&name, 1 << 20).unwrap();
    let flag = seg.construct("flag", AtomicU32::new(0)).unwrap();
    let k = child("die_in_atomic").args([kind, &name]).spawn();
    assert!(wait_until(Duration::from_secs(60), || flag
        .load(Ordering::Acquire)
        == 1));
    assert_eq!(k.kill().signal(), Some(9));
    let start = Instant::now();
    assert_eq!(seg.find::<u64>("made-in-atomic").unwrap(), Some(&1));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(seg.repairs(), 1);
    seg.check_sanity().unwrap();
    seg.construct("after", 2u8).unwrap();
    assert_eq!(seg.repairs(), 1);
}

/// Child: constructs, destroys and allocates at random until killed; logs each completed
/// construction in the log object (`log[k] = 1` after `construct` returned; `log[k] = 0`
/// before `destroy` is called).
fn crasher(args: &[String]) {
    fn run<I: NameIndex>(name: &str, log_name: &str, seed: u64) {
        let mut seg = open_shm::<I>(name);
        let log_region = MappedRegion::map(&SharedMemory::open(log_name).unwrap()).unwrap();
        // SAFETY: the log's bytes are only accessed as this array of atomics, in every process.
        let log: &[AtomicU32; LOG_SLOTS + 1] = unsafe { log_region.get(0) }.unwrap();
        let mut rng = Rng(seed);
        let mut raw = Vec::new();
        log[LOG_SLOTS].store(1, Ordering::Release); // started
        loop {
            let k = rng.below(LOG_SLOTS as u64) as usize;
            let name = crash_name(k);
            if rng.below(64) == 0 {
                // A big index change (the hash table's growth) for kills to land in.
                seg.reserve_named_objects(rng.below(4000) as usize).unwrap();
                continue;
            }
            match rng.below(8) {
                0..=2 => {
                    if log[k].load(Ordering::Acquire) == 0 {
                        let r = if k.is_multiple_of(3) {
                            seg.construct_array(&name, k % 7 + 1, |i| mix(k as u64) + i as u64)
                                .map(|_| ())
                        } else {
                            seg.construct(&name, mix(k as u64)).map(|_| ())
                        };
                        match r {
                            Ok(()) => log[k].store(1, Ordering::Release),
                            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                                // Completed by an earlier child killed before it logged.
                                seg.destroy::<u64>(&name).unwrap();
                            }
                            Err(e) if e.kind() == ErrorKind::OutOfMemory => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                3 | 4 => {
                    if log[k].load(Ordering::Acquire) == 1 {
                        log[k].store(0, Ordering::Release);
                        seg.destroy::<u64>(&name).unwrap();
                    }
                }
                5 => {
                    if let Ok(h) = seg.allocate(16 + rng.below(600) as usize) {
                        raw.push(h);
                    }
                }
                6 => {
                    if !raw.is_empty() {
                        let h = raw.swap_remove(rng.below(raw.len() as u64) as usize);
                        seg.deallocate(h).unwrap();
                    }
                }
                _ => {
                    if k.is_multiple_of(3) {
                        let _ = seg.find_array::<u64>(&name).unwrap();
                    } else {
                        let _ = seg.find::<u64>(&name).unwrap();
                    }
                }
            }
        }
    }
    by_index!(
        args[0].as_str(),
        run(&args[1], &args[2], args[3].parse().unwrap())
    );
}

const LOG_SLOTS: usize = 300;

fn crash_name(k: usize) -> String {
    if k.is_multiple_of(4) {
        format!("crash-object-with-a-long-shared-prefix-{k:04}")
    } else {
        format!("c{k}")
    }
}

fn verify_logged<I: NameIndex>(seg: &Shm<I>, log: &[AtomicU32; LOG_SLOTS + 1]) -> usize {
    let mut n = 0;
    for (k, slot) in log.iter().enumerate().take(LOG_SLOTS) {
        if slot.load(Ordering::Acquire) != 1 {
            continue;
        }
        n += 1;
        let name = crash_name(k);
        if k.is_multiple_of(3) {
            let v = seg
                .find_array::<u64>(&name)
                .unwrap()
                .unwrap_or_else(|| panic!("completed {name} is lost"));
            assert_eq!(v.len(), k % 7 + 1);
            assert!(
                v.iter()
                    .enumerate()
                    .all(|(i, &x)| x == mix(k as u64) + i as u64)
            );
        } else {
            let v = seg
                .find::<u64>(&name)
                .unwrap()
                .unwrap_or_else(|| panic!("completed {name} is lost"));
            assert_eq!(*v, mix(k as u64));
        }
    }
    n
}

fn crash_loop_100_kills<I: NameIndex>(kind: &str) {
    let name = unique_name("seg-crash");
    let log_name = unique_name("seg-crash-log");
    let mut c = Cleanup::new();
    c.shm(&name).shm(&log_name);
    let seg = Shm::<I>::create(&name, 1 << 20).unwrap();
    let log_shm = SharedMemory::create(&log_name).unwrap();
    log_shm.set_len(4096).unwrap();
    let log_region = MappedRegion::map(&log_shm).unwrap();
    // SAFETY: as in the child.
    let log: &[AtomicU32; LOG_SLOTS + 1] = unsafe { log_region.get(0) }.unwrap();
    let mut rng = Rng(0xC0FFEE ^ kind.len() as u64);
    let mut repairs_seen = 0;
    let mut max_live = 0;
    for round in 0..100 {
        log[LOG_SLOTS].store(0, Ordering::Release);
        let k = child("crasher")
            .args([kind, &name, &log_name, &rng.next().to_string()])
            .spawn();
        assert!(
            wait_until(Duration::from_secs(60), || log[LOG_SLOTS]
                .load(Ordering::Acquire)
                == 1),
            "round {round}: the child never started"
        );
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        let out = k.kill();
        assert_eq!(out.signal(), Some(9), "round {round}: {}", out.stderr);
        seg.check_sanity()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        max_live = max_live.max(verify_logged(&seg, log));
        if seg.repairs() > repairs_seen {
            repairs_seen = seg.repairs();
        }
    }
    eprintln!(
        "crash loop ({kind}): {repairs_seen} repairs after 100 kills, up to {max_live} live objects"
    );
    assert!(
        repairs_seen > 20,
        "most kills should land while holding the lock"
    );
}

/// Child: tries to open what the parent prepared and reports the error kind; a crash shows
/// as a signal in the parent.
fn open_and_report(args: &[String]) {
    let r = match args[0].as_str() {
        "shm" => Shm::<HashIndex>::open(&args[1]).map(|s| {
            let _ = s.find::<u64>("x");
            s.check_sanity()
        }),
        "shm-ooc" => Shm::<HashIndex>::open_or_create(&args[1], 1 << 16).map(|s| {
            report("created", s.created());
            s.check_sanity()
        }),
        "file" => ManagedMappedFile::<BestFit, HashIndex>::open(&args[1]).map(|s| {
            let _ = s.find::<u64>("x");
            s.check_sanity()
        }),
        "file-ordered" => ManagedMappedFile::<BestFit, OrderedIndex>::open(&args[1]).map(|s| {
            let r = s.find::<u64>("x").and_then(|_| s.check_sanity());
            let _ = s.construct("y", 1u8);
            r
        }),
        "none" => return,
        other => panic!("{other}"),
    };
    let outcome = match r {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) | Err(e) => format!("{:?}", e.kind()),
    };
    report("outcome", outcome);
}

fn outcome(what: &str, target: &str) -> String {
    let out = child("open_and_report")
        .args([what, target])
        .timeout(Duration::from_secs(30))
        .spawn()
        .wait();
    assert_eq!(out.signal(), None, "the open crashed: {}", out.stderr);
    out.assert_success();
    out.value("outcome")
}

#[test]
fn corrupt_input_is_an_error_never_a_crash_or_a_hang() {
    let mut c = Cleanup::new();
    let mut rng = Rng(42);

    // Random bytes in a shared memory object, and another program's object.
    for fill in ["random", "boost-like", "zeros-then-magic"] {
        let name = unique_name("seg-junk");
        c.shm(&name);
        let shm = SharedMemory::create(&name).unwrap();
        shm.set_len(1 << 16).unwrap();
        let r = MappedRegion::map(&shm).unwrap();
        let mut bytes: Vec<u8> = (0..1 << 16).map(|_| rng.next() as u8).collect();
        match fill {
            "boost-like" => {
                // Boost's managed segment: a 4-byte state word (2 = initialised), padding,
                // then its segment manager.
                bytes[..16].copy_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            }
            "zeros-then-magic" => {
                bytes[..64].fill(0);
                bytes[..8].copy_from_slice(b"shmkit\xA5\x5A");
            }
            _ => {}
        }
        r.write_at(0, &bytes).unwrap();
        let o = outcome("shm", &name);
        assert!(o == "Incompatible" || o == "Corrupted", "{fill}: {o}");
    }

    // A valid segment, then: truncated; garbage in the control block; garbage in the area;
    // garbage in the index; another layout version.
    let make = |tag: &str, index: &str| {
        let path = unique_path(tag);
        if index == "ordered" {
            let s = ManagedMappedFile::<BestFit, OrderedIndex>::create(&path, 1 << 18).unwrap();
            for i in 0..200 {
                s.construct(&format!("k{i}"), i as u64).unwrap();
            }
        } else {
            let s = ManagedMappedFile::<BestFit, HashIndex>::create(&path, 1 << 18).unwrap();
            for i in 0..200 {
                s.construct(&format!("k{i}"), i as u64).unwrap();
            }
        }
        path
    };
    let scribble = |path: &std::path::Path, at: usize, len: usize, rng: &mut Rng| {
        let mut bytes = std::fs::read(path).unwrap();
        for b in &mut bytes[at..at + len] {
            *b = rng.next() as u8;
        }
        std::fs::write(path, bytes).unwrap();
    };

    let p = make("seg-trunc", "hashed");
    c.file(&p);
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    assert_eq!(outcome("file", p.to_str().unwrap()), "Corrupted");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(100)
        .unwrap();
    assert_eq!(outcome("file", p.to_str().unwrap()), "Corrupted");

    let p = make("seg-ctl", "hashed");
    c.file(&p);
    scribble(&p, 64, 64, &mut rng);
    let o = outcome("file", p.to_str().unwrap());
    assert!(o == "Corrupted" || o == "Incompatible", "{o}");

    let p = make("seg-version", "hashed");
    c.file(&p);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[64 + 6] = 99; // the segment layout version
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(outcome("file", p.to_str().unwrap()), "Incompatible");
    bytes[8] = 42; // the named-object layout version
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(outcome("file", p.to_str().unwrap()), "Incompatible");

    for index in ["hashed", "ordered"] {
        // Garbage over the whole area, the algorithm's header included.
        let p = make("seg-area", index);
        c.file(&p);
        scribble(&p, 4096, 1 << 16, &mut rng);
        let what = if index == "ordered" {
            "file-ordered"
        } else {
            "file"
        };
        let o = outcome(what, p.to_str().unwrap());
        assert!(o == "Corrupted" || o == "Incompatible", "{index}: {o}");
        // Garbage after the algorithm's header: index nodes, object headers, names.
        for round in 0..8 {
            let p = make("seg-inner", index);
            c.file(&p);
            let at = 4096 + 512 + rng.below(20_000) as usize;
            scribble(&p, at, 64 + rng.below(4000) as usize, &mut rng);
            let o = outcome(what, p.to_str().unwrap());
            assert!(
                ["ok", "Corrupted", "TypeMismatch", "InvalidArgument"].contains(&o.as_str()),
                "{index} round {round}: {o}"
            );
        }
    }
}

#[test]
fn a_creator_that_died_formatting_is_corrupted_and_open_or_create_replaces_it() {
    let name = unique_name("seg-dead-creator");
    let mut c = Cleanup::new();
    c.shm(&name);
    // A pid that is certainly dead: a child that has exited and been reaped.
    let dead = child("open_and_report").args(["none", ""]).spawn();
    let dead_pid = dead.pid();
    let _ = dead.wait();
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(1 << 16).unwrap();
    let r = MappedRegion::map(&shm).unwrap();
    // The named-object header as a creator writes it before formatting the payload.
    let mut h = [0u8; 64];
    h[..8].copy_from_slice(b"shmkit\xA5\x5A");
    h[8..12].copy_from_slice(&1u32.to_ne_bytes()); // layout version
    h[12..16].copy_from_slice(&8u32.to_ne_bytes()); // Kind::Segment
    h[16..20].copy_from_slice(&256u32.to_ne_bytes()); // control block size
    h[20..24].copy_from_slice(&64u32.to_ne_bytes()); // alignment
    h[24..28].copy_from_slice(&1u32.to_ne_bytes()); // initialising
    h[28..32].copy_from_slice(&dead_pid.to_ne_bytes());
    h[40..44].copy_from_slice(&64u32.to_ne_bytes()); // payload offset
    r.write_at(0, &h).unwrap();
    assert_eq!(outcome("shm", &name), "Corrupted");
    let out = child("open_and_report").args(["shm-ooc", &name]).run();
    assert_eq!(out.value("outcome"), "ok");
    assert_eq!(out.value("created"), "true");
    let seg = Shm::<HashIndex>::open(&name).unwrap();
    seg.check_sanity().unwrap();
}

fn corrupt_index_is_an_error_not_a_crash<I: NameIndex>(_: &str) {
    // Scribble the index root and nodes in place, in this process: every call returns.
    let mut rng = Rng(7);
    for round in 0..20 {
        let mut buf = vec![0u8; 1 << 18];
        {
            let seg = ManagedExternalBuffer::<BestFit, I>::create(&mut buf).unwrap();
            for i in 0..500 {
                seg.construct(&format!("obj{i:06}"), i as u64).unwrap();
            }
        }
        let (at, len) = if round % 2 == 0 {
            (64 + 80 + rng.below(24) as usize, 8) // the index roots
        } else {
            (
                4096 + 300 + rng.below(60_000) as usize,
                1 + rng.below(64) as usize,
            )
        };
        for b in &mut buf[at..at + len] {
            *b = rng.next() as u8;
        }
        let Ok(seg) = ManagedExternalBuffer::<BestFit, I>::open(&mut buf) else {
            continue;
        };
        for i in (0..500).step_by(7) {
            let _ = seg.find::<u64>(&format!("obj{i:06}"));
        }
        let _ = seg.named_objects();
        let _ = seg.check_sanity();
        let _ = seg.construct("new", 1u64);
    }
}

// ----- the tour's section, as a test ------------------------------------------------------

#[derive(ShmSafe)]
#[repr(C)]
struct Board {
    scores: Mutex<[u32; 4]>,
    updates: AtomicU64,
}

fn tour_like_child(args: &[String]) {
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    let board = seg.find::<Board>("board").unwrap().unwrap();
    board.scores.lock().unwrap()[1] += 10;
    board.updates.fetch_add(1, Ordering::AcqRel);
}

#[test]
fn a_child_finds_a_struct_with_a_mutex_by_name() {
    let name = unique_name("seg-board");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16).unwrap();
    let board = seg
        .construct(
            "board",
            Board {
                scores: Mutex::new([1, 2, 3, 4]),
                updates: AtomicU64::new(0),
            },
        )
        .unwrap();
    child("tour_like_child").arg(&name).run();
    assert_eq!(*board.scores.lock().unwrap(), [1, 12, 3, 4]);
    assert_eq!(board.updates.load(Ordering::Acquire), 1);
}

// ----- try_atomic and System V snapshots across processes ---------------------------------

fn atomic_holder(args: &[String]) {
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    let flag = MappedRegion::map(&SharedMemory::open(&args[1]).unwrap()).unwrap();
    seg.atomic(|_| {
        flag.write_at(0, &[1]).unwrap();
        let mut b = [1u8];
        while b[0] == 1 {
            std::thread::sleep(Duration::from_millis(1));
            flag.read_at(0, &mut b).unwrap();
        }
    })
    .unwrap();
}

#[test]
fn try_atomic_does_not_wait_for_another_process() {
    let name = unique_name("seg-try-atomic");
    let flag_name = unique_name("seg-try-atomic-flag");
    let mut c = Cleanup::new();
    c.shm(&name).shm(&flag_name);
    let flag_shm = SharedMemory::create(&flag_name).unwrap();
    flag_shm.set_len(4096).unwrap();
    let flag = MappedRegion::map(&flag_shm).unwrap();
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16).unwrap();
    let h = child("atomic_holder").args([&name, &flag_name]).spawn();
    assert!(wait_until(Duration::from_secs(60), || {
        let mut b = [0];
        flag.read_at(0, &mut b).unwrap();
        b[0] == 1
    }));
    let t = Instant::now();
    assert!(seg.try_atomic(|_| ()).unwrap().is_none());
    assert!(t.elapsed() < Duration::from_secs(1));
    flag.write_at(0, &[0]).unwrap();
    h.wait().assert_success();
    assert_eq!(
        seg.try_atomic(|s| s.named_count().unwrap()).unwrap(),
        Some(0)
    );
}

fn xsi_reader(args: &[String]) {
    let key = XsiKey::from_raw(args[0].parse().unwrap());
    let ro: ManagedXsiSharedMemory = ManagedXsiSharedMemory::open_read_only(key).unwrap();
    report(
        "found",
        ro.find::<u64>("answer").unwrap().copied().unwrap_or(0),
    );
    report(
        "construct",
        ro.construct("other", 1u64).unwrap_err().kind() == ErrorKind::PermissionDenied,
    );
    let cow: ManagedXsiSharedMemory = ManagedXsiSharedMemory::open_copy_on_write(key).unwrap();
    cow.construct("private", 2u64).unwrap();
    report(
        "cow",
        cow.find::<u64>("private").unwrap().copied().unwrap_or(0),
    );
}

#[test]
fn xsi_read_only_and_copy_on_write_opens_in_another_process() {
    let path = unique_path("seg-xsi-ro");
    std::fs::write(&path, b"").unwrap();
    let key = XsiKey::from_path(&path, 7).unwrap();
    let seg: ManagedXsiSharedMemory = ManagedXsiSharedMemory::create(key, 1 << 16).unwrap();
    let id = seg.id();
    seg.construct("answer", 42u64).unwrap();
    let out = child("xsi_reader").args([key.raw().to_string()]).run();
    let _ = std::fs::remove_file(&path);
    let private = seg.find::<u64>("private").unwrap().copied();
    drop(seg);
    ManagedXsiSharedMemory::remove(id).unwrap();
    out.assert_success();
    assert_eq!(out.value("found"), "42");
    assert_eq!(out.value("construct"), "true");
    assert_eq!(out.value("cow"), "2");
    assert_eq!(
        private, None,
        "a copy-on-write change leaked into the segment"
    );
}
