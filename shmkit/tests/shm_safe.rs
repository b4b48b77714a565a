//! `#[derive(ShmSafe)]` and layout fingerprints: derived structs in real shared memory, the same
//! fingerprints in another process, and different fingerprints for different layouts.
//!
//! What the derive refuses (no `repr(C)`, `packed`, enums, unions, non-`ShmSafe` fields) is
//! tested by the `compile_fail` examples in `shmkit-derive`'s documentation.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use shmkit::fingerprint::{StructFingerprint, combine, fnv1a};
use shmkit::sync::{Condvar, Mutex, RecursiveMutex, RwLock, Semaphore, UpgradableRwLock};
use shmkit::{MappedRegion, RemoveOnDrop, SharedMemory, ShmSafe};
use shmkit_testkit::{child, child_roles, report, unique_name};

child_roles!(report_fingerprints, read_segment);

#[derive(ShmSafe, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
struct Point {
    x: i32,
    y: i32,
}

/// Nested: a struct of structs.
#[derive(ShmSafe, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
struct Segment {
    from: Point,
    to: Point,
}

/// Generic over a type and a length; holds an array of structs.
#[derive(ShmSafe, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Polyline<T, const N: usize> {
    len: u32,
    tag: u32,
    points: [T; N],
}

/// Padding after `kind` (7 bytes) and at the end: allowed.
#[derive(ShmSafe, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Padded {
    kind: u8,
    value: u64,
    short: u16,
}

/// Interior mutability through atomics and shmkit locks.
#[derive(ShmSafe)]
#[repr(C)]
struct Board {
    hits: AtomicU64,
    generation: AtomicU32,
    points: Mutex<[Point; 4]>,
    ready: Semaphore,
}

#[derive(ShmSafe, Clone, Copy, Debug, PartialEq)]
#[repr(transparent)]
struct Meters(f64);

#[derive(ShmSafe, Clone, Copy)]
#[repr(C, align(64))]
struct CacheLine {
    word: u64,
}

#[derive(ShmSafe)]
#[repr(C)]
struct Marker;

/// Same fields as `Point`, another name.
#[derive(ShmSafe)]
#[repr(C)]
struct Vector {
    x: i32,
    y: i32,
}

/// Versions of one record, as two programs (or two versions of one) might define it.
mod v1 {
    #[derive(shmkit::ShmSafe)]
    #[repr(C)]
    pub struct Record {
        pub id: u32,
        pub score: u32,
        pub history: [u16; 8],
    }
}

/// Exactly `v1::Record` (another module, same name and layout).
mod same_as_v1 {
    #[derive(shmkit::ShmSafe)]
    #[repr(C)]
    pub struct Record {
        pub id: u32,
        pub score: u32,
        pub history: [u16; 8],
    }
}

/// `id` and `score` swapped.
mod swapped {
    #[derive(shmkit::ShmSafe)]
    #[repr(C)]
    pub struct Record {
        pub score: u32,
        pub id: u32,
        pub history: [u16; 8],
    }
}

/// `score` is an `i32`.
mod retyped {
    #[derive(shmkit::ShmSafe)]
    #[repr(C)]
    pub struct Record {
        pub id: u32,
        pub score: i32,
        pub history: [u16; 8],
    }
}

/// `history` is one element longer.
mod longer {
    #[derive(shmkit::ShmSafe)]
    #[repr(C)]
    pub struct Record {
        pub id: u32,
        pub score: u32,
        pub history: [u16; 9],
    }
}

/// `score` renamed.
mod renamed {
    #[derive(shmkit::ShmSafe)]
    #[repr(C)]
    pub struct Record {
        pub id: u32,
        pub points: u32,
        pub history: [u16; 8],
    }
}

/// Same fields, more alignment.
mod aligned {
    #[derive(shmkit::ShmSafe)]
    #[repr(C, align(16))]
    pub struct Record {
        pub id: u32,
        pub score: u32,
        pub history: [u16; 8],
    }
}

/// Every fingerprint the cross-process test compares, by name.
fn fingerprints() -> Vec<(&'static str, u64)> {
    vec![
        ("u8", u8::FINGERPRINT),
        ("u64", u64::FINGERPRINT),
        ("f64", f64::FINGERPRINT),
        ("AtomicU64", AtomicU64::FINGERPRINT),
        ("unit", <()>::FINGERPRINT),
        ("array", <[u32; 7]>::FINGERPRINT),
        ("Point", Point::FINGERPRINT),
        ("Segment", Segment::FINGERPRINT),
        ("Polyline", Polyline::<Point, 5>::FINGERPRINT),
        ("Padded", Padded::FINGERPRINT),
        ("Board", Board::FINGERPRINT),
        ("Meters", Meters::FINGERPRINT),
        ("CacheLine", CacheLine::FINGERPRINT),
        ("Marker", Marker::FINGERPRINT),
        ("Record", v1::Record::FINGERPRINT),
        ("Mutex", Mutex::<Segment>::FINGERPRINT),
        ("RecursiveMutex", RecursiveMutex::<u32>::FINGERPRINT),
        ("RwLock", RwLock::<[u8; 3]>::FINGERPRINT),
        ("UpgradableRwLock", UpgradableRwLock::<u64>::FINGERPRINT),
        ("Condvar", Condvar::FINGERPRINT),
    ]
}

/// Child: reports every fingerprint of `fingerprints()`.
fn report_fingerprints(_args: &[String]) {
    for (name, fp) in fingerprints() {
        report(name, format!("{fp:#018x}"));
    }
}

/// Child: opens the parent's object and reports what it finds there.
fn read_segment(args: &[String]) {
    let region = MappedRegion::map(&SharedMemory::open(&args[0]).unwrap()).unwrap();
    let segment: Segment = region.read(SEGMENT_AT).unwrap();
    report("segment", format!("{segment:?}"));
    let line: Polyline<Point, 3> = region.read(POLYLINE_AT).unwrap();
    report("line", format!("{line:?}"));
    // SAFETY: in every process these bytes are only used through `&Board`.
    let board: &Board = unsafe { region.get(BOARD_AT) }.unwrap();
    board.hits.fetch_add(1, Ordering::Relaxed);
    board.points.lock().unwrap()[1] = Point { x: -5, y: 6 };
    board.ready.post().unwrap();
}

const SEGMENT_AT: usize = 0;
const POLYLINE_AT: usize = 64;
const BOARD_AT: usize = 256;

#[test]
fn derived_structs_round_trip_through_a_region() {
    let region = MappedRegion::anonymous(4096).unwrap();

    let s = Segment {
        from: Point { x: 1, y: -2 },
        to: Point { x: 3, y: i32::MIN },
    };
    region.write(SEGMENT_AT, &s).unwrap();
    assert_eq!(region.read::<Segment>(SEGMENT_AT).unwrap(), s);
    assert_eq!(region.read::<Point>(SEGMENT_AT + 8).unwrap(), s.to);

    let line = Polyline {
        len: 2,
        tag: 9,
        points: [s.from, s.to, Point::default()],
    };
    region.write(POLYLINE_AT, &line).unwrap();
    assert_eq!(
        region.read::<Polyline<Point, 3>>(POLYLINE_AT).unwrap(),
        line
    );

    region.write(512, &Meters(2.5)).unwrap();
    assert_eq!(region.read::<Meters>(512).unwrap(), Meters(2.5));
    // Any bytes are a valid value: garbage reads back as garbage, not UB.
    region.write_at(1024, &[0xa5; 80]).unwrap();
    let garbage: Polyline<Segment, 4> = region.read(1024).unwrap();
    assert_eq!(garbage.len, 0xa5a5_a5a5);
}

#[test]
fn padded_and_aligned_structs_work_in_place() {
    let region = MappedRegion::anonymous(4096).unwrap();
    assert_eq!(size_of::<Padded>(), 24);
    let p = Padded {
        kind: 3,
        value: u64::MAX,
        short: 7,
    };
    // `put` places the value with a typed copy; `read` copies every byte back, padding included,
    // which is fine: any bit pattern is a valid `Padded`. (Not `write`, which views the value as
    // bytes and so would read its uninitialised padding.)
    // SAFETY: nothing else refers to these bytes.
    let placed: &Padded = unsafe { region.put(128, p) }.unwrap();
    assert_eq!(*placed, p);
    assert_eq!(region.read::<Padded>(128).unwrap(), p);

    assert_eq!(align_of::<CacheLine>(), 64);
    assert!(
        // SAFETY: as above.
        unsafe { region.get::<CacheLine>(32) }.is_err(),
        "a misaligned offset is refused"
    );
    // SAFETY: as above.
    let line: &CacheLine = unsafe { region.get(64) }.unwrap();
    assert_eq!(line.word, 0);
    // SAFETY: as above.
    let _: &Marker = unsafe { region.get(0) }.unwrap();
}

#[test]
fn a_child_process_reads_and_updates_derived_structs() {
    let name = unique_name("shm-safe");
    let shm = SharedMemory::create(&name).unwrap();
    let _cleanup = RemoveOnDrop::shared_memory(&name);
    shm.set_len(4096).unwrap();
    let region = MappedRegion::map(&shm).unwrap();

    let s = Segment {
        from: Point { x: 10, y: 20 },
        to: Point { x: 30, y: 40 },
    };
    region.write(SEGMENT_AT, &s).unwrap();
    let line = Polyline {
        len: 3,
        tag: 1,
        points: [s.from, s.to, Point { x: 0, y: -1 }],
    };
    region.write(POLYLINE_AT, &line).unwrap();
    // SAFETY: in every process these bytes are only used through `&Board`.
    let board: &Board = unsafe { region.get(BOARD_AT) }.unwrap();
    board.points.lock().unwrap()[0] = Point { x: 1, y: 1 };

    let out = child("read_segment").arg(&name).run();
    assert_eq!(out.value("segment"), format!("{s:?}"));
    assert_eq!(out.value("line"), format!("{line:?}"));
    board.ready.wait();
    assert_eq!(board.hits.load(Ordering::Relaxed), 1);
    let points = *board.points.lock().unwrap();
    assert_eq!(points[..2], [Point { x: 1, y: 1 }, Point { x: -5, y: 6 }]);
}

#[test]
fn fingerprints_are_the_same_in_another_process() {
    let out = child("report_fingerprints").run();
    for (name, fp) in fingerprints() {
        assert_eq!(out.value(name), format!("{fp:#018x}"), "{name}");
    }
}

#[test]
fn fingerprints_are_pinned() {
    // Fingerprints are stored in segments and mapped files that outlive the program that wrote
    // them: changing the scheme makes every stored object a TypeMismatch for newer builds. If
    // this test fails, the scheme changed; that needs a new segment layout version. (The
    // values were computed independently from the scheme in `shmkit::fingerprint`'s docs.)
    assert_eq!(
        u32::FINGERPRINT,
        0x0abf_9177_84fe_5a2a,
        "{:#x}",
        u32::FINGERPRINT
    );
    assert_eq!(
        Point::FINGERPRINT,
        0x1be3_70bc_9157_e131,
        "{:#x}",
        Point::FINGERPRINT
    );
}

#[test]
fn different_types_have_different_fingerprints() {
    // Same fields, another name.
    assert_ne!(Point::FINGERPRINT, Vector::FINGERPRINT);
    // Same name and layout in another module (or another program): equal.
    assert_eq!(v1::Record::FINGERPRINT, same_as_v1::Record::FINGERPRINT);
    // Any change to the layout: different.
    let variants = [
        ("swapped", swapped::Record::FINGERPRINT),
        ("retyped u32 -> i32", retyped::Record::FINGERPRINT),
        ("array length", longer::Record::FINGERPRINT),
        ("renamed field", renamed::Record::FINGERPRINT),
        ("alignment", aligned::Record::FINGERPRINT),
    ];
    for (what, fp) in variants {
        assert_ne!(v1::Record::FINGERPRINT, fp, "{what}");
    }
    // Generic instances.
    assert_ne!(Mutex::<u32>::FINGERPRINT, Mutex::<u64>::FINGERPRINT);
    assert_ne!(
        Mutex::<u32>::FINGERPRINT,
        RecursiveMutex::<u32>::FINGERPRINT
    );
    assert_ne!(
        RwLock::<u32>::FINGERPRINT,
        UpgradableRwLock::<u32>::FINGERPRINT
    );
    assert_ne!(
        Polyline::<Point, 3>::FINGERPRINT,
        Polyline::<Point, 4>::FINGERPRINT
    );
    assert_ne!(
        Polyline::<Point, 3>::FINGERPRINT,
        Polyline::<Vector, 3>::FINGERPRINT
    );
    // A transparent wrapper is not its field.
    assert_ne!(Meters::FINGERPRINT, f64::FINGERPRINT);
    // Primitives of one size.
    assert_ne!(u32::FINGERPRINT, i32::FINGERPRINT);
    assert_ne!(u32::FINGERPRINT, f32::FINGERPRINT);
    assert_ne!(u32::FINGERPRINT, AtomicU32::FINGERPRINT);
    assert_ne!(Condvar::FINGERPRINT, Semaphore::FINGERPRINT);
}

#[test]
fn the_derive_computes_what_the_builders_document() {
    let by_hand = StructFingerprint::new("Padded", 24, 8)
        .field("kind", 0, u8::FINGERPRINT)
        .field("value", 8, u64::FINGERPRINT)
        .field("short", 16, u16::FINGERPRINT)
        .finish();
    assert_eq!(Padded::FINGERPRINT, by_hand);

    let tuple = StructFingerprint::new("Meters", 8, 8)
        .field("0", 0, f64::FINGERPRINT)
        .finish();
    assert_eq!(Meters::FINGERPRINT, tuple);

    assert_eq!(
        Marker::FINGERPRINT,
        StructFingerprint::new("Marker", 0, 1).finish()
    );
    assert_eq!(
        Mutex::<Point>::FINGERPRINT,
        combine(fnv1a(b"shmkit::sync::Mutex"), Point::FINGERPRINT)
    );
}

/// `NO_PADDING` is what lets `MappedRegion::write` view a value as bytes (reading padding is
/// undefined behaviour); the derive computes it from the fields.
#[test]
fn no_padding_is_derived_from_the_fields() {
    #[derive(shmkit::ShmSafe)]
    #[repr(C)]
    struct Tight {
        a: u32,
        b: [u16; 2],
    }
    #[derive(shmkit::ShmSafe)]
    #[repr(C)]
    struct Padded {
        a: u8,
        b: u32,
    }
    #[derive(shmkit::ShmSafe)]
    #[repr(C)]
    struct HoldsPadded {
        p: Padded,
    }
    // Read through a function so the checks run (and can fail) at run time, not as consts.
    fn no_padding<T: ShmSafe>() -> bool {
        std::hint::black_box(T::NO_PADDING)
    }
    assert!(no_padding::<Tight>());
    assert!(!no_padding::<Padded>());
    assert!(
        !no_padding::<HoldsPadded>(),
        "padding inside a field counts"
    );
    assert!(no_padding::<[Tight; 3]>());
    assert!(
        !no_padding::<shmkit::sync::Mutex<u8>>(),
        "hand-written impls default to false"
    );

    let region = shmkit::MappedRegion::anonymous(64).unwrap();
    region.write(8, &Tight { a: 7, b: [1, 2] }).unwrap();
    let back: Tight = region.read(8).unwrap();
    assert_eq!((back.a, back.b), (7, [1, 2]));
}
