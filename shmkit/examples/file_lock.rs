//! An advisory file lock (`shmkit::FileLock`, Boost's `file_lock`) held by another process.
//!
//! Run it with `cargo run --example file_lock`. The program re-executes itself as a child (the
//! role travels in the `SHMKIT_EXAMPLE_ROLE` environment variable). The child takes the exclusive
//! lock on a file in the temp directory and holds it; the parent's `try_lock` fails. The parent
//! then kills the child (SIGKILL: no destructor runs), and the kernel releases the lock with the
//! process, so the parent's next `try_lock` succeeds. The file is removed at the end.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use shmkit::{FileLock, RemoveOnDrop};

const ROLE: &str = "SHMKIT_EXAMPLE_ROLE";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var(ROLE).as_deref() {
        Ok("holder") => holder(),
        _ => parent(),
    }
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("shmkit-file-lock-{}", std::process::id()));
    std::fs::write(&path, b"")?;
    let _cleanup = RemoveOnDrop::file(&path);
    let mut lock = FileLock::open(&path)?;
    println!("parent: opened the lock file {}", path.display());

    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE, "holder")
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()?;
    // The child says one line once it holds the lock.
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no child stdout")?).read_line(&mut line)?;
    print!("{line}");

    match lock.try_lock()? {
        Some(_) => return Err("try_lock succeeded while the child held the lock".into()),
        None => println!("parent: try_lock() -> None: the child holds the exclusive lock"),
    }

    child.kill()?; // SIGKILL: the child unlocks nothing itself
    child.wait()?;
    println!("parent: killed the child {}", child.id());

    let guard = lock
        .try_lock()?
        .ok_or("the lock was not released when its holder died")?;
    println!("parent: try_lock() -> Some: the kernel released the dead child's lock");
    guard.unlock()?;
    println!("parent: unlocked; the guard removes the lock file on the way out");
    Ok(())
}

fn holder() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("the child needs the path")?;
    let mut lock = FileLock::open(&path)?;
    let _guard = lock.lock()?;
    println!(
        "child:  pid {} holds the exclusive lock",
        std::process::id()
    );
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
