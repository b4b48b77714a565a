//! Streams over shared memory (`shmkit::io`): `BufferStream` over a byte array in a segment
//! and over a mapped region, `VecStream` over a `collections::Vec<u8>`, in one process and
//! across real processes.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU8, Ordering};

use shmkit::collections::Vec as ShmVec;
use shmkit::io::{BufferStream, SharedBytes, VecStream};
use shmkit::sync::Mutex;
use shmkit::{
    Access, ErrorKind, ManagedHeapMemory, ManagedSharedMemory, MappedRegion, SharedMemory,
};
use shmkit_testkit::{Cleanup, child, child_roles, report, unique_name};

child_roles!(record_writer, buffer_writer);

const RECORDS: usize = 2_000;

fn shmkit_kind(e: &io::Error) -> Option<ErrorKind> {
    e.get_ref()?
        .downcast_ref::<shmkit::Error>()
        .map(shmkit::Error::kind)
}

#[test]
fn buffer_stream_reads_writes_seeks_and_stops_at_the_end() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 16).unwrap();
    let cells = seg
        .construct_array("buf", 64, |_| AtomicU8::new(0xAA))
        .unwrap();
    let mut s = BufferStream::new(cells);
    assert_eq!((s.len(), s.position(), s.remaining()), (64, 0, 64));

    let tag = "ab";
    write!(s, "{}-{tag}", 12).unwrap();
    assert_eq!(s.position(), 5);
    assert_eq!(cells[4].load(Ordering::Relaxed), b'b');
    assert_eq!(cells[5].load(Ordering::Relaxed), 0xAA);

    // fmt::Write too.
    std::fmt::Write::write_fmt(&mut s, format_args!("|{:>4}|", 7)).unwrap();
    assert_eq!(s.position(), 11);

    s.seek(SeekFrom::Start(0)).unwrap();
    let mut back = [0u8; 11];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"12-ab|   7|");
    assert_eq!(s.seek(SeekFrom::Current(-3)).unwrap(), 8);
    assert_eq!(s.seek(SeekFrom::End(-1)).unwrap(), 63);
    assert_eq!(
        s.seek(SeekFrom::Current(-100)).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        s.seek(SeekFrom::Start(65)).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(s.position(), 63, "a failed seek leaves the position");

    // Filling up: a short write, then WriteZero; never past the end.
    assert_eq!(s.write(b"xyz").unwrap(), 1);
    assert_eq!(s.remaining(), 0);
    assert_eq!(s.write(b"q").unwrap_err().kind(), io::ErrorKind::WriteZero);
    assert_eq!(s.write(b"").unwrap(), 0);
    let mut one = [0u8; 1];
    assert_eq!(s.read(&mut one).unwrap(), 0);
    s.set_position(60);
    assert_eq!(
        s.write_all(b"12345").unwrap_err().kind(),
        io::ErrorKind::WriteZero
    );
    s.set_position(62);
    assert!(
        std::fmt::Write::write_str(&mut s, "abc").is_err(),
        "fmt::Write: all or nothing"
    );
    assert_eq!(s.position(), 62);
    assert_eq!(cells[62].load(Ordering::Relaxed), b'3');

    let bytes = s.into_inner();
    assert_eq!(bytes.len(), 64);
    assert_eq!(bytes[63].load(Ordering::Relaxed), b'4');
}

#[test]
fn buffer_stream_over_a_region_range_and_a_read_only_mapping() {
    let name = unique_name("streams-region");
    let mut c = Cleanup::new();
    c.shm(&name);
    let shm = SharedMemory::create(&name).unwrap();
    shm.set_len(8192).unwrap();
    let region = MappedRegion::map(&shm).unwrap();
    region.write_at(0, b"HEADER").unwrap();

    let mut s = BufferStream::with_range(&region, 100..200).unwrap();
    assert_eq!(s.len(), 100);
    for i in 0..10 {
        writeln!(s, "{i:09}").unwrap();
    }
    assert_eq!(s.write(b"!").unwrap_err().kind(), io::ErrorKind::WriteZero);
    let mut head = [0u8; 6];
    region.read_at(0, &mut head).unwrap();
    assert_eq!(&head, b"HEADER", "nothing written outside the window");
    let mut after = [0u8; 1];
    region.read_at(200, &mut after).unwrap();
    assert_eq!(after, [0]);

    assert!(BufferStream::with_range(&region, 8000..8193).is_err());
    let (from, to) = (10, 5);
    assert!(BufferStream::with_range(&region, from..to).is_err());
    assert!(BufferStream::with_range(&region, ..=8191).is_ok());

    // Another mapping (read-only) reads the lines; writing through it is refused.
    let ro = MappedRegion::options()
        .access(Access::ReadOnly)
        .map(&SharedMemory::open_read_only(&name).unwrap())
        .unwrap();
    let rs = BufferStream::with_range(&ro, 100..200).unwrap();
    let lines: Vec<String> = BufReader::new(rs).lines().map(Result::unwrap).collect();
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[7], "000000007");
    let mut ws = BufferStream::new(&ro);
    let e = ws.write(b"no").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(ws.position(), 0);
    assert_eq!(ro.len(), SharedBytes::len(&&ro));
}

#[test]
fn vec_stream_overwrites_appends_fills_gaps_and_reads() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let m = seg.construct("v", Mutex::new(ShmVec::<u8>::new())).unwrap();
    let mut v = m.lock().unwrap();
    {
        let mut s = VecStream::new(&mut v);
        assert!(s.is_empty());
        s.write_all(b"hello world").unwrap();
        s.seek(SeekFrom::Start(6)).unwrap();
        s.write_all(b"there, friend").unwrap();
        assert_eq!(s.len(), 19);
        s.seek(SeekFrom::End(3)).unwrap();
        s.write_all(b"!").unwrap();
        assert_eq!(s.len(), 23);
        s.rewind().unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"hello there, friend\0\0\0!");
        assert_eq!(s.remaining(), 0);
        s.set_position(1000);
        let mut one = [0u8; 1];
        assert_eq!(s.read(&mut one).unwrap(), 0);
        assert_eq!(
            s.seek(SeekFrom::Current(-2000)).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        // fmt::Write.
        s.set_position(0);
        std::fmt::Write::write_fmt(&mut s, format_args!("{:5}", "J")).unwrap();
        assert_eq!(s.position(), 5);
    }
    assert_eq!(v.as_slice(), b"J     there, friend\0\0\0!");

    // Many records, appended, then read back line by line through BufRead.
    v.clear();
    let mut s = VecStream::append(&mut v);
    for i in 0..1000 {
        writeln!(s, "line {i} {}", i * 3).unwrap();
    }
    s.set_position(0);
    let mut n = 0;
    for (i, line) in (&mut s).lines().enumerate() {
        assert_eq!(line.unwrap(), format!("line {i} {}", i * 3));
        n += 1;
    }
    assert_eq!(n, 1000);
}

#[test]
fn vec_stream_in_a_full_segment_is_out_of_memory_and_writes_nothing() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(64 << 10).unwrap();
    let free_before = seg.free_memory().unwrap();
    let m = seg.construct("v", Mutex::new(ShmVec::<u8>::new())).unwrap();
    {
        let mut v = m.lock().unwrap();
        let mut s = VecStream::new(&mut v);
        let chunk = [b'z'; 1000];
        let mut written = 0;
        let e = loop {
            match s.write_all(&chunk) {
                Ok(()) => written += chunk.len(),
                Err(e) => break e,
            }
            assert!(written < 1 << 20, "a 64 KiB segment never filled");
        };
        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
        assert_eq!(shmkit_kind(&e), Some(ErrorKind::OutOfMemory));
        assert!(e.to_string().contains("out of memory"), "{e}");
        assert_eq!(s.len(), written, "the failing write wrote nothing");
        assert_eq!(s.position() as usize, written);
        // Overwriting inside the vector still works.
        s.set_position(0);
        s.write_all(b"start").unwrap();
        assert_eq!(s.len(), written);
        // fmt::Write reports fmt::Error.
        s.set_position(written as u64);
        assert!(
            write!(
                &mut s as &mut dyn std::fmt::Write,
                "{}",
                "y".repeat(100_000)
            )
            .is_err()
        );
    }
    m.lock().unwrap().clear();
    m.lock().unwrap().shrink_to_fit();
    assert!(seg.free_memory().unwrap() <= free_before);
}

#[test]
fn vec_stream_swap_vector_exchanges_without_copying() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let work = seg
        .construct("work", Mutex::new(ShmVec::<u8>::new()))
        .unwrap();
    let done = seg
        .construct("done", Mutex::new(ShmVec::<u8>::new()))
        .unwrap();
    let (mut work, mut done) = (work.lock().unwrap(), done.lock().unwrap());
    let mut s = VecStream::new(&mut work);
    for batch in 0..5 {
        for i in 0..100 {
            writeln!(s, "batch {batch} item {i}").unwrap();
        }
        let before = s.get_ref().as_slice().as_ptr();
        s.swap_vector(&mut done);
        assert_eq!(s.position(), 0);
        assert_eq!(
            done.as_slice().as_ptr(),
            before,
            "the buffer moved, not the bytes"
        );
        let text = std::str::from_utf8(done.as_slice()).unwrap().to_owned();
        assert_eq!(text.lines().count(), 100);
        assert!(text.starts_with(&format!("batch {batch} item 0\n")));
        done.clear();
        s.get_mut().clear();
    }
    // Swapping with a vector that is not in the segment (empty, unbound) works too.
    let mut outside = ShmVec::<u8>::new();
    s.write_all(b"kept").unwrap();
    s.swap_vector(&mut outside);
    assert!(s.is_empty());
    assert_eq!(outside.with_slice(<[u8]>::to_vec).unwrap(), b"kept");
    s.write_all(b"fresh").unwrap();
    assert_eq!(work.as_slice(), b"fresh");
}

#[test]
fn vec_stream_over_a_moved_out_vector_appends_and_reads() {
    let seg: ManagedHeapMemory = ManagedHeapMemory::new(1 << 20).unwrap();
    let m = seg
        .construct("vv", Mutex::new(ShmVec::<ShmVec<u8>>::new()))
        .unwrap();
    let mut outer = m.lock().unwrap();
    outer.push(b"abc".as_slice());
    let mut taken = outer.pop().unwrap();
    let mut s = VecStream::append(&mut taken);
    s.write_all(b"def").unwrap();
    s.set_position(0);
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert_eq!(all, "abcdef");
    // Overwriting and BufRead need references into the segment: errors, not panics.
    s.set_position(0);
    assert_eq!(
        s.write(b"X").unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert!(s.fill_buf().is_err());
    outer.push(taken);
    assert_eq!(outer[0].as_slice(), b"abcdef");
}

#[test]
fn vec_stream_in_a_read_only_segment_reads_but_does_not_write() {
    let name = unique_name("streams-ro");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20).unwrap();
    let m = seg.construct("v", Mutex::new(ShmVec::<u8>::new())).unwrap();
    {
        let mut v = m.lock().unwrap();
        v.reserve(100);
        writeln!(VecStream::new(&mut v), "written by the owner").unwrap();
    }
    let ro: ManagedSharedMemory = ManagedSharedMemory::open_read_only(&name).unwrap();
    let rm = ro.find::<Mutex<ShmVec<u8>>>("v").unwrap().unwrap();
    let mut v = rm.lock().unwrap();
    let mut s = VecStream::new(&mut v);
    let mut line = String::new();
    s.read_line(&mut line).unwrap();
    assert_eq!(line, "written by the owner\n");
    // Room left in the buffer, but the segment is read-only here: refused either way.
    let e = s.write(b"more").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    s.set_position(0);
    let e = s.write(b"W").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    assert_eq!(v.len(), 21);
    drop(v);
    assert_eq!(m.lock().unwrap().as_slice(), b"written by the owner\n");
}

fn record_writer(args: &[String]) {
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    let n: usize = args[1].parse().unwrap();
    let m = seg.find::<Mutex<ShmVec<u8>>>("records").unwrap().unwrap();
    let mut v = m.lock().unwrap();
    let mut s = VecStream::append(&mut v);
    for i in 0..n {
        writeln!(s, "{i}\t{}\t{:.3}", std::process::id(), i as f64 / 7.0).unwrap();
    }
    report("len", s.len());
}

#[test]
fn child_process_writes_records_into_a_vec_stream_parent_reads_them() {
    let name = unique_name("streams-xproc");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 4 << 20).unwrap();
    let m = seg
        .construct("records", Mutex::new(ShmVec::<u8>::new()))
        .unwrap();
    writeln!(VecStream::new(&mut m.lock().unwrap()), "# header").unwrap();
    let out = child("record_writer")
        .args([name.as_str(), &RECORDS.to_string()])
        .run();
    out.assert_success();
    let mut v = m.lock().unwrap();
    assert_eq!(out.value("len"), v.len().to_string());
    let mut s = VecStream::new(&mut v);
    let mut lines = Vec::new();
    // Through plain io::Read (a BufReader over the stream)...
    for line in BufReader::new(&mut s).lines() {
        lines.push(line.unwrap());
    }
    assert_eq!(lines.len(), RECORDS + 1);
    assert_eq!(lines[0], "# header");
    let pid: u32 = lines[1].split('\t').nth(1).unwrap().parse().unwrap();
    assert_ne!(pid, std::process::id());
    for (i, line) in lines[1..].iter().enumerate() {
        assert_eq!(*line, format!("{i}\t{pid}\t{:.3}", i as f64 / 7.0));
    }
    // ... and through BufRead directly.
    s.rewind().unwrap();
    assert_eq!(s.lines().count(), RECORDS + 1);
}

fn buffer_writer(args: &[String]) {
    let seg: ManagedSharedMemory = ManagedSharedMemory::open(&args[0]).unwrap();
    let cells = seg.find_array::<AtomicU8>("page").unwrap().unwrap();
    let mut s = BufferStream::new(cells);
    let mut written = 0;
    for i in 0.. {
        if writeln!(s, "entry {i}").is_err() {
            break;
        }
        written += 1;
    }
    report("written", written);
    report("position", s.position());
}

#[test]
fn child_process_fills_a_buffer_stream_parent_reads_it() {
    let name = unique_name("streams-xbuf");
    let mut c = Cleanup::new();
    c.shm(&name);
    let seg: ManagedSharedMemory = ManagedSharedMemory::create(&name, 1 << 20).unwrap();
    let cells = seg
        .construct_array("page", 4096, |_| AtomicU8::new(0))
        .unwrap();
    let out = child("buffer_writer").arg(&name).run();
    out.assert_success();
    let written: usize = out.value("written").parse().unwrap();
    let position: usize = out.value("position").parse().unwrap();
    assert!(written > 400, "{written}");
    assert_eq!(
        position, 4096,
        "the child wrote up to the last byte, not past it"
    );
    let text = BufReader::new(BufferStream::new(cells))
        .lines()
        .map(Result::unwrap)
        .take(written)
        .collect::<Vec<_>>();
    for (i, line) in text.iter().enumerate() {
        assert_eq!(*line, format!("entry {i}"));
    }
}
