//! The pointer layer across real processes and mappings: an `OffsetPtr` list walked by a process
//! that maps it elsewhere, segment-relative pointers moved within, across and out of segments,
//! handles passed between processes, and the registry's cache invalidation.

use std::sync::atomic::{AtomicU64, Ordering};

use shmkit::ptr::registry::{self, RegisteredRegion};
use shmkit::ptr::{
    self, Handle, OffsetPtr, RelPtr, SegmentBase, SegmentId, SegmentPtr, get_by_handle, handle_of,
};
use shmkit::{ErrorKind, MappedRegion, RemoveOnDrop, SharedMemory, ShmSafe};
use shmkit_testkit::{child, child_roles, report, unique_name};

child_roles!(walk_list, make_handle);

const SIZE: usize = 1 << 16;
/// Where the tests keep the segment id (a u64) and the head's handle.
const ID_AT: usize = 0;
const HEAD_AT: usize = 8;
const NODES_AT: usize = 4096;
const NODES: usize = 100;

#[derive(ShmSafe)]
#[repr(C)]
struct Node {
    next: OffsetPtr<Node>,
    value: u64,
}

/// Offset of node `i`: scattered (a permutation), so links go forwards and backwards.
fn node_at(i: usize) -> usize {
    NODES_AT + (i * 37 % NODES) * size_of::<Node>()
}

fn create(tag: &str) -> (String, RemoveOnDrop, MappedRegion) {
    let name = unique_name(tag);
    let shm = SharedMemory::create(&name).unwrap();
    let cleanup = RemoveOnDrop::shared_memory(&name);
    shm.set_len(SIZE as u64).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    (name, cleanup, region)
}

/// Maps `name` in this process at another address than `avoid`: first occupies `avoid` with a
/// mapping of its own (if it is free), then maps again. Returns both (the blocker must live).
fn map_elsewhere(name: &str, avoid: usize) -> (Option<MappedRegion>, MappedRegion) {
    let shm = SharedMemory::open(name).unwrap();
    let blocker = MappedRegion::options().address(avoid).map(&shm).ok();
    let region = MappedRegion::map(&shm).unwrap();
    assert_ne!(region.as_ptr().addr(), avoid, "mapped at the same address");
    report("blocked_parent_address", blocker.is_some());
    (blocker, region)
}

/// Child: maps the list elsewhere, walks it through the `OffsetPtr`s and reports what it saw.
fn walk_list(args: &[String]) {
    let parent_base: usize = args[1].parse().unwrap();
    let (_blocker, region) = map_elsewhere(&args[0], parent_base);
    let head = region.read::<u64>(HEAD_AT).unwrap() as usize;
    // SAFETY: the parent finished the list before starting us; nobody writes it meanwhile, and
    // its bytes are only accessed through these references.
    let mut node: &Node = unsafe { region.get(head) }.unwrap();
    let (mut values, mut tags, mut offsets) = (vec![], vec![], vec![]);
    loop {
        values.push(node.value.to_string());
        tags.push(node.next.tag().to_string());
        let next = node.next.get();
        if next.is_null() {
            break;
        }
        let off = next.addr().wrapping_sub(region.as_ptr().addr());
        assert!(off < SIZE, "link leaves the mapping: {next:p}");
        offsets.push(off.to_string());
        // SAFETY: `next` is inside our mapping (checked) and the parent put a Node there.
        node = unsafe { &*next };
    }
    report("base", region.as_ptr().addr());
    report("values", values.join(","));
    report("tags", tags.join(","));
    report("offsets", offsets.join(","));
}

#[test]
fn offset_ptr_list_is_walked_by_a_process_mapping_it_elsewhere() {
    let (name, _cleanup, region) = create("olist");
    let segment = RegisteredRegion::new(region, SegmentId::random()).unwrap();
    for i in 0..NODES {
        let node = Node {
            next: OffsetPtr::null(),
            value: (i * i + 1) as u64,
        };
        // SAFETY: nothing else uses these bytes yet.
        unsafe { segment.put(node_at(i), node) }.unwrap();
    }
    // SAFETY: the nodes are only accessed through these references from now on.
    let node = |i| -> &Node { unsafe { segment.get(node_at(i)) }.unwrap() };
    for i in 0..NODES {
        let next = ptr::pin_in_segment(&node(i).next).unwrap();
        if i + 1 < NODES {
            next.set_with_tag(node(i + 1), i % 4);
        } else {
            next.set_null();
            next.set_tag(3); // a tagged null must still read as null
        }
    }
    segment.write(HEAD_AT, &(node_at(0) as u64)).unwrap();

    // Walk it here first: same answers through this mapping.
    assert_eq!(node(0).next.get().cast_const(), node(1) as *const Node);
    assert!(node(NODES - 1).next.is_null());

    let out = child("walk_list")
        .args([name, segment.as_ptr().addr().to_string()])
        .run();
    let child_base: usize = out.value("base").parse().unwrap();
    eprintln!(
        "parent base {:#x}, child base {child_base:#x}, parent's address taken by a blocker: {}",
        segment.as_ptr().addr(),
        out.value("blocked_parent_address")
    );
    assert_ne!(child_base, segment.as_ptr().addr());
    let expect_values: Vec<String> = (0..NODES).map(|i| (i * i + 1).to_string()).collect();
    let expect_tags: Vec<String> = (0..NODES)
        .map(|i| if i + 1 < NODES { i % 4 } else { 3 }.to_string())
        .collect();
    let expect_offsets: Vec<String> = (1..NODES).map(|i| node_at(i).to_string()).collect();
    assert_eq!(out.value("values"), expect_values.join(","));
    assert_eq!(out.value("tags"), expect_tags.join(","));
    assert_eq!(out.value("offsets"), expect_offsets.join(","));
}

/// Child: registers its own mapping (elsewhere) of the parent's segment, puts a value at an
/// offset of its choosing and reports the value's handle.
fn make_handle(args: &[String]) {
    let parent_base: usize = args[1].parse().unwrap();
    let (_blocker, region) = map_elsewhere(&args[0], parent_base);
    let id = SegmentId::from_u64(region.read::<u64>(ID_AT).unwrap()).unwrap();
    let segment = RegisteredRegion::new(region, id).unwrap();
    let at = 40_000 + 8 * (std::process::id() as usize % 100);
    // SAFETY: only this process uses these bytes until it exits; the parent reads them after.
    let obj: &AtomicU64 = unsafe { segment.get(at) }.unwrap();
    let value = 0xC0FF_EE00_0000_0000 | u64::from(std::process::id());
    obj.store(value, Ordering::Release);
    let h = handle_of(obj).unwrap();
    assert_eq!(h.as_u64(), at as u64);
    assert_eq!(
        handle_of(&value).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    report("base", segment.as_ptr().addr());
    report("handle", h);
    report("value", value);
}

#[test]
fn a_handle_from_a_child_resolves_to_the_same_object_in_the_parent() {
    let (name, _cleanup, region) = create("handle");
    let id = SegmentId::random();
    region.write(ID_AT, &id.as_u64()).unwrap();
    let segment = RegisteredRegion::new(region, id).unwrap();
    let out = child("make_handle")
        .args([name, segment.as_ptr().addr().to_string()])
        .run();
    assert_ne!(
        out.value("base").parse::<usize>().unwrap(),
        segment.as_ptr().addr()
    );
    let h = Handle::from_u64(out.value("handle").parse().unwrap());
    let value: u64 = out.value("value").parse().unwrap();
    let view = segment.view();
    let p = get_by_handle::<AtomicU64>(&view, h).unwrap();
    // SAFETY: the child put an AtomicU64 there and has exited; only atomics touch it.
    let obj = unsafe { &*p };
    assert_eq!(obj.load(Ordering::Acquire), value);
    // The same object: its handle here is the child's handle.
    assert_eq!(handle_of(obj).unwrap(), h);
    assert_eq!(p.addr(), segment.as_ptr().addr() + h.as_u64() as usize);
    // Garbage handles are refused, not dereferenced.
    for bad in [SIZE as u64 - 4, SIZE as u64, u64::MAX, h.as_u64() + 4] {
        let e = get_by_handle::<AtomicU64>(&view, Handle::from_u64(bad)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}: {e}");
    }
}

/// A collection-like header with a self-contained segment pointer.
#[derive(ShmSafe)]
#[repr(C)]
struct Header {
    items: SegmentPtr<u64>,
    len: u64,
}

/// A collection-like header that resolves its base once.
#[derive(ShmSafe)]
#[repr(C)]
struct Array {
    segment: SegmentBase,
    items: RelPtr<u64>,
    len: u64,
}

/// Moves `len` bytes the way `memcpy` (a Rust move) would.
fn copy_bytes(from: &MappedRegion, at: usize, to: &MappedRegion, dest: usize, len: usize) {
    let mut buf = vec![0; len];
    from.read_at(at, &mut buf).unwrap();
    to.write_at(dest, &buf).unwrap();
}

fn segment(len: usize) -> RegisteredRegion {
    RegisteredRegion::new(MappedRegion::anonymous(len).unwrap(), SegmentId::random()).unwrap()
}

/// The item pointer of the `Header` at `at`, resolved (or the error).
fn header_items(seg: &MappedRegion, at: usize) -> shmkit::Result<*mut u64> {
    // SAFETY: the test accesses these bytes through this reference only while it lives.
    let h: &Header = unsafe { seg.get(at) }.unwrap();
    h.items.get()
}

#[test]
fn segment_ptr_moved_within_its_segment_stays_valid() {
    let seg = segment(SIZE);
    seg.write(1024, &42u64).unwrap();
    seg.write(2048, &43u64).unwrap();
    let (t1, t2) = (
        seg.view().ptr_at::<u64>(1024).unwrap(),
        seg.view().ptr_at(2048).unwrap(),
    );
    for (at, target) in [(256, t1), (768, t2)] {
        // SAFETY: nothing else uses these bytes.
        let h = unsafe {
            seg.put(
                at,
                Header {
                    items: SegmentPtr::null(),
                    len: 1,
                },
            )
        }
        .unwrap();
        h.items.set(target).unwrap();
    }
    // Moved (its bytes copied) to another offset of the same segment.
    copy_bytes(&seg, 256, &seg, 4000, size_of::<Header>());
    assert_eq!(header_items(&seg, 4000).unwrap(), t1);
    // SAFETY: the target is a u64 only read here.
    assert_eq!(unsafe { *header_items(&seg, 4000).unwrap() }, 42);
    // Two headers swapped: each follows its own target.
    copy_bytes(&seg, 256, &seg, 5000, size_of::<Header>());
    copy_bytes(&seg, 768, &seg, 256, size_of::<Header>());
    copy_bytes(&seg, 5000, &seg, 768, size_of::<Header>());
    assert_eq!(header_items(&seg, 256).unwrap(), t2);
    assert_eq!(header_items(&seg, 768).unwrap(), t1);
}

#[test]
fn segment_ptr_moved_out_of_its_segment_is_caught() {
    let (one, other) = (segment(SIZE), segment(SIZE));
    let unregistered = MappedRegion::anonymous(SIZE).unwrap();
    // SAFETY: nothing else uses these bytes.
    let h = unsafe {
        one.put(
            256,
            Header {
                items: SegmentPtr::null(),
                len: 1,
            },
        )
    }
    .unwrap();
    h.items.set(one.view().ptr_at(1024).unwrap()).unwrap();

    // Into another registered segment (another id): caught.
    copy_bytes(&one, 256, &other, 256, size_of::<Header>());
    let e = header_items(&other, 256).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("another segment"), "{e}");

    // Into memory nobody registered, and onto the stack: caught.
    copy_bytes(&one, 256, &unregistered, 256, size_of::<Header>());
    let e = header_items(&unregistered, 256).unwrap_err();
    assert!(
        e.message().contains("outside every registered mapping"),
        "{e}"
    );
    let on_stack: Header = one.read(256).unwrap();
    let e = on_stack.items.get().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.message().contains("outside every registered mapping"),
        "{e}"
    );
    let on_heap = Box::new(one.read::<Header>(256).unwrap());
    assert!(on_heap.items.get().is_err());

    // Setting one in place refuses targets outside its segment.
    assert!(h.items.set(other.view().ptr_at(1024).unwrap()).is_err());
    assert!(h.items.set(&5).is_err());
    assert!(on_stack.items.set(one.view().ptr_at(8).unwrap()).is_err());
    // ... and the original is untouched by all this.
    assert_eq!(h.items.get().unwrap(), one.view().ptr_at(1024).unwrap());
}

#[test]
fn segment_base_resolves_once_and_catches_moves() {
    let (one, other) = (segment(SIZE), segment(SIZE));
    for i in 0..8u64 {
        one.write(8192 + 8 * i as usize, &(100 + i)).unwrap();
    }
    let fresh = Array {
        segment: SegmentBase::unbound(),
        items: RelPtr::null(),
        len: 8,
    };
    // SAFETY: nothing else uses these bytes.
    let a = unsafe { one.put(128, fresh) }.unwrap();
    let view = a.segment.bind().unwrap();
    view.set(&a.items, view.ptr_at(8192).unwrap()).unwrap();

    let sum = |seg: &MappedRegion, at: usize| -> shmkit::Result<u64> {
        // SAFETY: accessed through this reference only while it lives.
        let a: &Array = unsafe { seg.get(at) }.unwrap();
        let view = a.segment.resolve()?; // one lookup...
        let items = view.get_slice(&a.items, a.len as usize)?; // ...then plain indexing
        // SAFETY: the items are u64s only read here.
        Ok(unsafe { &*items }.iter().sum())
    };
    assert_eq!(sum(&one, 128).unwrap(), (100..108).sum());
    copy_bytes(&one, 128, &one, 30_000, size_of::<Array>());
    assert_eq!(sum(&one, 30_000).unwrap(), (100..108).sum());
    copy_bytes(&one, 128, &other, 128, size_of::<Array>());
    assert_eq!(
        sum(&other, 128).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // Binding does not adopt a structure moved into another segment.
    // SAFETY: accessed through this reference only while it lives.
    let moved: &Array = unsafe { other.get(128) }.unwrap();
    assert!(moved.segment.bind().is_err());
    let on_stack: Array = one.read(128).unwrap();
    assert!(on_stack.segment.resolve().is_err());
    // A scribbled offset is caught as corruption, not dereferenced.
    a.items.set_offset(SIZE as u64 - 16);
    assert_eq!(sum(&one, 128).unwrap_err().kind(), ErrorKind::Corrupted);
}

#[test]
fn two_mappings_of_one_segment_each_resolve_into_themselves() {
    let (name, _cleanup, region) = create("twice");
    let id = SegmentId::random();
    let a = RegisteredRegion::new(region, id).unwrap();
    let b = RegisteredRegion::new(
        MappedRegion::map(&SharedMemory::open(&name).unwrap()).unwrap(),
        id,
    )
    .unwrap();
    assert_ne!(a.as_ptr(), b.as_ptr());
    a.write(1024, &77u64).unwrap();
    // SAFETY: nothing else uses these bytes.
    let ha = unsafe {
        a.put(
            256,
            Header {
                items: SegmentPtr::null(),
                len: 1,
            },
        )
    }
    .unwrap();
    ha.items.set(a.view().ptr_at(1024).unwrap()).unwrap();
    // Read through mapping b, the same pointer resolves into b.
    let through_b = header_items(&b, 256).unwrap();
    assert_eq!(through_b, b.view().ptr_at(1024).unwrap());
    // SAFETY: a u64 only read here.
    assert_eq!(unsafe { *through_b }, 77);
    assert_eq!(
        header_items(&a, 256).unwrap(),
        a.view().ptr_at(1024).unwrap()
    );
    // A target given through the other mapping of the same segment is accepted.
    ha.items.set(b.view().ptr_at(2048).unwrap()).unwrap();
    assert_eq!(ha.items.offset(), Some(2048));
    // Handles are the same in both.
    // SAFETY: accessed through these references only.
    let (xa, xb): (&u64, &u64) = unsafe { (a.get(1024).unwrap(), b.get(1024).unwrap()) };
    assert_eq!(handle_of(xa).unwrap(), handle_of(xb).unwrap());
}

#[test]
fn unregistering_invalidates_cached_lookups_even_in_the_thread_that_cached_them() {
    let seg = segment(SIZE);
    // SAFETY: nothing else uses these bytes.
    let h = unsafe {
        seg.put(
            0,
            Header {
                items: SegmentPtr::null(),
                len: 0,
            },
        )
    }
    .unwrap();
    h.items.set(seg.view().ptr_at(64).unwrap()).unwrap();
    let addr = seg.as_ptr().wrapping_add(10);
    let addr_bits = addr.addr();
    // Cache the mapping here and in another thread.
    assert!(h.items.get().is_ok());
    assert!(registry::lookup(addr).is_some());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        let addr = std::ptr::without_provenance::<u8>(addr_bits);
        assert!(registry::lookup(addr).is_some());
        done_tx.send(()).unwrap();
        rx.recv().unwrap();
        registry::lookup(addr)
    });
    done_rx.recv().unwrap();

    let region = seg.into_region(); // unregistered, still mapped
    assert!(registry::lookup(addr).is_none());
    // SAFETY: the region is still mapped; accessed through this reference only.
    let h: &Header = unsafe { region.get(0) }.unwrap();
    assert!(h.items.get().is_err());
    tx.send(()).unwrap();
    assert!(other.join().unwrap().is_none());

    // Registered again (with a new id), the stale pointer is caught as belonging elsewhere.
    let seg = RegisteredRegion::new(region, SegmentId::random()).unwrap();
    assert!(registry::lookup(addr).is_some());
    assert!(header_items(&seg, 0).is_err());
}

#[test]
fn pinning_needs_a_registered_segment() {
    let seg = segment(4096);
    let unregistered = MappedRegion::anonymous(4096).unwrap();
    // SAFETY: accessed through these references only.
    let (p, q): (&OffsetPtr<u64>, &OffsetPtr<u64>) =
        unsafe { (seg.get(0).unwrap(), unregistered.get(0).unwrap()) };
    assert!(ptr::pin_in_segment(p).is_ok());
    assert_eq!(
        ptr::pin_in_segment(q).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let local = OffsetPtr::<u64>::null();
    assert!(ptr::pin_in_segment(&local).is_err());
}
