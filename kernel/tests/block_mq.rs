//! `kernel::block::mq` on the host's in-process front end: a null-block-like driver whose disk a
//! test opens by name and submits I/O to, checking what blk-mq promises a driver: each request
//! reaches `queue_rq` with its sector, length and operation, `last` on the last of a batch;
//! `commit_rqs` after a batch cut short; completions through `complete` on the hardware queue's
//! thread; no more requests in flight than the queue depth; removal waiting for the requests in
//! flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use drydock_host::block::local::{Completion, Disk, Io, Op};
use drydock_host::errno::Errno;
use kernel::bindings;
use kernel::block::mq::{gen_disk::GenDisk, gen_disk::GenDiskBuilder, Request, TagSet};
use kernel::block::SECTOR_SHIFT;
use kernel::prelude::*;
use kernel::sync::Arc;
use std::vec::Vec;

#[path = "support/test_blk.rs"]
mod test_blk;
use test_blk::{wait_for, LocalModule, Mode, State, TestDisk, COMPLETED_ON, PATIENCE};

/// A disk of the test driver, with its state.
struct Fixture {
    disk: Option<GenDisk<TestDisk>>,
    state: Arc<State>,
    dropped: Arc<AtomicBool>,
    local: Disk,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // A failed test may leave requests in flight, which removing the disk would wait for.
        if std::thread::panicking() {
            core::mem::forget(self.disk.take());
        }
    }
}

/// Builds a disk named `name` on a tag set of `hw_queues` queues of `depth` tags.
fn fixture(name: &str, mode: Mode, hw_queues: u32, depth: u32) -> Fixture {
    let state = State::new(mode);
    let dropped = state.dropped.clone();
    let tagset = Arc::pin_init(TagSet::new(hw_queues, depth, 1), GFP_KERNEL).unwrap();
    let disk = GenDiskBuilder::new()
        .capacity_sectors(8 << (20 - SECTOR_SHIFT))
        .logical_block_size(512)
        .unwrap()
        .physical_block_size(4096)
        .unwrap()
        .rotational(true)
        .build(fmt!("{}", name), tagset, state.clone())
        .unwrap();
    Fixture {
        disk: Some(disk),
        state,
        dropped,
        local: Disk::open(name).expect("the disk is in the process"),
    }
}

fn outcomes(completions: &[Completion]) -> Vec<Result<u32, Errno>> {
    completions
        .iter()
        .map(|c| c.wait(PATIENCE).expect("the I/O ended"))
        .collect()
}

fn io(op: Op, sector: u64, sectors: u32) -> Io {
    Io {
        op,
        sector,
        sectors,
    }
}

#[test]
fn the_disk_has_what_the_driver_asked_for() {
    let f = fixture("blkmq-params", Mode::End, 1, 64);
    let p = f.local.params();
    assert_eq!(p.name, "blkmq-params");
    assert_eq!(p.sectors, 8 << 11);
    assert_eq!((p.logical_block_size, p.physical_block_size), (512, 4096));
    assert!(p.rotational);
    assert_eq!((p.nr_hw_queues, p.queue_depth), (1, 64));
}

#[test]
fn requests_reach_queue_rq_with_their_sector_length_and_operation() {
    let f = fixture("blkmq-rw", Mode::End, 1, 64);
    let batch = [
        io(Op::Read, 0, 8),
        io(Op::Write, 16, 4),
        io(Op::Flush, 0, 0),
        io(Op::Read, 100, 1),
    ];
    let done = f.local.submit(0, &batch).unwrap();
    assert_eq!(outcomes(&done), [Ok(4096), Ok(2048), Ok(0), Ok(512)]);
    let seen = f.state.seen.lock().unwrap().clone();
    let expected = [
        (bindings::REQ_OP_READ, 0, 4096, false),
        (bindings::REQ_OP_WRITE, 16, 2048, false),
        (bindings::REQ_OP_FLUSH, 0, 0, false),
        (bindings::REQ_OP_READ, 100, 512, true),
    ];
    let got: Vec<_> = seen
        .iter()
        .map(|s| (s.op, s.sector, s.bytes, s.last))
        .collect();
    assert_eq!(got, expected);
    // A batch that reached its last request needs no `commit_rqs`.
    assert_eq!(f.state.commits.load(Ordering::SeqCst), 0);
}

#[test]
fn each_hardware_queue_gets_its_own_requests() {
    let f = fixture("blkmq-hw", Mode::End, 2, 8);
    let queues = f.local.params().nr_hw_queues;
    for hctx in 0..queues {
        let done = f
            .local
            .submit(hctx, &[io(Op::Write, u64::from(hctx), 1)])
            .unwrap();
        assert_eq!(outcomes(&done), [Ok(512)]);
    }
    let seen = f.state.seen.lock().unwrap().clone();
    let hctxs: Vec<_> = seen.iter().map(|s| (s.hctx, s.sector)).collect();
    let expected: Vec<_> = (0..queues).map(|q| (q, u64::from(q))).collect();
    assert_eq!(hctxs, expected);
    assert_eq!(
        f.local.submit(queues, &[io(Op::Read, 0, 1)]).err(),
        Some(Errno::EINVAL)
    );
}

#[test]
fn commit_rqs_follows_a_batch_cut_short_and_the_turned_away_request_comes_back() {
    let f = fixture("blkmq-busy", Mode::BusyOnce, 1, 64);
    let batch = [io(Op::Read, 1, 1), io(Op::Read, 2, 1), io(Op::Read, 3, 1)];
    let done = f.local.submit(0, &batch).unwrap();
    assert_eq!(outcomes(&done), [Ok(512), Ok(512), Ok(512)]);
    // The first request was queued, the second turned away: the driver may have waited for a
    // last request that did not come.
    assert_eq!(f.state.commits.load(Ordering::SeqCst), 1);
    let seen: Vec<_> = f
        .state
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| (s.sector, s.last))
        .collect();
    // The second request came back, with the third, once the first ended.
    assert_eq!(seen, [(1, false), (2, false), (2, false), (3, true)]);
}

#[test]
fn a_failed_queue_rq_fails_the_request_with_its_errno() {
    let f = fixture("blkmq-fail", Mode::Fail, 1, 8);
    let done = f.local.submit(0, &[io(Op::Write, 0, 8)]).unwrap();
    assert_eq!(outcomes(&done), [Err(Errno::ENOSPC)]);
}

#[test]
fn completed_requests_finish_in_complete_on_the_hardware_queue_thread() {
    let f = fixture("blkmq-soft", Mode::Complete, 1, 8);
    let done = f
        .local
        .submit(0, &[io(Op::Read, 0, 8), io(Op::Read, 8, 8)])
        .unwrap();
    assert_eq!(outcomes(&done), [Ok(4096), Ok(4096)]);
    // Completed from `queue_rq`, on the hardware queue's thread: `complete` runs there too.
    let on = COMPLETED_ON.lock().unwrap().clone();
    assert!(
        on.iter().filter(|n| n.starts_with("blk-mq/")).count() >= 2,
        "{on:?}"
    );

    // Completed from another thread (an interrupt handler's, say): `complete` still runs on the
    // hardware queue's thread, not the completing one.
    let h = fixture("blkmq-remote", Mode::Hold, 1, 8);
    let done = h.local.submit(0, &[io(Op::Write, 0, 1)]).unwrap();
    wait_for("the request to be held", || {
        h.state.held.lock().unwrap().len() == 1
    });
    let rq = h.state.held.lock().unwrap().pop().unwrap();
    std::thread::Builder::new()
        .name("completer".into())
        .spawn(move || Request::complete(rq))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(outcomes(&done), [Ok(512)]);
    let on = COMPLETED_ON.lock().unwrap().clone();
    assert!(!on.iter().any(|n| n == "completer"), "{on:?}");
}

#[test]
fn no_more_requests_than_the_queue_depth_are_in_flight() {
    let f = fixture("blkmq-depth", Mode::Hold, 1, 4);
    let batch: Vec<_> = (0..10).map(|i| io(Op::Read, i, 1)).collect();
    let done = f.local.submit(0, &batch).unwrap();
    wait_for("four requests", || f.state.held.lock().unwrap().len() == 4);
    // Give the queue's thread time to (wrongly) dispatch more.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(f.state.held.lock().unwrap().len(), 4);
    assert!(done.iter().all(|c| c.outcome().is_none()));

    // Ending one frees a tag for the fifth.
    let first = f.state.held.lock().unwrap().remove(0);
    Request::end_ok(first).map_err(|_| ()).unwrap();
    wait_for("the fifth request", || {
        f.state.seen.lock().unwrap().len() == 5
    });
    assert_eq!(done[0].wait(PATIENCE), Some(Ok(512)));
    assert_eq!(f.state.held.lock().unwrap().len(), 4);

    // Ending them as they come ends all ten.
    let mut ended = 1;
    let start = Instant::now();
    while ended < 10 {
        assert!(start.elapsed() < PATIENCE, "timed out ending the requests");
        assert!(f.state.held.lock().unwrap().len() <= 4);
        let rq = f.state.held.lock().unwrap().pop();
        match rq {
            Some(rq) => {
                Request::end_ok(rq).map_err(|_| ()).unwrap();
                ended += 1;
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    assert!(outcomes(&done).iter().all(|o| *o == Ok(512)));
    let sectors: Vec<_> = f
        .state
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.sector)
        .collect();
    assert_eq!(sectors, (0..10).collect::<Vec<_>>());
}

#[test]
fn end_ok_fails_while_another_reference_exists() {
    let f = fixture("blkmq-aref", Mode::Hold, 1, 4);
    let done = f.local.submit(0, &[io(Op::Read, 0, 1)]).unwrap();
    wait_for("the request", || f.state.held.lock().unwrap().len() == 1);
    let rq = f.state.held.lock().unwrap().pop().unwrap();
    let other = rq.clone();
    let rq = Request::end_ok(rq).expect_err("another ARef exists");
    assert!(done[0].outcome().is_none());
    drop(other);
    Request::end_ok(rq).map_err(|_| ()).expect("the only ARef");
    assert_eq!(outcomes(&done), [Ok(512)]);
}

#[test]
fn removing_the_disk_waits_for_the_requests_in_flight() {
    let mut f = fixture("blkmq-remove", Mode::Hold, 1, 4);
    let done = f.local.submit(0, &[io(Op::Write, 0, 8)]).unwrap();
    wait_for("the request", || f.state.held.lock().unwrap().len() == 1);
    let rq = f.state.held.lock().unwrap().pop().unwrap();

    // A `GenDisk` is not `Send` (nor in 7.3): the test thread removes the disk while another
    // ends the request in flight, a while later.
    let ended = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            // The disk is being removed: I/O submitted now fails.
            wait_for("the removal to start", || {
                let late = f.local.submit(0, &[io(Op::Read, 0, 1)]).unwrap();
                outcomes(&late) == [Err(Errno::EIO)]
            });
            ended.store(true, Ordering::SeqCst);
            Request::end_ok(rq).map_err(|_| ()).unwrap();
        });
        drop(f.disk.take());
        assert!(
            ended.load(Ordering::SeqCst),
            "the disk went with a request in flight"
        );
    });
    assert_eq!(outcomes(&done), [Ok(4096)]);
    // The disk's name is free, and I/O through the old handle fails.
    assert_eq!(Disk::open("blkmq-remove").err(), Some(Errno::ENODEV));
    let after = f.local.submit(0, &[io(Op::Read, 0, 1)]).unwrap();
    assert_eq!(outcomes(&after), [Err(Errno::EIO)]);
    // The queue data went with the disk: the test's reference was the last.
    let dropped = f.dropped.clone();
    drop(f);
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn tag_sets_are_checked_as_blk_mq_checks_them() {
    let no_tags = Arc::pin_init(TagSet::<TestDisk>::new(1, 0, 1), GFP_KERNEL);
    assert_eq!(no_tags.err(), Some(EINVAL));
    let no_queues = Arc::pin_init(TagSet::<TestDisk>::new(0, 8, 1), GFP_KERNEL);
    assert_eq!(no_queues.err(), Some(EINVAL));
    let too_many_maps = Arc::pin_init(TagSet::<TestDisk>::new(1, 8, 4), GFP_KERNEL);
    assert_eq!(too_many_maps.err(), Some(EINVAL));
}

#[test]
fn a_name_in_use_is_refused() {
    let _f = fixture("blkmq-twice", Mode::End, 1, 4);
    let tagset = Arc::pin_init(TagSet::<TestDisk>::new(1, 4, 1), GFP_KERNEL).unwrap();
    let state = State::new(Mode::End);
    let dropped = state.dropped.clone();
    let again = GenDiskBuilder::new().build(fmt!("blkmq-twice"), tagset, state);
    assert_eq!(again.err(), Some(EEXIST));
    // The failed build dropped the queue data it was given.
    assert!(dropped.load(Ordering::SeqCst));
}
