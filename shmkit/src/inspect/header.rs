//! Decoding a named object's header from bytes nothing vouches for.
//!
//! The bytes are a copy (read with `pread`, never through a mapping), so another process changing
//! the object meanwhile cannot fault or race: at worst the copy mixes old and new values, which
//! decode like any other bytes. Every input decodes: there is no error and no panic here, only
//! what the bytes say; judging them is [`super::check`]'s job.
//!
//! Field offsets are those of layout version 1, the table in `sync/named/object.rs`; the tests in
//! `inspect/mod.rs` read headers that `sync::named` wrote, which keeps the two in step.

use crate::sync::named::object::{HEADER_SIZE, LAYOUT_VERSION, MAGIC};

const VERSION_AT: usize = 8;
const KIND_AT: usize = 12;
const PAYLOAD_SIZE_AT: usize = 16;
const PAYLOAD_ALIGN_AT: usize = 20;
const STATE_AT: usize = 24;
const CREATOR_AT: usize = 28;
const CREATED_AT: usize = 32;
const PAYLOAD_OFFSET_AT: usize = 40;
const RESERVED_AT: usize = 44;

/// What the first bytes of an object say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// No shmkit magic: another program's object (or a shmkit object whose creator died between
    /// creating the name and writing the header, which nothing can tell apart).
    Foreign,
    /// The magic, but fewer bytes than a header: a truncated shmkit object.
    Truncated {
        /// How many bytes the object has.
        len: usize,
    },
    /// The magic and a layout version this build cannot read: nothing else is interpreted.
    OtherVersion {
        /// The version found.
        version: u32,
    },
    /// A layout-version-1 header, its fields as found (not validated).
    V1(HeaderV1),
}

/// The fields of a version-1 header, as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderV1 {
    pub(crate) kind_code: u32,
    pub(crate) payload_size: u32,
    pub(crate) payload_align: u32,
    pub(crate) payload_offset: u32,
    pub(crate) state: u32,
    pub(crate) creator_pid: u32,
    pub(crate) created_at: u64,
    /// Whether the reserved bytes are zero, as every shmkit writes them.
    pub(crate) reserved_zero: bool,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    if let Some(b) = bytes.get(at..at + 4) {
        word.copy_from_slice(b);
    }
    u32::from_ne_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    if let Some(b) = bytes.get(at..at + 8) {
        word.copy_from_slice(b);
    }
    u64::from_ne_bytes(word)
}

/// Decodes the first bytes of an object (`bytes`: at most the header's 64; fewer when the
/// object is shorter).
pub(crate) fn decode(bytes: &[u8]) -> Decoded {
    if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Decoded::Foreign;
    }
    if bytes.len() < HEADER_SIZE {
        return Decoded::Truncated { len: bytes.len() };
    }
    let version = u32_at(bytes, VERSION_AT);
    if version != LAYOUT_VERSION {
        return Decoded::OtherVersion { version };
    }
    Decoded::V1(HeaderV1 {
        kind_code: u32_at(bytes, KIND_AT),
        payload_size: u32_at(bytes, PAYLOAD_SIZE_AT),
        payload_align: u32_at(bytes, PAYLOAD_ALIGN_AT),
        payload_offset: u32_at(bytes, PAYLOAD_OFFSET_AT),
        state: u32_at(bytes, STATE_AT),
        creator_pid: u32_at(bytes, CREATOR_AT),
        created_at: u64_at(bytes, CREATED_AT),
        reserved_zero: bytes
            .get(RESERVED_AT..HEADER_SIZE)
            .is_some_and(|r| r.iter().all(|&b| b == 0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A plausible version-1 header, for the tests to damage.
    fn good() -> Vec<u8> {
        let mut h = vec![0u8; HEADER_SIZE];
        h[..8].copy_from_slice(&MAGIC);
        h[VERSION_AT..VERSION_AT + 4].copy_from_slice(&1u32.to_ne_bytes());
        h[KIND_AT..KIND_AT + 4].copy_from_slice(&4u32.to_ne_bytes());
        h[PAYLOAD_SIZE_AT..PAYLOAD_SIZE_AT + 4].copy_from_slice(&8u32.to_ne_bytes());
        h[PAYLOAD_ALIGN_AT..PAYLOAD_ALIGN_AT + 4].copy_from_slice(&4u32.to_ne_bytes());
        h[STATE_AT..STATE_AT + 4].copy_from_slice(&2u32.to_ne_bytes());
        h[CREATOR_AT..CREATOR_AT + 4].copy_from_slice(&1234u32.to_ne_bytes());
        h[CREATED_AT..CREATED_AT + 8].copy_from_slice(&1_700_000_000u64.to_ne_bytes());
        h[PAYLOAD_OFFSET_AT..PAYLOAD_OFFSET_AT + 4].copy_from_slice(&64u32.to_ne_bytes());
        h
    }

    #[test]
    fn decodes_every_field() {
        let Decoded::V1(h) = decode(&good()) else {
            panic!("not decoded");
        };
        assert_eq!(
            h,
            HeaderV1 {
                kind_code: 4,
                payload_size: 8,
                payload_align: 4,
                payload_offset: 64,
                state: 2,
                creator_pid: 1234,
                created_at: 1_700_000_000,
                reserved_zero: true,
            }
        );
    }

    #[test]
    fn classifies_short_foreign_and_other_versions() {
        assert_eq!(decode(&[]), Decoded::Foreign);
        assert_eq!(decode(&MAGIC[..7]), Decoded::Foreign);
        assert_eq!(decode(&[0; 64]), Decoded::Foreign);
        assert_eq!(decode(&MAGIC), Decoded::Truncated { len: 8 });
        assert_eq!(decode(&good()[..63]), Decoded::Truncated { len: 63 });
        let mut v2 = good();
        v2[VERSION_AT..VERSION_AT + 4].copy_from_slice(&2u32.to_ne_bytes());
        assert_eq!(decode(&v2), Decoded::OtherVersion { version: 2 });
        let mut reserved = good();
        reserved[60] = 1;
        assert!(matches!(decode(&reserved), Decoded::V1(h) if !h.reserved_zero));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes decode, without panicking.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        /// A real header with random damage: still decoded, never a panic; the magic decides.
        #[test]
        fn damaged_headers_never_panic(
            flips in proptest::collection::vec((0usize..HEADER_SIZE, any::<u8>()), 0..16),
            len in 0usize..=HEADER_SIZE,
        ) {
            let mut h = good();
            for (at, b) in flips {
                h[at] = b;
            }
            let d = decode(&h[..len]);
            if h[..len.min(8)] != MAGIC[..len.min(8)] || len < 8 {
                prop_assert_eq!(d, Decoded::Foreign);
            }
        }
    }
}
