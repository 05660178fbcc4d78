//! Shaped like `samples/rust/rust_dma.rs` of Linux 7.3: the struct declaration, the probe
//! function built with `pin_init::pin_init_scope` and `try_pin_init!`, and the `PinnedDrop`
//! implementation use the same `pin-init` syntax. (The register accessors that have nothing to do
//! with `pin-init` are simplified.)

use kernel::{
    device::Core,
    dma::{
        Coherent,
        DataDirection,
        DmaMask, //
    },
    page,
    pci,
    prelude::*,
    scatterlist::{
        Owned,
        SGTable, //
    },
    sync::aref::ARef, //
};

#[pin_data(PinnedDrop)]
pub(crate) struct DmaSampleDriver {
    pdev: ARef<pci::Device>,
    ca: Coherent<[MyStruct]>,
    #[pin]
    sgt: SGTable<Owned<VVec<u8>>>,
}

const TEST_VALUES: [(u32, u32); 5] = [
    (0xa, 0xb),
    (0xc, 0xd),
    (0xe, 0xf),
    (0xab, 0xba),
    (0xcd, 0xef),
];

#[derive(Zeroable)]
struct MyStruct {
    h: u32,
    b: u32,
}

impl MyStruct {
    fn new(h: u32, b: u32) -> Self {
        Self { h, b }
    }
}

impl pci::Driver for DmaSampleDriver {
    type IdInfo = ();
    type Data<'bound> = Self;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            dev_info!(pdev, "Probe DMA test driver.\n");

            let mask = DmaMask::new::<64>();

            // SAFETY: There are no concurrent calls to DMA allocation and mapping primitives.
            unsafe { pdev.dma_set_mask_and_coherent(mask)? };

            let mut ca: Coherent<[MyStruct]> =
                Coherent::zeroed_slice(pdev.as_ref(), TEST_VALUES.len(), GFP_KERNEL)?;

            for (i, value) in TEST_VALUES.into_iter().enumerate() {
                ca[i] = MyStruct::new(value.0, value.1);
            }

            let size = 4 * page::PAGE_SIZE;
            let pages = VVec::with_capacity(size, GFP_KERNEL)?;

            let sgt = SGTable::new(pdev.as_ref(), pages, DataDirection::ToDevice, GFP_KERNEL);

            Ok(try_pin_init!(Self {
                pdev: pdev.into(),
                ca,
                sgt <- sgt,
            }))
        })
    }
}

impl DmaSampleDriver {
    fn check_dma(&self) {
        for (i, value) in TEST_VALUES.into_iter().enumerate() {
            let val0 = self.ca[i].h;
            let val1 = self.ca[i].b;

            assert_eq!(val0, value.0);
            assert_eq!(val1, value.1);
        }
    }

    pub(crate) fn pdev_refs(&self) -> usize {
        self.pdev.refs.get()
    }
}

#[pinned_drop]
impl PinnedDrop for DmaSampleDriver {
    fn drop(self: Pin<&mut Self>) {
        dev_info!(self.pdev, "Unload DMA test driver.\n");

        self.check_dma();

        for (i, entry) in self.sgt.iter().enumerate() {
            dev_info!(
                self.pdev,
                "Entry[{}]: DMA address: {:#x}",
                i,
                entry.dma_address(),
            );
        }
    }
}
