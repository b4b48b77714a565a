//! Hashed collections (`HashMap`, `HashSet`) in managed segments: against std's twins
//! (proptest, also in a nearly full segment), across two processes mapped at different
//! addresses, headers moved inside and out of their segment, and corrupt tables.
#![allow(unsafe_code)]

use std::collections::HashMap as StdMap;
use std::collections::HashSet as StdSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use shmkit::collections::{AsSegment, HashMap, HashSet, String, Vec, hash_map::Entry};
use shmkit::sync::Mutex;
use shmkit::{ErrorKind, ManagedHeapMemory, ManagedSharedMemory};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name, wait_until};

child_roles!(reader_and_mutator);

type Map = HashMap<String, Vec<u32>>;
type Twin = StdMap<std::string::String, std::vec::Vec<u32>>;

fn key(k: u16) -> std::string::String {
    format!("k{k}")
}

fn value(v: u32) -> std::vec::Vec<u32> {
    vec![v; (v % 4) as usize]
}

/// The map equals its twin: same length, every entry of each in the other.
fn same(m: &Map, t: &Twin) {
    assert_eq!(m.len(), t.len());
    assert!(m.capacity() >= m.len());
    let mut n = 0;
    for (k, v) in m.iter() {
        assert_eq!(
            t.get(k.as_str()).map(|x| x.as_slice()),
            Some(v.as_slice()),
            "{k}"
        );
        n += 1;
    }
    assert_eq!(n, t.len());
    for (k, v) in t {
        assert_eq!(m.get(k.as_str()).map(|x| x.as_slice()), Some(v.as_slice()));
        assert!(m.contains_key(k.as_str()));
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u16, u32),
    Remove(u16),
    Get(u16),
    EntryPush(u16, u32),
    EntryVacantDrop(u16),
    Retain(u16),
    Clear,
    Reserve(u16),
    Shrink(u16),
    Drain,
    CloneBack,
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0..300u16;
    prop_oneof![
        12 => (k.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        5 => k.clone().prop_map(Op::Remove),
        3 => k.clone().prop_map(Op::Get),
        4 => (k.clone(), any::<u32>()).prop_map(|(k, v)| Op::EntryPush(k, v)),
        1 => k.clone().prop_map(Op::EntryVacantDrop),
        1 => (1..8u16).prop_map(Op::Retain),
        1 => Just(Op::Clear),
        1 => (0..200u16).prop_map(Op::Reserve),
        1 => (0..100u16).prop_map(Op::Shrink),
        1 => Just(Op::Drain),
        1 => Just(Op::CloneBack),
    ]
}

/// Applies `op` to the map and the twin. With `tolerant`, allocating operations use the `try_`
/// forms, and a failure (which must be `OutOfMemory`) must leave the map as it was: the twin is
/// then left alone.
fn apply(m: &mut Map, t: &mut Twin, op: &Op, tolerant: bool) {
    match *op {
        Op::Insert(k, v) => match m.try_insert(key(k), value(v)) {
            Ok(old) => {
                let old_t = t.insert(key(k), value(v));
                assert_eq!(
                    old.map(|o| o.into_iter().collect::<std::vec::Vec<_>>()),
                    old_t
                );
            }
            Err(e) if tolerant => assert_eq!(e.kind(), ErrorKind::OutOfMemory),
            Err(e) => panic!("{e}"),
        },
        Op::Remove(k) => {
            let r = m.remove(key(k).as_str());
            assert_eq!(
                r.map(|o| o.into_iter().collect::<std::vec::Vec<_>>()),
                t.remove(&key(k))
            );
        }
        Op::Get(k) => {
            assert_eq!(
                m.get(key(k).as_str()).map(|v| v.as_slice()),
                t.get(&key(k)).map(|v| v.as_slice())
            );
        }
        Op::EntryPush(k, v) => {
            let r = m.try_entry(key(k).as_str()).and_then(|e| {
                let slot = match e {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => v.try_insert(std::vec::Vec::<u32>::new())?,
                };
                slot.try_push(v)
            });
            match r {
                Ok(()) => t.entry(key(k)).or_default().push(v),
                Err(e) if tolerant => {
                    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
                    // A vacant insert may have succeeded before the push failed.
                    if m.get(key(k).as_str()).is_some_and(|x| x.is_empty()) {
                        t.entry(key(k)).or_default();
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
        Op::EntryVacantDrop(k) => match m.try_entry(key(k)) {
            Ok(e) => {
                assert_eq!(e.key().as_str(), key(k));
                assert_eq!(matches!(e, Entry::Occupied(_)), t.contains_key(&key(k)));
            }
            Err(e) if tolerant => assert_eq!(e.kind(), ErrorKind::OutOfMemory),
            Err(e) => panic!("{e}"),
        },
        Op::Retain(d) => {
            m.retain(|k, v| {
                let _ = v.try_push(1);
                k.len() % usize::from(d) != 0
            });
            t.retain(|k, v| {
                v.push(1);
                k.len() % usize::from(d) != 0
            });
            if tolerant {
                // `push` may not fit: the pushes are not compared in a full segment.
                for (k, v) in m.iter() {
                    let tv = t.get_mut(k.as_str()).unwrap();
                    tv.truncate(v.len());
                }
            }
        }
        Op::Clear => {
            m.clear();
            t.clear();
        }
        Op::Reserve(n) => match m.try_reserve(usize::from(n)) {
            Ok(()) => assert!(m.capacity() >= m.len() + usize::from(n)),
            Err(e) if tolerant => assert_eq!(e.kind(), ErrorKind::OutOfMemory),
            Err(e) => panic!("{e}"),
        },
        Op::Shrink(0) => m.shrink_to_fit(),
        Op::Shrink(n) => {
            let before = m.capacity();
            m.shrink_to(usize::from(n));
            assert!(m.capacity() <= before);
            assert!(m.capacity() >= usize::from(n).min(before).max(m.len()));
        }
        Op::Drain => {
            let mut out: std::vec::Vec<(std::string::String, std::vec::Vec<u32>)> = m
                .drain()
                .map(|(k, v)| {
                    let k = k.with_str(|s| s.to_owned()).unwrap();
                    let v = v.into_iter().collect();
                    (k, v)
                })
                .collect();
            let mut want: std::vec::Vec<_> = t.drain().collect();
            out.sort();
            want.sort();
            assert_eq!(out, want);
            assert!(m.is_empty());
        }
        Op::CloneBack => {
            if tolerant {
                return; // a clone needs room for a second copy
            }
            let c = m.clone();
            *m = c;
        }
    }
}

fn run_ops(ops: &[Op], size: usize, tolerant: bool) {
    let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(size).unwrap();
    let shared = seg.construct("map", Mutex::new(Map::new())).unwrap();
    let mut m = shared.lock().unwrap();
    let mut t = Twin::new();
    for op in ops {
        apply(&mut m, &mut t, op, tolerant);
        same(&m, &t);
    }
    drop(m);
    seg.destroy::<Mutex<Map>>("map").unwrap();
    assert!(seg.check_sanity().is_ok());
}

#[derive(Debug, Clone)]
enum SetOp {
    Insert(u16),
    Remove(u16),
    Take(u16),
    Retain(u16),
    Extend(std::vec::Vec<u16>),
    Clear,
}

fn set_op() -> impl Strategy<Value = SetOp> {
    prop_oneof![
        8 => (0..500u16).prop_map(SetOp::Insert),
        3 => (0..500u16).prop_map(SetOp::Remove),
        1 => (0..500u16).prop_map(SetOp::Take),
        1 => (2..9u16).prop_map(SetOp::Retain),
        2 => vec(0..500u16, 0..40).prop_map(SetOp::Extend),
        1 => Just(SetOp::Clear),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn map_matches_std(ops in vec(op(), 1..150)) {
        run_ops(&ops, 1 << 20, false);
    }

    #[test]
    fn map_in_a_nearly_full_segment_matches_std(ops in vec(op(), 1..150)) {
        run_ops(&ops, 12 << 10, true);
    }

    #[test]
    fn set_matches_std(ops in vec(set_op(), 1..80)) {
        let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
        let shared = seg.construct("set", Mutex::new(HashSet::<u16>::new())).unwrap();
        let other = seg.construct("other", Mutex::new(HashSet::<u16>::new())).unwrap();
        let mut s = shared.lock().unwrap();
        let mut o = other.lock().unwrap();
        o.extend((0..500).step_by(3));
        let o_twin: StdSet<u16> = (0..500).step_by(3).collect();
        let mut t = StdSet::new();
        for op in &ops {
            match op {
                SetOp::Insert(x) => prop_assert_eq!(s.insert(*x), t.insert(*x)),
                SetOp::Remove(x) => prop_assert_eq!(s.remove(x), t.remove(x)),
                SetOp::Take(x) => prop_assert_eq!(s.take(x), t.take(x)),
                SetOp::Retain(d) => {
                    s.retain(|x| x % d != 0);
                    t.retain(|x| x % d != 0);
                }
                SetOp::Extend(xs) => {
                    s.extend(xs.iter().copied());
                    t.extend(xs.iter().copied());
                }
                SetOp::Clear => {
                    s.clear();
                    t.clear();
                }
            }
            prop_assert_eq!(s.len(), t.len());
            let got: StdSet<u16> = s.iter().copied().collect();
            prop_assert_eq!(&got, &t);
            let u: StdSet<u16> = s.union(&o).copied().collect();
            prop_assert_eq!(u, t.union(&o_twin).copied().collect::<StdSet<_>>());
            let i: StdSet<u16> = s.intersection(&o).copied().collect();
            prop_assert_eq!(i, t.intersection(&o_twin).copied().collect::<StdSet<_>>());
            let d: StdSet<u16> = s.difference(&o).copied().collect();
            prop_assert_eq!(d, t.difference(&o_twin).copied().collect::<StdSet<_>>());
            let x: std::vec::Vec<u16> = s.symmetric_difference(&o).copied().collect();
            prop_assert_eq!(x.len(), t.symmetric_difference(&o_twin).count());
            prop_assert_eq!(
                x.into_iter().collect::<StdSet<_>>(),
                t.symmetric_difference(&o_twin).copied().collect::<StdSet<_>>()
            );
            prop_assert_eq!(s.is_disjoint(&o), t.is_disjoint(&o_twin));
            prop_assert_eq!(s.is_subset(&o), t.is_subset(&o_twin));
            prop_assert_eq!(s.is_superset(&o), t.is_superset(&o_twin));
        }
    }
}

#[test]
fn u64_map_grows_and_shrinks_through_many_tombstones() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(8 << 20).unwrap();
    let shared = seg
        .construct("m", Mutex::new(HashMap::<u64, u64>::new()))
        .unwrap();
    let mut m = shared.lock().unwrap();
    let mut t = StdMap::new();
    let mut x = 0x1234_5678_u64;
    for round in 0..20_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = x % 3000;
        if round % 3 == 2 {
            assert_eq!(m.remove(&k), t.remove(&k));
        } else {
            assert_eq!(m.insert(k, round), t.insert(k, round));
        }
    }
    assert_eq!(m.len(), t.len());
    for (k, v) in &t {
        assert_eq!(m[k], *v);
    }
    let cap = m.capacity();
    m.retain(|k, _| k % 10 == 0);
    m.shrink_to_fit();
    assert!(m.capacity() < cap);
    assert!(m.iter().all(|(k, v)| k % 10 == 0 && t[k] == *v));
    let copy = seg.construct("copy", Mutex::new(m.clone())).unwrap();
    assert_eq!(*m, *copy.lock().unwrap());
    copy.lock().unwrap().insert(1u64, 1u64);
    assert_ne!(*m, *copy.lock().unwrap());
    m.clear();
    m.shrink_to_fit();
    assert_eq!(m.capacity(), 0);
}

#[test]
fn every_failed_insert_leaves_the_map_as_it_was() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(16 << 10).unwrap();
    let shared = seg.construct("m", Mutex::new(Map::new())).unwrap();
    let mut m = shared.lock().unwrap();
    let mut t = Twin::new();
    let (mut grow_fails, mut n) = (0, 0u32);
    // Fill: the failures are the table's growth, the key's or the value's allocation.
    while grow_fails < 3 && n < 10_000 {
        let v: std::vec::Vec<u32> = (0..n % 9).collect();
        match m.try_insert(format!("key-{n}"), v.clone()) {
            Ok(None) => {
                t.insert(format!("key-{n}"), v);
            }
            Ok(Some(_)) => unreachable!(),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::OutOfMemory);
                grow_fails += 1;
            }
        }
        same(&m, &t);
        n += 1;
    }
    assert!(grow_fails > 0 && t.len() > 10, "{} entries", t.len());
    let free = seg.free_memory().unwrap();
    // Replacing a value that does not fit; a key that does not fit; an entry that does not.
    let big = vec![7u32; 64 << 10];
    let e = m.try_insert("key-1", big.clone()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    let e = m.try_insert("x".repeat(64 << 10), vec![1]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    let e = m.try_entry("x".repeat(64 << 10)).map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    let r = m.try_entry("fresh").and_then(|e| match e {
        Entry::Vacant(v) => v.try_insert(big.clone()).map(|_| ()),
        Entry::Occupied(_) => unreachable!(),
    });
    assert_eq!(r.unwrap_err().kind(), ErrorKind::OutOfMemory);
    same(&m, &t);
    assert_eq!(seg.free_memory().unwrap(), free, "nothing leaked");
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.insert("x".repeat(64 << 10), vec![1]);
    }));
    assert!(r.is_err(), "insert panics when the segment is full");
    same(&m, &t);
}

#[test]
fn swapped_headers_keep_working() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let a = seg.construct("a", Mutex::new(Map::new())).unwrap();
    let b = seg.construct("b", Mutex::new(Map::new())).unwrap();
    let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
    for i in 0..100u32 {
        a.insert(format!("a{i}"), vec![i]);
    }
    b.insert("b", vec![7, 7]);
    std::mem::swap(&mut *a, &mut *b);
    assert_eq!(a.len(), 1);
    assert_eq!(a["b"], [7, 7]);
    assert_eq!(b.len(), 100);
    assert_eq!(b["a42"], [42]);
    b.insert("more", vec![1]);
    a.entry("b").or_default().push(8);
    assert_eq!(a["b"], [7, 7, 8]);
    for i in 100..300u32 {
        b.insert(format!("a{i}"), vec![i]); // grows the swapped table
    }
    assert!((0..300).all(|i| b[format!("a{i}").as_str()] == [i]));

    // A set inside a map inside a vector, moved around by the vector's growth.
    let v = seg
        .construct("v", Mutex::new(Vec::<HashMap<u32, HashSet<u32>>>::new()))
        .unwrap();
    let mut v = v.lock().unwrap();
    for i in 0..20u32 {
        v.push(HashMap::new());
        v[i as usize].entry(i).or_default().insert(i * 2);
    }
    assert!((0..20).all(|i| v[i as usize][&i].contains(&(i * 2))));
}

#[test]
fn detached_maps_mutate_and_drain_but_do_not_lend() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let shared = seg.construct("m", Mutex::new(Map::new())).unwrap();
    let free0 = seg.free_memory().unwrap();
    let mut taken = {
        let mut m = shared.lock().unwrap();
        m.insert("x", vec![1]);
        std::mem::take(&mut *m)
    };
    // Moved out: changes and by-value reads work, references do not.
    taken.insert("y", vec![2, 3]);
    assert!(taken.contains_key("x"));
    assert_eq!(
        taken
            .try_remove_entry("x")
            .unwrap()
            .map(|(_, v)| v.into_iter().collect::<std::vec::Vec<_>>()),
        Some(vec![1])
    );
    let r = catch_unwind(AssertUnwindSafe(|| taken.get("y").is_some()));
    assert!(r.is_err(), "a moved-out map lent a reference");
    assert_eq!(format!("{taken:?}"), r#"{"y": [2, 3]}"#);
    assert_eq!(
        taken
            .with_entries(|it| it.map(|(k, v)| k.len() + v.len()).sum::<usize>())
            .unwrap(),
        3
    );
    taken.insert("z", std::vec::Vec::<u32>::new());
    taken.retain(|k, _| k != "z");
    // Stored back, it lends again.
    *shared.lock().unwrap() = taken;
    assert_eq!(shared.lock().unwrap()["y"], [2, 3]);
    let taken = std::mem::take(&mut *shared.lock().unwrap());
    let all: std::vec::Vec<_> = taken.into_iter().collect();
    assert_eq!(all.len(), 1);
    drop(all);
    assert_eq!(seg.free_memory().unwrap(), free0, "everything was freed");
}

#[test]
fn a_map_moved_into_another_segment_is_refused() {
    let one: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let two: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let a = one.construct("m", Mutex::new(Map::new())).unwrap();
    let b = two.construct("m", Mutex::new(Map::new())).unwrap();
    a.lock().unwrap().insert("k", vec![1]);
    let moved = std::mem::take(&mut *a.lock().unwrap());
    *b.lock().unwrap() = moved;
    let mut g = b.lock().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| g.get("k").is_some()));
    assert!(r.is_err());
    let r = catch_unwind(AssertUnwindSafe(|| {
        g.insert("j", vec![2]);
    }));
    assert!(r.is_err());
    let e = g.try_insert("j", vec![2]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    // Moved back home, it works again.
    let back = std::mem::take(&mut *g);
    drop(g);
    *a.lock().unwrap() = back;
    assert_eq!(a.lock().unwrap()["k"], [1]);
}

/// Offsets of the header's fields (repr(C)): segment id, table offset+1, bucket count, length,
/// growth left.
const TABLE: usize = 8;
const BUCKETS: usize = 16;
const ITEMS: usize = 24;

#[test]
fn corrupt_tables_are_errors_not_hangs() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let shared = seg
        .construct("m", Mutex::new(HashMap::<u64, u64>::new()))
        .unwrap();
    let mut m = shared.lock().unwrap();
    m.extend((0..50u64).map(|i| (i, i)));
    let header = std::ptr::from_mut(&mut *m).cast::<u8>();
    // SAFETY: reading the header's plain integer fields.
    let (table, buckets) = unsafe {
        (
            header.add(TABLE).cast::<u64>().read() - 1,
            header.add(BUCKETS).cast::<usize>().read(),
        )
    };
    // Every control byte says "full with tag 0": probes must end, iteration is bounded.
    let s = seg.segment().unwrap();
    let groups = buckets / 8;
    let group_size = 8 + 8 * 16;
    let bytes = s.ptr::<u8>(table, (groups + 1) * group_size).unwrap();
    for g in 0..groups {
        // SAFETY: the control bytes of group `g`, inside the table.
        unsafe { bytes.add(g * group_size).write_bytes(0, 8) };
    }
    let t0 = Instant::now();
    for k in 1000..1100u64 {
        assert_eq!(m.get(&k), None);
    }
    let e = m.try_insert(5000u64, 1u64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupted);
    assert!(m.iter().count() <= 50);
    assert!(t0.elapsed() < Duration::from_secs(5));

    // A bucket count that is not a power of two, then a length beyond the capacity.
    // SAFETY: writing plain integer fields of the header (any value is a valid `usize`).
    unsafe { header.add(BUCKETS).cast::<usize>().write(buckets + 8) };
    let e = m.try_insert(1u64, 1u64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupted);
    assert!(catch_unwind(AssertUnwindSafe(|| m.get(&1).is_some())).is_err());
    // SAFETY: as above.
    unsafe {
        header.add(BUCKETS).cast::<usize>().write(buckets);
        header.add(ITEMS).cast::<usize>().write(usize::MAX);
    }
    let e = m.try_insert(1u64, 1u64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupted);
    // A table offset outside the segment.
    // SAFETY: as above.
    unsafe {
        header.add(ITEMS).cast::<usize>().write(50);
        header.add(TABLE).cast::<u64>().write(1 << 40);
    }
    let e = m.try_insert(1u64, 1u64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupted);
    // Dropping a corrupt map leaks instead of crashing.
    drop(std::mem::take(&mut *m));
}

#[test]
fn std_maps_and_sets_convert_into_the_segment() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let outer = seg
        .construct(
            "outer",
            Mutex::new(HashMap::<u32, HashMap<String, HashSet<u32>>>::new()),
        )
        .unwrap();
    let mut outer = outer.lock().unwrap();
    let inner: StdMap<&str, StdSet<u32>> = [("a", StdSet::from([1, 2])), ("b", StdSet::new())]
        .into_iter()
        .collect();
    outer.insert(1, inner);
    assert_eq!(outer[&1].len(), 2);
    assert!(outer[&1]["a"].contains(&2));
    assert!(outer[&1]["b"].is_empty());
    let dbg = format!("{:?}", *outer);
    assert!(dbg.contains("\"a\""), "{dbg}");
}

// ----- across processes ------------------------------------------------------------------

const ENTRIES: u32 = 100_000;
const ROUNDS: u32 = 2000;

fn expected_value(i: u32) -> std::vec::Vec<u32> {
    (0..i % 7)
        .map(|j| i.wrapping_mul(31).wrapping_add(j))
        .collect()
}

/// Both processes' concurrent phase: appends to its own key, bumps the shared counter, adds
/// new keys and removes its share of the original ones, each step under the lock.
fn mutate(m: &Mutex<HashMap<String, Vec<u32>>>, me: &str, parity: u32) {
    for i in 0..ROUNDS {
        let mut g = m.lock().unwrap();
        g.entry(me).or_default().push(i);
        g.get_mut("counter").unwrap()[0] += 1;
        g.insert(format!("{me}-{i}"), vec![i; 3]);
        let victim = 4 * i + parity;
        assert!(g.remove(format!("key{victim}").as_str()).is_some());
        if parity == 1 && i == ROUNDS / 2 {
            // The child rehashes the whole table (at its own mapping address) midway.
            let more = g.capacity() - g.len() + 1;
            let before = g.capacity();
            g.reserve(more);
            assert!(g.capacity() > before);
        }
    }
}

#[test]
fn two_processes_share_a_100000_entry_map() {
    let t0 = Instant::now();
    let name = unique_name("coll_hash");
    let mut cleanup = Cleanup::new();
    cleanup.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 64 << 20).unwrap();
    let gate = seg.construct("gate", AtomicU32::new(0)).unwrap();
    let shared = seg
        .construct("map", Mutex::new(HashMap::<String, Vec<u32>>::new()))
        .unwrap();
    {
        let mut m = shared.lock().unwrap();
        for i in 0..ENTRIES {
            m.insert(format!("key{i}"), expected_value(i));
        }
        m.insert("counter", vec![0]);
        assert_eq!(m.len(), ENTRIES as usize + 1);
    }
    let built = t0.elapsed();
    let here = std::ptr::from_ref(shared).addr();
    let child = child("reader_and_mutator")
        .args([name.clone(), here.to_string()])
        .timeout(Duration::from_secs(120))
        .spawn();
    assert!(wait_until(Duration::from_secs(60), || gate
        .load(Ordering::Acquire)
        == 1));
    gate.store(2, Ordering::Release);
    mutate(shared, "parent", 0);
    let out = child.wait();
    out.assert_success();
    assert_eq!(out.value("read"), "ok");
    assert_ne!(
        out.value("address"),
        here.to_string(),
        "mapped at the same address"
    );

    // The final state, exactly.
    let m = shared.lock().unwrap();
    assert_eq!(m["counter"], [2 * ROUNDS]);
    let rounds: std::vec::Vec<u32> = (0..ROUNDS).collect();
    assert_eq!(m["parent"], rounds.as_slice());
    assert_eq!(m["child"], rounds.as_slice());
    for i in 0..ROUNDS {
        assert_eq!(m[format!("parent-{i}").as_str()], [i; 3]);
        assert_eq!(m[format!("child-{i}").as_str()], [i; 3]);
    }
    let mut originals = 0;
    for i in 0..ENTRIES {
        let removed = i < 4 * ROUNDS && i % 4 < 2;
        match m.get(format!("key{i}").as_str()) {
            Some(v) => {
                assert!(!removed, "key{i} should be gone");
                assert_eq!(v.as_slice(), expected_value(i).as_slice());
                originals += 1;
            }
            None => assert!(removed, "key{i} is missing"),
        }
    }
    assert_eq!(
        m.len(),
        originals + 3 + 2 * ROUNDS as usize,
        "no other entries"
    );
    eprintln!(
        "built in {built:?}, whole test {:?} (child read in {})",
        t0.elapsed(),
        out.value("read_ms")
    );
}

fn reader_and_mutator(args: &[std::string::String]) {
    // Take address space first, so the segment lands elsewhere than in the parent.
    let pad = std::vec::Vec::<u8>::with_capacity(256 << 20);
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    let gate = seg.find::<AtomicU32>("gate").unwrap().unwrap();
    let shared = seg
        .find::<Mutex<HashMap<String, Vec<u32>>>>("map")
        .unwrap()
        .unwrap();
    report("address", std::ptr::from_ref(shared).addr());
    let t0 = Instant::now();
    {
        let m = shared.lock().unwrap();
        assert_eq!(m.len(), ENTRIES as usize + 1);
        for i in 0..ENTRIES {
            let v = m.get(format!("key{i}").as_str()).expect("every key");
            assert_eq!(v.as_slice(), expected_value(i).as_slice());
        }
        let mut seen = 0;
        for (k, v) in m.iter() {
            if k != "counter" {
                let i: u32 = k.as_str()[3..].parse().unwrap();
                assert_eq!(v.as_slice(), expected_value(i).as_slice());
            }
            seen += 1;
        }
        assert_eq!(seen, ENTRIES + 1);
    }
    report("read_ms", t0.elapsed().as_millis());
    report("read", "ok");
    gate.store(1, Ordering::Release);
    while gate.load(Ordering::Acquire) != 2 {
        std::thread::yield_now();
    }
    mutate(shared, "child", 1);
    drop(pad);
}
