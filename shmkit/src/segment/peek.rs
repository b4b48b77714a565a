//! What [`inspect`](crate::inspect) (the `shmkit` command) needs from a segment it finds in
//! `/dev/shm`, with the layout knowledge kept here: a read-only handle of whatever algorithm and
//! index the segment was made with, and the size and free bytes from a copy of a few words.
//!
//! # Which algorithm and index
//!
//! The control block records the index (`index_kind`, 1 hashed, 2 ordered, 3 null), so the
//! index type is chosen from that word. The algorithm is recorded by the algorithm itself: its
//! area header starts with a magic word naming it (`"SKMA"`, the layout version and the
//! algorithm code, 1 best fit, 2 sequential fit), which `MemoryAlgorithm::open` checks. So
//! [`open_read_only`] tries each algorithm this build has, in turn, on a fresh mapping:
//! `open` accepts only its own header (anything else is
//! [`Incompatible`](crate::ErrorKind::Incompatible), never a misreading), at most one
//! succeeds, and the algorithm codes stay private to `alloc`.
//!
//! # Read-only, lock-free
//!
//! The handle is a [`SegmentManager`] in read-only mode over a private mapping: it never takes
//! the segment lock (finds, listings, `free_memory` and `check_sanity` are lock-free and
//! validate what they read), and nothing it could write reaches the segment. A segment whose
//! lock another process holds (or held when it died) can therefore be inspected; what is read
//! is a snapshot that an operation in progress may make inconsistent, so callers retry a
//! failed check while the lock is held.

use super::index::{HashIndex, IndexKind, NameIndex, NullIndex, OrderedIndex};
use super::layout::{AREA, C_AREA_LEN, C_AREA_OFF, C_FORMAT, C_INDEX, C_LOCK, C_SIZE, CTL, FORMAT};
use super::manager::{Mode, ObjectInfo, SegmentManager};
use super::mem::Mem;
use crate::alloc::{BestFit, MemoryAlgorithm, SeqFit};
use crate::error::{Error, ErrorKind, Result};
use crate::region::MappedRegion;

/// Where the segment lock's two words (the `RawMutex` word, the recursion count) are, from the
/// segment's base.
pub(crate) const LOCK_OFFSET: usize = C_LOCK;

/// A read-only segment of any algorithm and index, as `inspect` reads it.
pub(crate) trait SegmentReader {
    /// The memory algorithm's name (`best-fit`, `seq-fit`).
    fn algorithm(&self) -> &'static str;
    /// The name index.
    fn index(&self) -> IndexKind;
    /// [`SegmentManager::size`].
    fn size(&self) -> usize;
    /// [`SegmentManager::free_memory`].
    fn free_memory(&self) -> Result<usize>;
    /// [`SegmentManager::named_objects`].
    fn named_objects(&self) -> Result<Vec<ObjectInfo>>;
    /// [`SegmentManager::unique_objects`].
    fn unique_objects(&self) -> Result<Vec<ObjectInfo>>;
    /// [`SegmentManager::check_sanity`].
    fn check_sanity(&self) -> Result<()>;
    /// [`SegmentManager::segment_id`].
    fn segment_id(&self) -> u64;
    /// [`SegmentManager::repairs`].
    fn repairs(&self) -> u64;
}

struct Reader<M: MemoryAlgorithm, I: NameIndex> {
    seg: SegmentManager<M, I>,
    algorithm: &'static str,
}

impl<M: MemoryAlgorithm, I: NameIndex> SegmentReader for Reader<M, I> {
    fn algorithm(&self) -> &'static str {
        self.algorithm
    }
    fn index(&self) -> IndexKind {
        I::KIND
    }
    fn size(&self) -> usize {
        self.seg.size()
    }
    fn free_memory(&self) -> Result<usize> {
        self.seg.free_memory()
    }
    fn named_objects(&self) -> Result<Vec<ObjectInfo>> {
        self.seg.named_objects()
    }
    fn unique_objects(&self) -> Result<Vec<ObjectInfo>> {
        self.seg.unique_objects()
    }
    fn check_sanity(&self) -> Result<()> {
        self.seg.check_sanity()
    }
    fn segment_id(&self) -> u64 {
        self.seg.segment_id()
    }
    fn repairs(&self) -> u64 {
        self.seg.repairs()
    }
}

/// Opens the segment mapped by `map` read-only (see the module docs); `map` returns a new
/// private (copy-on-write) mapping of the whole object on each call. `what` names it in
/// messages.
pub(crate) fn open_read_only(
    mut map: impl FnMut() -> Result<MappedRegion>,
    what: &str,
) -> Result<Box<dyn SegmentReader>> {
    let mem = Mem::from_region(map()?)?;
    if mem.len() < AREA {
        return Err(Error::new(
            ErrorKind::Corrupted,
            format!(
                "{what} is a truncated segment: {} bytes, less than its control page",
                mem.len()
            ),
        ));
    }
    let code = mem.load(C_INDEX);
    match IndexKind::from_code(code) {
        Some(IndexKind::Hashed) => with_index::<HashIndex>(mem, map, what),
        Some(IndexKind::Ordered) => with_index::<OrderedIndex>(mem, map, what),
        Some(IndexKind::Null) => with_index::<NullIndex>(mem, map, what),
        None => Err(Error::new(
            ErrorKind::Corrupted,
            format!("{what}: the control block names index {code}, which is no index (1 to 3)"),
        )),
    }
}

fn with_index<I: NameIndex + 'static>(
    mem: Mem,
    mut map: impl FnMut() -> Result<MappedRegion>,
    what: &str,
) -> Result<Box<dyn SegmentReader>> {
    let best = match SegmentManager::<BestFit, I>::attach(mem, Mode::ReadOnly, what) {
        Ok(seg) => {
            return Ok(Box::new(Reader {
                seg,
                algorithm: "best-fit",
            }));
        }
        Err(e) if e.kind() == ErrorKind::Incompatible => e,
        Err(e) => return Err(e),
    };
    let mem = Mem::from_region(map()?)?;
    match SegmentManager::<SeqFit, I>::attach(mem, Mode::ReadOnly, what) {
        Ok(seg) => Ok(Box::new(Reader {
            seg,
            algorithm: "seq-fit",
        })),
        Err(seq) if seq.kind() == ErrorKind::Incompatible => Err(Error::new(
            ErrorKind::Incompatible,
            format!(
                "{what}: no memory algorithm of this build opens the segment ({}; {})",
                best.message(),
                seq.message()
            ),
        )),
        Err(e) => Err(e),
    }
}

/// The bytes of the control block [`usage`] reads, from the segment's base.
pub(crate) const USAGE_CONTROL: (usize, usize) = (CTL, super::CONTROL_LAYOUT.0);
/// The bytes of the algorithm's area header [`usage`] reads: magic, length, free bytes (the
/// same three words in every algorithm).
pub(crate) const USAGE_AREA: (usize, usize) = (AREA, 24);

/// `(size, free bytes)` of a segment from copies of its [`USAGE_CONTROL`] and [`USAGE_AREA`]
/// bytes, or `None` if they do not describe a segment of this layout (or are cut short). The
/// words are checked for plausibility only: the figures are for display.
pub(crate) fn usage(control: &[u8], area: &[u8]) -> Option<(u64, u64)> {
    let word = |bytes: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    let ctl = |off: usize| word(control, off - CTL);
    if ctl(C_FORMAT)? != FORMAT || ctl(C_AREA_OFF)? != AREA as u64 {
        return None;
    }
    let size = ctl(C_SIZE)?;
    let area_len = ctl(C_AREA_LEN)?;
    if (AREA as u64).checked_add(area_len)? > size {
        return None;
    }
    let magic = word(area, 0)?;
    let free = word(area, 16)?;
    let skma = u64::from(u32::from_le_bytes(*b"SKMA"));
    if magic & 0xFFFF_FFFF != skma || word(area, 8)? != area_len || free > area_len {
        return None;
    }
    Some((size, free))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManagedHeapMemory;
    use crate::segment::mem::Mem;

    fn bytes(mem: &Mem, (at, len): (usize, usize)) -> Vec<u8> {
        let mut v = vec![0; len];
        mem.read_bytes(at, &mut v).unwrap();
        v
    }

    #[test]
    fn usage_reads_size_and_free() {
        let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
        seg.construct("x", [0u8; 100]).unwrap();
        let mem = seg.mem();
        let (control, area) = (bytes(mem, USAGE_CONTROL), bytes(mem, USAGE_AREA));
        assert_eq!(
            usage(&control, &area),
            Some((1 << 16, seg.free_memory().unwrap() as u64))
        );
        // Cut short, or scribbled: no figures, no panic.
        assert_eq!(usage(&control[..10], &area), None);
        assert_eq!(usage(&control, &area[..20]), None);
        let mut bad = area.clone();
        bad[16..24].copy_from_slice(&u64::MAX.to_ne_bytes());
        assert_eq!(usage(&control, &bad), None);
        assert_eq!(usage(&[0xFF; 256], &area), None);
    }
}
