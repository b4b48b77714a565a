//! `collections::Vec` and `collections::String`: random operation sequences against `std`'s
//! twins (roomy and nearly full segments), nesting, moved-out values, moves between segments,
//! read-only segments, corrupt headers, and sharing across real processes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::collection::vec;
use proptest::prelude::*;
use shmkit::collections::{AsSegment, String as ShmString, Vec as ShmVec};
use shmkit::sync::Mutex;
use shmkit::{ErrorKind, ManagedHeapMemory, ManagedSharedMemory, MappedRegion, SharedMemory};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name};

child_roles!(strings_reader, corrupt_header_user);

// ----- random operations against std::vec::Vec ------------------------------------------------

/// How many `try_` operations failed with `OutOfMemory` (the nearly-full runs must see some).
static OOMS: AtomicUsize = AtomicUsize::new(0);

fn oom(e: &shmkit::Error) {
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    OOMS.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug, Clone)]
enum Op {
    Push(bool, u32),
    Pop(bool),
    Insert(bool, usize, u32),
    Remove(bool, usize),
    SwapRemove(bool, usize),
    Truncate(bool, usize),
    Clear(bool),
    Retain(bool, u32),
    Drain(bool, usize, usize),
    Extend(bool, std::vec::Vec<u32>),
    Reserve(bool, usize),
    ShrinkToFit(bool),
    Sort(bool),
    Swap,
}

fn op(max_extend: usize, max_reserve: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), any::<u32>()).prop_map(|(w, x)| Op::Push(w, x)),
        1 => any::<bool>().prop_map(Op::Pop),
        1 => (any::<bool>(), any::<usize>(), any::<u32>()).prop_map(|(w, i, x)| Op::Insert(w, i, x)),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(w, i)| Op::Remove(w, i)),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(w, i)| Op::SwapRemove(w, i)),
        1 => (any::<bool>(), 0..64usize).prop_map(|(w, n)| Op::Truncate(w, n)),
        1 => any::<bool>().prop_map(Op::Clear),
        1 => (any::<bool>(), 2..5u32).prop_map(|(w, m)| Op::Retain(w, m)),
        1 => (any::<bool>(), any::<usize>(), any::<usize>()).prop_map(|(w, a, b)| Op::Drain(w, a, b)),
        2 => (any::<bool>(), vec(any::<u32>(), 0..max_extend)).prop_map(|(w, v)| Op::Extend(w, v)),
        1 => (any::<bool>(), 0..max_reserve).prop_map(|(w, n)| Op::Reserve(w, n)),
        1 => any::<bool>().prop_map(Op::ShrinkToFit),
        1 => any::<bool>().prop_map(Op::Sort),
        1 => Just(Op::Swap),
    ]
}

/// Applies `op` to the pair in the segment and to the twins; with `try_only`, the allocating
/// operations use the `try_` methods and a failure must leave the vector equal to its twin.
fn apply(
    pair: &mut [ShmVec<u32>; 2],
    twins: &mut [std::vec::Vec<u32>; 2],
    op: &Op,
    try_only: bool,
) {
    let w = |b: bool| usize::from(b);
    match *op {
        Op::Push(b, x) => {
            if try_only {
                match pair[w(b)].try_push(x) {
                    Ok(()) => twins[w(b)].push(x),
                    Err(e) => oom(&e),
                }
            } else {
                pair[w(b)].push(x);
                twins[w(b)].push(x);
            }
        }
        Op::Pop(b) => assert_eq!(pair[w(b)].pop(), twins[w(b)].pop()),
        Op::Insert(b, i, x) => {
            let i = i % (twins[w(b)].len() + 1);
            if try_only && let Err(e) = pair[w(b)].try_reserve(1) {
                return oom(&e);
            }
            pair[w(b)].insert(i, x);
            twins[w(b)].insert(i, x);
        }
        Op::Remove(b, i) if !twins[w(b)].is_empty() => {
            let i = i % twins[w(b)].len();
            assert_eq!(pair[w(b)].remove(i), twins[w(b)].remove(i));
        }
        Op::SwapRemove(b, i) if !twins[w(b)].is_empty() => {
            let i = i % twins[w(b)].len();
            assert_eq!(pair[w(b)].swap_remove(i), twins[w(b)].swap_remove(i));
        }
        Op::Remove(..) | Op::SwapRemove(..) => {}
        Op::Truncate(b, n) => {
            pair[w(b)].truncate(n);
            twins[w(b)].truncate(n);
        }
        Op::Clear(b) => {
            pair[w(b)].clear();
            twins[w(b)].clear();
        }
        Op::Retain(b, m) => {
            pair[w(b)].retain(|x| x % m != 0);
            twins[w(b)].retain(|x| x % m != 0);
        }
        Op::Drain(b, x, y) => {
            let len = twins[w(b)].len();
            let (mut s, mut e) = (x % (len + 1), y % (len + 1));
            if s > e {
                std::mem::swap(&mut s, &mut e);
            }
            let got: std::vec::Vec<u32> = pair[w(b)].drain(s..e).collect();
            let want: std::vec::Vec<u32> = twins[w(b)].drain(s..e).collect();
            assert_eq!(got, want);
        }
        Op::Extend(b, ref items) => {
            if try_only {
                let before = pair[w(b)].capacity();
                match pair[w(b)].try_extend_from_slice(items) {
                    Ok(()) => twins[w(b)].extend_from_slice(items),
                    Err(e) => {
                        oom(&e);
                        assert_eq!(pair[w(b)].capacity(), before);
                    }
                }
            } else if items.len() % 2 == 0 {
                pair[w(b)].extend_from_slice(items);
                twins[w(b)].extend_from_slice(items);
            } else {
                pair[w(b)].extend(items.iter().copied());
                twins[w(b)].extend(items.iter().copied());
            }
        }
        Op::Reserve(b, n) => {
            let before = pair[w(b)].capacity();
            match pair[w(b)].try_reserve(n) {
                Ok(()) => assert!(pair[w(b)].capacity() >= pair[w(b)].len() + n),
                Err(e) => {
                    assert!(try_only, "reserve failed in a roomy segment: {e}");
                    oom(&e);
                    assert_eq!(pair[w(b)].capacity(), before);
                }
            }
        }
        Op::ShrinkToFit(b) => {
            pair[w(b)].shrink_to_fit();
            twins[w(b)].shrink_to_fit();
            assert!(pair[w(b)].capacity() >= pair[w(b)].len());
        }
        Op::Sort(b) => {
            pair[w(b)].sort_unstable();
            twins[w(b)].sort_unstable();
        }
        Op::Swap => {
            let [a, b] = pair;
            std::mem::swap(a, b);
            twins.swap(0, 1);
        }
    }
}

fn run_ops(segment_size: usize, ops: &[Op], try_only: bool) {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(segment_size).unwrap();
    let m = seg
        .construct("pair", Mutex::new([ShmVec::<u32>::new(), ShmVec::new()]))
        .unwrap();
    let start = seg.free_memory().unwrap();
    let mut twins = [std::vec::Vec::new(), std::vec::Vec::new()];
    {
        let mut pair = m.lock().unwrap();
        for (step, op) in ops.iter().enumerate() {
            apply(&mut pair, &mut twins, op, try_only);
            for k in 0..2 {
                assert_eq!(pair[k], twins[k], "vector {k} after step {step}: {op:?}");
                assert_eq!(pair[k].len(), twins[k].len());
                assert!(pair[k].capacity() >= pair[k].len());
            }
        }
        for v in pair.iter_mut() {
            *v = ShmVec::new();
        }
    }
    assert_eq!(seg.free_memory().unwrap(), start, "everything freed");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_std_vec(ops in vec(op(40, 300), 1..120)) {
        run_ops(1 << 20, &ops, false);
    }

    #[test]
    fn random_operations_in_a_nearly_full_segment_fail_cleanly(ops in vec(op(400, 3000), 1..120)) {
        run_ops(32 << 10, &ops, true);
    }
}

#[derive(Debug, Clone)]
enum StrOp {
    PushStr(std::string::String),
    Push(char),
    Pop,
    Truncate(usize),
    Clear,
    Reserve(usize),
    ShrinkToFit,
}

fn str_op() -> impl Strategy<Value = StrOp> {
    prop_oneof![
        4 => "[a-zé€😀 ]{0,40}".prop_map(StrOp::PushStr),
        2 => any::<char>().prop_map(StrOp::Push),
        1 => Just(StrOp::Pop),
        1 => any::<usize>().prop_map(StrOp::Truncate),
        1 => Just(StrOp::Clear),
        1 => (0..2000usize).prop_map(StrOp::Reserve),
        1 => Just(StrOp::ShrinkToFit),
    ]
}

/// Applies `op` to `s` and its twin (`try_` methods: a failure leaves `s` as it was).
fn apply_str(s: &mut ShmString, twin: &mut std::string::String, op: &StrOp) {
    match op {
        StrOp::PushStr(x) => match s.try_push_str(x) {
            Ok(()) => twin.push_str(x),
            Err(e) => oom(&e),
        },
        StrOp::Push(c) => match s.try_push_str(c.encode_utf8(&mut [0; 4])) {
            Ok(()) => twin.push(*c),
            Err(e) => oom(&e),
        },
        StrOp::Pop => assert_eq!(s.pop(), twin.pop()),
        StrOp::Truncate(n) => {
            let bounds: std::vec::Vec<usize> = twin.char_indices().map(|(i, _)| i).collect();
            if !bounds.is_empty() {
                let at = bounds[n % bounds.len()];
                s.truncate(at);
                twin.truncate(at);
            }
        }
        StrOp::Clear => {
            s.clear();
            twin.clear();
        }
        StrOp::Reserve(n) => {
            if let Err(e) = s.try_reserve(*n) {
                oom(&e);
            }
        }
        StrOp::ShrinkToFit => s.shrink_to_fit(),
    }
}

fn run_str_ops(segment_size: usize, ops: &[StrOp]) {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(segment_size).unwrap();
    let m = seg.construct("s", Mutex::new(ShmString::new())).unwrap();
    let start = seg.free_memory().unwrap();
    let mut twin = std::string::String::new();
    {
        let mut s = m.lock().unwrap();
        for (step, op) in ops.iter().enumerate() {
            apply_str(&mut s, &mut twin, op);
            assert_eq!(*s, twin, "after step {step}: {op:?}");
            assert_eq!(s.as_str(), twin.as_str());
        }
        // The same operations on the string moved out of the segment.
        let mut taken = std::mem::take(&mut *s);
        for op in ops.iter().take(20) {
            apply_str(&mut taken, &mut twin, op);
            assert_eq!(taken, twin, "moved out: {op:?}");
        }
        assert_eq!(taken.to_std().unwrap(), twin);
    }
    assert_eq!(seg.free_memory().unwrap(), start, "everything freed");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_string_operations_match_std_string(ops in vec(str_op(), 1..80)) {
        run_str_ops(1 << 20, &ops);
    }

    #[test]
    fn random_string_operations_in_a_nearly_full_segment(ops in vec(str_op(), 1..80)) {
        run_str_ops(16 << 10, &ops);
    }
}

#[test]
fn nearly_full_sequences_do_hit_out_of_memory() {
    let before = OOMS.load(Ordering::Relaxed);
    let ops: std::vec::Vec<Op> = (0..60u32)
        .map(|i| match i % 4 {
            0 => Op::Extend(i % 3 == 0, (0..300).collect()),
            1 => Op::Push(i % 5 == 0, i),
            2 => Op::Reserve(i % 7 == 0, 2000),
            _ => Op::Insert(true, i as usize, i),
        })
        .collect();
    run_ops(32 << 10, &ops, true);
    assert!(
        OOMS.load(Ordering::Relaxed) > before,
        "the segment never filled"
    );
}

#[test]
fn a_full_segment_fails_pushes_and_leaves_the_vector_as_it_was() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(32 << 10).unwrap();
    let m = seg
        .construct("v", Mutex::new(ShmVec::<u64>::new()))
        .unwrap();
    let mut v = m.lock().unwrap();
    let mut n = 0u64;
    let e = loop {
        match v.try_push(n) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    assert!(n > 100);
    assert_eq!(v.len() as u64, n);
    assert!(v.iter().copied().eq(0..n));
    // The plain methods panic with the error's message.
    let p = catch_unwind(AssertUnwindSafe(|| v.extend_from_slice(&[7; 10_000]))).unwrap_err();
    let msg = panic_message(&p);
    assert!(msg.contains("out of memory"), "{msg}");
    assert!(v.iter().copied().eq(0..n));
}

// ----- nesting -------------------------------------------------------------------------------

#[test]
fn nested_vectors_and_strings_survive_growth() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(8 << 20).unwrap();
    let strings = seg
        .construct("strings", Mutex::new(ShmVec::<ShmString>::new()))
        .unwrap();
    let bytes = seg
        .construct("bytes", Mutex::new(ShmVec::<ShmVec<u8>>::new()))
        .unwrap();
    let start = seg.free_memory().unwrap();
    {
        let (mut s, mut b) = (strings.lock().unwrap(), bytes.lock().unwrap());
        for i in 0..3000usize {
            // Each push may reallocate the outer buffer, moving every header.
            s.push(format!("string number {i}").as_str());
            b.push(vec![(i % 251) as u8; i % 40]);
            if i % 7 == 0 {
                let k = i / 2;
                s[k].push_str("+");
                b[k].push(0xFF);
            }
        }
        for i in 0..3000usize {
            let plus = (2 * i) % 7 == 0 && 2 * i < 3000 || (2 * i + 1) % 7 == 0 && 2 * i + 1 < 3000;
            let want = format!("string number {i}{}", if plus { "+" } else { "" });
            assert_eq!(s[i], want.as_str(), "string {i}");
            let mut wb = vec![(i % 251) as u8; i % 40];
            if plus {
                wb.push(0xFF);
            }
            assert_eq!(b[i], wb, "bytes {i}");
        }
        // Moving an element out and back keeps its contents.
        let taken = std::mem::take(&mut s[10]);
        assert_eq!(taken.to_std().unwrap(), "string number 10+");
        s[10] = taken;
        s.swap(0, 2999);
        assert_eq!(s[0], "string number 2999");
        s.sort();
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
        s.clear();
        b.truncate(0);
        s.shrink_to_fit();
        b.shrink_to_fit();
    }
    assert_eq!(seg.free_memory().unwrap(), start, "nested buffers freed");
}

// ----- moved-out values ----------------------------------------------------------------------

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> std::string::String {
    p.downcast_ref::<std::string::String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn moved_out_vectors_mutate_and_drop_but_lend_no_references() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let m = seg
        .construct("outer", Mutex::new(ShmVec::<ShmVec<u32>>::new()))
        .unwrap();
    let start = seg.free_memory().unwrap();
    {
        let mut outer = m.lock().unwrap();
        for i in 0..10u32 {
            outer.push(vec![i; 5]);
        }
        let mut popped = outer.pop().unwrap();
        let mut taken = std::mem::take(&mut outer[0]);
        assert!(outer[0].is_empty());

        // Mutation works on the moved-out values.
        popped.push(100);
        popped.extend_from_slice(&[1, 2, 3]);
        popped.reserve(1000);
        assert!(popped.capacity() >= 1009);
        popped.truncate(6);
        assert_eq!(popped.pop(), Some(100));
        taken.extend([7, 8]);
        // Every mutation, including the ones that move elements around.
        popped.insert(0, 1);
        popped.insert(6, 2);
        assert_eq!(popped.remove(0), 1);
        assert_eq!(popped.swap_remove(0), 9);
        assert_eq!(popped.drain(1..3).collect::<std::vec::Vec<_>>(), [9, 9]);
        popped.retain_mut(|x| {
            *x += 1;
            true
        });
        popped.retain(|x| *x != 3);
        assert_eq!(popped.with_slice(<[u32]>::to_vec).unwrap(), [10, 10]);
        popped.extend([9; 3]);
        popped.truncate(0);
        popped.extend_from_slice(&[9; 5]);
        assert_eq!(popped.len(), 5);
        assert_eq!(popped.with_slice(<[u32]>::to_vec).unwrap(), [9; 5]);
        assert_eq!(format!("{taken:?}"), "[0, 0, 0, 0, 0, 7, 8]");
        assert_eq!(taken.clone().into_iter().sum::<u32>(), 15);

        // References are refused: try_as_slice errs, Deref panics with the documented message.
        let e = taken.try_as_slice().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("not inside its segment"), "{e}");
        let p = catch_unwind(AssertUnwindSafe(|| taken[0])).unwrap_err();
        let msg = panic_message(&p);
        assert!(msg.starts_with("shmkit collection: "), "{msg}");
        assert!(msg.contains("cannot lend references"), "{msg}");
        assert!(taken.try_as_mut_slice().is_err());
        let p = catch_unwind(AssertUnwindSafe(|| popped.iter().count())).unwrap_err();
        assert!(panic_message(&p).contains("moved out"));

        // Strings too.
        let mut s = ShmString::from_str_in("moved", &*seg);
        s.push_str(" string");
        assert!(s.try_as_str().is_err());
        assert_eq!(s.with_str(str::len).unwrap(), 12);
        drop(s);

        // Stored back, they are whole again.
        outer.push(popped);
        outer[0] = taken;
        assert_eq!(outer[0], [0, 0, 0, 0, 0, 7, 8]);
        assert_eq!(outer.last().unwrap().len(), 5);
        drop(outer.pop());
        drop(std::mem::take(&mut outer[0]));
        outer.clear();
        outer.shrink_to_fit();
    }
    assert_eq!(
        seg.free_memory().unwrap(),
        start,
        "moved-out values freed their memory"
    );
}

#[test]
fn a_vector_moved_into_another_segment_is_an_error() {
    let a: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let b: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let m = a
        .construct("outer", Mutex::new(ShmVec::<ShmVec<u32>>::new()))
        .unwrap();
    m.lock().unwrap().push(vec![1, 2, 3]);
    let moved = m.lock().unwrap().pop().unwrap();
    let mb = b
        .construct("stolen", Mutex::new(ShmVec::<u32>::new()))
        .unwrap();
    let mut v = mb.lock().unwrap();
    *v = moved; // the old (empty, unbound) header is dropped; the header now lies in `b`
    let e = v.try_as_slice().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string().contains("cannot move between segments"),
        "{e}"
    );
    assert_eq!(
        v.try_push(4).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(v.with_slice(|s| s.len()).is_err());
    let p = catch_unwind(AssertUnwindSafe(|| v.push(5))).unwrap_err();
    assert!(panic_message(&p).contains("cannot move between segments"));
    let p = catch_unwind(AssertUnwindSafe(|| v.len() + v[0] as usize)).unwrap_err();
    assert!(panic_message(&p).contains("cannot move between segments"));
    // Taking it out again makes it a moved-out value of `a`: usable, and droppable.
    let back = std::mem::take(&mut *v);
    assert_eq!(back.with_slice(<[u32]>::to_vec).unwrap(), [1, 2, 3]);
    m.lock().unwrap().push(back);
    assert_eq!(m.lock().unwrap()[0], [1, 2, 3]);
}

// ----- read-only segments ----------------------------------------------------------------------

#[test]
fn a_read_only_segment_reads_vectors_but_does_not_change_them() {
    let name = unique_name("vec-ro");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20).unwrap();
    let m = seg
        .construct("v", Mutex::new(ShmVec::<ShmString>::new()))
        .unwrap();
    {
        let mut v = m.lock().unwrap();
        v.reserve(10);
        v.push("one");
        v.push("two");
    }
    let nums = seg
        .construct("nums", Mutex::new(ShmVec::<u32>::new()))
        .unwrap();
    nums.lock().unwrap().reserve(10);
    nums.lock().unwrap().push(1);
    let ro: ManagedSharedMemory = ManagedSharedMemory::open_read_only(&name).unwrap();
    {
        // A plain value and room left: the push fast path must refuse too.
        let rn = ro.find::<Mutex<ShmVec<u32>>>("nums").unwrap().unwrap();
        let mut n = rn.lock().unwrap();
        assert!(n.capacity() > n.len());
        let e = n.try_push(2).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert_eq!(n.as_slice(), [1]);
        let e = n.try_extend_from_slice(&[3, 4]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert_eq!(n.len(), 1);
    }
    let rm = ro.find::<Mutex<ShmVec<ShmString>>>("v").unwrap().unwrap();
    let mut v = rm.lock().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1], "two");
    assert!(
        v.capacity() > v.len(),
        "room left: the push fast path applies"
    );
    for e in [
        v.try_push("three").unwrap_err(),
        v.try_reserve(100).unwrap_err(),
        v.try_as_mut_slice().map(|_| ()).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    }
    let p = catch_unwind(AssertUnwindSafe(|| v.push("four"))).unwrap_err();
    assert!(panic_message(&p).contains("read-only"));
    assert_eq!(v.len(), 2);
    drop(v);
    assert_eq!(m.lock().unwrap().len(), 2);
    // The writable handle still works while the segment is mapped twice in this process,
    // including conversions that build a value before storing it (`&str` into a `String`).
    let mut v = m.lock().unwrap();
    v.push("three");
    v.push(std::string::String::from("four"));
    v[0].push_str("!");
    assert_eq!(
        v.iter().map(|s| s.as_str()).collect::<std::vec::Vec<_>>(),
        ["one!", "two", "three", "four"]
    );
}

// ----- corrupt headers (in a child, so a crash would show) -------------------------------------

const CORRUPTIONS: &[&str] = &[
    "len_over_cap",
    "outside",
    "misaligned",
    "huge",
    "null_with_len",
    "bad_id",
    "cap_past_end",
];

fn corrupt_header_user(args: &[String]) {
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    let m = seg.find::<Mutex<ShmVec<u32>>>("v").unwrap().unwrap();
    let mut v = m.lock().unwrap();
    let outcome = |name: &str, f: &mut dyn FnMut() -> Result<(), shmkit::Error>| {
        let r = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty());
                format!("err:{:?}", e.kind())
            }
            Err(p) => {
                let msg = panic_message(&p);
                assert!(msg.starts_with("shmkit collection: "), "{name}: {msg}");
                "panic".to_owned()
            }
        };
        report(name, r);
    };
    outcome("try_as_slice", &mut || v.try_as_slice().map(|_| ()));
    outcome("with_slice", &mut || v.with_slice(|s| s.len()).map(|_| ()));
    outcome("as_slice", &mut || {
        let _ = v.as_slice().iter().fold(0u32, |a, b| a.wrapping_add(*b));
        Ok(())
    });
    outcome("debug", &mut || {
        let _ = format!("{:?}", &*v);
        Ok(())
    });
    outcome("try_push", &mut || v.try_push(1));
    outcome("try_reserve", &mut || v.try_reserve(64));
    outcome("clone", &mut || {
        drop(v.clone());
        Ok(())
    });
    outcome("pop", &mut || {
        let _ = v.pop();
        Ok(())
    });
    outcome("shrink", &mut || {
        v.shrink_to_fit();
        Ok(())
    });
    outcome("take_and_drop", &mut || {
        drop(std::mem::take(&mut *v));
        Ok(())
    });
    report("done", true);
}

#[test]
fn corrupt_headers_are_errors_or_panics_never_crashes() {
    let name = unique_name("vec-corrupt");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20).unwrap();
    let m = seg
        .construct("v", Mutex::new(ShmVec::<u32>::new()))
        .unwrap();
    let header = {
        let mut v = m.lock().unwrap();
        v.extend(0..16);
        seg.segment().unwrap().offset_of(&raw const *v).unwrap() as usize
    };
    let raw = MappedRegion::map(&SharedMemory::open(&name).unwrap()).unwrap();
    let seg_len = raw.len() as u64;
    let id = raw.read::<u64>(header).unwrap();
    assert_eq!(
        id,
        seg.segment_id(),
        "the header starts with the segment id"
    );
    let good: [u64; 4] = [
        id,
        raw.read::<u64>(header + 8).unwrap(),
        raw.read::<u64>(header + 16).unwrap(),
        raw.read::<u64>(header + 24).unwrap(),
    ];
    assert_eq!(good[2], 16);
    let buf = good[1];
    for &case in CORRUPTIONS {
        // [id, buf (offset + 1, 0 = null), len, cap]
        let bad: [u64; 4] = match case {
            "len_over_cap" => [id, buf, 1000, 16],
            "outside" => [id, seg_len + 4097, 4, 4],
            "misaligned" => [id, buf + 1, 16, 16],
            "huge" => [id, buf, u64::MAX / 2, u64::MAX / 2],
            "null_with_len" => [id, 0, 5, 5],
            "bad_id" => [0x1234_5678_9abc_def0, buf, 16, 16],
            "cap_past_end" => [id, buf, 4, seg_len / 4],
            _ => unreachable!(),
        };
        for (i, w) in bad.iter().enumerate() {
            raw.write(header + 8 * i, w).unwrap();
        }
        let out = child("corrupt_header_user").arg(&name).run();
        assert_eq!(
            out.signal(),
            None,
            "{case}: the child crashed: {}",
            out.stderr
        );
        out.assert_success();
        assert_eq!(out.value("done"), "true", "{case}");
        for op in ["try_as_slice", "with_slice", "try_push", "try_reserve"] {
            let r = out.value(op);
            if case != "cap_past_end" {
                assert!(r.starts_with("err:"), "{case}: {op} gave {r}");
            }
        }
        for op in [
            "as_slice",
            "debug",
            "clone",
            "pop",
            "shrink",
            "take_and_drop",
        ] {
            let r = out.value(op);
            assert!(
                r == "ok" || r == "panic" || r.starts_with("err:"),
                "{case}: {op} gave {r}"
            );
        }
        if case != "cap_past_end" {
            assert_eq!(out.value("as_slice"), "panic", "{case}");
        }
        // Restore a good header for the next case (whatever the child changed).
        for (i, w) in good.iter().enumerate() {
            raw.write(header + 8 * i, w).unwrap();
        }
    }
    seg.check_sanity().unwrap();
}

// ----- across processes ------------------------------------------------------------------------

const STRINGS: usize = 10_000;

fn entry(i: usize) -> std::string::String {
    format!("entry {i}: {}", "x".repeat(i % 37))
}

fn strings_reader(args: &[String]) {
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    let m = seg
        .find::<Mutex<ShmVec<ShmString>>>("strings")
        .unwrap()
        .unwrap();
    let mut v = m.lock().unwrap();
    assert_eq!(v.len(), STRINGS);
    let mut bytes = 0;
    for (i, s) in v.iter().enumerate() {
        assert_eq!(*s, entry(i).as_str(), "entry {i}");
        bytes += s.len();
    }
    for i in 0..1000 {
        v.push(format!("child {i}"));
    }
    v[0].push_str(" (seen)");
    report("bytes", bytes);
}

#[test]
fn ten_thousand_strings_shared_with_a_child_process() {
    let name = unique_name("vec-xproc");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 8 << 20).unwrap();
    let m = seg
        .construct("strings", Mutex::new(ShmVec::<ShmString>::new()))
        .unwrap();
    let mut want_bytes = 0;
    {
        let mut v = m.lock().unwrap();
        for i in 0..STRINGS {
            let s = entry(i);
            want_bytes += s.len();
            v.push(s);
        }
    }
    let out = child("strings_reader").arg(&name).run();
    out.assert_success();
    assert_eq!(out.value("bytes"), want_bytes.to_string());
    let v = m.lock().unwrap();
    assert_eq!(v.len(), STRINGS + 1000);
    assert_eq!(v[0], format!("{} (seen)", entry(0)).as_str());
    for i in 1..STRINGS {
        assert_eq!(v[i], entry(i).as_str());
    }
    for i in 0..1000 {
        assert_eq!(v[STRINGS + i], format!("child {i}").as_str());
    }
}

#[test]
fn growth_that_falls_back_to_the_minimum_gets_only_that_capacity() {
    // Layout: A's buffer | B's (so A cannot grow in place) | a 12 KB hole | D's buffer up to
    // the end. A asks for 1,100 u64 and prefers 2,000: only the minimum (8.8 KB) fits, in the
    // hole, and its capacity must be that minimum, or pushes would write into D.
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(64 << 10).unwrap();
    let m = seg
        .construct("abhd", Mutex::new([const { ShmVec::<u64>::new() }; 4]))
        .unwrap();
    let mut v = m.lock().unwrap();
    v[0].reserve(1000);
    v[1].extend([0xB0B0_B0B0, 0xB1B1_B1B1]);
    v[2].reserve(12_000 / 8);
    let free = seg.free_memory().unwrap();
    v[3].reserve((free - 512) / 8);
    let cap_d = v[3].capacity() as u64;
    v[3].extend((0..cap_d).map(|i| i ^ 0xD));
    v[2] = ShmVec::new(); // frees the hole
    v[0].try_reserve(1100).unwrap();
    assert!(v[0].capacity() >= 1100);
    assert!(
        v[0].capacity() < 2000,
        "capacity {} was never allocated",
        v[0].capacity()
    );
    let cap_a = v[0].capacity() as u64;
    v[0].extend((0..cap_a).map(|i| i ^ 0xA));
    assert_eq!(v[1], [0xB0B0_B0B0, 0xB1B1_B1B1]);
    assert!(
        v[3].iter().copied().eq((0..cap_d).map(|i| i ^ 0xD)),
        "D was overwritten"
    );
    assert!(v[0].iter().copied().eq((0..cap_a).map(|i| i ^ 0xA)));
    seg.check_sanity().unwrap();
}

#[test]
fn a_vector_moved_out_of_a_heap_segment_frees_into_it_after_the_segment_grows() {
    let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let taken = {
        let m = seg
            .construct("v", Mutex::new(ShmVec::<u64>::new()))
            .unwrap();
        let mut v = m.lock().unwrap();
        v.extend(0..1000);
        std::mem::take(&mut *v)
    };
    seg.grow(1 << 16).unwrap();
    // The segment moved to a new buffer; the moved-out vector finds it by id.
    assert_eq!(
        taken.with_slice(|s| s.iter().sum::<u64>()).unwrap(),
        499_500
    );
    let before = seg.free_memory().unwrap();
    drop(taken);
    assert!(
        seg.free_memory().unwrap() >= before + 8000,
        "the vector's buffer was not freed into the grown segment"
    );
    seg.check_sanity().unwrap();
}
