//! shmkit side of the shared memory / mapped region rows (`bench/boost/regions.cpp`).

use std::time::Instant;

use shmkit::{FileMapping, MappedRegion, OpenMode, RemoveOnDrop, SharedMemory};

use crate::Filter;
use crate::timing::{median_ns_per_op, median_ns_self_timed, print_row, unique_name};

const MIB: usize = 1 << 20;

pub fn run(want: &Filter) -> shmkit::Result<()> {
    for (row, sparse) in [
        ("region: create+set_len+map+unmap+remove 1 MiB", false),
        ("region: create+set_len_sparse+map+unmap+remove 1 MiB", true),
    ] {
        if !want.matches(row) {
            continue;
        }
        let mut err = None;
        let ns = median_ns_per_op(15, 200, || {
            let r = (|| {
                let name = unique_name("shmkit_xbench_region");
                {
                    let shm = SharedMemory::create(&name)?;
                    if sparse {
                        shm.set_len_sparse(MIB as u64)?;
                    } else {
                        shm.set_len(MIB as u64)?;
                    }
                    let _region = MappedRegion::map(&shm)?;
                }
                SharedMemory::remove(&name)
            })();
            if let Err(e) = r {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        print_row(row, ns);
    }

    for (row, include_sizing) in [
        ("region: first-touch write 64 MiB", false),
        ("region: set_len+map+first-touch write 64 MiB", true),
    ] {
        if !want.matches(row) {
            continue;
        }
        let mut err = None;
        let ns = median_ns_self_timed(9, || match first_touch(64 * MIB, include_sizing) {
            Ok(ns) => ns,
            Err(e) => {
                err = Some(e);
                0.0
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        print_row(row, ns);
    }

    let row = "region: flush 4 KiB of a file mapping";
    if want.matches(row) {
        let path = std::env::temp_dir().join(format!("{}.bin", unique_name("shmkit_xbench_flush")));
        let _cleanup = RemoveOnDrop::file(&path);
        std::fs::File::create_new(&path)
            .and_then(|f| f.set_len(MIB as u64))
            .map_err(|e| {
                shmkit::Error::new(shmkit::ErrorKind::Io, format!("{}: {e}", path.display()))
            })?;
        let file = FileMapping::open(&path, OpenMode::ReadWrite)?;
        let region = MappedRegion::map(&file)?;
        let mut v = 0u8;
        let mut err = None;
        let ns = median_ns_per_op(15, 100, || {
            v = v.wrapping_add(1);
            if let Err(e) = region
                .write_at(0, &[v])
                .and_then(|()| region.flush(0, 4096))
            {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        print_row(row, ns);
    }
    Ok(())
}

/// Creates a fresh object of `len` bytes, maps it and fills it; returns the ns of the fill (and,
/// with `include_sizing`, of set_len and map too).
fn first_touch(len: usize, include_sizing: bool) -> shmkit::Result<f64> {
    let name = unique_name("shmkit_xbench_touch");
    let shm = SharedMemory::create(&name)?;
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    let t0 = Instant::now();
    shm.set_len(len as u64)?;
    let mut region = MappedRegion::map(&shm)?;
    let t1 = Instant::now();
    // SAFETY: the object is private to this function; nothing else maps it.
    let bytes = unsafe { region.as_mut_slice() }?;
    bytes.fill(0xAB);
    std::hint::black_box(&bytes[len - 1]);
    let start = if include_sizing { t0 } else { t1 };
    Ok(start.elapsed().as_nanos() as f64)
}
