//! [`BTreeMap`] and [`BTreeSet`]: ordered collections in a managed segment, and their
//! iterators and entries.
//!
//! # Examples
//!
//! ```
//! use shmkit::ManagedHeapMemory;
//! use shmkit::sync::Mutex;
//! use shmkit::collections::{BTreeMap, BTreeSet};
//!
//! let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20)?;
//! let m = seg.construct("m", Mutex::new(BTreeMap::<u64, u64>::new()))?;
//! let s = seg.construct("s", Mutex::new(BTreeSet::<u64>::new()))?;
//! let (mut m, mut s) = (m.lock().unwrap(), s.lock().unwrap());
//! for i in 0..1000 {
//!     m.insert(i * 7 % 1000, i);
//!     s.insert(i % 10);
//! }
//! assert_eq!(m.range(10..=12).count(), 3);
//! assert!(s.iter().eq(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
//! # Ok::<(), shmkit::Error>(())
//! ```

mod map;
mod node;
mod set;

pub use map::{
    BTreeMap, Entry, Iter, IterMut, Keys, OccupiedEntry, Range, RangeMut, VacantEntry, Values,
    ValuesMut,
};
pub use set::{BTreeSet, SetIter, SetRange};
