//! `shmkit-xbench`: the shmkit side of the side-by-side comparison with Boost.Interprocess.
//!
//! Prints one `ROW\t<workload>\t<median ns>` line per workload, measured exactly as the matching
//! C++ program in `bench/boost/` measures Boost. `bench/compare.sh` runs both and prints the
//! table. Usage: `shmkit-xbench [substring of row names]`.

mod alloc;
mod coll_btree;
mod coll_hash;
mod coll_vec;
mod mq;
mod pool;
mod procs;
mod regions;
mod segment;
mod sync;
mod timing;

/// Optional substring filter on row names (the first argument).
pub struct Filter(Option<String>);

impl Filter {
    fn matches(&self, row: &str) -> bool {
        self.0.as_deref().is_none_or(|f| row.contains(f))
    }
}

fn main() {
    let want = Filter(std::env::args().nth(1));
    let results: [(&str, Result<(), String>); 9] = [
        ("regions", regions::run(&want).map_err(|e| e.to_string())),
        ("sync", sync::run(&want).map_err(|e| e.to_string())),
        ("alloc", alloc::run(&want).map_err(|e| e.to_string())),
        ("mq", mq::run(&want).map_err(|e| e.to_string())),
        ("segment", segment::run(&want).map_err(|e| e.to_string())),
        ("pool", pool::run(&want).map_err(|e| e.to_string())),
        ("coll_vec", coll_vec::run(&want).map_err(|e| e.to_string())),
        ("hash", coll_hash::run(&want).map_err(|e| e.to_string())),
        (
            "coll_btree",
            coll_btree::run(&want).map_err(|e| e.to_string()),
        ),
    ];
    for (group, result) in results {
        if let Err(e) = result {
            eprintln!("shmkit-xbench ({group}): {e}");
            std::process::exit(1);
        }
    }
}
