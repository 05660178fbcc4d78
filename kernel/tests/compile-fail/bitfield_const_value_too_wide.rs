// A constant written to a field must fit in it.
use kernel::bitfield;

bitfield! {
    struct Ctl(u16) {
        3:0 nibble;
    }
}

fn main() {
    let _ = Ctl::from(0).with_const_nibble::<16>();
}
