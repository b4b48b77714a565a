//! Boost's quick guide, in shmkit: a vector in shared memory, filled by one process and sorted
//! and extended by another.
//!
//! Run it with `cargo run --example shared_vector`. The parent creates a `ManagedSharedMemory`
//! and constructs a [`Mutex`]`<`[`Vec`]`<i32>>` named `"numbers"` holding 100 numbers in
//! descending order. It re-executes itself as a child (role in `SHMKIT_EXAMPLE_ROLE`) that
//! finds the vector by name, sorts it in place, and appends the sum; the parent checks both
//! and destroys the vector, which frees its buffer in the segment.
//!
//! Boost's `vector<int, allocator<int, segment_manager>>` needs its allocator spelled out at
//! construction; a shmkit `Vec` finds its segment from its own address, so `Vec::new()` is
//! enough once it is in the segment. Sharing goes through the `Mutex`, as in `std`.

use std::process::Command;

use shmkit::collections::Vec;
use shmkit::sync::Mutex;
use shmkit::{ManagedSharedMemory, RemoveOnDrop};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("child") => child(),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shmkit-shared-vector-{}", std::process::id());
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let mut segment: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20)?;
    let numbers = segment.construct("numbers", Mutex::new(Vec::<i32>::new()))?;
    {
        let mut v = numbers.lock().unwrap();
        v.extend((0..100).rev());
        println!(
            "parent: \"numbers\" holds {} values, starting {:?}",
            v.len(),
            &v[..5]
        );
    }

    let status = Command::new(std::env::current_exe()?)
        .env(ROLE, "child")
        .arg(&name)
        .status()?;
    if !status.success() {
        return Err(format!("the child failed: {status}").into());
    }
    {
        let v = numbers.lock().unwrap();
        let sorted = v[..100].windows(2).all(|w| w[0] <= w[1]);
        println!(
            "parent: sorted by the child: {sorted}; last element (the child's sum): {}",
            v[v.len() - 1]
        );
        if !sorted || v[100] != 4950 {
            return Err("the child's changes are missing".into());
        }
    }
    let before = segment.free_memory()?;
    segment.destroy::<Mutex<Vec<i32>>>("numbers")?;
    let freed = segment.free_memory()? - before;
    println!("parent: destroyed \"numbers\": {freed} bytes freed, its 101-element buffer with it");
    if freed < 101 * 4 {
        return Err("destroying the vector did not free its buffer".into());
    }
    Ok(())
}

fn child() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the child needs the segment's name")?;
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    let numbers = segment
        .find::<Mutex<Vec<i32>>>("numbers")?
        .ok_or("no \"numbers\" in the segment")?;
    let mut v = numbers.lock().unwrap();
    v.sort_unstable();
    let sum: i32 = v.iter().sum();
    v.push(sum);
    println!(
        "child:  pid {} sorted {} numbers and appended their sum {sum}",
        std::process::id(),
        v.len() - 1
    );
    Ok(())
}
