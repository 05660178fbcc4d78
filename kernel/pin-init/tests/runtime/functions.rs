//! The free functions and traits of `pin-init`.

use core::{
    cell::{Cell, UnsafeCell},
    convert::Infallible,
    marker::{PhantomData, PhantomPinned},
    mem::MaybeUninit,
    num::{NonZero, Wrapping},
    pin::Pin,
    ptr::NonNull,
};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use pin_init::{
    assert_pinned, cast_init, cast_pin_init, init_array_from_fn, init_from_closure, init_scope,
    init_zeroed, pin_data, pin_init, pin_init_array_from_fn, pin_init_from_closure, pin_init_scope,
    raw_init, raw_try_init, stack_pin_init, stack_try_pin_init, uninit, zeroed, InPlaceInit,
    InPlaceWrite, Init, MaybeZeroable, PinInit, Wrapper, Zeroable,
};

use crate::{
    is_zeroable,
    util::{DropLog, Oops, Tracked},
};

#[derive(Zeroable, Debug, PartialEq)]
struct Plain {
    a: u32,
    b: [i16; 3],
    c: Option<NonZero<u64>>,
}

#[derive(Zeroable)]
#[allow(dead_code)]
union Bits {
    signed: i64,
    unsigned: u64,
}

#[derive(Zeroable)]
struct GenericZero<T, const N: usize> {
    items: [T; N],
}

#[derive(MaybeZeroable)]
#[allow(dead_code)]
struct MaybeYes {
    a: u8,
    p: *const u8,
}

#[derive(MaybeZeroable)]
#[allow(dead_code)]
struct MaybeNo {
    a: u8,
    r: &'static u8,
}

#[derive(MaybeZeroable)]
#[allow(dead_code)]
struct MaybeGeneric<T> {
    t: T,
}

#[test]
fn zeroed_values() {
    const PLAIN: Plain = zeroed();
    assert_eq!(
        PLAIN,
        Plain {
            a: 0,
            b: [0; 3],
            c: None
        }
    );
    let z: Plain = Zeroable::zeroed();
    assert_eq!(z, PLAIN);
    let bits: Bits = zeroed();
    // SAFETY: Both fields are plain integers.
    assert_eq!(unsafe { bits.unsigned }, 0);
    let g: GenericZero<Option<&u8>, 4> = zeroed();
    assert!(g.items.iter().all(Option::is_none));

    let boxed: Box<Plain> = Box::init(init_zeroed()).unwrap();
    assert_eq!(*boxed, PLAIN);
    let boxed: Box<Plain> = Box::init(Plain::init_zeroed()).unwrap();
    assert_eq!(*boxed, PLAIN);
}

#[test]
fn init_zeroed_overwrites_previous_bytes() {
    let mut memory = MaybeUninit::<[u32; 8]>::new([u32::MAX; 8]);
    // SAFETY: `memory` is valid and aligned; its old content is plain data that needs no drop.
    unsafe { raw_init(memory.as_mut_ptr(), init_zeroed()) };
    // SAFETY: `raw_init` initialized it.
    assert_eq!(unsafe { memory.assume_init() }, [0; 8]);
}

#[test]
fn maybe_zeroable_only_applies_if_all_fields_are_zeroable() {
    assert!(is_zeroable!(MaybeYes));
    assert!(!is_zeroable!(MaybeNo));
    assert!(is_zeroable!(MaybeGeneric<u32>));
    assert!(!is_zeroable!(MaybeGeneric<&'static u32>));
}

#[test]
fn zeroable_implementations() {
    fn check<T: Zeroable>(check: impl FnOnce(T) -> bool) {
        assert!(check(zeroed()));
    }
    check::<bool>(|v| !v);
    check::<char>(|v| v == '\0');
    check::<f64>(|v| v == 0.0);
    check::<i128>(|v| v == 0);
    check::<()>(|()| true);
    check::<PhantomData<str>>(|_| true);
    check::<PhantomPinned>(|_| true);
    check::<MaybeUninit<String>>(|_| true);
    check::<UnsafeCell<u8>>(|v| v.into_inner() == 0);
    check::<*mut u8>(|v| v.is_null());
    check::<*const u8>(|v| v.is_null());
    check::<*const [u8]>(|v| v.is_null() && v.len() == 0);
    check::<*mut str>(|v| v.is_null());
    check::<[[u8; 2]; 3]>(|v| v == [[0; 2]; 3]);
    check::<Wrapping<u16>>(|v| v.0 == 0);
    check::<(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64)>(|v| v.0 == 0 && v.9 == 0.0);
    check::<(u8,)>(|v| v.0 == 0);
    check::<Option<&u8>>(|v| v.is_none());
    check::<Option<&mut [u8]>>(|v| v.is_none());
    check::<Option<NonNull<dyn Fn()>>>(|v| v.is_none());
    check::<Option<NonZero<usize>>>(|v| v.is_none());
    check::<Option<NonZero<i8>>>(|v| v.is_none());
    check::<Option<Box<u64>>>(|v| v.is_none());
    check::<Option<fn()>>(|v| v.is_none());
    check::<Option<unsafe fn(u8) -> u8>>(|v| v.is_none());
    check::<Option<extern "C" fn(u8, u16)>>(|v| v.is_none());
    type Many = unsafe extern "C" fn(
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
    ) -> u8;
    check::<Option<Many>>(|v| v.is_none());

    // Types that must not be `Zeroable`.
    assert!(!is_zeroable!(&u8));
    assert!(!is_zeroable!(NonZero<u8>));
    assert!(!is_zeroable!(Box<u8>));
    assert!(!is_zeroable!(Infallible));
    assert!(!is_zeroable!(*const dyn Fn()));
    assert!(!is_zeroable!(Option<String>));
    assert!(!is_zeroable!(UnsafeCell<&u8>));
}

#[test]
fn array_initializers() {
    let squares: Box<[u64; 64]> = Box::init(init_array_from_fn(|i| (i * i) as u64)).unwrap();
    assert_eq!(squares[63], 63 * 63);

    #[pin_data]
    struct Elem {
        index: usize,
        #[pin]
        _pin: PhantomPinned,
    }
    let elems: Pin<Box<[Elem; 16]>> = Box::pin_init(pin_init_array_from_fn(|index| {
        pin_init!(Elem {
            index,
            _pin: PhantomPinned
        })
    }))
    .unwrap();
    assert!(elems.iter().enumerate().all(|(i, e)| e.index == i));
}

#[test]
fn failing_array_element_drops_earlier_elements_once() {
    let log = DropLog::new();
    const NAMES: [&str; 5] = ["e0", "e1", "e2", "e3", "e4"];
    let init = init_array_from_fn::<_, 5, Tracked, Oops>(|i| {
        let log = log.clone();
        // SAFETY: Writes on success, touches nothing on failure.
        unsafe {
            init_from_closure(move |slot: *mut Tracked| {
                if i == 3 {
                    return Err(Oops("element 3"));
                }
                slot.write(log.tracked(NAMES[i]));
                Ok(())
            })
        }
    });
    let r: Result<Box<[Tracked; 5]>, Oops> = Box::try_init(init);
    assert_eq!(r.err(), Some(Oops("element 3")));
    assert_eq!(log.dropped(), ["e0", "e1", "e2"]);
}

#[test]
fn panicking_array_element_drops_earlier_elements_once() {
    let log = DropLog::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let init = pin_init_array_from_fn::<_, 4, Tracked, Infallible>(|i| {
            assert!(i < 2, "element {i}");
            log.tracked(if i == 0 { "p0" } else { "p1" })
        });
        let _ = Box::pin_init(init);
    }));
    assert!(r.is_err());
    assert_eq!(log.dropped(), ["p0", "p1"]);
}

#[derive(Debug, PartialEq)]
struct ProbeError(&'static str);

impl From<Infallible> for ProbeError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

#[pin_data]
struct Probed {
    id: u32,
    name: String,
}

#[test]
fn pin_init_scope_runs_lazily_and_fails_early() {
    let calls = AtomicUsize::new(0);
    let make = |input: &'static str| {
        let calls = &calls;
        pin_init_scope(move || {
            calls.fetch_add(1, Ordering::Relaxed);
            let id: u32 = input.parse().map_err(|_| ProbeError(input))?;
            Ok(pin_init!(Probed {
                id,
                name: format!("dev{id}")
            }? ProbeError))
        })
    };
    let ok = make("3");
    let bad = make("x");
    // Nothing runs until the initializer is used.
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    let ok: Pin<Box<Probed>> = Box::try_pin_init(ok).unwrap();
    assert_eq!((ok.id, ok.name.as_str()), (3, "dev3"));
    assert_eq!(Box::try_pin_init(bad).err(), Some(ProbeError("x")));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}

#[test]
fn init_scope_works_for_movable_values() {
    struct Header {
        len: u16,
    }
    let header = |len: usize| {
        init_scope(move || {
            let len = u16::try_from(len).map_err(|_| Oops("too long"))?;
            Ok(pin_init::init!(Header { len }? Oops))
        })
    };
    let h: Box<Header> = Box::try_init(header(12)).unwrap();
    assert_eq!(h.len, 12);
    assert_eq!(Box::try_init(header(1 << 20)).err(), Some(Oops("too long")));
}

#[repr(transparent)]
struct Meters(u32);

#[test]
fn casting_initializers() {
    // SAFETY: `Meters` is `repr(transparent)` over `u32`.
    let m = unsafe { cast_init::<u32, Meters, Infallible>(12u32) };
    let m: Box<Meters> = Box::init(m).unwrap();
    assert_eq!(m.0, 12);

    // SAFETY: As above.
    let m = unsafe { cast_pin_init::<u32, Meters, &str>(Err("bad")) };
    stack_try_pin_init!(let m = m);
    assert_eq!(m.err(), Some("bad"));
}

#[test]
fn chain_modifies_after_initialization() {
    // Every value is also a `PinInit` of itself, so with the default error type the closure's
    // parameter type has to be spelled out.
    let init = pin_init!(Probed {
        id: 1,
        name: String::new()
    })
    .pin_chain(|p: Pin<&mut Probed>| {
        let p = p.get_mut();
        p.name.push_str("chained");
        Ok(())
    });
    // `ChainPinInit` is both a `PinInit<Probed>` and (as any value) a `PinInit` of itself.
    stack_pin_init!(let p: Probed = init);
    assert_eq!(p.name, "chained");

    let boxed: Box<Probed> = Box::init(
        pin_init::init!(Probed {
            id: 1,
            name: String::new()
        })
        .chain(|p: &mut Probed| {
            p.id = 2;
            Ok(())
        }),
    )
    .unwrap();
    assert_eq!(boxed.id, 2);
}

#[test]
fn uninit_leaves_memory_alone() {
    let b: Box<MaybeUninit<[u8; 4096]>> = Box::init(uninit::<[u8; 4096], Infallible>()).unwrap();
    let mut b = b;
    b.write([7; 4096]);
    // SAFETY: Just written.
    assert_eq!(unsafe { b.assume_init_ref() }[4095], 7);
}

#[test]
fn raw_try_init_reports_errors() {
    let mut memory = MaybeUninit::<u32>::uninit();
    // SAFETY: `memory` is valid, aligned and uninitialized; `Result` does not rely on pinning.
    let r = unsafe { raw_try_init(memory.as_mut_ptr(), Err::<u32, _>(5u8)) };
    assert_eq!(r, Err(5));
    // SAFETY: As above.
    let r = unsafe { raw_try_init(memory.as_mut_ptr(), Ok::<u32, u8>(6)) };
    assert_eq!(r, Ok(()));
    // SAFETY: Initialized by the successful call.
    assert_eq!(unsafe { memory.assume_init() }, 6);
}

#[test]
fn in_place_write() {
    let memory: Box<MaybeUninit<Probed>> = Box::new_uninit();
    let p: Pin<Box<Probed>> = memory
        .write_pin_init(pin_init!(Probed {
            id: 9,
            name: "w".into()
        }))
        .unwrap();
    assert_eq!(p.id, 9);

    let memory: Box<MaybeUninit<u64>> = Box::new_uninit();
    assert_eq!(memory.write_init(Err::<u64, _>("x")).err(), Some("x"));

    let leaked: &'static mut MaybeUninit<Probed> = Box::leak(Box::new_uninit());
    let p: Pin<&'static mut Probed> = leaked
        .write_pin_init(pin_init!(Probed {
            id: 10,
            name: String::new()
        }))
        .unwrap();
    assert_eq!(p.id, 10);
    // SAFETY: The value is not used afterwards; dropping it in place and freeing the box undoes
    // the leak (keeps Miri's leak checker happy).
    unsafe {
        let ptr: *mut Probed = core::ptr::from_mut(Pin::into_inner_unchecked(p));
        drop(Box::from_raw(ptr));
    }

    let leaked: &'static mut MaybeUninit<u16> = Box::leak(Box::new(MaybeUninit::uninit()));
    let v: &'static mut u16 = leaked.write_init(3u16).unwrap();
    assert_eq!(*v, 3);
    // SAFETY: As above (`u16` needs no drop).
    drop(unsafe { Box::from_raw(core::ptr::from_mut(v)) });
}

#[pin_data]
struct Shared {
    #[pin]
    cell: UnsafeCell<Probed>,
    #[pin]
    later: MaybeUninit<Probed>,
}

#[test]
fn wrapper_initializers() {
    let init = pin_init!(Shared {
        cell <- UnsafeCell::pin_init(pin_init!(Probed { id: 1, name: "cell".into() })),
        later <- MaybeUninit::pin_init(pin_init!(Probed { id: 2, name: "later".into() })),
    });
    stack_pin_init!(let s = init);
    // SAFETY: Nobody else accesses the cell.
    assert_eq!(unsafe { (*s.cell.get()).name.as_str() }, "cell");
    // SAFETY: Initialized by the wrapper initializer.
    let later = unsafe { s.later.assume_init_ref() };
    assert_eq!(later.id, 2);
    // `MaybeUninit` never drops its content: clean up the `String` by hand.
    let s = s.project();
    // SAFETY: Initialized above and not used afterwards.
    unsafe { s.later.get_unchecked_mut().assume_init_drop() };
}

#[test]
fn closure_initializers() {
    let hits = Cell::new(0);
    let init = || {
        let hits = &hits;
        // SAFETY: Writes a valid `u8` and returns `Ok`.
        unsafe {
            pin_init_from_closure::<u8, Infallible>(move |slot| {
                hits.set(hits.get() + 1);
                slot.write(1);
                Ok(())
            })
        }
    };
    stack_pin_init!(let v = init());
    assert_eq!(*v, 1);
    let _unused = init();
    assert_eq!(hits.get(), 1);
}

#[test]
#[allow(deprecated)]
fn deprecated_pinned_init_alias() {
    let mut memory = MaybeUninit::<u8>::uninit();
    // SAFETY: Valid, aligned, uninitialized memory; a value does not rely on pinning.
    let r = unsafe { PinInit::<u8>::__pinned_init(4u8, memory.as_mut_ptr()) };
    assert!(r.is_ok());
    // SAFETY: Initialized above.
    assert_eq!(unsafe { memory.assume_init() }, 4);
}

#[pin_data]
struct Timer<T> {
    #[pin]
    callback: T,
    expires: u64,
}

assert_pinned!(Timer<u8>, callback, u8);

impl<T> Timer<T> {
    fn callback(self: Pin<&mut Self>) -> Pin<&mut T> {
        assert_pinned!(Timer<T>, callback, T, inline);
        // SAFETY: `callback` is structurally pinned.
        unsafe { self.map_unchecked_mut(|t| &mut t.callback) }
    }
}

#[test]
fn assert_pinned_allows_manual_projection() {
    stack_pin_init!(let t = pin_init!(Timer { callback: 5u8, expires: 1 }));
    assert_eq!(*t.as_mut().callback(), 5);
    assert_eq!(t.expires, 1);
}

#[test]
fn arc_initialization_is_shared_safely() {
    let counter: Pin<Arc<AtomicUsize>> = Arc::pin_init(AtomicUsize::new(3)).unwrap();
    let clone = Pin::clone(&counter);
    clone.fetch_add(1, Ordering::Relaxed);
    assert_eq!(counter.load(Ordering::Relaxed), 4);
    let plain: Arc<u8> = Arc::init(7u8).unwrap();
    assert_eq!(*plain, 7);
}

fn _signatures_match_upstream() {
    // Turbofish orders as in the kernel's pin-init.
    let _ = init_array_from_fn::<u8, 2, u8, Infallible>(|_| 0u8);
    let _ = pin_init_array_from_fn::<u8, 2, u8, Infallible>(|_| 0u8);
    let _ = pin_init_scope::<u8, Infallible, _, u8>(|| Ok(0u8));
    let _ = init_scope::<u8, Infallible, _, u8>(|| Ok(0u8));
    let _ = uninit::<u8, Infallible>();
    let _: fn() -> u8 = zeroed::<u8>;
    fn _in_place<P: InPlaceInit<u8>>() {}
    fn _init<I: Init<u8, ()>>() {}
}
