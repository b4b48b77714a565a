//! Managed segments register their mappings in the pointer registry: segment-relative pointers
//! and `ptr::handle_of` work for objects inside them, in this process and in another one that
//! maps the segment at a different address, and stop resolving once the handle is dropped.

use std::time::Duration;

use shmkit::ptr::{self, Handle, SegmentPtr, registry};
use shmkit::segment::SegmentManager;
use shmkit::{
    ErrorKind, ManagedExternalBuffer, ManagedHeapMemory, ManagedMappedFile, ManagedSharedMemory,
    MappedRegion, ShmSafe,
};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name, unique_path};

child_roles!(resolve_in_child);

/// A structure with a segment-relative pointer to another object of its segment.
#[derive(ShmSafe)]
#[repr(C)]
struct Holder {
    tag: u64,
    target: SegmentPtr<u64>,
}

const VALUE: u64 = 0x5EED_CAFE_F00D_0042;

/// The address of the segment's byte 0 in this process.
fn base_of(seg: &SegmentManager) -> usize {
    seg.raw_ptr(Handle::from_u64(0)).unwrap().addr()
}

/// Child: opens the segment (at another address than `args[1]`, the parent's base), finds the
/// holder by name and resolves its pointer.
fn resolve_in_child(args: &[String]) {
    let parent_base: usize = args[1].parse().unwrap();
    // Map something first, so that the segment's own mapping lands elsewhere.
    let _spacer = MappedRegion::anonymous(1 << 20).unwrap();
    let first: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    // If the address still happens to equal the parent's, a second handle (a second mapping,
    // necessarily at another address) is used instead.
    let second: Option<ManagedSharedMemory> =
        (base_of(&first) == parent_base).then(|| ManagedSharedMemory::open(&args[0]).unwrap());
    let seg = second.as_ref().unwrap_or(&first);
    report("base", base_of(seg));
    let holder = seg.find::<Holder>("holder").unwrap().expect("holder");
    let p = holder.target.get().unwrap();
    // SAFETY: `get` checked that the target lies in this mapping and is aligned; it is the
    // live named `u64` the parent constructed, which nothing writes any more.
    let value = unsafe { p.read() };
    let found = seg.find::<u64>("target").unwrap().expect("target");
    report("value", format_args!("{value:#x}"));
    report("tag", holder.tag);
    report("same_object", std::ptr::eq(p.cast_const(), found));
    report(
        "handles_agree",
        ptr::handle_of(found).unwrap() == seg.handle_of(found).unwrap(),
    );
}

#[test]
fn a_segment_ptr_built_by_the_parent_resolves_in_a_child_at_another_address() {
    let name = unique_name("segptr");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16).unwrap();
    let target = seg.construct("target", VALUE).unwrap();
    let holder = seg
        .construct(
            "holder",
            Holder {
                tag: 7,
                target: SegmentPtr::null(),
            },
        )
        .unwrap();
    holder.target.set(target).unwrap();
    assert_eq!(
        holder.target.segment().map(|id| id.as_u64()),
        Some(seg.segment_id())
    );
    assert_eq!(
        holder.target.get().unwrap().cast_const(),
        target as *const u64
    );

    let parent_base = base_of(&seg);
    let out = child("resolve_in_child")
        .args([name.clone(), parent_base.to_string()])
        .timeout(Duration::from_secs(60))
        .run();
    out.assert_success();
    let child_base: usize = out.value("base").parse().unwrap();
    assert_ne!(
        child_base, parent_base,
        "the child mapped the segment elsewhere"
    );
    assert_eq!(out.value("value"), format!("{VALUE:#x}"));
    assert_eq!(out.value("tag"), "7");
    assert_eq!(out.value("same_object"), "true");
    assert_eq!(out.value("handles_agree"), "true");
}

#[test]
fn two_handles_of_one_segment_are_both_registered() {
    let name = unique_name("segptr-two");
    let mut c = Cleanup::new();
    c.shm(&name);
    let a: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16).unwrap();
    let b: ManagedSharedMemory = ManagedSharedMemory::open(&name).unwrap();
    assert_ne!(base_of(&a), base_of(&b));
    let target = a.construct("target", VALUE).unwrap();
    let holder = a
        .construct(
            "holder",
            Holder {
                tag: 1,
                target: SegmentPtr::null(),
            },
        )
        .unwrap();
    holder.target.set(target).unwrap();
    // The same holder seen through the second mapping resolves into the second mapping.
    let holder_b = b.find::<Holder>("holder").unwrap().unwrap();
    let target_b = b.find::<u64>("target").unwrap().unwrap();
    assert_eq!(
        holder_b.target.get().unwrap().cast_const(),
        target_b as *const u64
    );
    assert_eq!(*target_b, VALUE);
    for (seg, obj) in [(&a, target), (&b, target_b)] {
        let m = registry::lookup(std::ptr::from_ref(obj).cast()).unwrap();
        assert_eq!(m.id().as_u64(), seg.segment_id());
        assert_eq!(m.base().addr(), base_of(seg));
        assert_eq!(m.len(), seg.size());
    }
    drop(a);
    // The second mapping stays registered when the first handle goes.
    assert_eq!(*ptr_target(holder_b), VALUE);
}

fn ptr_target(h: &Holder) -> &u64 {
    // SAFETY: the pointer was checked by `get` (in the mapping, aligned), and points at the
    // live named `u64` of the same segment, which outlives `h`'s borrow of its handle.
    unsafe { &*h.target.get().unwrap() }
}

#[test]
fn ptr_handle_of_agrees_with_the_segment_for_every_kind() {
    let name = unique_name("segptr-kinds");
    let path = unique_path("segptr-kinds");
    let mut c = Cleanup::new();
    c.shm(&name).file(&path);

    let shm: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16).unwrap();
    let x = shm.construct("x", 1u64).unwrap();
    assert_eq!(ptr::handle_of(x).unwrap(), shm.handle_of(x).unwrap());

    let file: ManagedMappedFile = ManagedMappedFile::create(&path, 1 << 16).unwrap();
    let x = file.construct("x", 2u64).unwrap();
    assert_eq!(ptr::handle_of(x).unwrap(), file.handle_of(x).unwrap());

    let mut buf = vec![0u8; 1 << 16];
    {
        let ext: ManagedExternalBuffer = ManagedExternalBuffer::create(&mut buf).unwrap();
        let x = ext.construct("x", 3u64).unwrap();
        assert_eq!(ptr::handle_of(x).unwrap(), ext.handle_of(x).unwrap());
    }
    // Dropped: the caller's buffer is an ordinary allocation again.
    assert!(registry::lookup(buf.as_ptr().wrapping_add(4096)).is_none());

    let mut heap: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let h = heap.handle_of(heap.construct("x", 4u64).unwrap()).unwrap();
    let old_base = base_of(&heap);
    heap.grow(1 << 16).unwrap();
    // The grown buffer is registered at its new base, with the same id and the new length.
    let x = heap.find::<u64>("x").unwrap().unwrap();
    assert_eq!(ptr::handle_of(x).unwrap(), h);
    let m = registry::lookup(std::ptr::from_ref(x).cast()).unwrap();
    assert_eq!((m.base().addr(), m.len()), (base_of(&heap), 2 << 16));
    assert_eq!(m.id().as_u64(), heap.segment_id());
    if old_base != base_of(&heap) {
        assert!(registry::lookup(std::ptr::without_provenance(old_base + 4096)).is_none());
    }
}

#[test]
fn after_dropping_the_handle_its_addresses_are_not_found() {
    let name = unique_name("segptr-drop");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16).unwrap();
    let x = seg.construct("x", 5u64).unwrap();
    let addr = std::ptr::from_ref(x).addr();
    // Cached in this thread's last-hit cache.
    assert_eq!(
        registry::lookup(std::ptr::without_provenance(addr)).map(|m| m.id().as_u64()),
        Some(seg.segment_id())
    );
    drop(seg);
    assert!(registry::lookup(std::ptr::without_provenance(addr)).is_none());
    // A SegmentPtr read back out of nowhere does not resolve either.
    let on_stack: SegmentPtr<u64> = SegmentPtr::null();
    assert!(on_stack.get().unwrap().is_null());
    let e = ptr::handle_of(&on_stack).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn a_segment_nested_in_another_segments_memory_still_opens() {
    let outer: ManagedHeapMemory = ManagedHeapMemory::new(1 << 18).unwrap();
    let len = 1 << 16;
    let block = outer.raw_ptr(outer.allocate(len).unwrap()).unwrap();
    // SAFETY: a block of `len` bytes allocated above, used only through this slice while it
    // lives (it is never deallocated in this test).
    let buf = unsafe { std::slice::from_raw_parts_mut(block, len) };
    // The buffer lies in `outer`'s registered mapping: the inner segment is not registered
    // on its own (the registry refuses overlapping ranges), but it works.
    let inner: ManagedExternalBuffer = ManagedExternalBuffer::create(buf).unwrap();
    let x = inner.construct("x", 9u64).unwrap();
    assert_eq!(inner.find::<u64>("x").unwrap(), Some(&9));
    let m = registry::lookup(std::ptr::from_ref(x).cast()).unwrap();
    assert_eq!(m.id().as_u64(), outer.segment_id());
    assert_eq!(ptr::handle_of(x).unwrap(), outer.handle_of(x).unwrap());
}
