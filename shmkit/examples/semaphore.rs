//! A ring buffer between two processes, coordinated by two process-shared [`Semaphore`]s and
//! no lock.
//!
//! Run it with `cargo run --example semaphore`. The parent creates a managed segment in
//! `/dev/shm` and constructs a `Ring` in it by name: eight slots, a `free` semaphore counting
//! empty slots (it starts at eight) and a `filled` one counting full slots (it starts at zero):
//! Boost's `interprocess_semaphore` ring buffer example. It re-executes itself as the writer
//! (the role travels in the `SHMKIT_EXAMPLE_ROLE` environment variable, the segment's name as
//! the first argument). The writer waits for a free slot, fills it, and posts `filled`; the
//! parent waits for a filled slot, empties it, and posts `free`. With one writer and one
//! reader each slot is touched by one side at a time, so the semaphores are all the
//! coordination needed. The segment is removed at the end.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shmkit::sync::Semaphore;
use shmkit::{ManagedSharedMemory, RemoveOnDrop, ShmSafe};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";
const SLOTS: usize = 8;
const MESSAGES: u64 = 5_000;
/// A waiter gives up after this long (the other process must have died).
const PATIENCE: Duration = Duration::from_secs(10);

/// The ring buffer and its two counting semaphores.
#[derive(ShmSafe)]
#[repr(C)]
struct Ring {
    /// Empty slots: the writer takes one before writing.
    free: Semaphore,
    /// Full slots: the reader takes one before reading.
    filled: Semaphore,
    slots: [AtomicU64; SLOTS],
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("writer") => writer(),
        _ => reader(),
    }
}

fn reader() -> Result<(), Box<dyn std::error::Error>> {
    let pid = std::process::id();
    let name = format!("shmkit-example-semaphore-{pid}");
    let segment: ManagedSharedMemory = ManagedSharedMemory::create(&name, 64 * 1024)?;
    // Handles never remove what they name; this guard removes the segment when main returns.
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let ring = segment.construct(
        "ring",
        Ring {
            free: Semaphore::new(SLOTS as u32),
            filled: Semaphore::new(0),
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        },
    )?;
    println!(
        "reader: pid {pid} constructed an {SLOTS}-slot ring in /dev/shm/{name} (free = {}, filled = {})",
        ring.free.value(),
        ring.filled.value()
    );
    let mut writer = Command::new(std::env::current_exe()?)
        .env(ROLE, "writer")
        .arg(&name)
        .spawn()?;

    let (mut sum, mut in_order, mut max_filled) = (0u64, true, 0u32);
    for i in 0..MESSAGES {
        max_filled = max_filled.max(ring.filled.value());
        if !ring.filled.wait_timeout(PATIENCE) {
            let _ = writer.kill();
            return Err("no message for 10 s: is the writer alive?".into());
        }
        let value = ring.slots[i as usize % SLOTS].load(Ordering::Relaxed);
        ring.free.post()?;
        in_order &= value == (i + 1) * 10;
        sum += value;
    }
    let status = writer.wait()?;
    if !status.success() {
        return Err(format!("the writer failed: {status}").into());
    }
    println!(
        "reader: received {MESSAGES} messages, {}, sum = {sum}",
        if in_order { "in order" } else { "OUT OF ORDER" }
    );
    println!("reader: at most {max_filled} of the {SLOTS} slots were waiting to be read");
    println!(
        "reader: finally free = {}, filled = {}",
        ring.free.value(),
        ring.filled.value()
    );
    if !in_order || sum != 10 * MESSAGES * (MESSAGES + 1) / 2 {
        return Err("the stream arrived damaged".into());
    }
    println!("reader: the segment is removed on exit");
    Ok(())
}

fn writer() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the writer needs the segment's name")?;
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    let ring = segment
        .find::<Ring>("ring")?
        .ok_or("no \"ring\" in the segment")?;
    println!(
        "writer: pid {} found \"ring\" by name, writing {MESSAGES} messages",
        std::process::id()
    );
    let mut full = 0u64;
    for i in 0..MESSAGES {
        // A zero count means the ring is full: the reader has not caught up.
        if ring.free.value() == 0 {
            full += 1;
        }
        if !ring.free.wait_timeout(PATIENCE) {
            return Err("no free slot for 10 s: is the reader alive?".into());
        }
        // The semaphores order these accesses (post releases, wait acquires); the slot is ours.
        ring.slots[i as usize % SLOTS].store((i + 1) * 10, Ordering::Relaxed);
        ring.filled.post()?;
    }
    println!("writer: wrote {MESSAGES} messages; found the ring full {full} times");
    Ok(())
}
