use core::{marker::PhantomPinned, pin::Pin};
use pin_init::{pin_data, pin_init, PinInit};

struct NotUnpin {
    _pin: PhantomPinned,
}

#[pin_data]
struct Foo {
    #[pin]
    pinned: NotUnpin,
    other: u32,
}

impl Foo {
    fn take(self: Pin<&mut Self>) -> NotUnpin {
        let this = self.project();
        // A pinned field is only available as `Pin<&mut _>`.
        core::mem::replace(Pin::get_mut(this.pinned), NotUnpin { _pin: PhantomPinned })
    }
}

fn init() -> impl PinInit<Foo> {
    pin_init!(Foo {
        pinned: NotUnpin { _pin: PhantomPinned },
        // The already initialized pinned field is bound as `Pin<&mut NotUnpin>`, too.
        other: {
            let _moved = core::mem::replace(&mut *pinned, NotUnpin { _pin: PhantomPinned });
            1
        },
    })
}

fn main() {
    let _ = init();
}
