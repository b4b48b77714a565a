//! Producer and consumer in two processes, with a bounded buffer guarded by a process-shared
//! [`Mutex`] and two [`Condvar`]s.
//!
//! Run it with `cargo run --example condvar`. The parent creates a managed segment in
//! `/dev/shm` and constructs a `Channel` in it by name: a four-slot ring buffer under a mutex,
//! with a condition variable for "not empty" and one for "not full" (the layout of Boost's
//! `interprocess_condition` example). It re-executes itself as the producer (the role travels
//! in the `SHMKIT_EXAMPLE_ROLE` environment variable, the segment's name as the first
//! argument), which sends the numbers 1 to `ITEMS` and then closes the channel; the parent
//! consumes them. The buffer is far smaller than the stream, so each side waits for the
//! other: the printed counts show how often. The segment is removed at the end.

use std::process::Command;
use std::time::Duration;

use shmkit::sync::{Condvar, Mutex};
use shmkit::{ManagedSharedMemory, RemoveOnDrop, ShmSafe};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";
const CAPACITY: usize = 4;
const ITEMS: u64 = 2_000;
/// A waiter gives up after this long without progress (the other process must have died).
const PATIENCE: Duration = Duration::from_secs(10);

/// The bounded buffer: `len` items starting at `head`, and whether the producer is done.
#[derive(ShmSafe)]
#[repr(C)]
struct Ring {
    items: [u64; CAPACITY],
    head: u64,
    len: u64,
    closed: u64,
}

/// The buffer, its lock, and the two conditions waited for.
#[derive(ShmSafe)]
#[repr(C)]
struct Channel {
    ring: Mutex<Ring>,
    not_empty: Condvar,
    not_full: Condvar,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("producer") => producer(),
        _ => consumer(),
    }
}

fn consumer() -> Result<(), Box<dyn std::error::Error>> {
    let pid = std::process::id();
    let name = format!("shmkit-example-condvar-{pid}");
    let segment: ManagedSharedMemory = ManagedSharedMemory::create(&name, 64 * 1024)?;
    // Handles never remove what they name; this guard removes the segment when main returns.
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let channel = segment.construct(
        "channel",
        Channel {
            ring: Mutex::new(Ring {
                items: [0; CAPACITY],
                head: 0,
                len: 0,
                closed: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        },
    )?;
    println!(
        "consumer: pid {pid} constructed a {CAPACITY}-slot channel in /dev/shm/{name}, starting the producer"
    );
    let mut producer = Command::new(std::env::current_exe()?)
        .env(ROLE, "producer")
        .arg(&name)
        .spawn()?;

    let (mut received, mut sum, mut waits, mut in_order) = (0u64, 0u64, 0u64, true);
    loop {
        let mut ring = channel
            .ring
            .lock()
            .map_err(|_| "the producer died holding the lock")?;
        while ring.len == 0 && ring.closed == 0 {
            waits += 1;
            let (guard, timeout) = channel
                .not_empty
                .wait_timeout(ring, PATIENCE)
                .map_err(|_| "the producer died holding the lock")?;
            if timeout.timed_out() {
                return Err("no item for 10 s: is the producer alive?".into());
            }
            ring = guard;
        }
        if ring.len == 0 {
            break; // closed and drained
        }
        let item = ring.items[ring.head as usize];
        ring.head = (ring.head + 1) % CAPACITY as u64;
        ring.len -= 1;
        drop(ring);
        channel.not_full.notify_one();
        received += 1;
        in_order &= item == received;
        sum += item;
    }
    let status = producer.wait()?;
    if !status.success() {
        return Err(format!("the producer failed: {status}").into());
    }
    println!(
        "consumer: received {received} items, {}, sum = {sum}",
        if in_order { "in order" } else { "OUT OF ORDER" }
    );
    println!("consumer: waited on \"not empty\" {waits} times");
    if received != ITEMS || !in_order || sum != ITEMS * (ITEMS + 1) / 2 {
        return Err("the stream arrived damaged".into());
    }
    println!("consumer: the channel is closed and drained; the segment is removed on exit");
    Ok(())
}

fn producer() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the producer needs the segment's name")?;
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    let channel = segment
        .find::<Channel>("channel")?
        .ok_or("no \"channel\" in the segment")?;
    println!(
        "producer: pid {} found \"channel\" by name, sending 1..={ITEMS}",
        std::process::id()
    );
    let mut waits = 0u64;
    for item in 1..=ITEMS {
        let mut ring = channel
            .ring
            .lock()
            .map_err(|_| "the consumer died holding the lock")?;
        while ring.len == CAPACITY as u64 {
            waits += 1;
            let (guard, timeout) = channel
                .not_full
                .wait_timeout(ring, PATIENCE)
                .map_err(|_| "the consumer died holding the lock")?;
            if timeout.timed_out() {
                return Err("no free slot for 10 s: is the consumer alive?".into());
            }
            ring = guard;
        }
        let tail = (ring.head + ring.len) as usize % CAPACITY;
        ring.items[tail] = item;
        ring.len += 1;
        drop(ring);
        channel.not_empty.notify_one();
    }
    channel
        .ring
        .lock()
        .map_err(|_| "the consumer died holding the lock")?
        .closed = 1;
    channel.not_empty.notify_all();
    println!(
        "producer: sent {ITEMS} items and closed the channel; waited on \"not full\" {waits} times"
    );
    Ok(())
}
