//! Concurrency tests of the store itself: many writers, one upload.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn spool() -> (tempfile::TempDir, Spool) {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&dir.path().join("spool"), Duration::from_secs(30)).unwrap();
    (dir, spool)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Writes part `index` the way a chunk request does: bytes without the lock,
/// then the record under it. Returns true if this call completed the upload.
fn send_part(spool: &Spool, id: &Id, data: &[u8], part: usize, index: u64) -> bool {
    let offset = index as usize * part;
    let bytes = &data[offset..(offset + part).min(data.len())];
    let written = spool
        .write_at(id, offset as u64, bytes.len() as u64, &mut &bytes[..])
        .unwrap();
    if written.is_none() {
        return false; // already complete
    }
    let lock = spool.lock(id).unwrap();
    match lock.entry().unwrap() {
        Entry::Incoming(mut r) => lock
            .record_part(&mut r, index, offset as u64, bytes.len() as u64)
            .unwrap(),
        _ => false,
    }
}

fn start(spool: &Spool, id: &Id, size: usize, parts: u64) {
    let mut r = Record::new(id, Protocol::FineUploader);
    r.size = Some(size as u64);
    r.parts = Some(Parts {
        total: parts,
        stored: super::record::PartMap::new(),
    });
    spool.lock(id).unwrap().create(&mut r.clone()).unwrap();
}

#[test]
fn eight_threads_out_of_order_with_repeats_complete_once() {
    let (_dir, spool) = spool();
    let spool = Arc::new(spool);
    let id = Id::parse("eight-threads").unwrap();
    let data = Arc::new(payload(1_000_003));
    let part = 40_000;
    let total = data.len().div_ceil(part) as u64;
    start(&spool, &id, data.len(), total);
    let completions = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let (spool, id, data, completions) =
                (spool.clone(), id.clone(), data.clone(), completions.clone());
            std::thread::spawn(move || {
                // Each thread sends a different rotation, so every part arrives 8 times, in varied order.
                for k in 0..total {
                    let index = (k * 7 + t * 3) % total;
                    if send_part(&spool, &id, &data, part, index) {
                        completions.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(completions.load(Ordering::SeqCst), 1);
    let (record, mut file) = spool.open_complete(&id).unwrap().expect("complete");
    let mut stored = Vec::new();
    file.read_to_end(&mut stored).unwrap();
    assert!(stored == *data, "stored bytes differ");
    assert_eq!(record.received, data.len() as u64);
    assert!(record.complete);
}

#[test]
fn a_waiter_gets_the_lock_once_the_holder_is_done() {
    let (_dir, spool) = spool();
    let id = Id::parse("x").unwrap();
    let first = spool.lock(&id).unwrap();
    assert!(spool.try_lock(&id).unwrap().is_none());
    let waiter = {
        let spool = spool.clone();
        let id = id.clone();
        std::thread::spawn(move || spool.lock(&id).map(|_| ()).is_ok())
    };
    std::thread::sleep(Duration::from_millis(50));
    assert!(first.remove().unwrap().is_none());
    assert!(waiter.join().unwrap());
}

#[test]
fn removal_and_claim() {
    let (dir, spool) = spool();
    let id = Id::parse("c1").unwrap();
    let mut scratch = spool.scratch().unwrap();
    assert_eq!(
        scratch.write_file(&mut &b"hello"[..], 5).unwrap(),
        Written {
            len: 5,
            overflow: false
        }
    );
    let mut r = Record::new(&id, Protocol::FilePond);
    r.size = Some(5);
    r.received = 5;
    let lock = spool.lock(&id).unwrap();
    assert!(matches!(
        lock.install(scratch, &mut r).unwrap(),
        Installed::New(_)
    ));
    let dest = dir.path().join("out.bin");
    assert!(matches!(lock.claim(&dest).unwrap(), Claimed::Done(_)));
    assert_eq!(fs::read(&dest).unwrap(), b"hello");
    assert_eq!(spool.lookup(&id).unwrap(), Entry::Absent);
    assert!(matches!(
        spool.lock(&id).unwrap().claim(&dest).unwrap(),
        Claimed::Unknown
    ));
}

#[test]
fn bounded_copy_reports_overflow_and_stores_only_the_allowed_bytes() {
    let (_dir, spool) = spool();
    let mut scratch = spool.scratch().unwrap();
    let w = scratch.write_file(&mut &b"0123456789"[..], 4).unwrap();
    assert_eq!(
        w,
        Written {
            len: 4,
            overflow: true
        }
    );
    let mut back = Vec::new();
    scratch.data().unwrap().read_to_end(&mut back).unwrap();
    assert_eq!(back, b"0123");
}

/// A body that arrives a few bytes at a time, like FastCGI records.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.len().min(buf.len()).min(1000);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn bounded_copy_of_a_trickled_body_across_buffer_sizes() {
    // Lengths around the first buffer (16 KiB), the full buffer (256 KiB)
    // and a multiple of it, each at its exact bound and one byte over it.
    for len in [0, 1, 16 * 1024, 16 * 1024 + 1, 300_000, 3 * 256 * 1024 + 5] {
        let data = payload(len);
        for (max, overflow) in [
            (len as u64, false),
            ((len as u64).saturating_sub(1), len > 0),
        ] {
            let (_dir, spool) = spool();
            let mut scratch = spool.scratch().unwrap();
            let w = scratch.write_file(&mut Trickle(&data), max).unwrap();
            assert_eq!(w, Written { len: max, overflow }, "len {len}, max {max}");
            let mut back = Vec::new();
            scratch.data().unwrap().read_to_end(&mut back).unwrap();
            assert!(
                back == data[..max as usize],
                "len {len}, max {max}: bytes differ"
            );
        }
    }
}

#[test]
fn gc_removes_old_entries_and_skips_locked_ones() {
    let (_dir, spool) = spool();
    let old = Id::parse("old").unwrap();
    let busy = Id::parse("busy").unwrap();
    start(&spool, &old, 10, 2);
    start(&spool, &busy, 10, 2);
    std::thread::sleep(Duration::from_millis(1100));
    let held = spool.lock(&busy).unwrap();
    let policy = GcPolicy {
        incomplete_after: Duration::from_secs(1),
        complete_after: Duration::from_secs(1),
        sample: None,
    };
    let report = spool.gc(&policy).unwrap();
    assert_eq!((report.incomplete, report.busy), (1, 1));
    assert_eq!(spool.lookup(&old).unwrap(), Entry::Absent);
    assert!(matches!(spool.lookup(&busy).unwrap(), Entry::Incoming(_)));
    drop(held);
}

/// Waits past a one-second age limit for incomplete uploads and debris;
/// complete uploads are kept.
fn after_a_second_incomplete_expires() -> GcPolicy {
    std::thread::sleep(Duration::from_millis(1100));
    GcPolicy {
        incomplete_after: Duration::from_secs(1),
        complete_after: Duration::from_secs(3600),
        sample: None,
    }
}

/// The names in one of the spool's directories, sorted.
fn names(spool: &Spool, state: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(spool.root().join(state))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn an_entry_is_a_data_file_and_a_record_beside_it() {
    let (_dir, spool) = spool();
    let id = Id::parse("pair-1").unwrap();
    let data = payload(3000);
    start(&spool, &id, data.len(), 3);
    assert_eq!(names(&spool, INCOMING), ["pair-1", "pair-1.json"]);
    for index in 0..3 {
        send_part(&spool, &id, &data, 1000, index);
    }
    assert_eq!(names(&spool, INCOMING), Vec::<String>::new());
    assert_eq!(names(&spool, COMPLETE), ["pair-1", "pair-1.json"]);
    assert_eq!(
        fs::read(spool.root().join("complete/pair-1")).unwrap(),
        data
    );
    assert_eq!(names(&spool, TMP), Vec::<String>::new());
}

/// A crash between completion's two renames (data moved, record not yet)
/// leaves an upload that the next locked look rolls back to resumable; the
/// resent last part then completes it.
#[test]
fn a_completion_cut_between_its_renames_is_rolled_back_and_resumable() {
    let (_dir, spool) = spool();
    let id = Id::parse("cut-1").unwrap();
    let data = payload(2000);
    start(&spool, &id, data.len(), 2);
    send_part(&spool, &id, &data, 1000, 0);
    spool
        .write_at(&id, 1000, 1000, &mut &data[1000..])
        .unwrap()
        .unwrap();
    // What the crash leaves: the data renamed into complete/, no complete record.
    fs::rename(
        spool.data_path(INCOMING, &id),
        spool.data_path(COMPLETE, &id),
    )
    .unwrap();
    assert!(matches!(spool.lookup(&id).unwrap(), Entry::Incoming(_)));
    assert!(matches!(
        spool.lock(&id).unwrap().entry().unwrap(),
        Entry::Incoming(_)
    ));
    assert_eq!(names(&spool, COMPLETE), Vec::<String>::new());
    assert!(send_part(&spool, &id, &data, 1000, 1));
    let (_, mut file) = spool.open_complete(&id).unwrap().unwrap();
    let mut back = Vec::new();
    file.read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
}

/// Files a crashed install left in complete/ without their record are not an
/// upload: the next upload of the id replaces them and gc removes old ones.
#[test]
fn files_without_a_record_are_not_an_upload_and_are_swept() {
    let (_dir, spool) = spool();
    let id = Id::parse("orphan-1").unwrap();
    let other = Id::parse("orphan-2").unwrap();
    fs::write(spool.data_path(COMPLETE, &id), b"half").unwrap();
    fs::write(spool.variant_path(&id, 1), b"v").unwrap();
    fs::write(spool.data_path(COMPLETE, &other), b"left").unwrap();
    assert_eq!(spool.lookup(&id).unwrap(), Entry::Absent);
    assert!(spool.open_complete(&id).unwrap().is_none());

    let mut scratch = spool.scratch().unwrap();
    scratch.write_file(&mut &b"whole"[..], 5).unwrap();
    let mut r = Record::new(&id, Protocol::FilePond);
    r.size = Some(5);
    r.received = 5;
    spool.lock(&id).unwrap().install(scratch, &mut r).unwrap();
    assert_eq!(fs::read(spool.data_path(COMPLETE, &id)).unwrap(), b"whole");

    let policy = after_a_second_incomplete_expires();
    let report = spool.gc(&policy).unwrap();
    // orphan-2's data, and orphan-1's variant-1 (its record lists no variants
    // but exists, so that file is left with its entry).
    assert_eq!((report.orphans, report.complete), (1, 0));
    assert_eq!(
        names(&spool, COMPLETE),
        ["orphan-1", "orphan-1.json", "orphan-1.variant-1"]
    );
    // Removing the entry takes every file of it.
    assert!(spool.lock(&id).unwrap().remove().unwrap().is_some());
    assert_eq!(names(&spool, COMPLETE), Vec::<String>::new());
}

/// A crash after completion but before the incoming record was removed
/// leaves a stale record: the complete upload wins, gc removes the rest.
#[test]
fn a_stale_incoming_record_beside_a_complete_upload_is_ignored_then_swept() {
    let (_dir, spool) = spool();
    let id = Id::parse("stale-1").unwrap();
    let data = payload(100);
    start(&spool, &id, data.len(), 1);
    let stale = fs::read(spool.record_path(INCOMING, &id)).unwrap();
    assert!(send_part(&spool, &id, &data, 100, 0));
    fs::write(spool.record_path(INCOMING, &id), stale).unwrap();
    assert!(matches!(spool.lookup(&id).unwrap(), Entry::Complete(_)));
    let policy = after_a_second_incomplete_expires();
    assert_eq!(spool.gc(&policy).unwrap().incomplete, 1);
    assert_eq!(names(&spool, INCOMING), Vec::<String>::new());
    assert!(matches!(spool.lookup(&id).unwrap(), Entry::Complete(_)));
}

/// A tus-style upload of `size` bytes, created empty.
fn start_stream(spool: &Spool, id: &Id, size: u64) {
    let mut r = Record::new(id, Protocol::Tus);
    r.size = Some(size);
    spool.lock(id).unwrap().create(&mut r.clone()).unwrap();
}

fn received(spool: &Spool, id: &Id) -> u64 {
    match spool.lookup(id).unwrap() {
        Entry::Incoming(r) | Entry::Complete(r) => r.received,
        Entry::Absent => panic!("absent"),
    }
}

/// A source that yields `data` and then fails, like a connection cut.
struct CutShort<'a>(&'a [u8]);

impl Read for CutShort<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut"));
        }
        let n = buf.len().min(self.0.len()).min(100_000);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_writer_is_alone_and_others_wait_or_are_busy() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&dir.path().join("spool"), Duration::from_millis(200)).unwrap();
    let id = Id::parse("one-writer").unwrap();
    start_stream(&spool, &id, 10);
    let first = spool.writer(&id).unwrap().expect("incoming");
    // gc leaves an upload being written alone, however old it looks.
    std::thread::sleep(Duration::from_millis(20));
    let policy = GcPolicy {
        incomplete_after: Duration::ZERO,
        complete_after: Duration::from_secs(3600),
        sample: None,
    };
    assert_eq!(spool.gc(&policy).unwrap().busy, 1);
    assert!(matches!(spool.lookup(&id).unwrap(), Entry::Incoming(_)));
    let started = Instant::now();
    assert!(matches!(spool.writer(&id), Err(SpoolError::Busy)));
    assert!(started.elapsed() >= Duration::from_millis(200));
    // An upload whose id shares the lock file's name is not held up.
    let other = Id::parse("two-writer").unwrap();
    assert_eq!(other.lock_name(), id.lock_name());
    start_stream(&spool, &other, 3);
    let w = spool.writer(&other).unwrap().expect("incoming");
    w.append(0, 3, &mut &b"abc"[..], true).unwrap();
    drop(first);
    assert!(spool.writer(&id).unwrap().is_some());
    // Gone: no writer.
    spool.lock(&id).unwrap().remove().unwrap();
    assert!(spool.writer(&id).unwrap().is_none());
}

#[test]
fn a_cut_stream_keeps_and_records_what_arrived() {
    let (_dir, spool) = spool();
    let id = Id::parse("cut-stream").unwrap();
    let data = payload(20 * 1024 * 1024);
    start_stream(&spool, &id, data.len() as u64);
    let w = spool.writer(&id).unwrap().unwrap();
    let arrived = 13 * 1024 * 1024 + 12_345;
    let (e, recorded) = w
        .append(0, data.len() as u64, &mut CutShort(&data[..arrived]), true)
        .unwrap_err();
    assert!(matches!(e, WriteError::Source(_)));
    assert_eq!(recorded, arrived as u64);
    assert_eq!(received(&spool, &id), arrived as u64);
    // Without recording, a cut stream records nothing.
    let id2 = Id::parse("cut-quiet").unwrap();
    start_stream(&spool, &id2, data.len() as u64);
    let w2 = spool.writer(&id2).unwrap().unwrap();
    let (_, recorded) = w2
        .append(0, data.len() as u64, &mut CutShort(&data[..arrived]), false)
        .unwrap_err();
    assert_eq!((recorded, received(&spool, &id2)), (0, 0));
}

/// A source that yields `data` in pieces of `piece` bytes, pausing `pause`
/// after each, like a network.
struct Paced<'a> {
    data: &'a [u8],
    piece: usize,
    pause: Duration,
    left_in_piece: usize,
}

impl Read for Paced<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Ok(0);
        }
        if self.left_in_piece == 0 {
            std::thread::sleep(self.pause);
            self.left_in_piece = self.piece;
        }
        let n = buf.len().min(self.data.len()).min(self.left_in_piece);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.left_in_piece -= n;
        Ok(n)
    }
}

#[test]
fn progress_is_recorded_every_8_mib_while_streaming() {
    let (_dir, spool) = spool();
    let id = Id::parse("progress").unwrap();
    let data = payload(17 * 1024 * 1024);
    start_stream(&spool, &id, data.len() as u64);
    let w = spool.writer(&id).unwrap().unwrap();
    let mut src = Paced {
        data: &data,
        piece: 2 * 1024 * 1024,
        pause: Duration::from_millis(60),
        left_in_piece: 0,
    };
    let (written, recorded) = w.append(0, data.len() as u64, &mut src, true).unwrap();
    assert_eq!(written.len, data.len() as u64);
    // At least one step of 8 MiB was recorded while the body streamed; the
    // tail is the caller's to record.
    assert!(
        recorded >= 8 * 1024 * 1024 && recorded < data.len() as u64,
        "{recorded}"
    );
    assert_eq!(received(&spool, &id), recorded);
}

#[test]
fn a_slow_stream_is_recorded_every_second() {
    let (_dir, spool) = spool();
    let id = Id::parse("slow-progress").unwrap();
    let data = payload(3 * 1024 * 1024);
    start_stream(&spool, &id, data.len() as u64);
    let w = spool.writer(&id).unwrap().unwrap();
    // 1 MiB, then nothing for 1.6 s, then the rest.
    let mut src = Paced {
        data: &data,
        piece: 1024 * 1024,
        pause: Duration::from_millis(1600),
        left_in_piece: 1024 * 1024,
    };
    std::thread::scope(|s| {
        let seen = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(1400));
            received(&spool, &id)
        });
        w.append(0, data.len() as u64, &mut src, true).unwrap();
        // What was written of the first MiB was recorded during the stall,
        // after about a second: all of it but what waits in the copy
        // buffer for the buffer to fill.
        let seen = seen.join().unwrap();
        assert!(
            seen > 1024 * 1024 - COPY_BUFFER as u64 && seen <= 1024 * 1024,
            "{seen}"
        );
    });
}

#[test]
fn progress_stops_when_the_upload_is_removed() {
    let (_dir, spool) = spool();
    let id = Id::parse("removed-mid").unwrap();
    let data = payload(9 * 1024 * 1024);
    start_stream(&spool, &id, data.len() as u64);
    let w = spool.writer(&id).unwrap().unwrap();
    spool.lock(&id).unwrap().remove().unwrap();
    let (e, _) = w
        .append(0, data.len() as u64, &mut &data[..], true)
        .unwrap_err();
    assert!(matches!(e, WriteError::Spool(SpoolError::Gone)), "{e:?}");
    assert_eq!(spool.lookup(&id).unwrap(), Entry::Absent);
}

#[test]
fn assembly_concatenates_in_order_and_claim_refuses_partials() {
    let (dir, spool) = spool();
    let mut files = Vec::new();
    let mut whole = Vec::new();
    for (n, len) in [(1u8, 70_000usize), (2, 0), (3, 1_234_567)] {
        let part = Id::parse(&format!("part-{n}")).unwrap();
        let bytes: Vec<u8> = payload(len).into_iter().map(|b| b ^ n).collect();
        let mut r = Record::new(&part, Protocol::Tus);
        r.partial = true;
        let mut scratch = spool.scratch().unwrap();
        scratch.write_file(&mut &bytes[..], len as u64).unwrap();
        spool.lock(&part).unwrap().install(scratch, &mut r).unwrap();
        let dest = dir.path().join(format!("claimed-{n}"));
        assert!(matches!(
            spool.lock(&part).unwrap().claim(&dest).unwrap(),
            Claimed::Partial
        ));
        files.push(spool.open_complete(&part).unwrap().unwrap().1);
        whole.extend_from_slice(&bytes);
    }
    let mut scratch = spool.scratch().unwrap();
    assert_eq!(scratch.assemble(&files).unwrap(), whole.len() as u64);
    let id = Id::parse("final").unwrap();
    let mut r = Record::new(&id, Protocol::Tus);
    spool.lock(&id).unwrap().install(scratch, &mut r).unwrap();
    let dest = dir.path().join("final");
    assert!(matches!(
        spool.lock(&id).unwrap().claim(&dest).unwrap(),
        Claimed::Done(_)
    ));
    assert!(fs::read(&dest).unwrap() == whole);
}

#[test]
fn a_stream_cut_after_its_last_byte_completes_the_upload() {
    let (_dir, spool) = spool();
    let id = Id::parse("cut-at-end").unwrap();
    let data = payload(300_000);
    start_stream(&spool, &id, data.len() as u64);
    let w = spool.writer(&id).unwrap().unwrap();
    // Every byte arrives, then the connection fails (a lost chunked
    // terminator): the upload is complete, not left incoming at its length.
    let (e, recorded) = w
        .append(0, data.len() as u64 + 1, &mut CutShort(&data), true)
        .unwrap_err();
    assert!(matches!(e, WriteError::Source(_)));
    assert_eq!(recorded, data.len() as u64);
    let (record, mut file) = spool.open_complete(&id).unwrap().expect("complete");
    assert!(record.complete);
    let mut stored = Vec::new();
    file.read_to_end(&mut stored).unwrap();
    assert!(stored == data);
}
