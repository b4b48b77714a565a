//! A process killed while holding a [`NamedMutex`]: the next locker is told, repairs the data,
//! and marks the mutex consistent. With Boost.Interprocess the mutex would stay locked forever.
//!
//! Run it with `cargo run --example owner_death`. The parent creates a managed segment holding
//! two account balances that always add up to 1000, and a named mutex guarding them (the
//! mutex and the data are separate objects, found by name, as with Boost's `named_mutex`). It
//! re-executes itself as a child (the role travels in the `SHMKIT_EXAMPLE_ROLE` environment
//! variable, the names as arguments) that locks the mutex, starts a transfer (debits one
//! account, writing the transfer to a journal first) and, before crediting the other, is
//! killed by the parent with `SIGKILL`: no destructor runs, nothing unlocks.
//!
//! Boost's `named_mutex` (and a plain process-shared pthread mutex) then stays locked by a
//! dead process: the next `lock()` blocks forever, and only removing the mutex and guessing
//! at the state of the data gets the program going. shmkit's `lock()` returns
//! [`OwnerDied`](shmkit::sync::OwnerDied) carrying the guard: the parent finishes the transfer
//! from the journal, calls `mark_consistent`, and later lockers lock normally. Both objects are
//! removed at the end.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmkit::sync::NamedMutex;
use shmkit::{ManagedSharedMemory, RemoveOnDrop, ShmSafe};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";
const TOTAL: u64 = 1000;
const AMOUNT: u64 = 250;

/// The data the named mutex guards. Atomics, because the lock is a separate object: the type
/// system cannot tie the data to it, so plain `u64`s could not be shared safely.
#[derive(ShmSafe)]
#[repr(C)]
struct Accounts {
    alice: AtomicU64,
    bob: AtomicU64,
    /// The transfer in progress (0: none): written before the first balance changes.
    journal: AtomicU64,
    /// Set by the child once it is in the middle of the transfer.
    mid_transfer: AtomicU64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("dies-holding-lock") => dies_holding_lock(),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let pid = std::process::id();
    let segment_name = format!("shmkit-example-owner-death-{pid}");
    let lock_name = format!("shmkit-example-owner-death-lock-{pid}");
    let segment: ManagedSharedMemory = ManagedSharedMemory::create(&segment_name, 64 * 1024)?;
    // Handles never remove what they name; these guards remove both objects when main returns.
    let _cleanup_segment = RemoveOnDrop::shared_memory(&segment_name);
    let lock = NamedMutex::create(&lock_name)?;
    let _cleanup_lock = RemoveOnDrop::shared_memory(&lock_name);
    let accounts = segment.construct(
        "accounts",
        Accounts {
            alice: AtomicU64::new(TOTAL),
            bob: AtomicU64::new(0),
            journal: AtomicU64::new(0),
            mid_transfer: AtomicU64::new(0),
        },
    )?;
    println!(
        "parent: pid {pid} created the named mutex {lock_name} and the accounts: {}",
        show(accounts)
    );

    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE, "dies-holding-lock")
        .args([&segment_name, &lock_name])
        .spawn()?;
    if let Err(e) = wait_for_child(accounts, &mut child) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    child.kill()?; // SIGKILL: no destructor runs, nothing unlocks
    child.wait()?;
    println!(
        "parent: killed the child {} with SIGKILL while it held the lock",
        child.id()
    );
    println!(
        "parent: the mutex is still locked: is_locked() = {}",
        lock.is_locked()
    );
    println!(
        "parent: Boost's named_mutex would now block every lock() forever; shmkit's tells the next locker"
    );

    let start = Instant::now();
    let mut guard = match lock.lock() {
        Ok(_) => return Err("expected to be told that the owner died".into()),
        Err(died) => {
            println!(
                "parent: lock() -> OwnerDied after {:?}; the accounts read {}",
                start.elapsed(),
                show(accounts)
            );
            died.into_inner()
        }
    };
    // The guard is held: repair what the lock protects. The journal says what was in flight.
    let pending = accounts.journal.load(Ordering::Acquire);
    if pending != 0 {
        let credited = TOTAL - accounts.alice.load(Ordering::Acquire);
        accounts.bob.store(credited, Ordering::Release);
        accounts.journal.store(0, Ordering::Release);
        println!(
            "parent: the journal shows a transfer of {pending} in flight; completed it: {}",
            show(accounts)
        );
    }
    println!(
        "parent: before mark_consistent, is_consistent() = {}",
        lock.is_consistent()
    );
    guard.mark_consistent();
    drop(guard);
    println!(
        "parent: marked it consistent: is_consistent() = {}",
        lock.is_consistent()
    );

    let guard = lock.lock().map_err(|_| "still reported inconsistent")?;
    let sum = accounts.alice.load(Ordering::Acquire) + accounts.bob.load(Ordering::Acquire);
    println!("parent: the next lock() is clean; alice + bob = {sum} (expected {TOTAL})");
    drop(guard);
    if sum != TOTAL {
        return Err("the repair left the accounts unbalanced".into());
    }
    println!("parent: the mutex and the segment are removed on exit");
    Ok(())
}

/// Waits (up to 10 s) until the child is in the middle of its transfer.
fn wait_for_child(
    accounts: &Accounts,
    child: &mut Child,
) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    while accounts.mid_transfer.load(Ordering::Acquire) == 0 {
        if let Some(status) = child.try_wait()? {
            return Err(format!("the child exited early: {status}").into());
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err("the child never took the lock".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn show(accounts: &Accounts) -> String {
    let alice = accounts.alice.load(Ordering::Acquire);
    let bob = accounts.bob.load(Ordering::Acquire);
    format!("alice = {alice}, bob = {bob} (sum {})", alice + bob)
}

fn dies_holding_lock() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let segment_name = args.next().ok_or("the child needs the segment's name")?;
    let lock_name = args.next().ok_or("the child needs the mutex's name")?;
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&segment_name)?;
    let accounts = segment
        .find::<Accounts>("accounts")?
        .ok_or("no \"accounts\" in the segment")?;
    let lock = NamedMutex::open(&lock_name)?;

    let _guard = lock.lock().map_err(|_| "a previous owner died")?;
    println!(
        "child:  pid {} locked {lock_name}; transferring {AMOUNT} from alice to bob",
        std::process::id()
    );
    accounts.journal.store(AMOUNT, Ordering::Release);
    accounts.alice.fetch_sub(AMOUNT, Ordering::AcqRel);
    // Half done: bob is not credited yet. Tell the parent, and wait to be killed.
    println!("child:  debited alice, about to credit bob... (holding the lock)");
    accounts.mid_transfer.store(1, Ordering::Release);
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}
