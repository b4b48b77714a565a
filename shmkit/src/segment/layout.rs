//! The segment's byte layout: the control block, object headers, index block headers, keys,
//! and the checks that bind each to its offset and segment. See the [module docs](super) for
//! the tables.

use std::cmp::Ordering;
use std::mem::offset_of;

use super::mem::Mem;
use crate::error::{Error, ErrorKind, Result};
use crate::sync::RecursiveMutex;
use crate::sync::named::object::HEADER_SIZE;

/// `Control::format`: `"SKSEG"`, then the segment layout version.
pub(crate) const FORMAT: u64 = u64::from_le_bytes(*b"SKSEG\0\0\0") | (FORMAT_VERSION << 48);
/// The segment layout version (control block, object headers, index blocks, hashing).
pub(crate) const FORMAT_VERSION: u64 = 2;

/// The control block, at [`CTL`] (right after the 64-byte named-object header). Documentation
/// of the layout: fields are accessed through [`Mem`] at their offsets.
#[repr(C)]
#[allow(dead_code)]
pub(crate) struct Control {
    format: u64,
    index_kind: u64,
    segment_id: u64,
    size: u64,
    area_offset: u64,
    area_len: u64,
    lock: RecursiveMutex<()>,
    inflight: u64,
    repairs: u64,
    seq: u64,
    named: [u64; 8],
    unique: [u64; 8],
    reserved: [u64; 6],
}

/// Where the control block starts.
pub(crate) const CTL: usize = HEADER_SIZE;
/// Where the allocation area starts: the first page boundary after the control block, so that
/// offsets aligned in the area are addresses aligned in every mapping (up to a page).
pub(crate) const AREA: usize = 4096;

pub(crate) const C_FORMAT: usize = CTL + offset_of!(Control, format);
pub(crate) const C_INDEX: usize = CTL + offset_of!(Control, index_kind);
pub(crate) const C_ID: usize = CTL + offset_of!(Control, segment_id);
pub(crate) const C_SIZE: usize = CTL + offset_of!(Control, size);
pub(crate) const C_AREA_OFF: usize = CTL + offset_of!(Control, area_offset);
pub(crate) const C_AREA_LEN: usize = CTL + offset_of!(Control, area_len);
pub(crate) const C_LOCK: usize = CTL + offset_of!(Control, lock);
pub(crate) const C_INFLIGHT: usize = CTL + offset_of!(Control, inflight);
pub(crate) const C_REPAIRS: usize = CTL + offset_of!(Control, repairs);
/// The change sequence: odd while a writer holds the segment lock, bumped to the next even
/// value when it lets go, so that a find can run without the lock and tell whether a writer
/// ran meanwhile (a seqlock).
pub(crate) const C_SEQ: usize = CTL + offset_of!(Control, seq);
pub(crate) const C_NAMED: usize = CTL + offset_of!(Control, named);
pub(crate) const C_UNIQUE: usize = CTL + offset_of!(Control, unique);

const _: () = {
    assert!(size_of::<Control>() == 256);
    assert!(offset_of!(Control, lock) == 48);
    assert!(size_of::<RecursiveMutex<()>>() == 8);
    assert!(CTL + size_of::<Control>() <= AREA);
};

/// `inflight` low bits: what the interrupted operation was doing with the block in the high
/// bits (block offsets are multiples of 16).
pub(crate) const INFLIGHT_NEW_OBJECT: u64 = 1;
/// A block being freed (an object being destroyed, an index block being dropped).
pub(crate) const INFLIGHT_FREE: u64 = 2;
/// A raw block being freed.
pub(crate) const INFLIGHT_RAW_FREE: u64 = 3;

// ----- object headers ----------------------------------------------------------------------

/// An object header's size; the value follows (at the header's offset rounded for alignment).
pub(crate) const OBJ_HEADER: usize = 48;
/// The largest object alignment a segment accepts: a page.
pub(crate) const MAX_ALIGN: usize = 4096;
/// The longest object name, in bytes.
pub(crate) const MAX_OBJECT_NAME: usize = 65_535;

const OBJ_TAG: u64 = (u32::from_le_bytes(*b"SKOB") as u64) << 32;
/// Object state word: the block is allocated, the header written, the value being built.
pub(crate) const CONSTRUCTING: u64 = OBJ_TAG | 1;
/// Object state word: construction completed (the commit); findable.
pub(crate) const LIVE: u64 = OBJ_TAG | 2;

/// Header word offsets within an object block.
pub(crate) const O_STATE: usize = 0;
const O_CHECK: usize = 8;
const O_FINGERPRINT: usize = 16;
const O_COUNT: usize = 24;
const O_META: usize = 32;
const O_NAMES: usize = 40;

/// How an object is reached (Boost's `instance_type`).
///
/// # Examples
///
/// ```
/// use shmkit::{ManagedHeapMemory, segment::InstanceKind};
/// let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16)?;
/// let named = seg.construct("n", 1u8)?;
/// assert_eq!(seg.instance_kind(named)?, InstanceKind::Named);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceKind {
    /// Found by name.
    Named,
    /// One per type, found by its type.
    Unique,
    /// Not indexed: reached only through a reference or handle.
    Anonymous,
}

impl InstanceKind {
    fn code(self) -> u64 {
        match self {
            InstanceKind::Named => 1,
            InstanceKind::Unique => 2,
            InstanceKind::Anonymous => 3,
        }
    }

    fn from_code(c: u64) -> Option<InstanceKind> {
        Some(match c {
            1 => InstanceKind::Named,
            2 => InstanceKind::Unique,
            3 => InstanceKind::Anonymous,
            _ => return None,
        })
    }
}

/// A decoded, validated object header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ObjHeader {
    /// The block (and header) offset.
    pub(crate) at: usize,
    pub(crate) fingerprint: u64,
    pub(crate) count: usize,
    pub(crate) elem_size: usize,
    pub(crate) align: usize,
    pub(crate) kind: InstanceKind,
    pub(crate) array: bool,
    pub(crate) name_len: usize,
    pub(crate) key_len: usize,
}

/// The padding from a block's start to its value: the header, rounded up so the value is
/// aligned.
#[inline(always)]
pub(crate) const fn value_pad(at: usize, align: usize) -> usize {
    debug_assert!(align.is_power_of_two());
    ((at + OBJ_HEADER + align - 1) & !(align - 1)) - at
}

impl ObjHeader {
    /// The value's offset.
    #[inline(always)]
    pub(crate) fn value(&self) -> usize {
        self.at + value_pad(self.at, self.align)
    }

    /// The value's size in bytes (checked when the header was read).
    pub(crate) fn value_bytes(&self) -> usize {
        self.count * self.elem_size
    }

    /// The name area's offset: after the value, 8-aligned.
    #[inline(always)]
    pub(crate) fn names(&self) -> usize {
        (self.value() + self.value_bytes() + 7) & !7
    }

    /// The bytes the object occupies from its block's start.
    pub(crate) fn extent(&self) -> usize {
        self.names() + self.name_len.next_multiple_of(8) - self.at
    }

    fn meta(&self) -> u64 {
        self.elem_size as u64
            | self.kind.code() << 32
            | (self.array as u64) << 40
            | (self.align.trailing_zeros() as u64) << 48
    }

    fn names_word(&self) -> u64 {
        self.name_len as u64 | (self.key_len as u64) << 32
    }

    fn check(&self, seed: u64) -> u64 {
        mix(seed
            ^ (self.at as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ self.fingerprint.rotate_left(17)
            ^ (self.count as u64).rotate_left(29)
            ^ self.meta().rotate_left(41)
            ^ self.names_word().rotate_left(53))
    }

    /// Writes every word but the state (which the caller stores last).
    pub(crate) fn write(&self, mem: &Mem, seed: u64) {
        let at = self.at;
        mem.store(at + O_FINGERPRINT, self.fingerprint);
        mem.store(at + O_COUNT, self.count as u64);
        mem.store(at + O_META, self.meta());
        mem.store(at + O_NAMES, self.names_word());
        mem.store(at + O_CHECK, self.check(seed));
        let pad = value_pad(at, self.align);
        if pad > OBJ_HEADER {
            // The back-pointer from the value to its header, in the padding.
            mem.store(at + pad - 8, at as u64);
        }
    }

    /// Reads the header at `at` whatever its state: `None` if the words do not form a header
    /// written for this offset and segment, or describe an object that does not fit.
    pub(crate) fn read(mem: &Mem, seed: u64, at: usize) -> Option<ObjHeader> {
        if !at.is_multiple_of(16) || !mem.contains(at, OBJ_HEADER) {
            return None;
        }
        let meta = mem.load(at + O_META);
        let names = mem.load(at + O_NAMES);
        let align_log2 = (meta >> 48) as u32 & 0xFF;
        let h = ObjHeader {
            at,
            fingerprint: mem.load(at + O_FINGERPRINT),
            count: mem.load(at + O_COUNT) as usize,
            elem_size: meta as u32 as usize,
            align: 1usize.checked_shl(align_log2)?,
            kind: InstanceKind::from_code((meta >> 32) & 0xFF)?,
            array: (meta >> 40) & 0xFF == 1,
            name_len: names as u32 as usize,
            key_len: (names >> 32) as usize,
        };
        if h.align > MAX_ALIGN
            || meta >> 56 != 0
            || (meta >> 40) & 0xFF > 1
            || h.key_len > h.name_len
            || h.name_len > MAX_OBJECT_NAME + 8
            || mem.load(at + O_CHECK) != h.check(seed)
        {
            return None;
        }
        let bytes = h.count.checked_mul(h.elem_size)?;
        let end = h
            .value()
            .checked_add(bytes)?
            .checked_next_multiple_of(8)?
            .checked_add(h.name_len.next_multiple_of(8))?;
        if end > mem.len() {
            return None;
        }
        Some(h)
    }

    /// Reads the header at `at` and requires it to be live.
    #[inline]
    pub(crate) fn live(mem: &Mem, seed: u64, at: usize) -> Option<ObjHeader> {
        // The header and a short name span 64 bytes: fetch the second cache line in parallel.
        mem.prefetch(at.wrapping_add(63));
        if !mem.contains(at, OBJ_HEADER) || mem.load_acquire(at + O_STATE) != LIVE {
            return None;
        }
        ObjHeader::read(mem, seed, at)
    }

    /// The live object whose value starts at `value`: its header is right before it, or found
    /// through the back-pointer in the 8 bytes before it (alignments above 16).
    pub(crate) fn of_value(mem: &Mem, seed: u64, value: usize) -> Option<ObjHeader> {
        let fits = |h: &ObjHeader| h.value() == value;
        let direct = value.checked_sub(OBJ_HEADER)?;
        if direct.is_multiple_of(16)
            && let Some(h) = ObjHeader::live(mem, seed, direct).filter(fits)
        {
            return Some(h);
        }
        let at = mem.load(value.checked_sub(8)? & !7) as usize;
        ObjHeader::live(mem, seed, at).filter(|h| fits(h) && h.align > 16)
    }

    /// Reads the object's name area (the key, then the rest of the display name).
    pub(crate) fn read_names(&self, mem: &Mem) -> Result<Vec<u8>> {
        let mut v = vec![0; self.name_len];
        mem.read_bytes(self.names(), &mut v)?;
        Ok(v)
    }

    /// The display name: the name of a named object, the type name of a unique one.
    pub(crate) fn display_name(&self, mem: &Mem) -> Result<Option<String>> {
        let bytes = self.read_names(mem)?;
        Ok(match self.kind {
            InstanceKind::Anonymous => None,
            InstanceKind::Named => Some(String::from_utf8_lossy(&bytes).into_owned()),
            InstanceKind::Unique => {
                Some(String::from_utf8_lossy(&bytes[self.key_len.min(bytes.len())..]).into_owned())
            }
        })
    }
}

/// Writes `bytes` at the 8-aligned `off` as whole words, zero-padded: names are compared a word
/// at a time.
pub(crate) fn write_padded(mem: &Mem, off: usize, bytes: &[u8]) {
    for (i, chunk) in bytes.chunks(8).enumerate() {
        mem.store(off + 8 * i, le_word(chunk));
    }
}

/// The little-endian word of up to 8 bytes, zero-padded.
#[inline(always)]
fn le_word(chunk: &[u8]) -> u64 {
    if let Ok(w) = <[u8; 8]>::try_from(chunk) {
        return u64::from_le_bytes(w);
    }
    let mut w = 0u64;
    for (i, &b) in chunk.iter().enumerate().take(8) {
        w |= u64::from(b) << (8 * i);
    }
    w
}

// ----- keys ---------------------------------------------------------------------------------

/// A lookup key: a name's bytes (or a unique type's fingerprint bytes) with the derived values
/// the indexes use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) bytes: &'a [u8],
    /// The segment-seeded hash (hashed index).
    pub(crate) hash: u64,
    /// The ordered index's prefix words: `len << 48 | bytes[0..6]` and `bytes[6..14]`, big
    /// endian, so comparing them compares (length, bytes) as Boost orders names.
    pub(crate) p0: u64,
    pub(crate) p1: u64,
}

/// Name bytes the prefix words hold exactly.
pub(crate) const PREFIX_BYTES: usize = 14;

impl<'a> Key<'a> {
    /// The key `bytes` for an index of `kind`: only the values that index uses are computed
    /// (the hash for the hashed index, the prefix words for the ordered one).
    #[inline]
    pub(crate) fn new(seed: u64, bytes: &'a [u8], kind: super::index::IndexKind) -> Key<'a> {
        use super::index::IndexKind;
        let (p0, p1) = if kind == IndexKind::Ordered {
            prefix(bytes)
        } else {
            (0, 0)
        };
        let hash = if kind == IndexKind::Hashed {
            hash_key(seed, bytes)
        } else {
            0
        };
        Key {
            bytes,
            hash,
            p0,
            p1,
        }
    }

    /// Whether the prefix words decide every comparison with this key.
    pub(crate) fn is_short(&self) -> bool {
        self.bytes.len() <= PREFIX_BYTES
    }
}

/// The prefix words of a key (see [`Key::p0`]).
pub(crate) fn prefix(bytes: &[u8]) -> (u64, u64) {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    let n0 = bytes.len().min(6);
    a[2..2 + n0].copy_from_slice(&bytes[..n0]);
    if bytes.len() > 6 {
        let n1 = (bytes.len() - 6).min(8);
        b[..n1].copy_from_slice(&bytes[6..6 + n1]);
    }
    let len = bytes.len().min(0xFFFF) as u64;
    (len << 48 | u64::from_be_bytes(a), u64::from_be_bytes(b))
}

/// The segment-seeded hash of a key: the same in every process that opens the segment (the
/// seed is the segment id), different between segments.
pub(crate) fn hash_key(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for chunk in bytes.chunks(8) {
        h = (h ^ le_word(chunk))
            .wrapping_mul(0xBF58_476D_1CE4_E5B9)
            .rotate_left(31);
    }
    mix(h)
}

/// The header of the live object at `obj` if its key equals `key`. An offset that is not a
/// live object is an error (a corrupt index entry); a live object with another key is `None`
/// (a hash collision).
#[inline]
pub(crate) fn match_key(
    mem: &Mem,
    seed: u64,
    obj: usize,
    key: &Key<'_>,
) -> Result<Option<ObjHeader>> {
    let h = ObjHeader::live(mem, seed, obj).ok_or_else(|| bad_entry(obj))?;
    if h.key_len != key.bytes.len() {
        return Ok(None);
    }
    let names = h.names();
    for (i, chunk) in key.bytes.chunks(8).enumerate() {
        if mem.load(names + 8 * i) & mask(chunk.len()) != le_word(chunk) {
            return Ok(None);
        }
    }
    Ok(Some(h))
}

/// Compares the bytes after the prefix of the live object at `obj`'s key with `key`'s
/// (same length assumed: the prefix words matched).
pub(crate) fn cmp_tail(mem: &Mem, seed: u64, obj: usize, key: &Key<'_>) -> Result<Ordering> {
    let h = ObjHeader::live(mem, seed, obj).ok_or_else(|| bad_entry(obj))?;
    if h.key_len != key.bytes.len() {
        return Err(bad_entry(obj));
    }
    let mut stored = vec![0u8; h.key_len - PREFIX_BYTES.min(h.key_len)];
    mem.read_bytes(h.names() + PREFIX_BYTES.min(h.key_len), &mut stored)?;
    Ok(stored
        .as_slice()
        .cmp(&key.bytes[PREFIX_BYTES.min(key.bytes.len())..]))
}

fn mask(n: usize) -> u64 {
    if n >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * n)) - 1
    }
}

/// The error for an index entry that does not lead to a live object with the entry's key.
#[cold]
pub(crate) fn bad_entry(obj: usize) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!(
            "a name index entry points to offset {obj}, which is not a live object with that name"
        ),
    )
}

// ----- index blocks -------------------------------------------------------------------------

const IDX_TAG: u64 = (u32::from_le_bytes(*b"SKIX") as u64) << 32;
/// The header in front of every block an index allocates (B-tree nodes, hash tables).
pub(crate) const IDX_HEADER: usize = 32;
/// Index block kinds.
pub(crate) const IDX_BTREE_NODE: u64 = 1;
pub(crate) const IDX_HASH_TABLE: u64 = 2;

fn idx_check(seed: u64, at: usize, kind: u64, payload: usize) -> u64 {
    mix(seed ^ (at as u64).rotate_left(7) ^ kind.rotate_left(23) ^ (payload as u64).rotate_left(47))
        ^ 0x5EED
}

/// Writes an index block header (the tag last).
pub(crate) fn write_idx_header(mem: &Mem, seed: u64, at: usize, kind: u64, payload: usize) {
    mem.store(at + 8, payload as u64);
    mem.store(at + 16, idx_check(seed, at, kind, payload));
    mem.store(at + 24, 0);
    mem.store(at, IDX_TAG | kind);
}

/// The payload length of the index block at `at`, if it holds a valid header of `kind`.
pub(crate) fn read_idx_header(mem: &Mem, seed: u64, at: usize, kind: u64) -> Option<usize> {
    if !at.is_multiple_of(16) || !mem.contains(at, IDX_HEADER) || mem.load(at) != IDX_TAG | kind {
        return None;
    }
    let payload = mem.load(at + 8) as usize;
    (mem.contains(at + IDX_HEADER, payload)
        && mem.load(at + 16) == idx_check(seed, at, kind, payload))
    .then_some(payload)
}

/// [`read_idx_header`] without the check word: the lookups' fast path. Lookups validate what
/// they finally return (a live object header with the key looked up), so a bad block can at
/// worst make them miss; changes to an index use the full check.
#[inline(always)]
pub(crate) fn read_idx_header_fast(mem: &Mem, at: usize, kind: u64) -> Option<usize> {
    if !at.is_multiple_of(16) || !mem.contains(at, IDX_HEADER) || mem.load(at) != IDX_TAG | kind {
        return None;
    }
    let payload = mem.load(at + 8) as usize;
    mem.contains(at + IDX_HEADER, payload).then_some(payload)
}

/// Whether the block at `at` starts with any index block header.
pub(crate) fn is_idx_block(mem: &Mem, seed: u64, at: usize) -> bool {
    [IDX_BTREE_NODE, IDX_HASH_TABLE]
        .iter()
        .any(|&k| read_idx_header(mem, seed, at, k).is_some())
}

// ----- hashing and ids ----------------------------------------------------------------------

/// splitmix64's finaliser.
#[inline(always)]
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A fresh segment id: 8 bytes from `/dev/urandom`, read through `std` (no extra crate), or,
/// if that fails, the monotonic and wall clocks, the pid, a per-process counter and an
/// address mixed together. Never 0.
pub(crate) fn new_segment_id() -> u64 {
    use std::io::Read;
    use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 8];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    let mut id = if from_os {
        u64::from_le_bytes(bytes)
    } else {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mono = std::time::Instant::now();
        let local = 0u8;
        mix(wall
            ^ mix(u64::from(std::process::id()))
            ^ mix(COUNTER.fetch_add(1, AtomicOrdering::Relaxed))
            ^ mix((&local as *const u8).addr() as u64)
            ^ mix(format!("{mono:?}").len() as u64 ^ mono.elapsed().as_nanos() as u64))
    };
    while id == 0 {
        id = mix(COUNTER.fetch_add(1, AtomicOrdering::Relaxed) ^ 0xA5A5);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_order_by_length_then_bytes() {
        let names: [&[u8]; 7] = [
            b"b",
            b"aa",
            b"ab",
            b"obj000001",
            b"obj000002",
            b"abcdefghijklmn",
            b"abcdefghijklmo",
        ];
        for w in names.windows(2) {
            assert!(prefix(w[0]) < prefix(w[1]), "{:?} {:?}", w[0], w[1]);
        }
        assert_eq!(prefix(b""), (0, 0));
    }

    #[test]
    fn hash_depends_on_seed_and_bytes() {
        assert_ne!(hash_key(1, b"x"), hash_key(2, b"x"));
        assert_ne!(hash_key(1, b"x"), hash_key(1, b"x\0"));
        assert_eq!(hash_key(7, b"same"), hash_key(7, b"same"));
    }

    #[test]
    fn headers_bind_offset_and_seed() {
        let mem = Mem::heap(4096).unwrap();
        let h = ObjHeader {
            at: 512,
            fingerprint: 42,
            count: 3,
            elem_size: 8,
            align: 8,
            kind: InstanceKind::Named,
            array: true,
            name_len: 5,
            key_len: 5,
        };
        h.write(&mem, 99);
        mem.store(512, LIVE);
        assert_eq!(ObjHeader::live(&mem, 99, 512), Some(h));
        assert_eq!(ObjHeader::read(&mem, 98, 512), None);
        assert_eq!(h.value(), 560);
        assert_eq!(ObjHeader::of_value(&mem, 99, 560), Some(h));
        assert_eq!(ObjHeader::of_value(&mem, 99, 568), None);
        let big = ObjHeader { align: 256, ..h };
        big.write(&mem, 99);
        assert_eq!(big.value(), 768);
        assert_eq!(ObjHeader::of_value(&mem, 99, 768), Some(big));
    }

    #[test]
    fn ids_are_nonzero_and_differ() {
        let a = new_segment_id();
        let b = new_segment_id();
        assert!(a != 0 && b != 0 && a != b);
    }
}
