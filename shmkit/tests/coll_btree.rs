//! `BTreeMap` and `BTreeSet` in managed segments: proptest against `std`'s twins (with room to
//! spare and nearly full), a real cross-process share, moved headers, and corrupt headers.
#![allow(unsafe_code)]

use std::collections::BTreeMap as StdMap;
use std::collections::BTreeSet as StdSet;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};

use proptest::prelude::*;
use shmkit::collections::btree::Entry;
use shmkit::collections::{BTreeMap, BTreeSet, String, Vec};
use shmkit::sync::Mutex;
use shmkit::{ErrorKind, ManagedHeapMemory, ManagedSharedMemory};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name};

child_roles!(reader_writer);

#[derive(Debug, Clone)]
enum Op {
    Insert(u64, u64),
    Remove(u64),
    Get(u64),
    PopFirst,
    PopLast,
    Range(u64, u64, bool),
    Entry(u64, u64),
    Retain(u64),
    Clear,
}

fn op(keys: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..keys, any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        4 => (0..keys).prop_map(Op::Remove),
        2 => (0..keys).prop_map(Op::Get),
        1 => Just(Op::PopFirst),
        1 => Just(Op::PopLast),
        1 => (0..keys, 0..keys, any::<bool>()).prop_map(|(a, b, r)| Op::Range(a.min(b), a.max(b), r)),
        2 => (0..keys, any::<u64>()).prop_map(|(k, v)| Op::Entry(k, v)),
        1 => (2..5u64).prop_map(Op::Retain),
        1 => Just(Op::Clear).prop_filter("rare", |_| true),
    ]
}

/// Applies `ops` to a map in a segment of `size` bytes and to a std twin; with `tolerate_oom`,
/// failing inserts must leave the map equal to its twin.
fn run_ops(ops: &[Op], size: usize, tolerate_oom: bool) -> usize {
    let mut ooms = 0;
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(size).unwrap();
    let m = seg
        .construct("m", Mutex::new(BTreeMap::<u64, u64>::new()))
        .unwrap();
    let mut m = m.lock().unwrap();
    let mut twin = StdMap::new();
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
            Op::Range(a, b, rev) => {
                let got: std::vec::Vec<_> = if rev {
                    m.range(a..=b).rev().map(|(k, v)| (*k, *v)).collect()
                } else {
                    m.range((Bound::Excluded(a), Bound::Unbounded))
                        .map(|(k, v)| (*k, *v))
                        .collect()
                };
                let want: std::vec::Vec<_> = if rev {
                    twin.range(a..=b).rev().map(|(k, v)| (*k, *v)).collect()
                } else {
                    twin.range((Bound::Excluded(a), Bound::Unbounded))
                        .map(|(k, v)| (*k, *v))
                        .collect()
                };
                assert_eq!(got, want);
                if a < b {
                    // Alternating ends meet in the middle.
                    let mut it = m.range(a..b);
                    let mut tw = twin.range(a..b);
                    loop {
                        let (x, y) = (it.next(), tw.next());
                        assert_eq!(x, y);
                        let (x, y) = (it.next_back(), tw.next_back());
                        assert_eq!(x, y);
                        if x.is_none() {
                            break;
                        }
                    }
                }
            }
            Op::Entry(k, v) => {
                let exp = *twin
                    .entry(k)
                    .and_modify(|x| *x = x.wrapping_add(1))
                    .or_insert(v);
                if tolerate_oom && !m.contains_key(&k) && m.try_insert(k, v).is_err() {
                    twin.remove(&k);
                    continue;
                }
                let got = *m
                    .entry(k)
                    .and_modify(|x| *x = x.wrapping_add(1))
                    .or_insert(v);
                // With `tolerate_oom` the insert above already happened: undo the bump.
                if tolerate_oom && got != exp {
                    assert_eq!(got, v.wrapping_add(1));
                    *m.get_mut(&k).unwrap() = exp;
                } else {
                    assert_eq!(got, exp);
                }
            }
            Op::Retain(d) => {
                if !tolerate_oom {
                    m.retain(|k, v| {
                        *v = v.wrapping_add(1);
                        k % d != 0
                    });
                    twin.retain(|k, v| {
                        *v = v.wrapping_add(1);
                        k % d != 0
                    });
                }
            }
            Op::Clear => {
                if ops.len().is_multiple_of(7) {
                    m.clear();
                    twin.clear();
                }
            }
        }
        assert_eq!(m.len(), twin.len());
    }
    assert!(
        m.iter()
            .map(|(k, v)| (*k, *v))
            .eq(twin.iter().map(|(k, v)| (*k, *v)))
    );
    assert!(
        m.iter()
            .rev()
            .map(|(k, v)| (*k, *v))
            .eq(twin.iter().rev().map(|(k, v)| (*k, *v)))
    );
    assert_eq!(m.first_key_value(), twin.first_key_value());
    assert_eq!(m.last_key_value(), twin.last_key_value());
    assert_eq!((m.iter().len(), m.keys().len()), (twin.len(), twin.len()));
    let all: std::vec::Vec<_> = std::mem::take(&mut *m).into_iter().collect();
    assert_eq!(all, twin.into_iter().collect::<std::vec::Vec<_>>());
    ooms
}

#[test]
fn a_nearly_full_segment_really_fills() {
    let mut ops: std::vec::Vec<Op> = (0..3000u64)
        .map(|i| Op::Insert(i * 7919 % 5000, i))
        .collect();
    ops.extend((0..1000u64).map(|i| Op::Remove(i * 13 % 5000)));
    ops.extend((0..3000u64).map(|i| Op::Insert(i * 31 % 5000, i)));
    assert!(run_ops(&ops, 24 << 10, true) > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn map_ops_match_std(ops in prop::collection::vec(op(400), 1..1500)) {
        run_ops(&ops, 4 << 20, false);
    }

    #[test]
    fn map_ops_match_std_small_keyspace(ops in prop::collection::vec(op(30), 1..400)) {
        run_ops(&ops, 1 << 20, false);
    }

    #[test]
    fn map_ops_in_a_nearly_full_segment(ops in prop::collection::vec(op(5000), 1..1500)) {
        run_ops(&ops, 24 << 10, true);
    }

    #[test]
    fn string_keys_and_vec_values_match_std(
        ops in prop::collection::vec((0..60u32, 0..4u8, any::<u32>()), 1..300),
    ) {
        let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
        let m = seg
            .construct("m", Mutex::new(BTreeMap::<String, Vec<u32>>::new()))
            .unwrap();
        let mut m = m.lock().unwrap();
        let mut twin: StdMap<std::string::String, std::vec::Vec<u32>> = StdMap::new();
        for (k, what, v) in ops {
            let key = format!("key-{k:03}");
            match what {
                0 => {
                    let old = m.insert(key.as_str(), vec![v]).map(|x| x.into_iter().collect::<std::vec::Vec<_>>());
                    assert_eq!(old, twin.insert(key.clone(), vec![v]));
                }
                1 => {
                    m.entry(key.as_str()).or_default().push(v);
                    twin.entry(key.clone()).or_default().push(v);
                }
                2 => {
                    let got = m.remove(key.as_str()).map(|x| x.into_iter().collect::<std::vec::Vec<_>>());
                    assert_eq!(got, twin.remove(&key));
                }
                _ => {
                    let lo = format!("key-{:03}", k / 2);
                    let got: std::vec::Vec<_> = m
                        .range::<str, _>((Bound::Included(lo.as_str()), Bound::Excluded(key.as_str())))
                        .map(|(k, v)| (k.to_std().unwrap(), v.as_slice().to_vec()))
                        .collect();
                    let want: std::vec::Vec<_> =
                        twin.range(lo.clone()..key.clone()).map(|(k, v)| (k.clone(), v.clone())).collect();
                    assert_eq!(got, want);
                }
            }
            assert_eq!(m.get(key.as_str()).map(|v| v.as_slice()), twin.get(&key).map(|v| v.as_slice()));
        }
        m.retain(|k, v| k.ends_with('1') || v.len() > 1);
        twin.retain(|k, v| k.ends_with('1') || v.len() > 1);
        assert_eq!(m.len(), twin.len());
        for ((k, v), (tk, tv)) in m.iter().zip(&twin) {
            assert_eq!(k, tk);
            assert_eq!(v, tv);
        }
    }

    #[test]
    fn set_ops_match_std(ops in prop::collection::vec((0..300u32, 0..4u8), 1..800)) {
        let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
        let s = seg.construct("s", Mutex::new(BTreeSet::<u32>::new())).unwrap();
        let o = seg.construct("o", Mutex::new(BTreeSet::<u32>::new())).unwrap();
        let (mut s, mut o) = (s.lock().unwrap(), o.lock().unwrap());
        let (mut ts, mut to) = (StdSet::new(), StdSet::new());
        for (x, what) in ops {
            match what {
                0 => assert_eq!(s.insert(x), ts.insert(x)),
                1 => assert_eq!(s.remove(&x), ts.remove(&x)),
                2 => assert_eq!(o.insert(x), to.insert(x)),
                _ => {
                    assert_eq!(s.contains(&x), ts.contains(&x));
                    assert!(s.range(x / 2..x).eq(ts.range(x / 2..x)));
                }
            }
        }
        assert!(s.iter().eq(ts.iter()));
        assert!(s.union(&o).eq(ts.union(&to)));
        assert!(s.intersection(&o).eq(ts.intersection(&to)));
        assert!(s.difference(&o).eq(ts.difference(&to)));
        assert!(s.symmetric_difference(&o).eq(ts.symmetric_difference(&to)));
        assert_eq!(s.is_subset(&o), ts.is_subset(&to));
        assert_eq!(s.first(), ts.first());
        assert_eq!(s.last(), ts.last());
        s.retain(|x| x % 3 == 0);
        ts.retain(|x| x % 3 == 0);
        assert!(s.iter().eq(ts.iter()));
        assert_eq!(s.pop_first(), ts.pop_first());
        assert_eq!(s.pop_last(), ts.pop_last());
    }
}

#[test]
fn sequential_and_reverse_bulk_inserts_and_removals() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(16 << 20).unwrap();
    let m = seg
        .construct("m", Mutex::new(BTreeMap::<u64, u64>::new()))
        .unwrap();
    let mut m = m.lock().unwrap();
    for i in 0..50_000u64 {
        m.insert(i, i * 2);
    }
    for i in (50_000..100_000u64).rev() {
        m.insert(i, i * 2);
    }
    assert_eq!(m.len(), 100_000);
    assert!(
        m.iter()
            .enumerate()
            .all(|(i, (k, v))| *k == i as u64 && *v == 2 * i as u64)
    );
    assert_eq!(m.range(500..1000).count(), 500);
    for i in (0..100_000u64).step_by(2) {
        assert_eq!(m.remove(&i), Some(i * 2));
    }
    assert_eq!(m.len(), 50_000);
    assert!(m.keys().copied().eq((1..100_000).step_by(2)));
    while m.pop_last().is_some() {}
    assert!(m.is_empty());
    let used_before = seg.free_memory().unwrap();
    m.insert(1, 1);
    m.clear();
    assert_eq!(seg.free_memory().unwrap(), used_before);
}

#[test]
fn swapped_headers_keep_working_and_moved_ones_are_caught() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let a = seg
        .construct("a", Mutex::new(BTreeMap::<u64, String>::new()))
        .unwrap();
    let b = seg
        .construct("b", Mutex::new(BTreeMap::<u64, String>::new()))
        .unwrap();
    let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    for i in 0..500 {
        a.insert(i, format!("a{i}"));
        b.insert(i + 1000, format!("b{i}"));
    }
    std::mem::swap(&mut *a, &mut *b);
    assert_eq!(a[&1000], "b0");
    assert_eq!(b[&499], "a499");
    a.insert(5, "five");
    b.remove(&3);
    assert_eq!(a.len(), 501);
    assert_eq!(b.len(), 499);

    // Moved out: mutation, with_get and into_iter work; references panic.
    let mut taken = std::mem::take(&mut *b);
    assert_eq!(
        taken
            .with_get(&7, |v| v.map(|s| s.to_std().unwrap()))
            .unwrap()
            .as_deref(),
        Some("a7")
    );
    taken.insert(10_000, "detached");
    assert!(taken.contains_key(&10_000));
    assert!(catch_unwind(AssertUnwindSafe(|| taken.get(&7).is_some())).is_err());
    assert!(format!("{taken:?}").contains("detached"));
    let back = seg.construct("back", Mutex::new(taken)).unwrap();
    assert_eq!(back.lock().unwrap()[&10_000], "detached");
    let moved_out = std::mem::take(&mut *back.lock().unwrap());
    let items: std::vec::Vec<_> = moved_out.into_iter().collect();
    assert_eq!(items.len(), 500);

    // Moved into another segment: caught.
    let other: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let stolen = std::mem::take(&mut *a);
    let there = other.construct("there", Mutex::new(stolen)).unwrap();
    let mut there = there.lock().unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| there.get(&5).is_some())).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| there.insert(1, "x"))).is_err());
    assert_eq!(
        there.try_iter().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn clone_eq_hash_debug_index() {
    use std::hash::{BuildHasher, RandomState};
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let a = seg
        .construct("a", Mutex::new(BTreeMap::<String, u32>::new()))
        .unwrap();
    let mut a = a.lock().unwrap();
    a.extend([("x", 1), ("y", 2), ("z", 3)]);
    let b = seg.construct("b", Mutex::new(a.clone())).unwrap();
    let b = b.lock().unwrap();
    assert!(*a == *b);
    assert_eq!(a.cmp(&b), std::cmp::Ordering::Equal);
    let rs = RandomState::new();
    assert_eq!(rs.hash_one(&*a), rs.hash_one(&*b));
    assert_eq!(format!("{:?}", *a), r#"{"x": 1, "y": 2, "z": 3}"#);
    assert_eq!(a["y"], 2);
    if let Entry::Occupied(o) = a.entry("x") {
        assert_eq!(o.remove_entry().0.to_std().unwrap(), "x");
    }
    assert!(*a != *b);
    assert!(*a > *b);
}

#[test]
fn corrupt_headers_are_errors_not_crashes() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let m = seg
        .construct("m", Mutex::new(BTreeMap::<u64, u64>::new()))
        .unwrap();
    let mut guard = m.lock().unwrap();
    let m: &mut BTreeMap<u64, u64> = &mut guard;
    for i in 0..1000 {
        m.insert(i, i);
    }
    let words = std::ptr::from_mut(m).cast::<u64>();
    // Layout: [segment id, root offset + 1, len, height, nodes, pad].
    // SAFETY: (test) in-bounds words of the header.
    let saved: [u64; 6] = unsafe { std::array::from_fn(|i| *words.add(i)) };
    let restore = || {
        for (i, w) in saved.iter().enumerate() {
            // SAFETY: (test) as above.
            unsafe { *words.add(i) = *w };
        }
    };
    let corruptions: [(usize, u64); 5] = [
        (3, 1000),         // taller than any tree
        (1, 1 << 40),      // root outside the segment
        (1, 9),            // root misaligned
        (3, saved[3] + 3), // height disagrees with the nodes
        (3, 0),            // an internal root read as a leaf
    ];
    for (word, value) in corruptions {
        // SAFETY: (test) as above.
        unsafe { *words.add(word) = value };
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _ = m.try_get(&500);
            let _ = m.try_iter().map(|it| it.count());
            m.contains_key(&77)
        }));
        let _ = r;
        restore();
    }
    assert_eq!(m.get(&500), Some(&500));
    assert_eq!(m.iter().count(), 1000);
    // A length larger than the tree: iteration stops at the tree's end.
    // SAFETY: (test) as above.
    unsafe { *words.add(2) = 5000 };
    assert_eq!(m.iter().count(), 1000);
    // A smaller one: iteration stops after that many.
    // SAFETY: (test) as above.
    unsafe { *words.add(2) = 10 };
    assert_eq!(m.iter().count(), 10);
    restore();
}

/// Child: opens the segment, checks the parent's 10,000 entries and ranges, adds 5,000 more.
fn reader_writer(args: &[std::string::String]) {
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    let m = seg
        .find::<Mutex<BTreeMap<u64, String>>>("map")
        .unwrap()
        .unwrap();
    let mut m = m.lock().unwrap();
    assert_eq!(m.len(), 10_000);
    for (i, (k, v)) in m.iter().enumerate() {
        assert_eq!(*k, i as u64 * 3);
        assert_eq!(*v, format!("value-{}", i * 3));
    }
    let r: std::vec::Vec<u64> = m.range(300..=330).map(|(k, _)| *k).collect();
    assert_eq!(r, (300..=330).step_by(3).collect::<std::vec::Vec<_>>());
    assert_eq!(m.range(..30).next_back().map(|(k, _)| *k), Some(27));
    for i in 0..5_000u64 {
        m.insert(i * 3 + 1, format!("child-{i}"));
    }
    assert_eq!(m.remove(&0).unwrap().to_std().unwrap(), "value-0");
    report("len", m.len());
    report("addr", format!("{:p}", &*m));
}

#[test]
fn a_child_process_reads_and_extends_a_10000_entry_map() {
    let name = unique_name("coll-btree");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 8 << 20).unwrap();
    let m = seg
        .construct("map", Mutex::new(BTreeMap::<u64, String>::new()))
        .unwrap();
    {
        let mut m = m.lock().unwrap();
        for i in 0..10_000u64 {
            m.insert(i * 3, format!("value-{}", i * 3));
        }
    }
    let out = child("reader_writer").args([&name]).run();
    assert_eq!(out.value("len"), "14999");
    let m = m.lock().unwrap();
    assert_eq!(m.len(), 14_999);
    assert!(!m.contains_key(&0));
    assert_eq!(m[&(4_999 * 3 + 1)], "child-4999");
    assert_eq!(m[&3], "value-3");
    let keys: std::vec::Vec<u64> = m.range(0..10).map(|(k, _)| *k).collect();
    assert_eq!(keys, [1, 3, 4, 6, 7, 9]);
}

#[test]
fn cyclic_and_garbage_nodes_are_errors_not_hangs() {
    use shmkit::collections::AsSegment;
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(4 << 20).unwrap();
    let s = seg.segment().unwrap();
    for corruption in 0..4 {
        let m = seg
            .construct(
                &format!("m{corruption}"),
                Mutex::new(BTreeMap::<u64, u64>::new()),
            )
            .unwrap();
        let mut guard = m.lock().unwrap();
        let m: &mut BTreeMap<u64, u64> = &mut guard;
        for i in 0..5000 {
            m.insert(i, i);
        }
        let header = std::ptr::from_mut(m).cast::<u64>();
        // SAFETY: (test) word 1 of the header: the root's offset + 1.
        let root = unsafe { *header.add(1) } - 1;
        // An internal node of `u64 → u64`: len (8 bytes with padding), 12 key slots, 11 values,
        // then 12 child offsets.
        let node = s.ptr::<u64>(root, 36).unwrap();
        // SAFETY: (test) words of the root node, inside the segment.
        unsafe {
            match corruption {
                0 => *node.add(24) = root,          // first child is the root itself
                1 => *node.add(25) = root,          // second child too
                2 => *node = 200,                   // more keys than fit
                _ => *node.add(24) = (1 << 20) + 3, // a misaligned child
            }
        }
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _ = m.try_get(&1);
            let _ = m.try_get(&4999);
            let _ = m.try_iter().map(|it| it.count());
            let _ = m.try_insert(10_000, 1);
            let _ = catch_unwind(AssertUnwindSafe(|| m.remove(&2500)));
            let _ = catch_unwind(AssertUnwindSafe(|| m.range(10..20).count()));
            let _ = catch_unwind(AssertUnwindSafe(|| m.iter().rev().count()));
            m.clear();
        }));
        assert!(
            r.is_ok(),
            "nothing above panics outside its own catch_unwind"
        );
        assert!(m.is_empty());
    }
}

#[test]
fn a_read_only_segment_reads_maps_but_does_not_change_them() {
    let name = unique_name("btree-ro");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20).unwrap();
    let m = seg
        .construct("m", Mutex::new(BTreeMap::<u64, u64>::new()))
        .unwrap();
    m.lock().unwrap().extend((0..100).map(|i| (i, i)));
    let ro: ManagedSharedMemory = ManagedSharedMemory::open_read_only(&name).unwrap();
    let rm = ro.find::<Mutex<BTreeMap<u64, u64>>>("m").unwrap().unwrap();
    let mut r = rm.lock().unwrap();
    assert_eq!(r.get(&7), Some(&7));
    assert!(r.contains_key(&99));
    assert_eq!(r.range(10..20).count(), 10);
    // Replacing a value allocates nothing: the fast path must refuse too.
    let e = r.try_insert(7, 70).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(catch_unwind(AssertUnwindSafe(|| r.get_mut(&7).map(|v| *v = 1))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| r.remove(&7))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| r.iter_mut().count())).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| r.entry(5).or_insert(1).to_owned())).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| r.pop_first())).is_err());
    assert_eq!(r.len(), 100);
    drop(r);
    let m = m.lock().unwrap();
    assert!(m.iter().all(|(k, v)| k == v));
}
