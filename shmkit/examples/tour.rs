//! A walk through shmkit, with a real second process.
//!
//! Run it with `cargo run --release --example tour`. The program re-executes itself as a child
//! process (the role travels in the `SHMKIT_TOUR_ROLE` environment variable); parent and child
//! share memory by name, as two unrelated programs would.

use std::process::Command;

use shmkit::{MappedRegion, RemoveOnDrop, SharedMemory};

const ROLE: &str = "SHMKIT_TOUR_ROLE";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("child") => child(),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    println!("shmkit tour (pid {})", std::process::id());
    println!();
    println!("1. Shared memory between two processes");
    let name = format!("shmkit-tour-{}", std::process::id());
    let shm = SharedMemory::create(&name)?;
    // Handles never remove what they name; this guard removes it when the tour ends.
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    shm.set_len(64 * 1024)?;
    println!(
        "   parent: created /dev/shm/{name} ({} bytes, mode {:o})",
        shm.len()?,
        shm.permissions()?.mode()
    );
    let region = MappedRegion::map(&shm)?;

    let status = Command::new(std::env::current_exe()?)
        .env(ROLE, "child")
        .arg(&name)
        .status()?;
    if !status.success() {
        return Err(format!("the child process failed: {status}").into());
    }

    let mut len = [0u8; 2];
    region.read_at(0, &mut len)?;
    let mut text = vec![0u8; usize::from(u16::from_le_bytes(len))];
    region.read_at(2, &mut text)?;
    println!("   parent: read {:?}", String::from_utf8_lossy(&text));
    println!();
    println!("Done. Objects left in shared memory: none (the guard removed {name}).");
    Ok(())
}

fn child() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the child needs the object's name")?;
    let shm = SharedMemory::open(&name)?;
    let region = MappedRegion::map(&shm)?;
    let text = format!(
        "hello from the child process {} (mapped at {:p})",
        std::process::id(),
        region.as_ptr()
    );
    region.write_at(0, &(text.len() as u16).to_le_bytes())?;
    region.write_at(2, text.as_bytes())?;
    println!("   child:  opened {name} and wrote {} bytes", text.len());
    Ok(())
}
