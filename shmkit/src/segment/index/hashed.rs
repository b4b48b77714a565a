//! [`HashIndex`](super::HashIndex): linear probing over `(hash, object)` slots.
//!
//! # Layout
//!
//! Root words (in the control block, at `root`):
//!
//! | offset | word | meaning |
//! |---:|---|---|
//! | 0 | `table` | offset of the table block, 0 while empty |
//! | 8 | `cap` | number of slots: a power of two, 16 ..= 2⁴⁰ |
//! | 16 | `len` | number of entries |
//!
//! The table block: an index block header ([`IDX_HASH_TABLE`], payload `16 * cap`), then `cap`
//! slots of two words, `hash` (the key's segment-seeded hash) and `obj` (the object header's
//! offset; 0 = empty).
//!
//! # Invariants
//!
//! 1. Every entry sits on the probe path from its home slot (`hash & (cap - 1)`) with no empty
//!    slot in between (linear probing); removal shifts later entries back into the hole
//!    (Knuth's algorithm R), so there are no tombstones.
//! 2. `len` entries, at most 3/4 of `cap`: the table doubles before an insertion would pass
//!    that.
//! 3. No two entries name objects with equal keys.

use super::{Space, corrupt};
use crate::error::{Error, ErrorKind, Result};
use crate::segment::layout::{IDX_HASH_TABLE, IDX_HEADER, Key, ObjHeader, hash_key, key_eq, read_idx_header};
use crate::segment::mem::Mem;

const TABLE: usize = 0;
const CAP: usize = 8;
const LEN: usize = 16;
const MIN_CAP: usize = 16;
const MAX_CAP: usize = 1 << 40;

#[derive(Clone, Copy)]
struct Table {
    at: usize,
    slots: usize,
    cap: usize,
    mask: usize,
}

fn table(mem: &Mem, seed: u64, root: usize) -> Result<Option<Table>> {
    let at = mem.load(root + TABLE) as usize;
    if at == 0 {
        return Ok(None);
    }
    let cap = mem.load(root + CAP) as usize;
    if !cap.is_power_of_two() || !(MIN_CAP..=MAX_CAP).contains(&cap) {
        return Err(corrupt("a hash table with an impossible capacity", root));
    }
    match read_idx_header(mem, seed, at, IDX_HASH_TABLE) {
        Some(p) if p == 16 * cap => Ok(Some(Table {
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

pub(crate) fn find(mem: &Mem, seed: u64, root: usize, key: &Key<'_>) -> Result<Option<usize>> {
    let Some(t) = table(mem, seed, root)? else {
        return Ok(None);
    };
    let mut i = key.hash as usize & t.mask;
    for _ in 0..t.cap {
        let slot = t.slots + 16 * i;
        let obj = mem.load(slot + 8) as usize;
        if obj == 0 {
            return Ok(None);
        }
        if mem.load(slot) == key.hash && key_eq(mem, seed, obj, key)? {
            return Ok(Some(obj));
        }
        i = (i + 1) & t.mask;
    }
    Ok(None)
}

pub(crate) fn insert(s: &impl Space, root: usize, key: &Key<'_>, obj: usize) -> Result<()> {
    let seed = s.seed();
    let cap = table(s.mem(), seed, root)?.map_or(0, |t| t.cap);
    let len = len(s.mem(), root);
    if len > cap {
        return Err(corrupt("a hash table with more entries than slots", root));
    }
    if (len + 1) * 4 > cap * 3 {
        grow(s, root, (cap * 2).max(MIN_CAP))?;
    }
    let mem = s.mem();
    let t = table(mem, seed, root)?.ok_or_else(|| corrupt("the hash table vanished", root))?;
    let mut i = key.hash as usize & t.mask;
    for _ in 0..t.cap {
        let slot = t.slots + 16 * i;
        let o = mem.load(slot + 8) as usize;
        if o == 0 {
            mem.store(slot, key.hash);
            mem.store(slot + 8, obj as u64);
            mem.store(root + LEN, (len + 1) as u64);
            return Ok(());
        }
        if mem.load(slot) == key.hash && key_eq(mem, seed, o, key)? {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                "an object with this name already exists",
            ));
        }
        i = (i + 1) & t.mask;
    }
    Err(corrupt("a full hash table", t.at))
}

pub(crate) fn remove(s: &impl Space, root: usize, key: &Key<'_>, obj: usize) -> Result<bool> {
    let mem = s.mem();
    let Some(t) = table(mem, s.seed(), root)? else {
        return Ok(false);
    };
    let slot = |i: usize| t.slots + 16 * i;
    let mut i = key.hash as usize & t.mask;
    let mut found = None;
    for _ in 0..t.cap {
        let o = mem.load(slot(i) + 8) as usize;
        if o == 0 {
            break;
        }
        if o == obj {
            found = Some(i);
            break;
        }
        i = (i + 1) & t.mask;
    }
    let Some(mut hole) = found else {
        return Ok(false);
    };
    let mut j = hole;
    for _ in 0..t.cap {
        j = (j + 1) & t.mask;
        let o = mem.load(slot(j) + 8);
        if o == 0 {
            break;
        }
        let h = mem.load(slot(j));
        let home = h as usize & t.mask;
        // The entry at `j` may fill the hole if the hole lies on its probe path.
        if (j.wrapping_sub(home) & t.mask) >= (j.wrapping_sub(hole) & t.mask) {
            mem.store(slot(hole), h);
            mem.store(slot(hole) + 8, o);
            hole = j;
        }
    }
    mem.store(slot(hole) + 8, 0);
    mem.store(slot(hole), 0);
    mem.store(root + LEN, len(mem, root).saturating_sub(1) as u64);
    Ok(true)
}

/// Moves every entry into a fresh table of `new_cap` slots.
fn grow(s: &impl Space, root: usize, new_cap: usize) -> Result<()> {
    if new_cap > MAX_CAP {
        return Err(Error::new(ErrorKind::OutOfMemory, "the hash table is at its largest"));
    }
    let old = table(s.mem(), s.seed(), root)?;
    let at = s.alloc_index_block(IDX_HASH_TABLE, 16 * new_cap)?;
    let mem = s.mem();
    let slots = at + IDX_HEADER;
    mem.zero(slots, 16 * new_cap);
    let mask = new_cap - 1;
    if let Some(t) = old {
        for i in 0..t.cap {
            let o = mem.load(t.slots + 16 * i + 8);
            if o == 0 {
                continue;
            }
            let h = mem.load(t.slots + 16 * i);
            let mut k = h as usize & mask;
            while mem.load(slots + 16 * k + 8) != 0 {
                k = (k + 1) & mask;
            }
            mem.store(slots + 16 * k, h);
            mem.store(slots + 16 * k + 8, o);
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
    let cap = table(s.mem(), s.seed(), root)?.map_or(0, |t| t.cap);
    let want = n
        .checked_mul(4)
        .map(|x| x.div_ceil(3))
        .and_then(usize::checked_next_power_of_two)
        .filter(|&c| c <= MAX_CAP)
        .ok_or_else(|| Error::new(ErrorKind::OutOfMemory, format!("cannot index {n} names")))?
        .max(MIN_CAP);
    if want > cap { grow(s, root, want) } else { Ok(()) }
}

pub(crate) fn for_each(mem: &Mem, seed: u64, root: usize, mut f: impl FnMut(usize) -> Result<()>) -> Result<()> {
    let Some(t) = table(mem, seed, root)? else {
        return Ok(());
    };
    for i in 0..t.cap {
        let o = mem.load(t.slots + 16 * i + 8) as usize;
        if o != 0 {
            f(o)?;
        }
    }
    Ok(())
}

pub(crate) fn check(mem: &Mem, seed: u64, root: usize) -> Result<usize> {
    let Some(t) = table(mem, seed, root)? else {
        if len(mem, root) != 0 {
            return Err(corrupt("entries counted but no table", root));
        }
        return Ok(0);
    };
    let mut n = 0;
    for i in 0..t.cap {
        let slot = t.slots + 16 * i;
        let o = mem.load(slot + 8) as usize;
        if o == 0 {
            continue;
        }
        n += 1;
        let h = ObjHeader::live(mem, seed, o).ok_or_else(|| corrupt("an entry is not a live object", slot))?;
        let names = h.read_names(mem)?;
        let hash = hash_key(seed, &names[..h.key_len]);
        if mem.load(slot) != hash {
            return Err(corrupt("an entry's hash disagrees with its object's key", slot));
        }
        let mut k = hash as usize & t.mask;
        while k != i {
            if mem.load(t.slots + 16 * k + 8) == 0 {
                return Err(corrupt("an entry off its probe path", slot));
            }
            k = (k + 1) & t.mask;
        }
    }
    if n != len(mem, root) || n * 4 > t.cap * 3 + 3 {
        return Err(corrupt("the entry count disagrees with the table", root));
    }
    Ok(n)
}

pub(crate) fn blocks(mem: &Mem, seed: u64, root: usize) -> Result<usize> {
    Ok(usize::from(table(mem, seed, root)?.is_some()))
}
