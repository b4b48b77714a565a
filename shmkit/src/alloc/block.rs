//! The block layout both algorithms share: the header word, its check tag, size arithmetic, and
//! the bounded walk along the chain of blocks.
//!
//! A block starts at an offset `b` that is a multiple of 16 and has a size that is a multiple of
//! 16 (at least [`MIN_BLOCK`]). Its header word sits at `b + 8`; the caller's bytes start at
//! `b + 16`. The word at `b` belongs to the block before (see the module docs of
//! [`alloc`](super)).

use super::arena::Arena;
use crate::error::{Error, ErrorKind, Result};

/// Allocation granule and alignment of every block and every returned offset.
pub(crate) const UNIT: usize = 16;
/// The smallest block: header word, two link words, and the word shared with the block before.
pub(crate) const MIN_BLOCK: usize = 32;
/// Bytes of a block that the caller cannot use (the header word).
pub(crate) const OVERHEAD: usize = 8;
/// The largest arena the header word can describe (256 TiB).
pub(crate) const MAX_LEN: usize = SIZE_MASK as usize;
/// The end sentinel's size.
pub(crate) const END_SIZE: usize = 16;

/// Header flag: the block is allocated (or is the end sentinel).
pub(crate) const ALLOC: u64 = 1;
/// Header flag (best-fit only): the block before is allocated, so the word at `b` is not a
/// footer but the tail of the block before.
pub(crate) const PREV_ALLOC: u64 = 2;
const FLAGS: u64 = 0xF;
const TAG_SHIFT: u32 = 48;
const SIZE_MASK: u64 = ((1 << TAG_SHIFT) - 1) & !FLAGS;

/// The 16-bit check tag of the header of a block at `b` of `size` bytes.
#[inline(always)]
pub(crate) fn tag(b: usize, size: usize) -> u64 {
    let x = (b as u64) ^ (size as u64).rotate_left(29) ^ 0x5bd1_e995_0000_0000;
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> TAG_SHIFT
}

/// The header word of a block at `b` of `size` bytes with `flags`.
#[inline(always)]
pub(crate) fn word(b: usize, size: usize, flags: u64) -> u64 {
    debug_assert!(size as u64 & !SIZE_MASK == 0 && flags & !FLAGS == 0);
    size as u64 | flags | tag(b, size) << TAG_SHIFT
}

/// The size in a header word of a block at `b`, if the word's tag matches (else `None`).
#[inline(always)]
pub(crate) fn size_of_word(b: usize, w: u64) -> Option<usize> {
    let size = (w & SIZE_MASK) as usize;
    (w >> TAG_SHIFT == tag(b, size) && w & (FLAGS & !(ALLOC | PREV_ALLOC)) == 0).then_some(size)
}

/// The size in a header word of a *free* block at `b`: like [`size_of_word`] with `ALLOC` also
/// required clear, in one flag test (`None` if the tag, a flag or `ALLOC` is wrong).
#[inline(always)]
pub(crate) fn free_size_of_word(b: usize, w: u64) -> Option<usize> {
    let size = (w & SIZE_MASK) as usize;
    (w & (FLAGS & !PREV_ALLOC) == 0 && w >> TAG_SHIFT == tag(b, size)).then_some(size)
}

/// The block size for a request of `size` usable bytes, or `None` if it cannot exist.
#[inline(always)]
pub(crate) fn block_size(size: usize) -> Option<usize> {
    let n = size.checked_add(OVERHEAD + UNIT - 1)? & !(UNIT - 1);
    (n as u64 <= SIZE_MASK).then_some(n.max(MIN_BLOCK))
}

/// A 64-bit mix of `x` (splitmix64's finaliser): treap priorities.
#[inline(always)]
pub(crate) fn mix(x: usize) -> u64 {
    let mut z = (x as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Magic word at offset 0: `"SKMA"`, then the layout version (u16) and the algorithm (u16).
pub(crate) const fn magic(kind: u16) -> u64 {
    u32::from_le_bytes(*b"SKMA") as u64 | (VERSION as u64) << 32 | (kind as u64) << 48
}
const VERSION: u16 = 1;

/// The `Corrupted` error for metadata that breaks an invariant.
#[cold]
#[inline(never)]
pub(crate) fn corrupt(algo: &str, what: &str, at: usize) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!("{algo}: {what} (offset {at}); call repair() or rebuild the segment"),
    )
}

/// The `InvalidArgument` error for an offset that does not name an allocated block.
#[cold]
#[inline(never)]
pub(crate) fn not_allocated(algo: &str, offset: usize) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("{algo}: offset {offset} is not an allocated block"),
    )
}

/// The `OutOfMemory` error.
#[cold]
#[inline(never)]
pub(crate) fn out_of_memory(algo: &str, size: usize) -> Error {
    Error::new(
        ErrorKind::OutOfMemory,
        format!("{algo}: no free block for {size} bytes"),
    )
}

/// Checks the header at offset 0 against `kind` and the arena's length.
pub(crate) fn check_magic(
    algo: &str,
    kind: u16,
    stored_magic: u64,
    stored_len: u64,
    len: usize,
) -> Result<()> {
    if stored_magic as u32 != magic(kind) as u32 {
        return Err(Error::new(
            ErrorKind::Incompatible,
            format!("{algo}: the area does not start with a shmkit memory algorithm header"),
        ));
    }
    if stored_magic != magic(kind) {
        return Err(Error::new(
            ErrorKind::Incompatible,
            format!(
                "{algo}: the area holds layout version {} of algorithm {} (expected version {VERSION} of {kind})",
                (stored_magic >> 32) as u16,
                (stored_magic >> 48) as u16
            ),
        ));
    }
    if stored_len != len as u64 {
        return Err(Error::new(
            ErrorKind::Corrupted,
            format!("{algo}: the header says the area has {stored_len} bytes, the arena has {len}"),
        ));
    }
    Ok(())
}

/// For `grow`: checks the header of an area formatted for a length up to the arena's (magic,
/// version, a sane recorded length) and returns the recorded length. Both algorithms keep the
/// magic at offset 0 and the length at offset 8.
pub(crate) fn grow_check(algo: &str, kind: u16, arena: &Arena, min_len: usize) -> Result<usize> {
    if arena.len() < min_len {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{algo}: an arena of {} bytes is too small", arena.len()),
        ));
    }
    let stored = arena.load(8);
    check_magic(algo, kind, arena.load(0), stored, stored as usize)?;
    let stored = stored as usize;
    if stored < min_len || !stored.is_multiple_of(UNIT) || stored > MAX_LEN {
        return Err(corrupt(algo, "the recorded area length is impossible", 8));
    }
    if stored > arena.len() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{algo}: the area has {stored} bytes, the arena only {}: it cannot shrink by growing",
                arena.len()
            ),
        ));
    }
    if stored != arena.len() && arena.len() - stored < MIN_BLOCK {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{algo}: an area grows by at least {MIN_BLOCK} bytes"),
        ));
    }
    Ok(stored)
}

/// Walks the chain of blocks from `first` to the end sentinel at `end`, calling
/// `f(start, size, word)` for each block; returns the sentinel's word. Fails with `Corrupted` on
/// a header whose tag, size or bounds are wrong, so it always ends: every step advances by at
/// least `MIN_BLOCK` bytes and stays below `end` (`max_steps` is a second, redundant bound).
pub(crate) fn walk(
    arena: &Arena,
    algo: &str,
    first: usize,
    end: usize,
    max_steps: usize,
    mut f: impl FnMut(usize, usize, u64) -> Result<()>,
) -> Result<u64> {
    let mut b = first;
    let mut steps = max_steps;
    while b != end {
        let w = arena.load(b + 8);
        let n = size_of_word(b, w)
            .filter(|&n| n >= MIN_BLOCK && n <= end - b && steps > 0)
            .ok_or_else(|| corrupt(algo, "a bad block header in the chain", b))?;
        f(b, n, w)?;
        b += n;
        steps -= 1;
    }
    let w = arena.load(end + 8);
    if size_of_word(end, w) != Some(END_SIZE) || w & ALLOC == 0 {
        return Err(corrupt(algo, "a bad end sentinel", end));
    }
    Ok(w)
}

/// Clears the header word of the block that started at `b` if it still holds an allocated
/// header for that offset (a header left stale by a crash, see `expand_bwd`).
pub(crate) fn clear_stale(arena: &Arena, b: usize) {
    let w = arena.load(b + 8);
    if w & ALLOC != 0 && size_of_word(b, w).is_some() {
        arena.store(b + 8, 0);
    }
}

/// The most blocks an area `first..end` can hold: the bound on every walk.
pub(crate) fn max_blocks(first: usize, end: usize) -> usize {
    (end - first) / MIN_BLOCK + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_match_boost() {
        // 8 bytes of overhead, 16-byte granule, 32-byte minimum.
        assert_eq!(block_size(0), Some(32));
        assert_eq!(block_size(24), Some(32));
        assert_eq!(block_size(25), Some(48));
        assert_eq!(block_size(64), Some(80));
        assert_eq!(block_size(usize::MAX), None);
        assert_eq!(block_size(1 << 50), None);
    }

    #[test]
    fn words_round_trip_and_tags_catch_moves() {
        let w = word(4096, 80, ALLOC | PREV_ALLOC);
        assert_eq!(size_of_word(4096, w), Some(80));
        assert_eq!(size_of_word(4112, w), None, "same word at another offset");
        assert_eq!(size_of_word(4096, w + 16), None, "another size");
        assert_eq!(size_of_word(4096, 0), None);
    }
}
