//! `FlatMap` and `FlatSet` in managed segments: proptest against `std`'s ordered twins (with
//! room to spare and nearly full), a real cross-process share, and moved headers.

use std::collections::BTreeMap as StdMap;
use std::collections::BTreeSet as StdSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use proptest::prelude::*;
use shmkit::collections::{FlatMap, FlatSet, String, Vec};
use shmkit::sync::Mutex;
use shmkit::{ErrorKind, ManagedHeapMemory, ManagedSharedMemory};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name};

child_roles!(flat_reader_writer);

#[derive(Debug, Clone)]
enum Op {
    Insert(u32, u64),
    Remove(u32),
    Get(u32),
    PopFirst,
    PopLast,
    Range(u32, u32),
    Retain(u32),
    GetOrInsert(u32, u64),
}

fn op(keys: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..keys, any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        3 => (0..keys).prop_map(Op::Remove),
        2 => (0..keys).prop_map(Op::Get),
        1 => Just(Op::PopFirst),
        1 => Just(Op::PopLast),
        1 => (0..keys, 0..keys).prop_map(|(a, b)| Op::Range(a.min(b), a.max(b))),
        1 => (2..6u32).prop_map(Op::Retain),
        2 => (0..keys, any::<u64>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
    ]
}

fn run_ops(ops: &[Op], size: usize, tolerate_oom: bool) -> usize {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(size).unwrap();
    let m = seg
        .construct("m", Mutex::new(FlatMap::<u32, u64>::new()))
        .unwrap();
    let mut m = m.lock().unwrap();
    let mut twin = StdMap::new();
    let mut ooms = 0;
    for op in ops {
        match *op {
            Op::Insert(k, v) => match m.try_insert(k, v) {
                Ok(old) => assert_eq!(old, twin.insert(k, v)),
                Err(e) => {
                    assert!(tolerate_oom, "{e}");
                    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
                    ooms += 1;
                }
            },
            Op::Remove(k) => assert_eq!(m.remove(&k), twin.remove(&k)),
            Op::Get(k) => {
                assert_eq!(m.get(&k), twin.get(&k));
                assert_eq!(m.contains_key(&k), twin.contains_key(&k));
            }
            Op::PopFirst => assert_eq!(m.pop_first(), twin.pop_first()),
            Op::PopLast => assert_eq!(m.pop_last(), twin.pop_last()),
            Op::Range(a, b) => {
                assert!(m.range(a..b).eq(twin.range(a..b)));
                assert!(m.range(a..=b).rev().eq(twin.range(a..=b).rev()));
            }
            Op::Retain(d) => {
                m.retain(|k, v| {
                    *v = v.wrapping_add(1);
                    k % d != 0
                });
                twin.retain(|k, v| {
                    *v = v.wrapping_add(1);
                    k % d != 0
                });
            }
            Op::GetOrInsert(k, v) => {
                if tolerate_oom && !m.contains_key(&k) && m.try_insert(k, v).is_err() {
                    ooms += 1;
                    continue;
                }
                let got = *m.get_or_insert_with(k, || v);
                assert_eq!(got, *twin.entry(k).or_insert(v));
            }
        }
        assert_eq!(m.len(), twin.len());
    }
    assert!(m.iter().eq(twin.iter()));
    assert!(m.keys_slice().iter().eq(twin.keys()));
    assert_eq!(m.first_key_value(), twin.first_key_value());
    assert_eq!(m.last_key_value(), twin.last_key_value());
    let all: std::vec::Vec<_> = std::mem::take(&mut *m).into_iter().collect();
    assert_eq!(all, twin.into_iter().collect::<std::vec::Vec<_>>());
    ooms
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn flat_map_ops_match_std(ops in prop::collection::vec(op(300), 1..1000)) {
        run_ops(&ops, 1 << 20, false);
    }

    #[test]
    fn flat_map_ops_in_a_nearly_full_segment(ops in prop::collection::vec(op(5000), 1..1000)) {
        run_ops(&ops, 12 << 10, true);
    }

    #[test]
    fn flat_set_ops_match_std(ops in prop::collection::vec((0..200u32, 0..3u8), 1..600)) {
        let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
        let s = seg.construct("s", Mutex::new(FlatSet::<u32>::new())).unwrap();
        let mut s = s.lock().unwrap();
        let mut twin = StdSet::new();
        for (x, what) in ops {
            match what {
                0 => assert_eq!(s.insert(x), twin.insert(x)),
                1 => assert_eq!(s.remove(&x), twin.remove(&x)),
                _ => {
                    assert_eq!(s.contains(&x), twin.contains(&x));
                    assert!(s.range(x / 2..x).iter().eq(twin.range(x / 2..x)));
                }
            }
        }
        assert!(s.as_slice().iter().eq(twin.iter()));
        assert_eq!(s.first(), twin.first());
        assert_eq!(s.last(), twin.last());
        s.retain(|x| x % 3 == 0);
        twin.retain(|x| x % 3 == 0);
        assert!(s.iter().eq(twin.iter()));
    }

    #[test]
    fn flat_map_string_keys_match_std(ops in prop::collection::vec((0..50u32, 0..3u8, any::<u32>()), 1..300)) {
        let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
        let m = seg
            .construct("m", Mutex::new(FlatMap::<String, Vec<u32>>::new()))
            .unwrap();
        let mut m = m.lock().unwrap();
        let mut twin: StdMap<std::string::String, std::vec::Vec<u32>> = StdMap::new();
        for (k, what, v) in ops {
            let key = format!("k{k:02}");
            match what {
                0 => {
                    let old = m.insert(key.as_str(), vec![v]).map(|x| x.into_iter().collect::<std::vec::Vec<_>>());
                    assert_eq!(old, twin.insert(key.clone(), vec![v]));
                }
                1 => {
                    m.get_or_insert_with(key.as_str(), std::vec::Vec::<u32>::new).push(v);
                    twin.entry(key.clone()).or_default().push(v);
                }
                _ => {
                    let got = m.remove(key.as_str()).map(|x| x.into_iter().collect::<std::vec::Vec<_>>());
                    assert_eq!(got, twin.remove(&key));
                }
            }
            assert_eq!(m.get(key.as_str()).map(|v| v.as_slice()), twin.get(&key).map(|v| v.as_slice()));
        }
        assert_eq!(m.len(), twin.len());
        for ((k, v), (tk, tv)) in m.iter().zip(&twin) {
            assert_eq!(k, tk);
            assert_eq!(v, tv);
        }
    }
}

#[test]
fn a_nearly_full_segment_really_fills() {
    let ops: std::vec::Vec<Op> = (0..4000u32)
        .map(|i| Op::Insert(i * 7919 % 5000, 1))
        .collect();
    assert!(run_ops(&ops, 12 << 10, true) > 0);
}

#[test]
fn swapped_headers_keep_working_and_moved_ones_are_caught() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let a = seg
        .construct("a", Mutex::new(FlatMap::<u32, String>::new()))
        .unwrap();
    let b = seg
        .construct("b", Mutex::new(FlatMap::<u32, String>::new()))
        .unwrap();
    let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    for i in 0..300 {
        a.insert(i, format!("a{i}"));
        b.insert(i + 1000, format!("b{i}"));
    }
    std::mem::swap(&mut *a, &mut *b);
    assert_eq!(a[&1000], "b0");
    assert_eq!(b[&299], "a299");
    a.insert(5, "five");
    assert_eq!(a.len(), 301);
    let mut taken = std::mem::take(&mut *b);
    assert!(catch_unwind(AssertUnwindSafe(|| taken.get(&1).is_some())).is_err());
    assert!(taken.pop_last().is_some());
    let back = seg.construct("back", Mutex::new(taken)).unwrap();
    assert_eq!(back.lock().unwrap().len(), 299);
    let other: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let stolen = std::mem::take(&mut *a);
    let there = other.construct("there", Mutex::new(stolen)).unwrap();
    let mut there = there.lock().unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| there.get(&5).is_some())).is_err());
    assert!(there.try_insert(1, "x").is_err());
}

/// Child: checks the parent's 10,000 entries and a range, adds 1,000 more.
fn flat_reader_writer(args: &[std::string::String]) {
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    let m = seg
        .find::<Mutex<FlatMap<u64, String>>>("flat")
        .unwrap()
        .unwrap();
    let mut m = m.lock().unwrap();
    assert_eq!(m.len(), 10_000);
    for (i, (k, v)) in m.iter().enumerate() {
        assert_eq!(*k, i as u64 * 2);
        assert_eq!(*v, format!("v{}", i * 2));
    }
    assert!(m.range(10..16).map(|(k, _)| *k).eq([10, 12, 14]));
    for i in 0..1_000u64 {
        m.insert(i * 2 + 1, format!("c{i}"));
    }
    report("len", m.len());
}

#[test]
fn a_child_process_reads_and_extends_a_10000_entry_flat_map() {
    let name = unique_name("coll-flat");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 8 << 20).unwrap();
    let m = seg
        .construct("flat", Mutex::new(FlatMap::<u64, String>::new()))
        .unwrap();
    m.lock()
        .unwrap()
        .extend((0..10_000u64).map(|i| (i * 2, format!("v{}", i * 2))));
    let out = child("flat_reader_writer").args([&name]).run();
    assert_eq!(out.value("len"), "11000");
    let m = m.lock().unwrap();
    assert_eq!(m[&1999], "c999");
    assert!(m.keys().copied().take(4).eq([0, 1, 2, 3]));
}

#[test]
fn a_read_only_segment_reads_flat_maps_but_does_not_change_them() {
    let name = unique_name("flat-ro");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20).unwrap();
    let m = seg
        .construct("m", Mutex::new(FlatMap::<u64, u64>::new()))
        .unwrap();
    m.lock().unwrap().extend((0..100).map(|i| (i, i)));
    m.lock().unwrap().reserve(10);
    let ro: ManagedSharedMemory = ManagedSharedMemory::open_read_only(&name).unwrap();
    let rm = ro.find::<Mutex<FlatMap<u64, u64>>>("m").unwrap().unwrap();
    let mut r = rm.lock().unwrap();
    assert_eq!(r.get(&7), Some(&7));
    assert_eq!(r.range(10..20).count(), 10);
    for e in [
        r.try_insert(7, 70).unwrap_err(),
        r.try_insert(1000, 1).unwrap_err(),
        r.try_get_or_insert_with(5, || 1).map(|_| ()).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    }
    assert!(catch_unwind(AssertUnwindSafe(|| r.get_mut(&7).map(|v| *v = 1))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| r.iter_mut().count())).is_err());
    assert_eq!(r.len(), 100);
    drop(r);
    assert!(m.lock().unwrap().iter().all(|(k, v)| k == v));
}
