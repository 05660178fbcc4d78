//! QEMU's `pci-testdev` (1b36:0005), as QEMU 7.2 implements it.
//!
//! BAR0 (4 KiB, memory) and BAR1 (256 bytes, I/O) start with the same header: `test` (u8, at 0,
//! write-only: selects a test), `width` (u8, at 1), `offset` (u32, at 4), `data` (u8, at 8),
//! `count` (u32, at 12) and the test's name (at 16). Selecting test *t* (0 `no-eventfd`, 1
//! `wildcard-eventfd`, 2 `datamatch-eventfd`) resets its count; a write at the test's offset that
//! reaches the device increments it: for tests 0 and 2 only a one-byte write of the test's data
//! byte (0xFA), for test 1 any write (its data byte is 0xCE).
//!
//! While test 1 or 2 is selected, QEMU has an ioeventfd registered at the test's offset, and its
//! memory core hands the writes the eventfd matches to the eventfd instead of the device (under
//! TCG as under KVM): every one-byte write for test 1, one-byte writes of the data byte for test 2.
//! The model does the same and counts those writes in [`PciTestdev::eventfd_signals`]; so the
//! eventfd tests' count stays 0.
//!
//! The register file is byte-wide: wider accesses are split into bytes, as QEMU splits them. The
//! memory tests' offsets are 2048 + *t*; the I/O tests' are 128 + 3 + *t*. The function has no
//! interrupt pin.

use std::sync::{Arc, Mutex};

use crate::{DeviceModel, Identity, SimContext};
use drydock_host::function::{BarInfo, BarKind, IrqKind};

/// Data byte of the tests that match data.
const DATA_MATCH: u8 = 0xfa;
/// Data byte of the wildcard test.
const DATA_ANY: u8 = 0xce;

const TEST_NAMES: [&str; 3] = ["no-eventfd", "wildcard-eventfd", "datamatch-eventfd"];

/// One test: its header bytes (as the device shows them), whether it matches data, and whether
/// an ioeventfd is registered while it is selected.
struct Test {
    header: Vec<u8>,
    offset: usize,
    match_data: bool,
    has_eventfd: bool,
}

impl Test {
    fn new(index: usize) -> Self {
        let (space, io) = if index < 3 {
            ("mmio", false)
        } else {
            ("portio", true)
        };
        let kind = index % 3;
        let name = format!("{space}-{}", TEST_NAMES[kind]);
        let match_data = kind != 1;
        let offset = if io { 128 } else { 2048 } + index;
        let mut header = vec![0u8; 16 + name.len() + 1];
        header[0] = index as u8;
        header[1] = 1;
        header[4..8].copy_from_slice(&(offset as u32).to_le_bytes());
        header[8] = if match_data { DATA_MATCH } else { DATA_ANY };
        header[16..16 + name.len()].copy_from_slice(name.as_bytes());
        Self {
            header,
            offset,
            match_data,
            has_eventfd: kind != 0,
        }
    }

    fn count(&self) -> u32 {
        u32::from_le_bytes(self.header[12..16].try_into().expect("4 bytes"))
    }

    fn set_count(&mut self, count: u32) {
        self.header[12..16].copy_from_slice(&count.to_le_bytes());
    }

    /// The test's data byte.
    fn data(&self) -> u8 {
        self.header[8]
    }

    /// Whether the test's ioeventfd takes a write of `width` bytes of `value` at `offset`.
    fn eventfd_takes(&self, offset: usize, width: usize, value: u64) -> bool {
        self.has_eventfd
            && offset == self.offset
            && width == 1
            && (!self.match_data || value == u64::from(self.data()))
    }
}

struct State {
    tests: Vec<Test>,
    current: Option<usize>,
    eventfd_signals: u64,
}

/// The pci-testdev device model.
pub struct PciTestdev {
    state: Mutex<State>,
}

impl PciTestdev {
    /// Creates a pci-testdev with no test selected.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                tests: (0..6).map(Test::new).collect(),
                current: None,
                eventfd_signals: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The count of the selected test, or `None` if no test is selected.
    pub fn count(&self) -> Option<u32> {
        let state = self.lock();
        state.current.map(|t| state.tests[t].count())
    }

    /// The writes the tests' ioeventfds have taken so far.
    pub fn eventfd_signals(&self) -> u64 {
        self.lock().eventfd_signals
    }

    /// The selected test's index, if any.
    pub fn current_test(&self) -> Option<usize> {
        self.lock().current
    }

    fn read_byte(state: &State, offset: usize) -> u8 {
        let Some(current) = state.current else {
            return 0;
        };
        let header = &state.tests[current].header;
        // QEMU answers 0 for the last byte of the header too (`addr + size >= bufsize`).
        if offset + 1 >= header.len() {
            0
        } else {
            header[offset]
        }
    }

    fn write_byte(state: &mut State, bar: u32, offset: usize, value: u8, width: usize) {
        if offset == 0 {
            state.current = None;
            if usize::from(value) < TEST_NAMES.len() {
                let index = usize::from(value) + if bar == 1 { 3 } else { 0 };
                state.tests[index].set_count(0);
                state.current = Some(index);
            }
            return;
        }
        let Some(current) = state.current else { return };
        let test = &mut state.tests[current];
        if offset != test.offset {
            return;
        }
        if test.match_data && (width != 1 || value != test.data()) {
            return;
        }
        let count = test.count().wrapping_add(1);
        test.set_count(count);
    }
}

impl DeviceModel for PciTestdev {
    fn identity(&self) -> Identity {
        Identity {
            vendor: 0x1b36,
            device: 0x0005,
            subsystem_vendor: 0x1af4,
            subsystem: 0x1100,
            revision: 0,
            class: 0x00ff00,
            interrupt_pin: 0,
        }
    }

    fn bars(&self) -> [Option<BarInfo>; 6] {
        let mut bars = [None; 6];
        bars[0] = Some(BarInfo {
            size: 4096,
            start: 0,
            kind: BarKind::Mem32,
            prefetchable: false,
        });
        bars[1] = Some(BarInfo {
            size: 256,
            start: 0,
            kind: BarKind::Io,
            prefetchable: false,
        });
        bars
    }

    fn irq_count(&self, _kind: IrqKind) -> u32 {
        0
    }

    fn read(&self, _ctx: &SimContext, _bar: u32, offset: usize, width: usize) -> u64 {
        let state = self.lock();
        (0..width).fold(0u64, |acc, i| {
            acc | u64::from(Self::read_byte(&state, offset + i)) << (8 * i)
        })
    }

    fn write(&self, _ctx: &SimContext, bar: u32, offset: usize, width: usize, value: u64) {
        let mut state = self.lock();
        if let Some(current) = state.current {
            if state.tests[current].eventfd_takes(offset, width, value) {
                state.eventfd_signals += 1;
                return;
            }
        }
        // QEMU splits a wide access into byte accesses; each byte is a write of width 1 as far
        // as the device sees, but data matching requires the *guest* access to be one byte.
        for i in 0..width {
            let byte = (value >> (8 * i)) as u8;
            Self::write_byte(&mut state, bar, offset + i, byte, width);
        }
    }
}
