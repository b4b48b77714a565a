//! A persistent managed mapped file (`ManagedMappedFile`, Boost's `managed_mapped_file`) that
//! survives the process that made it.
//!
//! Run it with `cargo run --example mapped_file`. The program runs itself twice more (the role
//! travels in the `SHMKIT_EXAMPLE_ROLE` environment variable): run 1 creates the file in the temp
//! directory, constructs named objects in it and exits; run 2, a "later run", reopens the file,
//! finds the objects by name with their values intact, and updates one. The parent then checks
//! the update and removes the file.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use shmkit::{ManagedMappedFile, RemoveOnDrop, ShmSafe};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";

/// A settings record kept in the file across runs.
#[derive(ShmSafe)]
#[repr(C)]
struct Settings {
    version: u32,
    runs: AtomicU32,
    limits: [u64; 3],
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("run1") => run1(),
        Ok("run2") => run2(),
        _ => parent(),
    }
}

fn run(role: &str, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let status = Command::new(std::env::current_exe()?)
        .env(ROLE, role)
        .arg(path)
        .status()?;
    if !status.success() {
        return Err(format!("{role} failed: {status}").into());
    }
    Ok(())
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("shmkit-mapped-file-{}.bin", std::process::id()));
    let _cleanup = RemoveOnDrop::file(&path);
    println!("parent: the file is {}", path.display());
    run("run1", &path)?;
    println!(
        "parent: run 1 has exited; the file is still there ({} bytes)",
        std::fs::metadata(&path)?.len()
    );
    run("run2", &path)?;
    let file: ManagedMappedFile = ManagedMappedFile::open(&path)?;
    let settings = file
        .find::<Settings>("settings")?
        .ok_or("no settings in the file")?;
    println!(
        "parent: settings.runs = {} after both runs",
        settings.runs.load(Ordering::Acquire)
    );
    file.check_sanity()?;
    drop(file);
    ManagedMappedFile::remove(&path)?;
    println!("parent: removed the file: exists = {}", path.exists());
    Ok(())
}

fn path_arg() -> Result<String, Box<dyn std::error::Error>> {
    Ok(std::env::args().nth(1).ok_or("the run needs the path")?)
}

fn run1() -> Result<(), Box<dyn std::error::Error>> {
    let path = path_arg()?;
    let file: ManagedMappedFile = ManagedMappedFile::create(&path, 1 << 16)?;
    file.construct(
        "settings",
        Settings {
            version: 3,
            runs: AtomicU32::new(1),
            limits: [10, 200, 3000],
        },
    )?;
    file.construct("greeting", *b"persisted across runs!")?;
    file.flush()?;
    println!(
        "run 1:  pid {} created the file and constructed \"settings\" (version 3, limits [10, 200, 3000]) and \"greeting\"; exiting",
        std::process::id()
    );
    Ok(())
}

fn run2() -> Result<(), Box<dyn std::error::Error>> {
    let path = path_arg()?;
    let file: ManagedMappedFile = ManagedMappedFile::open(&path)?;
    let settings = file
        .find::<Settings>("settings")?
        .ok_or("no settings in the file")?;
    let greeting = file
        .find::<[u8; 22]>("greeting")?
        .ok_or("no greeting in the file")?;
    println!(
        "run 2:  pid {} reopened the file: settings version {}, limits {:?}, greeting {:?}",
        std::process::id(),
        settings.version,
        settings.limits,
        String::from_utf8_lossy(greeting)
    );
    let runs = settings.runs.fetch_add(1, Ordering::AcqRel) + 1;
    file.flush()?;
    println!("run 2:  counted this run: runs = {runs}");
    Ok(())
}
