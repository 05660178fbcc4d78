//! Tests of `register!` (every declaration form) and `bitfield!`, on memory-backed and trapped
//! MMIO.

use std::sync::{Arc, Mutex};

use drydock_host::mmio::{TrappedIo, TrappedRegion};
use kernel::bitfield;
use kernel::error::code::{EINVAL, EOVERFLOW};
use kernel::error::Result;
use kernel::io::register::{
    Array, FixedRegister, Register, RegisterArray, RegisterBase, RelativeRegister,
    RelativeRegisterArray, WithBase,
};
use kernel::io::{register, Io, Mmio, MmioRaw, Region};
use kernel::num::Bounded;
use pin_init::Zeroable;

fn mmio_over<const SIZE: usize>(mem: &mut [u64]) -> Mmio<'_, Region<SIZE>> {
    let raw = MmioRaw::new_region(mem.as_mut_ptr().expose_provenance(), mem.len() * 8).unwrap();
    // SAFETY: `mem` is live, aligned memory for the view's lifetime, which borrows it.
    unsafe { Mmio::from_raw(raw) }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Idle,
    Run,
    Halt,
}

impl TryFrom<Bounded<u32, 2>> for Mode {
    type Error = u32;

    fn try_from(bits: Bounded<u32, 2>) -> core::result::Result<Self, u32> {
        match bits.get() {
            0 => Ok(Mode::Idle),
            1 => Ok(Mode::Run),
            2 => Ok(Mode::Halt),
            other => Err(other),
        }
    }
}

impl From<Mode> for Bounded<u32, 2> {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Idle => Bounded::<u32, 2>::new::<0>(),
            Mode::Run => Bounded::<u32, 2>::new::<1>(),
            Mode::Halt => Bounded::<u32, 2>::new::<2>(),
        }
    }
}

/// A signed 4-bit quantity, for a `=>` conversion.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Trim(i8);

impl From<Bounded<u32, 4>> for Trim {
    fn from(bits: Bounded<u32, 4>) -> Self {
        // Sign-extend the 4 bits.
        Trim(((bits.get() as u8) << 4) as i8 >> 4)
    }
}

impl From<Trim> for Bounded<u32, 4> {
    fn from(trim: Trim) -> Self {
        Bounded::from_expr((trim.0 as u32) & 0xf)
    }
}

register! {
    /// A fixed register.
    pub(crate) CTRL(u32) @ 0x00 {
        /// Enable.
        0:0 enable;
        2:1 mode ?=> Mode;
        7:4 trim => Trim;
        31:16 divider;
    }

    /// An alias of `CTRL` with other fields.
    pub(crate) CTRL_RAW(u32) => CTRL {
        31:0 raw;
    }

    pub(crate) STATUS(u8) @ 0x07 {
        7:7 busy;
        3:0 code;
    }

    /// A contiguous array.
    pub(crate) SCRATCH(u32)[4] @ 0x10 {
        31:0 value;
    }

    /// An array with a stride.
    LANE(u16)[3, stride = 8] @ 0x20 {
        15:8 high;
        7:0 low;
    }

    /// An alias of an array element.
    SCRATCH_LAST(u32) => SCRATCH[3] {
        15:0 low_half;
    }
}

/// The family of per-engine bases.
pub struct EngineBase;
struct Engine0;
struct Engine1;

impl RegisterBase<EngineBase> for Engine0 {
    const BASE: usize = 0x40;
}

impl RegisterBase<EngineBase> for Engine1 {
    const BASE: usize = 0x80;
}

register! {
    /// A relative register.
    ENGINE_CTL(u32) @ EngineBase + 0x4 {
        0:0 start;
        8:8 done;
    }

    /// An alias of a relative register.
    ENGINE_CTL_RAW(u32) => EngineBase + ENGINE_CTL {
        31:0 raw;
    }

    /// A relative array.
    ENGINE_QUEUE(u32)[2, stride = 8] @ EngineBase + 0x10 {
        31:0 addr;
    }

    /// A contiguous relative array.
    ENGINE_SLOT(u8)[4] @ EngineBase + 0x20 {
        7:0 id;
    }

    /// An alias of a relative array element.
    ENGINE_QUEUE_1(u32) => EngineBase + ENGINE_QUEUE[1] {
        31:12 page;
    }
}

#[test]
fn register_metadata_of_every_form() {
    fn fixed<T: FixedRegister>() -> usize {
        T::OFFSET
    }
    fn relative<T: RelativeRegister>() -> usize {
        T::OFFSET
    }
    fn array<T: RegisterArray>() -> (usize, usize, usize) {
        (T::OFFSET, T::SIZE, T::STRIDE)
    }
    fn relative_array<T: RelativeRegisterArray>() -> (usize, usize, usize) {
        (T::OFFSET, T::SIZE, T::STRIDE)
    }
    assert_eq!(fixed::<CTRL>(), 0);
    assert_eq!(fixed::<CTRL_RAW>(), 0);
    assert_eq!(fixed::<STATUS>(), 7);
    assert_eq!(fixed::<SCRATCH_LAST>(), 0x10 + 3 * 4);
    assert_eq!(array::<SCRATCH>(), (0x10, 4, 4));
    assert_eq!(array::<LANE>(), (0x20, 3, 8));
    assert_eq!(relative::<ENGINE_CTL>(), 4);
    assert_eq!(relative::<ENGINE_CTL_RAW>(), 4);
    assert_eq!(relative::<ENGINE_QUEUE_1>(), 0x10 + 8);
    assert_eq!(relative_array::<ENGINE_QUEUE>(), (0x10, 2, 8));
    assert_eq!(relative_array::<ENGINE_SLOT>(), (0x20, 4, 1));
    assert_eq!(<STATUS as Register>::Storage::BITS, 8);
}

#[test]
fn field_round_trips() {
    let ctrl = CTRL::zeroed()
        .with_enable(true)
        .with_mode(Mode::Halt)
        .with_trim(Trim(-3))
        .with_const_divider::<0xffff>();
    assert_eq!(ctrl.into_raw(), 0xffff_00d5);
    assert!(ctrl.enable().into_bool());
    assert_eq!(ctrl.mode(), Ok(Mode::Halt));
    assert_eq!(ctrl.trim(), Trim(-3));
    assert_eq!(ctrl.divider(), 0xffff);
    assert_eq!(CTRL::from_raw(0b110).mode(), Err(3));
    assert_eq!(ctrl.try_with_divider(0x1_0000u32), Err(EOVERFLOW));
    assert_eq!(ctrl.try_with_divider(-1i32), Err(EOVERFLOW));
    assert_eq!(ctrl.try_with_divider(7u8).map(|c| c.divider().get()), Ok(7));
    assert_eq!(ctrl.with_divider(0x12u8).divider(), 0x12);
    assert_eq!(ctrl.with_enable(false).into_raw(), 0xffff_00d4);
    assert_eq!((CTRL::DIVIDER_MASK, CTRL::DIVIDER_SHIFT), (0xffff_0000, 16));
    assert_eq!(CTRL::MODE_RANGE, 1..=2);
    assert_eq!(u32::from(CTRL::from(0x55u32)), 0x55);
    // Bits outside every field are kept by the setters.
    let status = STATUS::from_raw(0x70)
        .with_busy(true)
        .with_const_code::<0x5>();
    assert_eq!(status.into_raw(), 0xf5);
    assert_eq!(
        format!("{status:?}"),
        "STATUS { <raw>: 0xf5, busy: Bounded(1), code: Bounded(5) }"
    );
    assert_eq!(LANE::from(0xabcd).high(), 0xab);
    assert_eq!(CTRL_RAW::from_raw(u32::MAX).raw(), u32::MAX);
    const BUILT: CTRL = pin_init::zeroed::<CTRL>().with_const_divider::<3>();
    assert_eq!(BUILT.into_raw(), 3 << 16);
}

#[test]
fn fixed_registers_and_aliases_on_mmio() {
    let mut mem = [0u64; 32];
    let io = mmio_over::<0x100>(&mut mem);
    io.write_reg(
        CTRL::zeroed()
            .with_mode(Mode::Run)
            .with_const_divider::<2>(),
    );
    assert_eq!(io.read(CTRL).mode(), Ok(Mode::Run));
    io.write(CTRL, io.read(CTRL).with_enable(true));
    io.write((), STATUS::zeroed().with_busy(true));
    io.update(CTRL, |c| c.with_trim(Trim(7)));
    assert_eq!(io.read(CTRL_RAW).raw(), 0x0002_0073);
    assert!(io.read(STATUS).busy().into_bool());
    io.try_write_reg(CTRL_RAW::from(0x1234)).unwrap();
    assert_eq!(io.try_read(CTRL).map(u32::from), Ok(0x1234));
    io.try_update(STATUS, |s| s.with_const_code::<9>()).unwrap();
    assert_eq!(mem[0], 0x8900_0000_0000_1234);
}

#[test]
fn arrays_and_their_aliases_on_mmio() -> Result {
    let mut mem = [0u64; 32];
    let io = mmio_over::<0x100>(&mut mem);
    for i in 0..4 {
        io.write(
            SCRATCH::try_at(i).ok_or(EINVAL)?,
            SCRATCH::from(0x100 + i as u32),
        );
    }
    assert_eq!(io.read(SCRATCH::at(2)).value(), 0x102);
    io.write(Array::at(0), SCRATCH::from(0xa));
    assert_eq!(io.read(SCRATCH_LAST).low_half(), 0x103);
    assert!(SCRATCH::try_at(4).is_none());
    io.write(
        LANE::at(2),
        LANE::zeroed().with_high(0x12u8).with_low(0x34u8),
    );
    assert_eq!(io.read(LANE::at(2)).into_raw(), 0x1234);
    assert_eq!(mem[2], 0x0000_0101_0000_000a);
    assert_eq!(mem[(0x20 + 16) / 8] & 0xffff, 0x1234);
    Ok(())
}

#[test]
fn relative_registers_and_arrays_on_mmio() -> Result {
    let mut mem = [0u64; 32];
    let io = mmio_over::<0x100>(&mut mem);
    io.write(
        ENGINE_CTL::of::<Engine0>(),
        ENGINE_CTL::zeroed().with_start(true),
    );
    io.write(
        WithBase::of::<Engine1>(),
        ENGINE_CTL::zeroed().with_done(true),
    );
    assert_eq!(io.read(ENGINE_CTL_RAW::of::<Engine0>()).raw(), 1);
    assert_eq!(io.read(ENGINE_CTL_RAW::of::<Engine1>()).raw(), 0x100);
    io.update(ENGINE_CTL::of::<Engine1>(), |c| c.with_start(true));
    io.write(
        ENGINE_QUEUE::of::<Engine1>().at(1),
        ENGINE_QUEUE::from(0x5000),
    );
    assert_eq!(io.read(ENGINE_QUEUE_1::of::<Engine1>()).page(), 5);
    let queue = ENGINE_QUEUE::of::<Engine0>().try_at(1).ok_or(EINVAL)?;
    io.try_write(queue, ENGINE_QUEUE::from(0x7000))?;
    assert!(ENGINE_QUEUE::of::<Engine0>().try_at(2).is_none());
    io.write(ENGINE_SLOT::of::<Engine0>().at(3), ENGINE_SLOT::from(0xee));
    assert_eq!(mem[0x44 / 8] >> 32, 1);
    assert_eq!(mem[0x84 / 8] >> 32, 0x101);
    assert_eq!(mem[(0x80 + 0x18) / 8] & 0xffff_ffff, 0x5000);
    assert_eq!(mem[(0x40 + 0x18) / 8] & 0xffff_ffff, 0x7000);
    assert_eq!(mem[(0x40 + 0x20) / 8], 0xee00_0000);
    Ok(())
}

/// A trapped device with one 32-bit register per offset.
#[derive(Default)]
struct Regs(Mutex<Vec<(usize, usize, u64)>>);

impl TrappedIo for Regs {
    fn read(&self, offset: usize, width: usize) -> u64 {
        let log = self.0.lock().unwrap();
        log.iter()
            .rev()
            .find(|(o, w, _)| (*o, *w) == (offset, width))
            .map_or(0, |e| e.2)
    }

    fn write(&self, offset: usize, width: usize, value: u64) {
        self.0.lock().unwrap().push((offset, width, value));
    }
}

#[test]
fn registers_on_a_trapped_region() {
    let device = Arc::new(Regs::default());
    let region = TrappedRegion::new(device.clone(), 0x100).unwrap();
    let raw = MmioRaw::<Region<0x100>>::new_region(region.addr(), region.len()).unwrap();
    // SAFETY: `region` is live while `io` is used.
    let io = unsafe { Mmio::from_raw(raw) };
    io.write_reg(STATUS::zeroed().with_const_code::<3>());
    io.write(LANE::at(1), LANE::from(0x0102));
    io.write(ENGINE_QUEUE::of::<Engine1>().at(0), ENGINE_QUEUE::from(9));
    assert_eq!(io.read(STATUS).code(), 3);
    assert_eq!(
        *device.0.lock().unwrap(),
        vec![(0x7, 1, 3), (0x28, 2, 0x0102), (0x90, 4, 9)]
    );
}

bitfield! {
    struct Full(u64) {
        63:0 all;
        63:63 top;
        0:0 bottom;
    }
}

#[test]
fn bitfields_of_full_and_single_bit_width() {
    let value = Full::zeroed().with_all(u64::MAX);
    assert_eq!(value.all(), u64::MAX);
    assert!(value.top().into_bool() && value.bottom().into_bool());
    let value = value.with_top(false);
    assert_eq!(value.into_raw(), u64::MAX >> 1);
    assert_eq!(Full::ALL_MASK, u64::MAX);
    assert_eq!((Full::TOP_MASK, Full::TOP_SHIFT), (1 << 63, 63));
    assert_eq!(Full::zeroed().try_with_bottom(2u8), Err(EOVERFLOW));
}
