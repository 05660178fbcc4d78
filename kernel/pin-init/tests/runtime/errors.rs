//! Failure paths: every field initialized before a failure is dropped exactly once (in reverse
//! order), nothing after it is created, and `PinnedDrop` only runs for fully initialized values.

use core::{convert::Infallible, marker::PhantomPinned, pin::Pin};
use std::panic::{catch_unwind, AssertUnwindSafe};

use pin_init::{
    init, pin_data, pin_init, pinned_drop, stack_pin_init, stack_try_pin_init, InPlaceInit, Init,
    PinInit,
};

use crate::util::{DropLog, Tracked};

#[derive(Debug, PartialEq)]
enum Error {
    Early,
    Late(u32),
    Converted,
}

struct SubError;

impl From<SubError> for Error {
    fn from(_: SubError) -> Self {
        Error::Converted
    }
}

impl From<Infallible> for Error {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

#[pin_data(PinnedDrop)]
struct Three {
    a: Tracked,
    #[pin]
    b: Tracked,
    c: Tracked,
    log: DropLog,
}

#[pinned_drop]
impl PinnedDrop for Three {
    fn drop(self: Pin<&mut Self>) {
        self.log.record("Three::drop");
    }
}

/// Where to fail while initializing `Three`.
#[derive(Clone, Copy, PartialEq)]
enum FailAt {
    Nowhere,
    ValueOfB,
    InitOfC,
    CodeBlock,
    Panic,
}

fn fallible(ok: bool, value: Tracked) -> Result<Tracked, SubError> {
    if ok {
        Ok(value)
    } else {
        Err(SubError)
    }
}

fn three(log: &DropLog, fail: FailAt) -> impl PinInit<Three, Error> {
    let log = log.clone();
    pin_init!(Three {
        a: log.tracked("a"),
        b <- fallible(fail != FailAt::ValueOfB, log.tracked("b")),
        _: {
            if fail == FailAt::CodeBlock {
                Err(Error::Late(2))?;
            }
            if fail == FailAt::Panic {
                panic!("initializer panics");
            }
        },
        c <- {
            let c = log.tracked("c");
            // SAFETY: Writes `c` on success; on failure `c` is dropped here and nothing written.
            unsafe {
                pin_init::init_from_closure(move |slot: *mut Tracked| {
                    if fail == FailAt::InitOfC {
                        drop(c);
                        return Err(Error::Late(3));
                    }
                    slot.write(c);
                    Ok(())
                })
            }
        },
        log,
    }? Error)
}

#[test]
fn success_drops_fields_once_after_pinned_drop() {
    let log = DropLog::new();
    {
        let t: Pin<Box<Three>> = Box::try_pin_init(three(&log, FailAt::Nowhere)).unwrap();
        assert_eq!((t.a.name, t.b.name, t.c.name), ("a", "b", "c"));
        assert!(log.dropped().is_empty());
    }
    // `PinnedDrop` first, then the fields in declaration order, each exactly once.
    assert_eq!(log.dropped(), ["Three::drop", "a", "b", "c"]);
}

#[test]
fn question_mark_in_value_drops_earlier_fields() {
    let log = DropLog::new();
    let r = Box::try_pin_init(three(&log, FailAt::ValueOfB));
    assert_eq!(r.err(), Some(Error::Converted));
    // `fallible` dropped its argument `b` when returning `Err`, then the guard of `a` dropped `a`.
    // `c` was never created and `PinnedDrop` never ran.
    assert_eq!(log.dropped(), ["b", "a"]);
}

#[test]
fn failing_field_initializer_drops_earlier_fields_in_reverse_order() {
    let log = DropLog::new();
    let r = Box::try_pin_init(three(&log, FailAt::InitOfC));
    assert_eq!(r.err(), Some(Error::Late(3)));
    // `c` is dropped by its own initializer, then `b` and `a` by their guards, in reverse order.
    assert_eq!(log.dropped(), ["c", "b", "a"]);
}

#[test]
fn failing_code_block_drops_earlier_fields() {
    let log = DropLog::new();
    stack_try_pin_init!(let r = three(&log, FailAt::CodeBlock));
    assert_eq!(r.err(), Some(Error::Late(2)));
    assert_eq!(log.dropped(), ["b", "a"]);
}

#[test]
fn panic_during_initialization_drops_earlier_fields_once() {
    let log = DropLog::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = Box::try_pin_init(three(&log, FailAt::Panic));
    }));
    assert!(r.is_err());
    assert_eq!(log.dropped(), ["b", "a"]);
}

#[test]
fn stack_slot_failure_runs_no_destructor_at_scope_end() {
    let log = DropLog::new();
    {
        stack_try_pin_init!(let r: Three = three(&log, FailAt::InitOfC));
        assert!(r.is_err());
        assert_eq!(log.dropped(), ["c", "b", "a"]);
    }
    // Leaving the scope did not drop anything again.
    assert_eq!(log.dropped(), ["c", "b", "a"]);
}

/// What a crate's own `try_pin_init!` looks like: a default error type via `#[default_error]`.
macro_rules! my_try_pin_init {
    ($($args:tt)*) => {
        ::pin_init::pin_init!(#[default_error(Error)] $($args)*)
    };
}

#[pin_data]
struct Pair {
    x: u32,
    y: u32,
}

fn parse(s: &str) -> Result<u32, Error> {
    s.parse().map_err(|_| Error::Early)
}

#[test]
fn default_error_attribute() {
    fn pair<'a>(x: &'a str, y: &'a str) -> impl PinInit<Pair, Error> + 'a {
        my_try_pin_init!(Pair {
            x: parse(x)?,
            y: parse(y)?,
        })
    }
    stack_try_pin_init!(let ok = pair("1", "2"));
    let ok = ok.unwrap();
    assert_eq!((ok.x, ok.y), (1, 2));
    stack_try_pin_init!(let bad = pair("1", "two"));
    assert_eq!(bad.err(), Some(Error::Early));

    // `&this in` also works behind the wrapper.
    let with_this = my_try_pin_init!(&this in Pair {
        x: 5,
        y: {
            let _ = this;
            *x + 1
        },
    });
    stack_try_pin_init!(let p = with_this);
    assert_eq!(p.unwrap().y, 6);
}

#[test]
fn explicit_error_overrides_default_error_type() {
    fn check<I: PinInit<Pair, &'static str>>(i: I) -> I {
        i
    }
    let i = check(my_try_pin_init!(Pair { x: 1, y: 2 }? &'static str));
    stack_try_pin_init!(let p = i);
    assert_eq!(p.unwrap().x, 1);
}

#[pin_data]
struct Holder {
    #[pin]
    first: Three,
    second: Tracked,
}

#[test]
fn failure_in_nested_initializer_unwinds_both_levels() {
    let log = DropLog::new();
    // The initializer is a `move` closure: give it a reference, not the log itself.
    let l = &log;
    let init = pin_init!(Holder {
        second: l.tracked("second"),
        first <- three(l, FailAt::InitOfC),
    }? Error);
    stack_try_pin_init!(let h = init);
    assert_eq!(h.err(), Some(Error::Late(3)));
    assert_eq!(log.dropped(), ["c", "b", "a", "second"]);
}

#[test]
fn nested_value_is_dropped_with_pinned_drop_once() {
    let log = DropLog::new();
    {
        let l = &log;
        let init = pin_init!(Holder {
            first <- three(l, FailAt::Nowhere),
            second: l.tracked("second"),
        }? Error);
        stack_try_pin_init!(let h = init);
        assert!(h.is_ok());
    }
    assert_eq!(log.dropped(), ["Three::drop", "a", "b", "c", "second"]);
}

struct Plain {
    a: Tracked,
    b: Tracked,
}

#[test]
fn init_macro_error_paths() {
    let log = DropLog::new();
    let l = &log;
    let init = init!(Plain {
        a: l.tracked("a"),
        b: {
            let _: &mut Tracked = a;
            Err(Error::Early)?
        },
    }? Error);
    let r: Result<Box<Plain>, Error> = Box::try_init(init);
    assert_eq!(r.err(), Some(Error::Early));
    assert_eq!(log.dropped(), ["a"]);

    let log = DropLog::new();
    let l = &log;
    let ok: Box<Plain> = Box::init(init!(Plain {
        a: l.tracked("a"),
        b: l.tracked("b"),
    }))
    .unwrap();
    drop(ok);
    assert_eq!(log.dropped(), ["a", "b"]);
}

#[pin_data(PinnedDrop)]
struct Counted {
    #[pin]
    _pin: PhantomPinned,
    log: DropLog,
}

#[pinned_drop]
impl PinnedDrop for Counted {
    fn drop(self: Pin<&mut Self>) {
        self.log.record("Counted::drop");
    }
}

#[test]
fn pinned_drop_runs_once_in_every_container() {
    let log = DropLog::new();
    let make = || {
        let log = log.clone();
        pin_init!(Counted {
            _pin: PhantomPinned,
            log
        })
    };
    drop(Box::pin_init(make()).unwrap());
    drop(std::sync::Arc::pin_init(make()).unwrap());
    {
        stack_pin_init!(let _c = make());
    }
    assert_eq!(log.dropped(), ["Counted::drop"; 3]);
}

#[test]
fn infallible_initializers_inside_fallible_ones() {
    // `<-` with an infallible initializer in a fallible `pin_init!` needs `Error: From<Infallible>`.
    let init = pin_init!(Pair {
        x <- 1u32,
        y <- pin_init::init_zeroed(),
    }? Error);
    stack_try_pin_init!(let p = init);
    let p = p.unwrap();
    assert_eq!((p.x, p.y), (1, 0));
}

#[test]
fn chained_initializers_can_fail_after_initialization() {
    let log = DropLog::new();
    let init = three(&log, FailAt::Nowhere).pin_chain(|t| {
        assert_eq!(t.a.name, "a");
        Err(Error::Late(99))
    });
    stack_try_pin_init!(let r = init);
    assert_eq!(r.err(), Some(Error::Late(99)));
    // The fully initialized value is dropped as a whole, including its `PinnedDrop`.
    assert_eq!(log.dropped(), ["Three::drop", "a", "b", "c"]);

    let log = DropLog::new();
    let l = &log;
    let init = init!(Plain { a: l.tracked("a"), b: l.tracked("b") }? Error).chain(|p| {
        p.a = l.tracked("replacement");
        Err(Error::Early)
    });
    assert_eq!(Box::try_init(init).err(), Some(Error::Early));
    assert_eq!(log.dropped(), ["a", "replacement", "b"]);
}
