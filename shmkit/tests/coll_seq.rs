//! `VecDeque` and `LinkedList` in managed segments: random operations against std's twins
//! (also in a nearly full segment), corrupt headers and chains, headers moved inside and out of
//! their segment, and a child process reading and changing what the parent built.

use std::collections::LinkedList as StdList;
use std::collections::VecDeque as StdDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};

use proptest::prelude::*;
use shmkit::collections::{AsSegment, LinkedList, String, Vec, VecDeque};
use shmkit::sync::Mutex;
use shmkit::{ErrorKind, ManagedHeapMemory, ManagedSharedMemory};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name};

child_roles!(seq_child);

#[derive(Debug, Clone)]
enum DqOp {
    PushBack(u32),
    PushFront(u32),
    PopBack,
    PopFront,
    Insert(usize, u32),
    Remove(usize),
    Swap(usize, usize),
    Set(usize, u32),
    Retain(u32),
    Drain(usize, usize),
    Truncate(usize),
    Clear,
    RotateLeft(usize),
    RotateRight(usize),
    MakeContiguous,
    ShrinkToFit,
    Reserve(usize),
    Extend(std::vec::Vec<u32>),
}

fn dq_op() -> impl Strategy<Value = DqOp> {
    prop_oneof![
        4 => any::<u32>().prop_map(DqOp::PushBack),
        4 => any::<u32>().prop_map(DqOp::PushFront),
        2 => Just(DqOp::PopBack),
        2 => Just(DqOp::PopFront),
        1 => (0..40usize, any::<u32>()).prop_map(|(i, v)| DqOp::Insert(i, v)),
        1 => (0..40usize).prop_map(DqOp::Remove),
        1 => (0..40usize, 0..40usize).prop_map(|(i, j)| DqOp::Swap(i, j)),
        1 => (0..40usize, any::<u32>()).prop_map(|(i, v)| DqOp::Set(i, v)),
        1 => (2..5u32).prop_map(DqOp::Retain),
        1 => (0..40usize, 0..40usize).prop_map(|(a, b)| DqOp::Drain(a, b)),
        1 => (0..40usize).prop_map(DqOp::Truncate),
        1 => Just(DqOp::Clear),
        1 => (0..40usize).prop_map(DqOp::RotateLeft),
        1 => (0..40usize).prop_map(DqOp::RotateRight),
        1 => Just(DqOp::MakeContiguous),
        1 => Just(DqOp::ShrinkToFit),
        1 => (0..64usize).prop_map(DqOp::Reserve),
        1 => proptest::collection::vec(any::<u32>(), 0..12).prop_map(DqOp::Extend),
    ]
}

/// Applies `op` to both; in `fallible` mode the growing operations use `try_` and a failure
/// must be `OutOfMemory` with the deque unchanged.
fn apply_dq(q: &mut VecDeque<u32>, m: &mut StdDeque<u32>, op: &DqOp, fallible: bool) {
    let n = m.len();
    match op {
        DqOp::PushBack(v) => {
            if fallible {
                match q.try_push_back(*v) {
                    Ok(()) => m.push_back(*v),
                    Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfMemory),
                }
            } else {
                q.push_back(*v);
                m.push_back(*v);
            }
        }
        DqOp::PushFront(v) => {
            if fallible {
                match q.try_push_front(*v) {
                    Ok(()) => m.push_front(*v),
                    Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfMemory),
                }
            } else {
                q.push_front(*v);
                m.push_front(*v);
            }
        }
        DqOp::PopBack => assert_eq!(q.pop_back(), m.pop_back()),
        DqOp::PopFront => assert_eq!(q.pop_front(), m.pop_front()),
        DqOp::Insert(i, v) => {
            if *i <= n && (!fallible || q.try_reserve(1).is_ok()) {
                q.insert(*i, *v);
                m.insert(*i, *v);
            }
        }
        DqOp::Remove(i) => assert_eq!(q.remove(*i), m.remove(*i)),
        DqOp::Swap(i, j) => {
            if *i < n && *j < n {
                q.swap(*i, *j);
                m.swap(*i, *j);
            }
        }
        DqOp::Set(i, v) => {
            if *i < n {
                q[*i] = *v;
                m[*i] = *v;
            }
            assert_eq!(q.get_mut(*i).map(|x| *x), m.get_mut(*i).map(|x| *x));
        }
        DqOp::Retain(k) => {
            q.retain(|x| x % k != 0);
            m.retain(|x| x % k != 0);
        }
        DqOp::Drain(a, b) => {
            let (a, b) = ((*a).min(n), (*b).min(n));
            let (a, b) = (a.min(b), a.max(b));
            let got: std::vec::Vec<u32> = q.drain(a..b).collect();
            let want: std::vec::Vec<u32> = m.drain(a..b).collect();
            assert_eq!(got, want);
        }
        DqOp::Truncate(k) => {
            q.truncate(*k);
            m.truncate(*k);
        }
        DqOp::Clear => {
            q.clear();
            m.clear();
        }
        DqOp::RotateLeft(k) => {
            if *k <= n {
                q.rotate_left(*k);
                m.rotate_left(*k);
            }
        }
        DqOp::RotateRight(k) => {
            if *k <= n {
                q.rotate_right(*k);
                m.rotate_right(*k);
            }
        }
        DqOp::MakeContiguous => {
            assert_eq!(q.make_contiguous(), m.make_contiguous());
        }
        DqOp::ShrinkToFit => q.shrink_to_fit(),
        DqOp::Reserve(k) => {
            if fallible {
                match q.try_reserve(*k) {
                    Ok(()) => assert!(q.capacity() >= n + k),
                    Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfMemory),
                }
            } else {
                q.reserve(*k);
                assert!(q.capacity() >= n + k);
            }
        }
        DqOp::Extend(items) => {
            if fallible {
                for &x in items {
                    match q.try_push_back(x) {
                        Ok(()) => m.push_back(x),
                        Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfMemory),
                    }
                }
            } else {
                q.extend(items.iter().copied());
                m.extend(items.iter().copied());
            }
        }
    }
}

fn check_dq(q: &VecDeque<u32>, m: &StdDeque<u32>) {
    assert_eq!(q, m);
    assert_eq!(q.len(), m.len());
    assert_eq!(q.front(), m.front());
    assert_eq!(q.back(), m.back());
    assert!(q.iter().rev().eq(m.iter().rev()));
    assert_eq!(q.iter().len(), m.len());
    let (a, b) = q.as_slices();
    assert_eq!(
        [a, b].concat(),
        m.iter().copied().collect::<std::vec::Vec<_>>()
    );
    if let Some(x) = m.get(m.len() / 2) {
        assert!(q.contains(x));
        assert_eq!(q[m.len() / 2], *x);
    }
}

/// The segment's free memory once the name index holds (and has dropped) `names`: the index
/// keeps its table, so this is what destroying every object returns to.
fn baseline(seg: &mut ManagedHeapMemory, names: &[&str]) -> usize {
    for n in names {
        seg.construct(n, 0u8).unwrap();
    }
    for n in names {
        seg.destroy::<u8>(n).unwrap();
    }
    seg.free_memory().unwrap()
}

/// Allocates raw blocks until the segment is nearly full; returns how many bytes are left.
fn fill_segment(seg: &ManagedHeapMemory, leave: usize) -> usize {
    let s = seg.segment().unwrap();
    let mut size = 1 << 14;
    while size >= 64 {
        while seg.free_memory().unwrap() > leave + size && s.allocate(size, 8).is_ok() {}
        size /= 2;
    }
    seg.free_memory().unwrap()
}

fn run_dq(ops: &[DqOp], nearly_full: bool) {
    let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 18).unwrap();
    let free = baseline(&mut seg, &["q", "clone"]);
    if nearly_full {
        fill_segment(&seg, 1200);
    }
    {
        let shared = seg
            .construct("q", Mutex::new(VecDeque::<u32>::new()))
            .unwrap();
        let mut q = shared.lock().unwrap();
        let mut m = StdDeque::new();
        for op in ops {
            apply_dq(&mut q, &mut m, op, nearly_full);
            check_dq(&q, &m);
        }
        if nearly_full {
            // The segment really is nearly full: pushing fails soon, leaving the deque intact.
            let mut n = 0;
            while q.try_push_back(7).is_ok() {
                m.push_back(7);
                n += 1;
                assert!(n < 400, "the segment should be nearly full");
            }
            check_dq(&q, &m);
        }
        // A clone (moved out of the segment) reads the same, and can be stored back.
        if !nearly_full {
            let c = q.clone();
            assert!(c.with_slices(|a, b| a.len() + b.len()).unwrap() == m.len());
            let stored = seg.construct("clone", c).unwrap();
            assert_eq!(stored, &*q);
        }
    }
    seg.destroy::<Mutex<VecDeque<u32>>>("q").unwrap();
    if !nearly_full {
        seg.destroy::<VecDeque<u32>>("clone").unwrap();
        assert_eq!(seg.free_memory().unwrap(), free, "everything freed");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn vec_deque_matches_std(ops in proptest::collection::vec(dq_op(), 1..60)) {
        run_dq(&ops, false);
    }

    #[test]
    fn vec_deque_matches_std_in_a_nearly_full_segment(
        ops in proptest::collection::vec(dq_op(), 1..80),
    ) {
        run_dq(&ops, true);
    }
}

#[derive(Debug, Clone)]
enum ListOp {
    PushBack(u32),
    PushFront(u32),
    PopBack,
    PopFront,
    Retain(u32),
    Append(std::vec::Vec<u32>),
    Clear,
    SetFront(u32),
    SetBack(u32),
    AddAll(u32),
    Contains(u32),
}

fn list_op() -> impl Strategy<Value = ListOp> {
    prop_oneof![
        4 => any::<u32>().prop_map(ListOp::PushBack),
        4 => any::<u32>().prop_map(ListOp::PushFront),
        2 => Just(ListOp::PopBack),
        2 => Just(ListOp::PopFront),
        1 => (2..5u32).prop_map(ListOp::Retain),
        1 => proptest::collection::vec(any::<u32>(), 0..8).prop_map(ListOp::Append),
        1 => Just(ListOp::Clear),
        1 => any::<u32>().prop_map(ListOp::SetFront),
        1 => any::<u32>().prop_map(ListOp::SetBack),
        1 => (0..3u32).prop_map(ListOp::AddAll),
        1 => (0..100u32).prop_map(ListOp::Contains),
    ]
}

fn apply_list(
    seg: &ManagedHeapMemory,
    l: &mut LinkedList<u32>,
    m: &mut StdList<u32>,
    op: &ListOp,
    fallible: bool,
) {
    match op {
        ListOp::PushBack(v) => {
            if fallible {
                match l.try_push_back(*v) {
                    Ok(()) => m.push_back(*v),
                    Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfMemory),
                }
            } else {
                l.push_back(*v);
                m.push_back(*v);
            }
        }
        ListOp::PushFront(v) => {
            if fallible {
                match l.try_push_front(*v) {
                    Ok(()) => m.push_front(*v),
                    Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfMemory),
                }
            } else {
                l.push_front(*v);
                m.push_front(*v);
            }
        }
        ListOp::PopBack => assert_eq!(l.pop_back(), m.pop_back()),
        ListOp::PopFront => assert_eq!(l.pop_front(), m.pop_front()),
        ListOp::Retain(k) => {
            l.retain(|x| x % k != 0);
            let kept: StdList<u32> = m.iter().copied().filter(|x| x % k != 0).collect();
            *m = kept;
        }
        ListOp::Append(items) => {
            let mut other = LinkedList::<u32>::new_in(&**seg);
            let mut added = StdList::new();
            for &x in items {
                match other.try_push_back(x) {
                    Ok(()) => added.push_back(x),
                    Err(e) if fallible => assert_eq!(e.kind(), ErrorKind::OutOfMemory),
                    Err(e) => panic!("{e}"),
                }
            }
            l.append(&mut other);
            assert!(other.is_empty());
            m.append(&mut added);
        }
        ListOp::Clear => {
            l.clear();
            m.clear();
        }
        ListOp::SetFront(v) => {
            if let Some(x) = l.front_mut() {
                *x = *v;
            }
            if let Some(x) = m.front_mut() {
                *x = *v;
            }
        }
        ListOp::SetBack(v) => {
            if let Some(x) = l.back_mut() {
                *x = *v;
            }
            if let Some(x) = m.back_mut() {
                *x = *v;
            }
        }
        ListOp::AddAll(d) => {
            l.iter_mut().rev().for_each(|x| *x = x.wrapping_add(*d));
            m.iter_mut().for_each(|x| *x = x.wrapping_add(*d));
        }
        ListOp::Contains(v) => assert_eq!(l.contains(v), m.contains(v)),
    }
}

fn check_list(l: &LinkedList<u32>, m: &StdList<u32>) {
    assert_eq!(l, m);
    assert_eq!(l.len(), m.len());
    assert_eq!(l.front(), m.front());
    assert_eq!(l.back(), m.back());
    assert!(l.iter().rev().eq(m.iter().rev()));
    // Meeting in the middle from both ends.
    let mut it = l.iter();
    let mut jt = m.iter();
    loop {
        let (a, b) = (it.next(), jt.next());
        assert_eq!(a, b);
        let (c, d) = (it.next_back(), jt.next_back());
        assert_eq!(c, d);
        if a.is_none() || c.is_none() {
            break;
        }
    }
}

fn run_list(ops: &[ListOp], nearly_full: bool) {
    let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 18).unwrap();
    let free = baseline(&mut seg, &["l", "clone"]);
    if nearly_full {
        fill_segment(&seg, 1200);
    }
    {
        let shared = seg
            .construct("l", Mutex::new(LinkedList::<u32>::new()))
            .unwrap();
        let mut l = shared.lock().unwrap();
        let mut m = StdList::new();
        for op in ops {
            apply_list(&seg, &mut l, &mut m, op, nearly_full);
            check_list(&l, &m);
        }
        if nearly_full {
            let mut n = 0;
            while l.try_push_front(7).is_ok() {
                m.push_front(7);
                n += 1;
                assert!(n < 100, "the segment should be nearly full");
            }
            check_list(&l, &m);
        }
        if !nearly_full {
            let c = l.clone();
            assert_eq!(c.with_iter(|it| it.count()).unwrap(), m.len());
            assert_eq!(seg.construct("clone", c).unwrap(), &*l);
        }
    }
    seg.destroy::<Mutex<LinkedList<u32>>>("l").unwrap();
    if !nearly_full {
        seg.destroy::<LinkedList<u32>>("clone").unwrap();
        assert_eq!(seg.free_memory().unwrap(), free, "every node freed");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn linked_list_matches_std(ops in proptest::collection::vec(list_op(), 1..60)) {
        run_list(&ops, false);
    }

    #[test]
    fn linked_list_matches_std_in_a_nearly_full_segment(
        ops in proptest::collection::vec(list_op(), 1..80),
    ) {
        run_list(&ops, true);
    }
}

fn text(v: u32) -> std::string::String {
    "x".repeat((v % 40) as usize) + &v.to_string()
}

/// The same operations on deques and lists of strings (each element owns a block): every
/// removal path must drop, and everything must be freed at the end.
fn run_strings(ops: &[DqOp]) {
    let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let free = baseline(&mut seg, &["q", "l"]);
    {
        let q = seg
            .construct("q", Mutex::new(VecDeque::<String>::new()))
            .unwrap();
        let l = seg
            .construct("l", Mutex::new(LinkedList::<String>::new()))
            .unwrap();
        let (mut q, mut l) = (q.lock().unwrap(), l.lock().unwrap());
        let mut m: StdDeque<std::string::String> = StdDeque::new();
        let mut ml: StdList<std::string::String> = StdList::new();
        for op in ops {
            let n = m.len();
            match op {
                DqOp::PushBack(v) | DqOp::Set(_, v) => {
                    q.push_back(text(*v).as_str());
                    m.push_back(text(*v));
                    l.push_back(text(*v).as_str());
                    ml.push_back(text(*v));
                }
                DqOp::PushFront(v) | DqOp::Insert(_, v) => {
                    q.push_front(text(*v).as_str());
                    m.push_front(text(*v));
                    l.push_front(text(*v).as_str());
                    ml.push_front(text(*v));
                }
                DqOp::PopBack => {
                    assert_eq!(
                        q.pop_back().map(|s| s.with_str(str::to_owned).unwrap()),
                        m.pop_back()
                    );
                    assert_eq!(
                        l.pop_back().map(|s| s.with_str(str::to_owned).unwrap()),
                        ml.pop_back()
                    );
                }
                DqOp::PopFront | DqOp::Swap(..) => {
                    assert_eq!(
                        q.pop_front().map(|s| s.with_str(str::to_owned).unwrap()),
                        m.pop_front()
                    );
                    assert_eq!(
                        l.pop_front().map(|s| s.with_str(str::to_owned).unwrap()),
                        ml.pop_front()
                    );
                }
                DqOp::Remove(i) => {
                    assert_eq!(
                        q.remove(*i).map(|s| s.with_str(str::to_owned).unwrap()),
                        m.remove(*i)
                    );
                }
                DqOp::Retain(k) => {
                    q.retain(|s| s.len() % *k as usize != 0);
                    m.retain(|s| s.len() % *k as usize != 0);
                    l.retain(|s| s.len() % *k as usize != 0);
                    ml = ml
                        .into_iter()
                        .filter(|s| s.len() % *k as usize != 0)
                        .collect();
                }
                DqOp::Drain(a, b) => {
                    let (a, b) = ((*a).min(n), (*b).min(n));
                    let (a, b) = (a.min(b), a.max(b));
                    let got: std::vec::Vec<_> = q
                        .drain(a..b)
                        .map(|s| s.with_str(str::to_owned).unwrap())
                        .collect();
                    let want: std::vec::Vec<_> = m.drain(a..b).collect();
                    assert_eq!(got, want);
                }
                DqOp::Truncate(k) => {
                    q.truncate(*k);
                    m.truncate(*k);
                }
                DqOp::Clear => {
                    q.clear();
                    m.clear();
                    l.clear();
                    ml.clear();
                }
                DqOp::RotateLeft(k) | DqOp::RotateRight(k) => {
                    if *k <= n {
                        q.rotate_left(*k);
                        m.rotate_left(*k);
                    }
                }
                DqOp::MakeContiguous | DqOp::ShrinkToFit => {
                    q.make_contiguous();
                    q.shrink_to_fit();
                }
                DqOp::Reserve(k) => q.reserve(*k),
                DqOp::Extend(items) => {
                    let mut other = LinkedList::<String>::new_in(&*seg);
                    for &x in items {
                        q.push_back(text(x).as_str());
                        m.push_back(text(x));
                        other.push_back(text(x).as_str());
                        ml.push_back(text(x));
                    }
                    l.append(&mut other);
                }
            }
            assert!(
                q.iter()
                    .map(|s| s.as_str())
                    .eq(m.iter().map(|s| s.as_str()))
            );
            assert!(
                l.iter()
                    .rev()
                    .map(|s| s.as_str())
                    .eq(ml.iter().rev().map(|s| s.as_str()))
            );
        }
        let qc = q.clone();
        let lc = l.clone();
        assert_eq!(qc.with_slices(|a, b| a.len() + b.len()).unwrap(), m.len());
        assert_eq!(lc.with_iter(|it| it.len()).unwrap(), ml.len());
        let moved: std::vec::Vec<_> = lc
            .into_iter()
            .map(|s| s.with_str(str::to_owned).unwrap())
            .collect();
        assert!(moved.iter().eq(ml.iter()));
    }
    seg.destroy::<Mutex<VecDeque<String>>>("q").unwrap();
    seg.destroy::<Mutex<LinkedList<String>>>("l").unwrap();
    assert_eq!(
        seg.free_memory().unwrap(),
        free,
        "every string and node freed"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    #[test]
    fn deques_and_lists_of_strings_drop_and_free_everything(
        ops in proptest::collection::vec(dq_op(), 1..50),
    ) {
        run_strings(&ops);
    }
}

#[test]
fn nested_collections_free_everything() {
    let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let free = baseline(&mut seg, &["q"]);
    {
        let q = seg
            .construct("q", Mutex::new(VecDeque::<LinkedList<String>>::new()))
            .unwrap();
        let mut q = q.lock().unwrap();
        for i in 0..20 {
            q.push_back(LinkedList::new());
            q.push_front(LinkedList::new());
            let last = q.len() - 1;
            q[last].push_back(format!("back {i}").as_str());
            q[0].push_front(format!("front {i}").as_str());
        }
        assert_eq!(q[0].front().unwrap(), "front 19");
        assert_eq!(q.back().unwrap().front().unwrap(), "back 19");
        // Popped (moved out of the segment) values keep working and free on drop.
        let popped = q.pop_front().unwrap();
        assert_eq!(popped.len(), 1);
        assert_eq!(
            popped
                .with_iter(|mut it| it.next().unwrap().with_str(|s| s.to_owned()).unwrap())
                .unwrap(),
            "front 19"
        );
        drop(popped);
        q.retain(|l| l.front().is_some_and(|s| s.as_str().ends_with('0')));
        assert_eq!(q.len(), 4);
        q.make_contiguous();
    }
    seg.destroy::<Mutex<VecDeque<LinkedList<String>>>>("q")
        .unwrap();
    assert_eq!(seg.free_memory().unwrap(), free);
}

#[test]
fn headers_moved_inside_the_segment_keep_working() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let pair = seg
        .construct(
            "pair",
            Mutex::new([LinkedList::<u64>::new(), LinkedList::<u64>::new()]),
        )
        .unwrap();
    let dqs = seg
        .construct(
            "dqs",
            Mutex::new([VecDeque::<u64>::new(), VecDeque::<u64>::new()]),
        )
        .unwrap();
    {
        let mut p = pair.lock().unwrap();
        p[0].extend([1, 2, 3]);
        p[1].extend([9]);
        let [a, b] = &mut *p;
        std::mem::swap(a, b);
        assert_eq!(p[0], [9]);
        assert_eq!(p[1], [1, 2, 3]);
        p[0].push_front(8);
        p[1].pop_back();
        assert_eq!(p[0], [8, 9]);
        assert_eq!(p[1], [1, 2]);

        let mut d = dqs.lock().unwrap();
        d[0].extend([1, 2, 3]);
        d[0].push_front(0);
        d[1].push_back(7);
        let [a, b] = &mut *d;
        std::mem::swap(a, b);
        assert_eq!(d[0], [7]);
        assert_eq!(d[1], [0, 1, 2, 3]);
        d[1].push_back(4);
        assert_eq!(d[1], [0, 1, 2, 3, 4]);
    }
    // A growing vector of deques moves every header on each reallocation.
    let v = seg
        .construct("v", Mutex::new(Vec::<VecDeque<u32>>::new()))
        .unwrap();
    let mut v = v.lock().unwrap();
    for i in 0..50u32 {
        v.push(VecDeque::new());
        let last = v.len() - 1;
        v[last].push_back(i);
        v[last].push_front(i + 1000);
    }
    for (i, q) in v.iter().enumerate() {
        assert_eq!(*q, [i as u32 + 1000, i as u32]);
    }
}

#[test]
fn moved_into_another_segment_is_caught() {
    let a: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let b: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let l = LinkedList::<u32>::from_iter_in([1, 2], &*a);
    let q = VecDeque::<u32>::from_iter_in([1, 2], &*a);
    let l = b.construct("l", l).unwrap();
    let q = b.construct("q", q).unwrap();
    assert_eq!(l.try_iter().unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        q.try_as_slices().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(catch_unwind(AssertUnwindSafe(|| l.front().copied())).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| q[0])).is_err());
    assert!(l.with_iter(|it| it.count()).is_err());
    // Empty ones iterate anywhere (there is nothing to lend).
    let mut empty = LinkedList::<u32>::new();
    assert_eq!(empty.iter().count(), 0);
    assert_eq!(empty.iter_mut().count(), 0);
    assert_eq!(empty, LinkedList::<u32>::new());
    assert_eq!(VecDeque::<u32>::new().iter().count(), 0);
    assert_eq!(VecDeque::<u32>::new(), VecDeque::<u32>::new());
    // Moved out (on the stack) they work through closures, not references.
    let l2 = LinkedList::<u32>::from_iter_in([5], &*a);
    assert_eq!(
        l2.try_iter().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(l2.with_iter(|it| it.copied().sum::<u32>()).unwrap(), 5);
    assert_eq!(l2.into_iter().collect::<std::vec::Vec<_>>(), [5]);
}

/// The header's words: `[segment id, head, tail, len]` for a list; `[id, buf, cap, head, len]`
/// for a deque.
fn words<T>(r: &mut T) -> *mut u64 {
    std::ptr::from_mut(r).cast()
}

#[test]
fn corrupt_lists_and_deques_are_errors_not_hangs() {
    assert_eq!(size_of::<LinkedList<u32>>(), 32);
    assert_eq!(size_of::<VecDeque<u32>>(), 40);
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let m = seg
        .construct("l", Mutex::new(LinkedList::<u32>::new()))
        .unwrap();
    let mut l = m.lock().unwrap();
    l.extend([1, 2, 3]);
    let w = words(&mut *l);
    // Length too large, then too small.
    for bad in [5u64, 2, u64::MAX] {
        // SAFETY: the list's own header (`len` is its fourth word), exclusively borrowed.
        unsafe { w.add(3).write(bad) };
        assert_eq!(l.try_iter().unwrap_err().kind(), ErrorKind::Corrupted);
        assert!(catch_unwind(AssertUnwindSafe(|| l.iter().count())).is_err());
    }
    // SAFETY: as above.
    unsafe { w.add(3).write(3) };
    assert_eq!(l.iter().count(), 3);
    // A cycle: the last node's `next` pointing at the first.
    let s = seg.segment().unwrap();
    let first = s.offset_of(l.front().unwrap()).unwrap() - 16;
    let last = s.offset_of(l.back().unwrap()).unwrap() - 16;
    let last_next = s.ptr::<u64>(last, 1).unwrap();
    // SAFETY: the last node's `next` link (offset + 1), inside the segment.
    unsafe { last_next.write(first + 1) };
    // SAFETY: as above for the length.
    unsafe { w.add(3).write(u64::MAX) };
    assert_eq!(l.try_iter().unwrap_err().kind(), ErrorKind::Corrupted);
    assert_eq!(l.try_push_back(4).unwrap_err().kind(), ErrorKind::Corrupted);
    assert!(catch_unwind(AssertUnwindSafe(|| l.contains(&7))).is_err());
    // A head outside the segment.
    // SAFETY: the header's head word.
    unsafe { w.add(1).write(1 << 40) };
    assert_eq!(l.try_pop_front().unwrap_err().kind(), ErrorKind::Corrupted);
    // Clearing a corrupt list leaks its nodes but leaves a usable, empty list.
    l.clear();
    assert!(l.is_empty());
    l.push_back(1);
    assert_eq!(*l, [1]);
    // Both ends naming the same node of a two-element list: popping must not free a node the
    // other end still names.
    l.push_back(2);
    // SAFETY: the header's head and tail words.
    let tail = unsafe { w.add(2).read() };
    // SAFETY: as above.
    unsafe { w.add(2).write(w.add(1).read()) };
    assert_eq!(l.try_pop_front().unwrap_err().kind(), ErrorKind::Corrupted);
    // SAFETY: as above.
    unsafe { w.add(2).write(tail) };
    assert_eq!(*l, [1, 2]);

    let m = seg
        .construct("q", Mutex::new(VecDeque::<u32>::new()))
        .unwrap();
    let mut q = m.lock().unwrap();
    q.extend([1, 2, 3]);
    let w = words(&mut *q);
    // SAFETY: the deque's own header (`head` is its fourth word).
    let cap = unsafe { w.add(2).read() };
    // SAFETY: as above.
    unsafe { w.add(3).write(cap) };
    assert_eq!(q.try_as_slices().unwrap_err().kind(), ErrorKind::Corrupted);
    assert!(catch_unwind(AssertUnwindSafe(|| q.pop_front())).is_err());
    // SAFETY: as above: a sane head, then a length beyond the capacity.
    unsafe {
        w.add(3).write(0);
        w.add(4).write(cap + 1);
    }
    assert_eq!(q.try_push_back(1).unwrap_err().kind(), ErrorKind::Corrupted);
    // SAFETY: restore.
    unsafe { w.add(4).write(3) };
    assert_eq!(*q, [1, 2, 3]);
}

// ----- across processes -------------------------------------------------------------------

type Shm = ManagedSharedMemory;

fn seq_child(args: &[std::string::String]) {
    let seg = Shm::open(&args[0]).unwrap();
    let l = seg
        .find::<Mutex<LinkedList<String>>>("list")
        .unwrap()
        .unwrap();
    let q = seg.find::<Mutex<VecDeque<u64>>>("dq").unwrap().unwrap();
    let mut l = l.lock().unwrap();
    let words: std::vec::Vec<&str> = l.iter().map(|s| s.as_str()).collect();
    report("list", words.join(","));
    assert_eq!(
        l.pop_front().unwrap().with_str(|s| s.to_owned()).unwrap(),
        "alpha"
    );
    l.push_front("zero");
    l.push_back("from child");
    let mut q = q.lock().unwrap();
    let items: std::vec::Vec<std::string::String> = q.iter().map(|x| x.to_string()).collect();
    report("dq", items.join(","));
    assert_eq!(q.pop_front(), Some(99));
    q.push_front(1000u64);
    q.push_back(2000u64);
}

#[test]
fn a_child_reads_and_changes_a_list_and_a_deque() {
    let name = unique_name("coll-seq");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg = Shm::create(&name, 1 << 20).unwrap();
    let l = seg
        .construct("list", Mutex::new(LinkedList::<String>::new()))
        .unwrap();
    let q = seg
        .construct("dq", Mutex::new(VecDeque::<u64>::new()))
        .unwrap();
    {
        let mut l = l.lock().unwrap();
        for w in ["alpha", "beta", "gamma"] {
            l.push_back(w);
        }
        let mut q = q.lock().unwrap();
        // Wrap the ring around: pop from the front, push at both ends.
        q.extend(0..8u64);
        for _ in 0..5 {
            q.pop_front();
        }
        q.extend(100..104u64);
        q.push_front(99);
    }
    let out = child("seq_child").args([name.as_str()]).run();
    out.assert_success();
    assert_eq!(out.value("list"), "alpha,beta,gamma");
    assert_eq!(out.value("dq"), "99,5,6,7,100,101,102,103");
    let l = l.lock().unwrap();
    assert_eq!(
        l.iter().map(|s| s.as_str()).collect::<std::vec::Vec<_>>(),
        ["zero", "beta", "gamma", "from child"]
    );
    let q = q.lock().unwrap();
    assert_eq!(*q, [1000, 5, 6, 7, 100, 101, 102, 103, 2000]);
}

#[test]
fn zero_sized_elements() {
    let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let free = baseline(&mut seg, &["q", "l"]);
    {
        let q = seg
            .construct("q", Mutex::new(VecDeque::<()>::new()))
            .unwrap();
        let mut q = q.lock().unwrap();
        for _ in 0..10 {
            q.push_back(());
            q.push_front(());
        }
        assert_eq!(q.len(), 20);
        assert_eq!(q.iter().count(), 20);
        assert_eq!(q.pop_front(), Some(()));
        q.retain(|_| false);
        assert!(q.is_empty());
        q.push_back(());
        let l = seg
            .construct("l", Mutex::new(LinkedList::<()>::new()))
            .unwrap();
        let mut l = l.lock().unwrap();
        l.extend([(), (), ()]);
        assert_eq!(l.iter().rev().count(), 3);
        assert_eq!(l.pop_back(), Some(()));
    }
    seg.destroy::<Mutex<VecDeque<()>>>("q").unwrap();
    seg.destroy::<Mutex<LinkedList<()>>>("l").unwrap();
    assert_eq!(seg.free_memory().unwrap(), free);
}

#[test]
fn a_read_only_segment_reads_deques_and_lists_but_does_not_change_them() {
    let name = unique_name("seq-ro");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20).unwrap();
    let d = seg
        .construct("d", Mutex::new(VecDeque::<u32>::new()))
        .unwrap();
    d.lock().unwrap().reserve(8);
    d.lock().unwrap().push_back(1);
    let l = seg
        .construct("l", Mutex::new(LinkedList::<u32>::new()))
        .unwrap();
    l.lock().unwrap().push_back(1);
    let ro: ManagedSharedMemory = ManagedSharedMemory::open_read_only(&name).unwrap();
    let rd = ro.find::<Mutex<VecDeque<u32>>>("d").unwrap().unwrap();
    let mut rd = rd.lock().unwrap();
    assert!(rd.capacity() > rd.len(), "room left: no allocation needed");
    let e = rd.try_push_back(2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert_eq!(rd.iter().copied().collect::<std::vec::Vec<_>>(), [1]);
    let rl = ro.find::<Mutex<LinkedList<u32>>>("l").unwrap().unwrap();
    let mut rl = rl.lock().unwrap();
    let e = rl.try_pop_front().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert_eq!(rl.iter().copied().collect::<std::vec::Vec<_>>(), [1]);
    // The writable handle still sees the values untouched.
    assert_eq!(d.lock().unwrap().len(), 1);
    assert_eq!(l.lock().unwrap().len(), 1);
}
