//! An upgradable read-write lock (`UpgradableRwLock`, Boost's `interprocess_upgradable_mutex`)
//! in a managed segment, shared by two processes.
//!
//! Run it with `cargo run --example upgradable_lock`. The program re-executes itself as a child
//! (the role travels in the `SHMKIT_EXAMPLE_ROLE` environment variable). The parent takes the
//! upgradable lock; the child still gets in as a reader, since the upgradable lock admits
//! readers. While the reader is in, the parent's `try_upgrade` fails (it gets its upgradable
//! guard back); once the child leaves, `upgrade` turns the lock into the write lock, with no
//! other writer able to slip in between the read and the write.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shmkit::sync::{UpgradableGuard, UpgradableRwLock};
use shmkit::{ManagedSharedMemory, RemoveOnDrop, ShmSafe};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";

/// The shared state: a balance under the lock, and two handshake flags.
#[derive(ShmSafe)]
#[repr(C)]
struct Account {
    balance: UpgradableRwLock<u64>,
    reader_in: AtomicU32,
    reader_may_leave: AtomicU32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("reader") => reader(),
        _ => parent(),
    }
}

fn wait_for(flag: &AtomicU32) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    while flag.load(Ordering::Acquire) == 0 {
        if start.elapsed() > Duration::from_secs(30) {
            return Err("the other process never answered".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shmkit-upgradable-{}", std::process::id());
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let segment: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 16)?;
    let account = segment.construct(
        "account",
        Account {
            balance: UpgradableRwLock::new(100),
            reader_in: AtomicU32::new(0),
            reader_may_leave: AtomicU32::new(0),
        },
    )?;

    let upgradable = account
        .balance
        .upgradable_read()
        .map_err(|_| "owner died")?;
    println!(
        "parent: holds the upgradable lock, balance = {}",
        *upgradable
    );

    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE, "reader")
        .arg(&name)
        .spawn()?;
    wait_for(&account.reader_in)?;

    let upgradable = match UpgradableGuard::try_upgrade(upgradable) {
        Ok(_) => return Err("try_upgrade succeeded while a reader was in".into()),
        Err(still_upgradable) => {
            println!("parent: try_upgrade() fails while the reader is in (still upgradable)");
            still_upgradable
        }
    };

    account.reader_may_leave.store(1, Ordering::Release);
    let start = Instant::now();
    let mut write = UpgradableGuard::upgrade(upgradable);
    println!(
        "parent: upgrade() waited {:?} for the reader to leave; now holds the write lock",
        start.elapsed()
    );
    *write += 50;
    println!("parent: wrote balance = {}", *write);
    drop(write);

    if !child.wait()?.success() {
        return Err("the reader failed".into());
    }
    println!(
        "parent: after both, balance = {}",
        *account.balance.read().map_err(|_| "owner died")?
    );
    segment.check_sanity()?;
    Ok(())
}

fn reader() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the child needs the segment's name")?;
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    let account = segment
        .find::<Account>("account")?
        .ok_or("no account in the segment")?;
    let read = account.balance.read().map_err(|_| "owner died")?;
    println!(
        "child:  pid {} reads balance = {} while the parent holds the upgradable lock",
        std::process::id(),
        *read
    );
    account.reader_in.store(1, Ordering::Release);
    wait_for(&account.reader_may_leave)?;
    std::thread::sleep(Duration::from_millis(50));
    println!("child:  the reader leaves");
    drop(read);
    Ok(())
}
