//! Boost's quick guide, in shmkit: an ordered map in shared memory, filled by one process and
//! read and changed by another.
//!
//! Run it with `cargo run --example shared_map`. The parent creates a `ManagedSharedMemory` and
//! constructs a [`Mutex`]`<`[`BTreeMap`]`<i32, f32>>` named `"squares"` holding `i -> i²` for
//! `i` in `0..100`. It re-executes itself as a child (role in `SHMKIT_EXAMPLE_ROLE`) that finds
//! the map by name, reads a range, removes the odd keys and adds `100..110`. The parent prints
//! what it sees and destroys the map, which frees its nodes.
//!
//! Boost's `map<int, float, less<int>, allocator<pair<const int, float>, segment_manager>>`
//! needs the allocator spelled out; a shmkit map finds its segment from its own address.

use std::process::Command;

use shmkit::collections::BTreeMap;
use shmkit::sync::Mutex;
use shmkit::{ManagedSharedMemory, RemoveOnDrop};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";

type Squares = Mutex<BTreeMap<i32, f32>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("child") => child(),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shmkit-shared-map-{}", std::process::id());
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let mut segment: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20)?;
    let squares = segment.construct("squares", Squares::default())?;
    {
        let mut m = squares.lock().map_err(|_| "owner died")?;
        for i in 0..100 {
            m.insert(i, (i * i) as f32);
        }
        println!(
            "parent: \"squares\" holds {} entries, 7 -> {}",
            m.len(),
            m[&7]
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
        let m = squares.lock().map_err(|_| "owner died")?;
        let tail: Vec<(i32, f32)> = m.range(96..).map(|(k, v)| (*k, *v)).collect();
        println!(
            "parent: after the child, {} entries; from 96 on: {tail:?}",
            m.len()
        );
        if m.len() != 60 || m.contains_key(&7) || m.get(&109) != Some(&11881.0) {
            return Err("the child's changes are missing".into());
        }
    }
    let before = segment.free_memory()?;
    segment.destroy::<Squares>("squares")?;
    println!(
        "parent: destroyed \"squares\": {} bytes of nodes freed",
        segment.free_memory()? - before
    );
    Ok(())
}

fn child() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .ok_or("the child needs the segment's name")?;
    let segment: ManagedSharedMemory = ManagedSharedMemory::open(&name)?;
    let squares = segment
        .find::<Squares>("squares")?
        .ok_or("no \"squares\" in the segment")?;
    let mut m = squares.lock().map_err(|_| "owner died")?;
    let some: Vec<(i32, f32)> = m.range(10..13).map(|(k, v)| (*k, *v)).collect();
    println!(
        "child:  pid {} found \"squares\": 10..13 -> {some:?}",
        std::process::id()
    );
    m.retain(|k, _| k % 2 == 0);
    for i in 100..110 {
        m.insert(i, (i * i) as f32);
    }
    println!("child:  removed the odd keys and added 100..110");
    Ok(())
}
