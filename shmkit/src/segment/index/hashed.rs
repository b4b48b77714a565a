//! [`HashIndex`](super::HashIndex): linear probing over one-word slots.
//!
//! # Layout
//!
//! Root words (in the control block, at `root`):
//!
//! | offset | word | meaning |
//! |---:|---|---|
//! | 0 | `table` | offset of the table block, 0 while empty |
//! | 8 | `cap` | number of slots: a power of two, 16 ..= 2²⁸ |
//! | 16 | `len` | number of entries |
//!
//! The table block: an index block header ([`IDX_HASH_TABLE`], payload `8 * cap`), then `cap`
//! slots of one word: `tag << 36 | obj >> 4`, where `tag` is the top 28 bits of the key's
//! segment-seeded hash and `obj` the object header's offset (a multiple of 16 below 2⁴⁰: a
//! segment with this index is at most 1 TiB). 0 is an empty slot. An entry's home slot is
//! `tag & (cap - 1)`, so the table can be rebuilt at any size without reading the keys; the
//! tag also rules out almost every other entry without touching its object (a false match
//! costs one object header read, about once in 2²⁸ probes).
//!
//! One word per slot keeps the table at 8 bytes per slot (a 2 MiB table for 200,000 names),
//! where a lookup's first cache miss is.
//!
//! # Invariants
//!
//! 1. Every entry sits on the probe path from its home slot with no empty slot in between
//!    (linear probing); removal shifts later entries back into the hole (Knuth's algorithm
//!    R), so there are no tombstones.
//! 2. `len` entries, at most 3/4 of `cap`: the table doubles before an insertion would pass
//!    that.
//! 3. No two entries name objects with equal keys.

use super::{Space, corrupt};
use crate::error::{Error, ErrorKind, Result};
use crate::segment::layout::{
    IDX_HASH_TABLE, IDX_HEADER, Key, ObjHeader, hash_key, match_key, read_idx_header,
    read_idx_header_fast,
};
use crate::segment::mem::Mem;

const TABLE: usize = 0;
const CAP: usize = 8;
const LEN: usize = 16;
const MIN_CAP: usize = 16;
const MAX_CAP: usize = 1 << 28;
const TAG_SHIFT: u32 = 36;
const OBJ_BITS: u64 = (1 << TAG_SHIFT) - 1;

#[derive(Clone, Copy)]
struct Table {
    at: usize,
    slots: usize,
    cap: usize,
    mask: usize,
}

impl Table {
    #[inline(always)]
    fn slot(&self, i: usize) -> usize {
        self.slots + 8 * i
    }
}

#[inline(always)]
fn tag(hash: u64) -> u64 {
    hash >> TAG_SHIFT
}

#[inline(always)]
fn home(word: u64, mask: usize) -> usize {
    (word >> TAG_SHIFT) as usize & mask
}

#[inline(always)]
fn obj_of(word: u64) -> usize {
    ((word & OBJ_BITS) << 4) as usize
}

fn slot_word(hash: u64, obj: usize) -> Result<u64> {
    if !obj.is_multiple_of(16) || obj >> 40 != 0 || obj == 0 {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("object offset {obj}: a segment with the hashed index is at most 1 TiB"),
        ));
    }
    Ok(tag(hash) << TAG_SHIFT | (obj >> 4) as u64)
}

/// The table, checked by tag and length (a freed table's tag is cleared first), or `full`y,
/// with its check word, for [`check`].
#[inline(always)]
fn table(mem: &Mem, seed: u64, root: usize, full: bool) -> Result<Option<Table>> {
    let at = mem.load(root + TABLE) as usize;
    if at == 0 {
        return Ok(None);
    }
    let cap = mem.load(root + CAP) as usize;
    if !cap.is_power_of_two() || !(MIN_CAP..=MAX_CAP).contains(&cap) {
        return Err(corrupt("a hash table with an impossible capacity", root));
    }
    let payload = if full {
        read_idx_header(mem, seed, at, IDX_HASH_TABLE)
    } else {
        read_idx_header_fast(mem, at, IDX_HASH_TABLE)
    };
    match payload {
        Some(p) if p == 8 * cap => Ok(Some(Table {
            at,
            slots: at + IDX_HEADER,
            cap,
            mask: cap - 1,
        })),
        _ => Err(corrupt("the hash table's block header is bad", at)),
    }
}

pub(crate) fn len(mem: &Mem, root: usize) -> usize {
    mem.load(root + LEN) as usize
}

pub(crate) fn find(mem: &Mem, seed: u64, root: usize, key: &Key<'_>) -> Result<Option<ObjHeader>> {
    let Some(t) = table(mem, seed, root, false)? else {
        return Ok(None);
    };
    let want = tag(key.hash);
    let mut i = want as usize & t.mask;
    for _ in 0..t.cap {
        let w = mem.load(t.slot(i));
        if w == 0 {
            return Ok(None);
        }
        if w >> TAG_SHIFT == want
            && let Some(h) = match_key(mem, seed, obj_of(w), key)?
        {
            return Ok(Some(h));
        }
        i = (i + 1) & t.mask;
    }
    Ok(None)
}

pub(crate) fn insert(s: &impl Space, root: usize, key: &Key<'_>, obj: usize) -> Result<()> {
    let seed = s.seed();
    let word = slot_word(key.hash, obj)?;
    let cap = table(s.mem(), seed, root, false)?.map_or(0, |t| t.cap);
    let len = len(s.mem(), root);
    if len > cap {
        return Err(corrupt("a hash table with more entries than slots", root));
    }
    if (len + 1) * 8 > cap * 7 {
        grow(s, root, (cap * 2).max(MIN_CAP))?;
    }
    let mem = s.mem();
    let t =
        table(mem, seed, root, false)?.ok_or_else(|| corrupt("the hash table vanished", root))?;
    let want = tag(key.hash);
    let mut i = want as usize & t.mask;
    for _ in 0..t.cap {
        let w = mem.load(t.slot(i));
        if w == 0 {
            mem.store(t.slot(i), word);
            mem.store(root + LEN, (len + 1) as u64);
            return Ok(());
        }
        if w >> TAG_SHIFT == want && match_key(mem, seed, obj_of(w), key)?.is_some() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                "an object with this name already exists",
            ));
        }
        i = (i + 1) & t.mask;
    }
    Err(corrupt("a full hash table", t.at))
}

pub(crate) fn remove(
    s: &impl Space,
    root: usize,
    key: &Key<'_>,
    check: &mut dyn FnMut(&ObjHeader) -> Result<()>,
) -> Result<Option<ObjHeader>> {
    let (mem, seed) = (s.mem(), s.seed());
    let Some(t) = table(mem, seed, root, false)? else {
        return Ok(None);
    };
    let want = tag(key.hash);
    let mut i = want as usize & t.mask;
    let mut found = None;
    for _ in 0..t.cap {
        let w = mem.load(t.slot(i));
        if w == 0 {
            break;
        }
        if w >> TAG_SHIFT == want
            && let Some(h) = match_key(mem, seed, obj_of(w), key)?
        {
            check(&h)?;
            found = Some((i, h));
            break;
        }
        i = (i + 1) & t.mask;
    }
    let Some((mut hole, h)) = found else {
        return Ok(None);
    };
    let mut j = hole;
    for _ in 0..t.cap {
        j = (j + 1) & t.mask;
        let w = mem.load(t.slot(j));
        if w == 0 {
            break;
        }
        // The entry at `j` may fill the hole if the hole lies on its probe path.
        let h = home(w, t.mask);
        if (j.wrapping_sub(h) & t.mask) >= (j.wrapping_sub(hole) & t.mask) {
            mem.store(t.slot(hole), w);
            hole = j;
        }
    }
    mem.store(t.slot(hole), 0);
    mem.store(root + LEN, len(mem, root).saturating_sub(1) as u64);
    Ok(Some(h))
}

/// Moves every entry into a fresh table of `new_cap` slots.
fn grow(s: &impl Space, root: usize, new_cap: usize) -> Result<()> {
    if new_cap > MAX_CAP {
        return Err(Error::new(
            ErrorKind::OutOfMemory,
            "the hash table is at its largest",
        ));
    }
    let old = table(s.mem(), s.seed(), root, false)?;
    let at = s.alloc_index_block(IDX_HASH_TABLE, 8 * new_cap)?;
    let mem = s.mem();
    let new = Table {
        at,
        slots: at + IDX_HEADER,
        cap: new_cap,
        mask: new_cap - 1,
    };
    mem.zero(new.slots, 8 * new_cap);
    if let Some(t) = old {
        for i in 0..t.cap {
            let w = mem.load(t.slot(i));
            if w == 0 {
                continue;
            }
            let mut k = home(w, new.mask);
            while mem.load(new.slot(k)) != 0 {
                k = (k + 1) & new.mask;
            }
            mem.store(new.slot(k), w);
        }
    }
    mem.store(root + CAP, new_cap as u64);
    mem.store(root + TABLE, at as u64);
    if let Some(t) = old {
        s.free_index_block(t.at)?;
    }
    Ok(())
}

pub(crate) fn reserve(s: &impl Space, root: usize, n: usize) -> Result<()> {
    let cap = table(s.mem(), s.seed(), root, true)?.map_or(0, |t| t.cap);
    let want = n
        .checked_mul(4)
        .map(|x| x.div_ceil(3))
        .and_then(usize::checked_next_power_of_two)
        .filter(|&c| c <= MAX_CAP)
        .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, format!("cannot index {n} names")))?
        .max(MIN_CAP);
    if want > cap {
        grow(s, root, want)
    } else {
        Ok(())
    }
}

pub(crate) fn for_each(
    mem: &Mem,
    seed: u64,
    root: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<()> {
    let Some(t) = table(mem, seed, root, true)? else {
        return Ok(());
    };
    for i in 0..t.cap {
        let w = mem.load(t.slot(i));
        if w != 0 {
            f(obj_of(w))?;
        }
    }
    Ok(())
}

pub(crate) fn check(mem: &Mem, seed: u64, root: usize) -> Result<usize> {
    let Some(t) = table(mem, seed, root, true)? else {
        if len(mem, root) != 0 {
            return Err(corrupt("entries counted but no table", root));
        }
        return Ok(0);
    };
    let mut n = 0;
    for i in 0..t.cap {
        let w = mem.load(t.slot(i));
        if w == 0 {
            continue;
        }
        n += 1;
        let slot = t.slot(i);
        let h = ObjHeader::live(mem, seed, obj_of(w))
            .ok_or_else(|| corrupt("an entry is not a live object", slot))?;
        let names = h.read_names(mem)?;
        let hash = hash_key(seed, &names[..h.key_len]);
        if w >> TAG_SHIFT != tag(hash) {
            return Err(corrupt(
                "an entry's hash disagrees with its object's key",
                slot,
            ));
        }
        let mut k = home(w, t.mask);
        while k != i {
            if mem.load(t.slot(k)) == 0 {
                return Err(corrupt("an entry off its probe path", slot));
            }
            k = (k + 1) & t.mask;
        }
    }
    if n != len(mem, root) || n * 8 > t.cap * 7 + 7 {
        return Err(corrupt("the entry count disagrees with the table", root));
    }
    Ok(n)
}

pub(crate) fn blocks(mem: &Mem, seed: u64, root: usize) -> Result<usize> {
    Ok(usize::from(table(mem, seed, root, true)?.is_some()))
}
