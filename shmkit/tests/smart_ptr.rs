//! `Box`, `Arc`/`Weak` and `IntrusivePtr` in managed segments: counts, drops and frees in one
//! process and across processes (each value dropped exactly once, by whichever process holds
//! the last reference, and the segment's free memory back where it was), weak pointers, headers
//! moved inside and out of their segment, and a process that exits holding a reference.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use shmkit::collections::{
    Arc, AsSegment, Box, IntrusiveCount, IntrusivePtr, NewArc, NewBox, String, Vec, Weak,
};
use shmkit::sync::Mutex;
use shmkit::{ErrorKind, ManagedHeapMemory, ManagedSharedMemory, ShmSafe};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name, wait_until};

child_roles!(arc_child);

/// A value that counts its drops in a counter shared through the segment.
#[derive(ShmSafe)]
#[repr(C)]
struct Counted {
    value: u64,
    drops: Arc<AtomicU64>,
}

impl Clone for Counted {
    fn clone(&self) -> Counted {
        Counted {
            value: self.value,
            drops: self.drops.clone(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops
            .with(|d| d.fetch_add(1, Ordering::SeqCst))
            .expect("the drop counter");
    }
}

/// The free memory once the name index has held (and dropped) `names`.
fn baseline<S>(seg: &mut S, names: &[&str]) -> usize
where
    S: std::ops::DerefMut<Target = shmkit::segment::SegmentManager>,
{
    for n in names {
        seg.construct(n, 0u8).unwrap();
    }
    for n in names {
        seg.destroy::<u8>(n).unwrap();
    }
    seg.free_memory().unwrap()
}

#[test]
fn arc_counts_drops_once_and_frees_its_block() {
    let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let drops = seg
        .construct("drops", Arc::new_in(AtomicU64::new(0), &*seg))
        .unwrap()
        .clone();
    let free = baseline(&mut seg, &["a", "w"]);
    {
        let a = Arc::new_in(
            Counted {
                value: 7,
                drops: drops.clone(),
            },
            &*seg,
        );
        assert!(a.try_get().is_err(), "on the stack: no references");
        assert_eq!(a.with(|c| c.value).unwrap(), 7);
        let stored = seg.construct("a", a.clone()).unwrap();
        assert_eq!(stored.value, 7);
        assert_eq!(Arc::strong_count(&a), 2);
        assert!(Arc::ptr_eq(&a, stored));
        let w = seg.construct("w", Arc::downgrade(&a)).unwrap();
        assert_eq!((Arc::weak_count(&a), w.weak_count()), (1, 1));
        let w2 = w.clone();
        let up = w2.upgrade().unwrap();
        assert_eq!(Arc::strong_count(&up), 3);
        drop(up);
        drop(a);
        assert_eq!(drops.with(|d| d.load(Ordering::SeqCst)).unwrap(), 0);
        assert_eq!(w.strong_count(), 1);
        drop(w2);
    }
    // The last strong owner is the named object.
    seg.destroy::<Arc<Counted>>("a").unwrap();
    assert_eq!(drops.with(|d| d.load(Ordering::SeqCst)).unwrap(), 1);
    let w = seg.find::<Weak<Counted>>("w").unwrap().unwrap();
    assert!(w.upgrade().is_none(), "no strong owner left");
    assert_eq!((w.strong_count(), w.weak_count()), (0, 0));
    assert!(
        seg.free_memory().unwrap() < free,
        "the weak pointer keeps the block"
    );
    seg.destroy::<Weak<Counted>>("w").unwrap();
    assert_eq!(seg.free_memory().unwrap(), free);
    assert_eq!(drops.with(|d| d.load(Ordering::SeqCst)).unwrap(), 1);
}

#[test]
fn arc_try_unwrap_and_weak_new() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let free = seg.free_memory().unwrap();
    let a = Arc::new_in(5u32, &*seg);
    let w = Arc::downgrade(&a);
    assert_eq!(Arc::try_unwrap(a).ok(), Some(5));
    assert!(w.upgrade().is_none());
    drop(w);
    assert_eq!(seg.free_memory().unwrap(), free);
    let empty = Weak::<u32>::new();
    assert!(empty.upgrade().is_none());
    assert_eq!(empty.clone().strong_count(), 0);
    // Through `IntoSegment`: `NewArc` and `NewBox` in collections.
    let v = seg
        .construct("v", Mutex::new(Vec::<Arc<String>>::new()))
        .unwrap();
    let mut v = v.lock().unwrap();
    v.push(NewArc("shared"));
    let again = v[0].clone();
    v.push(again);
    assert!(Arc::ptr_eq(&v[0], &v[1]));
    assert_eq!(v[1].as_str(), "shared");
    let b = seg
        .construct("b", Mutex::new(Vec::<Box<String>>::new()))
        .unwrap();
    b.lock().unwrap().push(NewBox("boxed"));
    assert_eq!(b.lock().unwrap()[0].as_str(), "boxed");
}

#[test]
fn box_owns_frees_and_reads_where_it_is() {
    let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let drops = seg
        .construct("drops", Arc::new_in(AtomicU64::new(0), &*seg))
        .unwrap()
        .clone();
    let free = baseline(&mut seg, &["b"]);
    let b = Box::new_in(
        Counted {
            value: 3,
            drops: drops.clone(),
        },
        &*seg,
    );
    assert_eq!(b.with(|c| c.value).unwrap(), 3);
    let b = seg.construct("b", Mutex::new(b)).unwrap();
    b.lock().unwrap().value += 1;
    assert_eq!(b.lock().unwrap().value, 4);
    let c = b.lock().unwrap().clone();
    assert_eq!(c.with(|c| c.value).unwrap(), 4);
    let inner = c.into_inner();
    assert_eq!(inner.value, 4);
    drop(inner);
    assert_eq!(drops.with(|d| d.load(Ordering::SeqCst)).unwrap(), 1);
    seg.destroy::<Mutex<Box<Counted>>>("b").unwrap();
    assert_eq!(drops.with(|d| d.load(Ordering::SeqCst)).unwrap(), 2);
    assert_eq!(seg.free_memory().unwrap(), free);
}

#[test]
fn headers_moved_inside_the_segment_keep_working() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let pair = seg
        .construct(
            "pair",
            Mutex::new([Arc::new_in(1u64, &*seg), Arc::new_in(2u64, &*seg)]),
        )
        .unwrap();
    let boxes = seg
        .construct(
            "boxes",
            Mutex::new([Box::new_in(10u64, &*seg), Box::new_in(20u64, &*seg)]),
        )
        .unwrap();
    {
        let mut p = pair.lock().unwrap();
        let [a, b] = &mut *p;
        std::mem::swap(a, b);
        assert_eq!((*p[0], *p[1]), (2, 1));
        let c = p[0].clone();
        assert_eq!(Arc::strong_count(&p[0]), 2);
        drop(c);
        let mut bx = boxes.lock().unwrap();
        let [a, b] = &mut *bx;
        std::mem::swap(a, b);
        *bx[0] += 1;
        assert_eq!((*bx[0], *bx[1]), (21, 10));
    }
    // A growing vector moves every header.
    let v = seg
        .construct("v", Mutex::new(Vec::<Arc<u64>>::new()))
        .unwrap();
    let b = seg
        .construct("vb", Mutex::new(Vec::<Box<u64>>::new()))
        .unwrap();
    let mut v = v.lock().unwrap();
    let mut b = b.lock().unwrap();
    for i in 0..50u64 {
        v.push(NewArc(i));
        b.push(NewBox(i * 2));
    }
    for i in 0..50usize {
        assert_eq!((*v[i], *b[i]), (i as u64, i as u64 * 2));
        assert_eq!(Arc::strong_count(&v[i]), 1);
    }
}

#[test]
fn moved_into_another_segment_is_caught() {
    let a: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let b: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let bx = b.construct("box", Box::new_in(1u32, &*a)).unwrap();
    let arc = b.construct("arc", Arc::new_in(2u32, &*a)).unwrap();
    assert_eq!(bx.try_get().unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        bx.with(|x| *x).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(catch_unwind(AssertUnwindSafe(|| **bx)).is_err());
    assert_eq!(
        arc.try_get().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        arc.try_clone().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(catch_unwind(AssertUnwindSafe(|| **arc)).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| Arc::strong_count(arc))).is_err());
    // The segment the values belong to is untouched: its blocks are leaked, not freed twice.
    a.check_sanity().unwrap();
}

#[test]
fn corrupt_counts_are_errors_not_double_frees() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let a = seg.construct("a", Arc::new_in(9u64, &*seg)).unwrap();
    let s = seg.segment().unwrap();
    let off = s.offset_of(&**a).unwrap() - 16;
    let strong = s.ptr::<AtomicU64>(off, 1).unwrap();
    // SAFETY: the block's strong count, an atomic inside the segment.
    let strong = unsafe { &*strong };
    strong.store(0, Ordering::SeqCst);
    assert_eq!(a.try_clone().unwrap_err().kind(), ErrorKind::Corrupted);
    assert_eq!(Arc::downgrade(a).upgrade().map(|_| ()), None);
    strong.store(u64::MAX, Ordering::SeqCst);
    assert_eq!(a.try_clone().unwrap_err().kind(), ErrorKind::Corrupted);
    strong.store(1, Ordering::SeqCst);
    assert_eq!(a.clone().with(|v| *v).unwrap(), 9);
}

/// A document counting its own references (Boost's intrusive_ptr_add_ref/release).
#[derive(ShmSafe)]
#[repr(C)]
struct Doc {
    refs: AtomicU32,
    words: u64,
    drops: Arc<AtomicU64>,
}

impl IntrusiveCount for Doc {
    fn add_ref(&self) {
        self.refs.fetch_add(1, Ordering::Relaxed);
    }
    fn release(&self) -> bool {
        self.refs.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

impl Drop for Doc {
    fn drop(&mut self) {
        self.drops
            .with(|d| d.fetch_add(1, Ordering::SeqCst))
            .expect("the drop counter");
    }
}

#[test]
fn intrusive_ptr_counts_through_the_value() {
    let mut seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let drops = seg
        .construct("drops", Arc::new_in(AtomicU64::new(0), &*seg))
        .unwrap()
        .clone();
    let free = baseline(&mut seg, &["docs"]);
    let p = IntrusivePtr::new_in(
        Doc {
            refs: AtomicU32::new(0),
            words: 100,
            drops: drops.clone(),
        },
        &*seg,
    );
    let docs = seg
        .construct("docs", Mutex::new(Vec::<IntrusivePtr<Doc>>::new()))
        .unwrap();
    docs.lock().unwrap().reserve(4);
    let free_with_vec = seg.free_memory().unwrap();
    docs.lock().unwrap().push(p.clone());
    docs.lock().unwrap().push(p.clone());
    assert_eq!(p.with(|d| d.refs.load(Ordering::Relaxed)).unwrap(), 3);
    assert!(IntrusivePtr::ptr_eq(&p, &docs.lock().unwrap()[1]));
    assert_eq!(docs.lock().unwrap()[0].words, 100);
    drop(p);
    docs.lock().unwrap().pop();
    assert_eq!(drops.with(|d| d.load(Ordering::SeqCst)).unwrap(), 0);
    docs.lock().unwrap().clear();
    assert_eq!(drops.with(|d| d.load(Ordering::SeqCst)).unwrap(), 1);
    assert!(seg.free_memory().unwrap() > free_with_vec - 64);
    seg.destroy::<Mutex<Vec<IntrusivePtr<Doc>>>>("docs")
        .unwrap();
    assert_eq!(seg.free_memory().unwrap(), free);
}

// ----- across processes -------------------------------------------------------------------

type Shm = ManagedSharedMemory;

fn drops_of(seg: &Shm) -> u64 {
    seg.find::<Arc<AtomicU64>>("drops")
        .unwrap()
        .unwrap()
        .load(Ordering::SeqCst)
}

fn arc_child(args: &[std::string::String]) {
    let seg = Shm::open(&args[0]).unwrap();
    let slots = seg
        .find::<Mutex<Vec<Arc<Counted>>>>("slots")
        .unwrap()
        .unwrap();
    match args[1].as_str() {
        // Takes a second strong reference, stored in the segment.
        "clone" => {
            let mut v = slots.lock().unwrap();
            let c = v[0].clone();
            v.push(c);
            report("strong", Arc::strong_count(&v[0]));
            report("value", v[1].value);
        }
        // Drops every reference stored in the segment.
        "drop-all" => {
            let mut v = slots.lock().unwrap();
            report("before", drops_of(&seg));
            v.clear();
            report("after", drops_of(&seg));
            let w = seg.find::<Weak<Counted>>("weak").unwrap().unwrap();
            report("upgrade", w.upgrade().is_some());
        }
        // Clones and drops the first reference, and upgrades the weak pointer, many times.
        "hammer" => {
            let arc = seg.find::<Arc<Counted>>("shared").unwrap().unwrap();
            let w = seg.find::<Weak<Counted>>("weak").unwrap().unwrap();
            let n: usize = args[2].parse().unwrap();
            let ready = seg.find::<AtomicU32>("ready").unwrap().unwrap();
            ready.store(1, Ordering::SeqCst);
            let mut held = std::vec::Vec::new();
            for i in 0..n {
                held.push(arc.clone());
                if let Some(a) = w.upgrade() {
                    held.push(a);
                }
                if i % 7 == 0 {
                    held.clear();
                }
            }
            drop(held);
            report("done", n);
        }
        // Takes a reference onto its stack and exits without dropping it.
        "exit-holding" => {
            let held = slots.lock().unwrap()[0].clone();
            report("strong", Arc::strong_count(&held));
            std::process::exit(0);
        }
        other => panic!("{other}"),
    }
}

/// A segment with a drop counter, a vector of `Arc<Counted>` holding one, and a weak pointer
/// to it; returns the segment and its baseline free memory (without the value's block).
fn arc_setup(name: &str) -> (Shm, usize) {
    let mut seg = Shm::create(name, 1 << 20).unwrap();
    let drops = seg
        .construct("drops", Arc::new_in(AtomicU64::new(0), &*seg))
        .unwrap()
        .clone();
    seg.construct("slots", Mutex::new(Vec::<Arc<Counted>>::new()))
        .unwrap()
        .lock()
        .unwrap()
        .reserve(4);
    let free = baseline(&mut seg, &["weak"]);
    slots(&seg)
        .lock()
        .unwrap()
        .push(NewArc(Counted { value: 42, drops }));
    let w = Arc::downgrade(&slots(&seg).lock().unwrap()[0]);
    seg.construct("weak", w).unwrap();
    (seg, free)
}

fn slots(seg: &Shm) -> &Mutex<Vec<Arc<Counted>>> {
    seg.find::<Mutex<Vec<Arc<Counted>>>>("slots")
        .unwrap()
        .unwrap()
}

#[test]
fn arc_shared_by_two_processes_parent_drops_last() {
    let name = unique_name("arc-parent-last");
    let mut c = Cleanup::new();
    c.shm(&name);
    let (mut seg, free) = arc_setup(&name);
    let out = child("arc_child").args([name.as_str(), "clone"]).run();
    out.assert_success();
    assert_eq!(out.value("strong"), "2");
    assert_eq!(out.value("value"), "42");
    // The parent drops the child's reference (stored in the segment), then its own.
    let last = slots(&seg).lock().unwrap().pop().unwrap();
    assert_eq!(Arc::strong_count(&last), 2);
    drop(last);
    assert_eq!(drops_of(&seg), 0);
    slots(&seg).lock().unwrap().clear();
    assert_eq!(drops_of(&seg), 1, "dropped exactly once");
    let w = seg.find::<Weak<Counted>>("weak").unwrap().unwrap();
    assert!(w.upgrade().is_none());
    seg.destroy::<Weak<Counted>>("weak").unwrap();
    assert_eq!(seg.free_memory().unwrap(), free);
    assert_eq!(drops_of(&seg), 1);
}

#[test]
fn arc_shared_by_two_processes_child_drops_last() {
    let name = unique_name("arc-child-last");
    let mut c = Cleanup::new();
    c.shm(&name);
    let (mut seg, free) = arc_setup(&name);
    child("arc_child")
        .args([name.as_str(), "clone"])
        .run()
        .assert_success();
    // The parent drops its reference; the child's (stored in the segment) is the last.
    let mine = slots(&seg).lock().unwrap().remove(0);
    drop(mine);
    assert_eq!(drops_of(&seg), 0);
    let out = child("arc_child").args([name.as_str(), "drop-all"]).run();
    out.assert_success();
    assert_eq!(out.value("before"), "0");
    assert_eq!(out.value("after"), "1", "the child dropped the value");
    assert_eq!(out.value("upgrade"), "false");
    assert_eq!(drops_of(&seg), 1);
    let w = seg.find::<Weak<Counted>>("weak").unwrap().unwrap();
    assert!(w.upgrade().is_none(), "no strong owner left in any process");
    assert!(
        seg.free_memory().unwrap() < free,
        "the weak pointer holds the block"
    );
    seg.destroy::<Weak<Counted>>("weak").unwrap();
    assert_eq!(
        seg.free_memory().unwrap(),
        free,
        "the block freed exactly once"
    );
    seg.check_sanity().unwrap();
}

#[test]
fn clones_and_upgrades_race_between_processes() {
    let name = unique_name("arc-race");
    let mut c = Cleanup::new();
    c.shm(&name);
    let (mut seg, free) = arc_setup(&name);
    let first = slots(&seg).lock().unwrap()[0].clone();
    seg.construct("shared", first).unwrap();
    let ready = seg.construct("ready", AtomicU32::new(0)).unwrap();
    const N: usize = 50_000;
    let kid = child("arc_child")
        .args([name.as_str(), "hammer", &N.to_string()])
        .spawn();
    // Start together: the child flags that it is about to begin.
    assert!(wait_until(Duration::from_secs(60), || ready
        .load(Ordering::SeqCst)
        == 1));
    {
        let arc = seg.find::<Arc<Counted>>("shared").unwrap().unwrap();
        let w = seg.find::<Weak<Counted>>("weak").unwrap().unwrap();
        let mut held = std::vec::Vec::new();
        for i in 0..N {
            held.push(arc.clone());
            held.push(w.upgrade().unwrap());
            if i % 5 == 0 {
                held.clear();
            }
        }
    }
    let out = kid.wait();
    out.assert_success();
    assert_eq!(out.value("done"), N.to_string());
    let arc = seg.find::<Arc<Counted>>("shared").unwrap().unwrap();
    assert_eq!(Arc::strong_count(arc), 2, "the named object and the slot");
    assert_eq!(Arc::weak_count(arc), 1);
    assert_eq!(drops_of(&seg), 0);
    slots(&seg).lock().unwrap().clear();
    seg.destroy::<Arc<Counted>>("shared").unwrap();
    assert_eq!(drops_of(&seg), 1);
    seg.destroy::<Weak<Counted>>("weak").unwrap();
    assert!(seg.free_memory().unwrap() <= free);
    seg.check_sanity().unwrap();
}

#[test]
fn a_process_exiting_with_a_reference_leaks_it_never_double_frees() {
    let name = unique_name("arc-exit");
    let mut c = Cleanup::new();
    c.shm(&name);
    let (seg, _) = arc_setup(&name);
    let out = child("arc_child")
        .args([name.as_str(), "exit-holding"])
        .run();
    out.assert_success();
    assert_eq!(out.value("strong"), "2");
    let s = slots(&seg).lock().unwrap();
    assert_eq!(
        Arc::strong_count(&s[0]),
        2,
        "the child's reference is leaked"
    );
    drop(s);
    slots(&seg).lock().unwrap().clear();
    assert_eq!(drops_of(&seg), 0, "leaked, not dropped");
    let w = seg.find::<Weak<Counted>>("weak").unwrap().unwrap();
    assert_eq!(w.strong_count(), 1);
    seg.check_sanity().unwrap();
}
