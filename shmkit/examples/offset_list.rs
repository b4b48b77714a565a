//! Boost's quick guide, in shmkit: a linked list built with offset pointers in a managed
//! segment, walked by another process that maps the segment at a different address.
//!
//! Run it with `cargo run --example offset_list`. The parent creates a `ManagedSharedMemory`,
//! constructs ten anonymous nodes, links them with [`OffsetPtr`] (Boost's `offset_ptr`: each
//! pointer stores its target's distance from itself, so it means the same wherever the
//! segment is mapped), and stores the head in a named object. It re-executes itself as a child
//! (role in `SHMKIT_EXAMPLE_ROLE`) that finds the head by name, walks the list, and doubles
//! every value. The parent walks it again and prints the result.
//!
//! Offset pointers can only be set through a pinned reference (`ptr::pin_in_segment`), so safe
//! code cannot move one after setting it. Following one is `unsafe`: the pointer is only as
//! good as the process that wrote it. The walk is bounded by the length stored in the head, so
//! a cycle cannot hang the reader.

use std::process::Command;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use shmkit::ptr::{OffsetPtr, pin_in_segment};
use shmkit::{ManagedSharedMemory, RemoveOnDrop, ShmSafe};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";

/// A list node. Atomics, because two processes read and write the values.
#[derive(ShmSafe)]
#[repr(C)]
struct Node {
    value: AtomicI64,
    next: OffsetPtr<Node>,
}

/// The named object: where the list starts, and how long it is.
#[derive(ShmSafe)]
#[repr(C)]
struct List {
    head: OffsetPtr<Node>,
    len: AtomicU64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("child") => child(),
        _ => parent(),
    }
}

/// Runs `f` on each node, following the offset pointers (at most `list.len` nodes).
fn walk(list: &List, mut f: impl FnMut(&Node)) -> Result<(), Box<dyn std::error::Error>> {
    let mut p = list.head.get();
    for _ in 0..list.len.load(Ordering::Acquire) {
        if p.is_null() {
            return Err("the list ends early".into());
        }
        // SAFETY: every pointer in the list was set by the parent to a `Node` constructed in
        // this segment, which stays mapped (and the nodes alive) while `list` is borrowed; the
        // processes cooperate, and the walk is bounded by the stored length.
        let node = unsafe { &*p };
        f(node);
        p = node.next.get();
    }
    Ok(())
}

fn values(list: &List) -> Result<Vec<i64>, Box<dyn std::error::Error>> {
    let mut v = Vec::new();
    walk(list, |n| v.push(n.value.load(Ordering::Acquire)))?;
    Ok(v)
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shmkit-offset-list-{}", std::process::id());
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let segment: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
    let list = segment.construct(
        "list",
        List {
            head: OffsetPtr::null(),
            len: AtomicU64::new(0),
        },
    )?;
    // Build the list back to front: each new node points at the previous head.
    for i in (1..=10).rev() {
        let node = segment.construct_anonymous(Node {
            value: AtomicI64::new(i),
            next: OffsetPtr::null(),
        })?;
        pin_in_segment(&node.next)?.set_from(&list.head);
        pin_in_segment(&list.head)?.set(node);
        list.len.fetch_add(1, Ordering::Release);
    }
    println!("parent: built {:?} with offset pointers", values(list)?);

    let status = Command::new(std::env::current_exe()?)
        .env(ROLE, "child")
        .arg(&name)
        .status()?;
    if !status.success() {
        return Err(format!("the child failed: {status}").into());
    }
    let after = values(list)?;
    println!("parent: after the child: {after:?}");
    if after != (1..=10).map(|i| i * 2).collect::<Vec<i64>>() {
        return Err("the child's changes are not all there".into());
    }
    Ok(())
}

fn child() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the child needs the segment's name")?;
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    let list = segment
        .find::<List>("list")?
        .ok_or("no list in the segment")?;
    let mut sum = 0;
    walk(list, |n| {
        sum += n.value.load(Ordering::Acquire);
        // `AtomicI64` has no `fetch_mul`: double with a compare-and-swap loop.
        let _ = n
            .value
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(v * 2));
    })?;
    println!(
        "child:  walked {} nodes (sum {sum}) and doubled each",
        list.len.load(Ordering::Acquire)
    );
    Ok(())
}
