//! Boost's quick guide, in shmkit: a named object and an anonymous block in a managed shared
//! memory segment, with the block's handle passed to another process on its command line.
//!
//! Run it with `cargo run --example named_objects`. The parent creates a `ManagedSharedMemory`,
//! constructs a named object (`"config"`) and an anonymous block, and gets the block's handle
//! with `handle_of` (Boost's `get_handle_from_address`): an offset from the segment's base,
//! valid in every process whatever address the segment maps at. It re-executes itself as a child
//! (the role travels in the `SHMKIT_EXAMPLE_ROLE` environment variable) with the segment's name
//! and the handle as arguments. The child finds `"config"` by name and resolves the handle with
//! `get_by_handle` (Boost's `get_address_from_handle`, checked for type and bounds), and signs
//! the block. The parent sees the signature, destroys both objects and removes the segment.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use shmkit::segment::Handle;
use shmkit::{ManagedSharedMemory, RemoveOnDrop, ShmSafe};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";

/// The named object.
#[derive(ShmSafe)]
#[repr(C)]
struct Config {
    workers: u32,
    block_len: u32,
}

/// The anonymous block: a message, and a slot the child signs with its pid.
#[derive(ShmSafe)]
#[repr(C)]
struct Block {
    text: [u8; 32],
    signed_by: AtomicU32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("child") => child(),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shmkit-named-objects-{}", std::process::id());
    // Removes the segment even if the demo fails or panics (Boost's `remove_shared_memory_on_destroy`).
    let cleanup = RemoveOnDrop::shared_memory(&name);
    parent_in(&name)?;
    // Removes it now, reporting any error (Boost's `shared_memory_object::remove`).
    cleanup.remove_now()?;
    println!("parent: removed the segment {name}");
    Ok(())
}

fn parent_in(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut segment: ManagedSharedMemory = ManagedSharedMemory::create(name, 1 << 16)?;
    segment.construct(
        "config",
        Config {
            workers: 4,
            block_len: 32,
        },
    )?;
    let message = b"hello through a handle";
    let mut text = [0u8; 32];
    text[..message.len()].copy_from_slice(message);
    let block = segment.construct_anonymous(Block {
        text,
        signed_by: AtomicU32::new(0),
    })?;
    let handle = segment.handle_of(block)?;
    println!("parent: constructed \"config\" and an anonymous block at {handle:?} in {name}");

    let status = Command::new(std::env::current_exe()?)
        .env(ROLE, "child")
        .arg(name)
        .arg(handle.as_u64().to_string())
        .status()?;
    if !status.success() {
        return Err(format!("the child failed: {status}").into());
    }
    println!(
        "parent: the block is signed by pid {}",
        block.signed_by.load(Ordering::Acquire)
    );

    let block: *const Block = block;
    segment.destroy_ptr(block)?;
    let destroyed = segment.destroy::<Config>("config")?;
    println!("parent: destroyed the block and \"config\" ({destroyed})");
    segment.check_sanity()?;
    Ok(())
}

fn child() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().ok_or("the child needs the segment's name")?;
    let handle = Handle::from_u64(args.next().ok_or("the child needs the handle")?.parse()?);
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    let config = segment
        .find::<Config>("config")?
        .ok_or("no config in the segment")?;
    println!(
        "child:  pid {} found \"config\" by name: workers = {}, block_len = {}",
        std::process::id(),
        config.workers,
        config.block_len
    );
    let block = segment.get_by_handle::<Block>(handle)?;
    let len = block.text.iter().position(|&b| b == 0).unwrap_or(32);
    println!(
        "child:  resolved {handle:?} from the command line: {:?}",
        String::from_utf8_lossy(&block.text[..len])
    );
    block.signed_by.store(std::process::id(), Ordering::Release);
    // A handle is checked: asking for another type there is an error, not a reinterpretation.
    match segment.get_by_handle::<Config>(handle) {
        Ok(_) => return Err("a wrong-type get_by_handle succeeded".into()),
        Err(e) => println!("child:  get_by_handle::<Config> there -> {:?}", e.kind()),
    }
    Ok(())
}
