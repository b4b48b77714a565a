//! [`DefaultShmHasher`]: the deterministic hasher hashed collections use by default.

use std::hash::{BuildHasher, Hasher};

use crate::shm_safe::ShmSafe;

/// The default seed: the same in every process and build, so a map written by one process is
/// found by another.
const DEFAULT_SEED: u64 = 0x243F_6A88_85A3_08D3;
const M1: u64 = 0xA076_1D64_78BD_642F;
const M2: u64 = 0xE703_7ED1_A0B4_28DB;

/// Multiplies as 128 bits and folds the halves together: the mixing step of the hash.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The hasher state a [`HashMap`](super::HashMap) stores in its header: a 64-bit seed, and
/// nothing that differs between processes, so every process that maps the segment computes
/// the same hash for the same key.
///
/// The hash is a fast multiply-fold hash (in the style of wyhash and foldhash): one 128-bit
/// multiplication per 8 bytes of input. It is not a keyed cryptographic hash: with the default
/// seed, someone who chooses the keys can choose colliding ones (which slows the map down,
/// never breaks it). Maps whose keys come from untrusted input can use a random seed
/// ([`DefaultShmHasher::random`]), stored in the map's header and so shared by every process.
///
/// # Examples
///
/// ```
/// use std::hash::BuildHasher;
/// use shmkit::collections::DefaultShmHasher;
///
/// let a = DefaultShmHasher::default();
/// assert_eq!(a.hash_one("key"), DefaultShmHasher::new().hash_one("key"));
/// assert_ne!(a.hash_one("key"), DefaultShmHasher::with_seed(7).hash_one("key"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct DefaultShmHasher {
    seed: u64,
}

// SAFETY: repr(C) over one `u64`: every bit pattern is a valid seed, it means the same in every
// process, Send + Sync, no drop glue, no padding.
unsafe impl ShmSafe for DefaultShmHasher {
    const FINGERPRINT: u64 = crate::fingerprint::combine(
        crate::fingerprint::fnv1a(b"shmkit::collections::DefaultShmHasher"),
        u64::FINGERPRINT,
    );
    const NO_PADDING: bool = true;
}

impl DefaultShmHasher {
    /// The hasher with the fixed default seed (the same value as `default()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::DefaultShmHasher;
    /// assert_eq!(DefaultShmHasher::new(), DefaultShmHasher::default());
    /// ```
    pub const fn new() -> DefaultShmHasher {
        DefaultShmHasher { seed: DEFAULT_SEED }
    }

    /// The hasher with seed `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::DefaultShmHasher;
    /// assert_eq!(DefaultShmHasher::with_seed(1).seed(), 1);
    /// ```
    pub const fn with_seed(seed: u64) -> DefaultShmHasher {
        DefaultShmHasher { seed }
    }

    /// A hasher with a random seed (from the standard library's per-process random keys): for
    /// maps whose keys an adversary chooses. The seed is stored in the map, so every process
    /// uses it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::DefaultShmHasher;
    /// assert_ne!(DefaultShmHasher::random(), DefaultShmHasher::random());
    /// ```
    pub fn random() -> DefaultShmHasher {
        let r = std::collections::hash_map::RandomState::new();
        DefaultShmHasher {
            seed: r.hash_one(0x5EED_u64),
        }
    }

    /// The seed.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::collections::DefaultShmHasher;
    /// assert_eq!(DefaultShmHasher::with_seed(42).seed(), 42);
    /// ```
    pub const fn seed(&self) -> u64 {
        self.seed
    }
}

impl Default for DefaultShmHasher {
    fn default() -> DefaultShmHasher {
        DefaultShmHasher::new()
    }
}

impl BuildHasher for DefaultShmHasher {
    type Hasher = ShmHasher;

    #[inline]
    fn build_hasher(&self) -> ShmHasher {
        ShmHasher { h: self.seed }
    }
}

/// The [`Hasher`] [`DefaultShmHasher`] builds: deterministic (it depends only on the seed and
/// the bytes written).
///
/// # Examples
///
/// ```
/// use std::hash::{BuildHasher, Hasher};
/// use shmkit::collections::DefaultShmHasher;
///
/// let mut h = DefaultShmHasher::new().build_hasher();
/// h.write_u64(5);
/// let a = h.finish();
/// let mut h = DefaultShmHasher::new().build_hasher();
/// h.write_u64(5);
/// assert_eq!(a, h.finish());
/// ```
#[derive(Debug, Clone)]
pub struct ShmHasher {
    h: u64,
}

impl ShmHasher {
    #[inline(always)]
    fn mix(&mut self, x: u64) {
        self.h = fold_mul(self.h ^ x, M1);
    }
}

impl Hasher for ShmHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(16);
        for c in &mut chunks {
            let (a, b) = c.split_at(8);
            let a = u64::from_le_bytes(a.try_into().unwrap_or([0; 8]));
            let b = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            self.h = fold_mul(self.h ^ a, M1 ^ b);
        }
        let rest = chunks.remainder();
        let (a, b) = if rest.len() > 8 {
            let (x, y) = rest.split_at(8);
            let mut t = [0u8; 8];
            t[..y.len()].copy_from_slice(y);
            (
                u64::from_le_bytes(x.try_into().unwrap_or([0; 8])),
                u64::from_le_bytes(t),
            )
        } else {
            let mut t = [0u8; 8];
            t[..rest.len()].copy_from_slice(rest);
            (u64::from_le_bytes(t), 0)
        };
        self.h = fold_mul(self.h ^ a ^ ((bytes.len() as u64) << 56), M2 ^ b);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold_mul(self.h, M2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_of_every_length_hash_differently() {
        let s = DefaultShmHasher::new();
        let text = "abcdefghijklmnopqrstuvwxyz0123456789";
        let mut seen = std::collections::HashSet::new();
        for n in 0..text.len() {
            assert!(seen.insert(s.hash_one(&text[..n])));
        }
        assert!(seen.insert(s.hash_one(1u64)));
    }

    #[test]
    fn top_bits_are_spread() {
        let s = DefaultShmHasher::new();
        let mut top = [0u32; 128];
        for i in 0..128 * 64u64 {
            top[(s.hash_one(i) >> 57) as usize] += 1;
        }
        assert!(top.iter().all(|&n| n > 20 && n < 120), "{top:?}");
    }
}
