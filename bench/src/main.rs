//! `shmkit-xbench`: the shmkit side of the side-by-side comparison with Boost.Interprocess.
//!
//! Prints one `ROW\t<workload>\t<median ns>` line per workload, measured exactly as the matching
//! C++ program in `bench/boost/` measures Boost. `bench/compare.sh` runs both and prints the
//! table. Usage: `shmkit-xbench [substring of row names]`.

mod alloc;
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
    if let Err(e) = regions::run(&want) {
        eprintln!("shmkit-xbench: {e}");
        std::process::exit(1);
    }
    if let Err(e) = sync::run(&want) {
        eprintln!("shmkit-xbench: {e}");
        std::process::exit(1);
    }
    if let Err(e) = alloc::run(&want) {
        eprintln!("shmkit-xbench: {e}");
        std::process::exit(1);
    }
    if let Err(e) = segment::run(&want) {
        eprintln!("shmkit-xbench: {e}");
        std::process::exit(1);
    }
}
