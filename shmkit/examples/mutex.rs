//! Three processes increment one counter under a process-shared [`Mutex`], and the total is
//! exact.
//!
//! Run it with `cargo run --example mutex`. The parent creates a managed segment in
//! `/dev/shm`, constructs a `Mutex<Tally>` in it by name, and re-executes itself twice as a
//! child (the role travels in the `SHMKIT_EXAMPLE_ROLE` environment variable, the segment's
//! name as the first argument). Each child finds the mutex by name; all three processes then
//! add to the counter at the same time. Each increment reads the counter and then writes it
//! back plus one, so without the lock updates would be lost; with it the total is exactly
//! `3 × ROUNDS`. The mutex is Boost's `interprocess_mutex`, placed with Boost's
//! `managed_shared_memory::construct`; unlike Boost's, it is robust (see the `owner_death`
//! example). The segment is removed at the end.

use std::process::{Child, Command};

use shmkit::sync::Mutex;
use shmkit::{ManagedSharedMemory, RemoveOnDrop, ShmSafe};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";
const ROUNDS: u64 = 20_000;
const CHILDREN: usize = 2;

/// What the mutex protects: the counter, and who touched it last.
#[derive(ShmSafe)]
#[repr(C)]
struct Tally {
    counter: u64,
    /// How many times the writer changed from one process to another: proof of interleaving.
    handovers: u64,
    last_pid: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("adder") => adder(),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let pid = std::process::id();
    let name = format!("shmkit-example-mutex-{pid}");
    let segment: ManagedSharedMemory = ManagedSharedMemory::create(&name, 64 * 1024)?;
    // Handles never remove what they name; this guard removes the segment when main returns.
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let tally = segment.construct(
        "tally",
        Mutex::new(Tally {
            counter: 0,
            handovers: 0,
            last_pid: 0,
        }),
    )?;
    println!("parent: pid {pid} created /dev/shm/{name} and constructed \"tally\" in it");

    let exe = std::env::current_exe()?;
    let children: Vec<Child> = (0..CHILDREN)
        .map(|_| Command::new(&exe).env(ROLE, "adder").arg(&name).spawn())
        .collect::<Result<_, _>>()?;
    add(tally, "parent")?;
    for mut child in children {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("a child process failed: {status}").into());
        }
    }

    let total = tally
        .lock()
        .map_err(|_| "a process died holding the lock")?;
    let expected = ROUNDS * (CHILDREN as u64 + 1);
    println!(
        "parent: {} processes added {ROUNDS} each: counter = {} (expected {expected})",
        CHILDREN + 1,
        total.counter
    );
    println!(
        "parent: the lock changed hands between processes {} times",
        total.handovers
    );
    if total.counter != expected {
        return Err("updates were lost".into());
    }
    println!("parent: exact total, no update lost; the segment is removed on exit");
    Ok(())
}

/// Adds `ROUNDS` to the counter, one locked read-modify-write at a time.
fn add(tally: &Mutex<Tally>, who: &str) -> Result<(), Box<dyn std::error::Error>> {
    let me = u64::from(std::process::id());
    for _ in 0..ROUNDS {
        let mut t = tally
            .lock()
            .map_err(|_| "a process died holding the lock")?;
        let read = t.counter;
        // A lost update would happen here without the lock: another process reads the same value.
        std::hint::spin_loop();
        t.counter = read + 1;
        if t.last_pid != me {
            if t.last_pid != 0 {
                t.handovers += 1;
            }
            t.last_pid = me;
        }
    }
    println!("{who}: pid {me} added its {ROUNDS}");
    Ok(())
}

fn adder() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the child needs the segment's name")?;
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    let tally = segment
        .find::<Mutex<Tally>>("tally")?
        .ok_or("no \"tally\" in the segment")?;
    add(tally, "child ")
}
