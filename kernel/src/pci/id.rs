//! PCI identifiers: class codes and vendor IDs.
//!
//! Mirrors `rust/kernel/pci/id.rs` of Linux 7.3, with exactly the constants the kernel defines
//! (generated there from `include/linux/pci_ids.h`). There is deliberately no constant for a vendor
//! the kernel does not name, such as QEMU's 0x1234: a driver for such a device matches by class and
//! checks the IDs in `probe`, as a kernel driver would have to.

use crate::{bindings, fmt, prelude::*};

/// A 24-bit PCI class code: base class, subclass and programming interface.
///
/// Mirrors `kernel::pci::Class`. The constants are the kernel's `PCI_CLASS_*`; those the C header
/// gives as 16-bit (base class and subclass) are shifted left by 8, with programming interface 0.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Class(u32);

/// Which part of a [`Class`] a device ID compares.
///
/// Mirrors `kernel::pci::ClassMask`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassMask {
    /// All 24 bits: base class, subclass and programming interface.
    Full = 0xff_ffff,
    /// Base class and subclass only.
    ClassSubclass = 0xff_ff00,
}

impl Class {
    /// Creates a class from a code read from a device.
    #[inline]
    pub(super) fn from_raw(class_code: u32) -> Self {
        Self(class_code)
    }

    /// Returns the 24-bit class code.
    #[inline]
    pub const fn as_raw(self) -> u32 {
        self.0
    }

    /// Widens a 16-bit class constant (base class and subclass) to 24 bits; 24-bit ones pass.
    const fn widen(code: u32) -> u32 {
        if code > 0xffff {
            code
        } else {
            code << 8
        }
    }
}

impl fmt::Debug for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:06x}", self.0)
    }
}

impl ClassMask {
    /// Returns the mask as a 24-bit value.
    #[inline]
    pub const fn as_raw(self) -> u32 {
        self as u32
    }
}

impl TryFrom<u32> for ClassMask {
    type Error = Error;

    fn try_from(value: u32) -> Result<Self, Self::Error> {
        match value {
            0xff_ffff => Ok(ClassMask::Full),
            0xff_ff00 => Ok(ClassMask::ClassSubclass),
            _ => Err(EINVAL),
        }
    }
}

/// A PCI vendor ID.
///
/// Mirrors `kernel::pci::Vendor`. The constants are the kernel's `PCI_VENDOR_ID_*`; a vendor ID
/// read from a device is any value, named by [`Display`](core::fmt::Display) when the kernel names
/// it.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Vendor(u16);

impl Vendor {
    /// Creates a vendor from an ID read from a device.
    #[inline]
    pub(super) fn from_raw(vendor_id: u16) -> Self {
        Self(vendor_id)
    }

    /// Returns the 16-bit vendor ID.
    #[inline]
    pub const fn as_raw(self) -> u16 {
        self.0
    }
}

impl fmt::Debug for Vendor {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04x}", self.0)
    }
}

/// Defines the named constants of a PCI identifier type and a `Display` that prints the name,
/// or the number for values without one.
macro_rules! named_constants {
    ($type:ident, $convert:expr, { $($name:ident = $value:expr,)+ }) => {
        impl $type {
            $(
                #[allow(missing_docs)]
                pub const $name: Self = Self($convert($value));
            )+
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                $(
                    if *self == Self::$name {
                        return f.write_str(stringify!($name));
                    }
                )+
                fmt::Debug::fmt(self, f)
            }
        }
    };
}

named_constants!(Class, Class::widen, {
    NOT_DEFINED = bindings::PCI_CLASS_NOT_DEFINED,
    NOT_DEFINED_VGA = bindings::PCI_CLASS_NOT_DEFINED_VGA,
    STORAGE_SCSI = bindings::PCI_CLASS_STORAGE_SCSI,
    STORAGE_IDE = bindings::PCI_CLASS_STORAGE_IDE,
    STORAGE_FLOPPY = bindings::PCI_CLASS_STORAGE_FLOPPY,
    STORAGE_IPI = bindings::PCI_CLASS_STORAGE_IPI,
    STORAGE_RAID = bindings::PCI_CLASS_STORAGE_RAID,
    STORAGE_SATA = bindings::PCI_CLASS_STORAGE_SATA,
    STORAGE_SATA_AHCI = bindings::PCI_CLASS_STORAGE_SATA_AHCI,
    STORAGE_SAS = bindings::PCI_CLASS_STORAGE_SAS,
    STORAGE_EXPRESS = bindings::PCI_CLASS_STORAGE_EXPRESS,
    STORAGE_OTHER = bindings::PCI_CLASS_STORAGE_OTHER,
    NETWORK_ETHERNET = bindings::PCI_CLASS_NETWORK_ETHERNET,
    NETWORK_TOKEN_RING = bindings::PCI_CLASS_NETWORK_TOKEN_RING,
    NETWORK_FDDI = bindings::PCI_CLASS_NETWORK_FDDI,
    NETWORK_ATM = bindings::PCI_CLASS_NETWORK_ATM,
    NETWORK_OTHER = bindings::PCI_CLASS_NETWORK_OTHER,
    DISPLAY_VGA = bindings::PCI_CLASS_DISPLAY_VGA,
    DISPLAY_XGA = bindings::PCI_CLASS_DISPLAY_XGA,
    DISPLAY_3D = bindings::PCI_CLASS_DISPLAY_3D,
    DISPLAY_OTHER = bindings::PCI_CLASS_DISPLAY_OTHER,
    MULTIMEDIA_VIDEO = bindings::PCI_CLASS_MULTIMEDIA_VIDEO,
    MULTIMEDIA_AUDIO = bindings::PCI_CLASS_MULTIMEDIA_AUDIO,
    MULTIMEDIA_PHONE = bindings::PCI_CLASS_MULTIMEDIA_PHONE,
    MULTIMEDIA_HD_AUDIO = bindings::PCI_CLASS_MULTIMEDIA_HD_AUDIO,
    MULTIMEDIA_OTHER = bindings::PCI_CLASS_MULTIMEDIA_OTHER,
    MEMORY_RAM = bindings::PCI_CLASS_MEMORY_RAM,
    MEMORY_FLASH = bindings::PCI_CLASS_MEMORY_FLASH,
    MEMORY_CXL = bindings::PCI_CLASS_MEMORY_CXL,
    MEMORY_OTHER = bindings::PCI_CLASS_MEMORY_OTHER,
    BRIDGE_HOST = bindings::PCI_CLASS_BRIDGE_HOST,
    BRIDGE_ISA = bindings::PCI_CLASS_BRIDGE_ISA,
    BRIDGE_EISA = bindings::PCI_CLASS_BRIDGE_EISA,
    BRIDGE_MC = bindings::PCI_CLASS_BRIDGE_MC,
    BRIDGE_PCI_NORMAL = bindings::PCI_CLASS_BRIDGE_PCI_NORMAL,
    BRIDGE_PCI_SUBTRACTIVE = bindings::PCI_CLASS_BRIDGE_PCI_SUBTRACTIVE,
    BRIDGE_PCMCIA = bindings::PCI_CLASS_BRIDGE_PCMCIA,
    BRIDGE_NUBUS = bindings::PCI_CLASS_BRIDGE_NUBUS,
    BRIDGE_CARDBUS = bindings::PCI_CLASS_BRIDGE_CARDBUS,
    BRIDGE_RACEWAY = bindings::PCI_CLASS_BRIDGE_RACEWAY,
    BRIDGE_OTHER = bindings::PCI_CLASS_BRIDGE_OTHER,
    COMMUNICATION_SERIAL = bindings::PCI_CLASS_COMMUNICATION_SERIAL,
    COMMUNICATION_PARALLEL = bindings::PCI_CLASS_COMMUNICATION_PARALLEL,
    COMMUNICATION_MULTISERIAL = bindings::PCI_CLASS_COMMUNICATION_MULTISERIAL,
    COMMUNICATION_MODEM = bindings::PCI_CLASS_COMMUNICATION_MODEM,
    COMMUNICATION_OTHER = bindings::PCI_CLASS_COMMUNICATION_OTHER,
    SYSTEM_PIC = bindings::PCI_CLASS_SYSTEM_PIC,
    SYSTEM_PIC_IOAPIC = bindings::PCI_CLASS_SYSTEM_PIC_IOAPIC,
    SYSTEM_PIC_IOXAPIC = bindings::PCI_CLASS_SYSTEM_PIC_IOXAPIC,
    SYSTEM_DMA = bindings::PCI_CLASS_SYSTEM_DMA,
    SYSTEM_TIMER = bindings::PCI_CLASS_SYSTEM_TIMER,
    SYSTEM_RTC = bindings::PCI_CLASS_SYSTEM_RTC,
    SYSTEM_PCI_HOTPLUG = bindings::PCI_CLASS_SYSTEM_PCI_HOTPLUG,
    SYSTEM_SDHCI = bindings::PCI_CLASS_SYSTEM_SDHCI,
    SYSTEM_RCEC = bindings::PCI_CLASS_SYSTEM_RCEC,
    SYSTEM_OTHER = bindings::PCI_CLASS_SYSTEM_OTHER,
    INPUT_KEYBOARD = bindings::PCI_CLASS_INPUT_KEYBOARD,
    INPUT_PEN = bindings::PCI_CLASS_INPUT_PEN,
    INPUT_MOUSE = bindings::PCI_CLASS_INPUT_MOUSE,
    INPUT_SCANNER = bindings::PCI_CLASS_INPUT_SCANNER,
    INPUT_GAMEPORT = bindings::PCI_CLASS_INPUT_GAMEPORT,
    INPUT_OTHER = bindings::PCI_CLASS_INPUT_OTHER,
    DOCKING_GENERIC = bindings::PCI_CLASS_DOCKING_GENERIC,
    DOCKING_OTHER = bindings::PCI_CLASS_DOCKING_OTHER,
    PROCESSOR_386 = bindings::PCI_CLASS_PROCESSOR_386,
    PROCESSOR_486 = bindings::PCI_CLASS_PROCESSOR_486,
    PROCESSOR_PENTIUM = bindings::PCI_CLASS_PROCESSOR_PENTIUM,
    PROCESSOR_ALPHA = bindings::PCI_CLASS_PROCESSOR_ALPHA,
    PROCESSOR_POWERPC = bindings::PCI_CLASS_PROCESSOR_POWERPC,
    PROCESSOR_MIPS = bindings::PCI_CLASS_PROCESSOR_MIPS,
    PROCESSOR_CO = bindings::PCI_CLASS_PROCESSOR_CO,
    SERIAL_FIREWIRE = bindings::PCI_CLASS_SERIAL_FIREWIRE,
    SERIAL_FIREWIRE_OHCI = bindings::PCI_CLASS_SERIAL_FIREWIRE_OHCI,
    SERIAL_ACCESS = bindings::PCI_CLASS_SERIAL_ACCESS,
    SERIAL_SSA = bindings::PCI_CLASS_SERIAL_SSA,
    SERIAL_USB_UHCI = bindings::PCI_CLASS_SERIAL_USB_UHCI,
    SERIAL_USB_OHCI = bindings::PCI_CLASS_SERIAL_USB_OHCI,
    SERIAL_USB_EHCI = bindings::PCI_CLASS_SERIAL_USB_EHCI,
    SERIAL_USB_XHCI = bindings::PCI_CLASS_SERIAL_USB_XHCI,
    SERIAL_USB_CDNS = bindings::PCI_CLASS_SERIAL_USB_CDNS,
    SERIAL_USB_DEVICE = bindings::PCI_CLASS_SERIAL_USB_DEVICE,
    SERIAL_FIBER = bindings::PCI_CLASS_SERIAL_FIBER,
    SERIAL_SMBUS = bindings::PCI_CLASS_SERIAL_SMBUS,
    SERIAL_IPMI_SMIC = bindings::PCI_CLASS_SERIAL_IPMI_SMIC,
    SERIAL_IPMI_KCS = bindings::PCI_CLASS_SERIAL_IPMI_KCS,
    SERIAL_IPMI_BT = bindings::PCI_CLASS_SERIAL_IPMI_BT,
    WIRELESS_RF_CONTROLLER = bindings::PCI_CLASS_WIRELESS_RF_CONTROLLER,
    WIRELESS_WHCI = bindings::PCI_CLASS_WIRELESS_WHCI,
    INTELLIGENT_I2O = bindings::PCI_CLASS_INTELLIGENT_I2O,
    SATELLITE_TV = bindings::PCI_CLASS_SATELLITE_TV,
    SATELLITE_AUDIO = bindings::PCI_CLASS_SATELLITE_AUDIO,
    SATELLITE_VOICE = bindings::PCI_CLASS_SATELLITE_VOICE,
    SATELLITE_DATA = bindings::PCI_CLASS_SATELLITE_DATA,
    CRYPT_NETWORK = bindings::PCI_CLASS_CRYPT_NETWORK,
    CRYPT_ENTERTAINMENT = bindings::PCI_CLASS_CRYPT_ENTERTAINMENT,
    CRYPT_OTHER = bindings::PCI_CLASS_CRYPT_OTHER,
    SP_DPIO = bindings::PCI_CLASS_SP_DPIO,
    SP_OTHER = bindings::PCI_CLASS_SP_OTHER,
    ACCELERATOR_PROCESSING = bindings::PCI_CLASS_ACCELERATOR_PROCESSING,
    OTHERS = bindings::PCI_CLASS_OTHERS,
});

/// Narrows a `PCI_VENDOR_ID_*` value (declared `u32` in `bindings`) to 16 bits.
const fn vendor(id: u32) -> u16 {
    id as u16
}

named_constants!(Vendor, vendor, {
    PCI_SIG = bindings::PCI_VENDOR_ID_PCI_SIG,
    LOONGSON = bindings::PCI_VENDOR_ID_LOONGSON,
    SOLIDIGM = bindings::PCI_VENDOR_ID_SOLIDIGM,
    TTTECH = bindings::PCI_VENDOR_ID_TTTECH,
    DYNALINK = bindings::PCI_VENDOR_ID_DYNALINK,
    UBIQUITI = bindings::PCI_VENDOR_ID_UBIQUITI,
    BERKOM = bindings::PCI_VENDOR_ID_BERKOM,
    ITTIM = bindings::PCI_VENDOR_ID_ITTIM,
    COMPAQ = bindings::PCI_VENDOR_ID_COMPAQ,
    LSI_LOGIC = bindings::PCI_VENDOR_ID_LSI_LOGIC,
    ATI = bindings::PCI_VENDOR_ID_ATI,
    VLSI = bindings::PCI_VENDOR_ID_VLSI,
    ADL = bindings::PCI_VENDOR_ID_ADL,
    NS = bindings::PCI_VENDOR_ID_NS,
    TSENG = bindings::PCI_VENDOR_ID_TSENG,
    WEITEK = bindings::PCI_VENDOR_ID_WEITEK,
    DEC = bindings::PCI_VENDOR_ID_DEC,
    CIRRUS = bindings::PCI_VENDOR_ID_CIRRUS,
    IBM = bindings::PCI_VENDOR_ID_IBM,
    UNISYS = bindings::PCI_VENDOR_ID_UNISYS,
    COMPEX2 = bindings::PCI_VENDOR_ID_COMPEX2,
    WD = bindings::PCI_VENDOR_ID_WD,
    AMI = bindings::PCI_VENDOR_ID_AMI,
    AMD = bindings::PCI_VENDOR_ID_AMD,
    TRIDENT = bindings::PCI_VENDOR_ID_TRIDENT,
    AI = bindings::PCI_VENDOR_ID_AI,
    DELL = bindings::PCI_VENDOR_ID_DELL,
    MATROX = bindings::PCI_VENDOR_ID_MATROX,
    MOBILITY_ELECTRONICS = bindings::PCI_VENDOR_ID_MOBILITY_ELECTRONICS,
    CT = bindings::PCI_VENDOR_ID_CT,
    MIRO = bindings::PCI_VENDOR_ID_MIRO,
    NEC = bindings::PCI_VENDOR_ID_NEC,
    FD = bindings::PCI_VENDOR_ID_FD,
    SI = bindings::PCI_VENDOR_ID_SI,
    HP = bindings::PCI_VENDOR_ID_HP,
    HP_3PAR = bindings::PCI_VENDOR_ID_HP_3PAR,
    PCTECH = bindings::PCI_VENDOR_ID_PCTECH,
    ASUSTEK = bindings::PCI_VENDOR_ID_ASUSTEK,
    DPT = bindings::PCI_VENDOR_ID_DPT,
    OPTI = bindings::PCI_VENDOR_ID_OPTI,
    ELSA = bindings::PCI_VENDOR_ID_ELSA,
    STMICRO = bindings::PCI_VENDOR_ID_STMICRO,
    BUSLOGIC = bindings::PCI_VENDOR_ID_BUSLOGIC,
    TI = bindings::PCI_VENDOR_ID_TI,
    SONY = bindings::PCI_VENDOR_ID_SONY,
    WINBOND2 = bindings::PCI_VENDOR_ID_WINBOND2,
    ANIGMA = bindings::PCI_VENDOR_ID_ANIGMA,
    EFAR = bindings::PCI_VENDOR_ID_EFAR,
    MOTOROLA = bindings::PCI_VENDOR_ID_MOTOROLA,
    PROMISE = bindings::PCI_VENDOR_ID_PROMISE,
    FOXCONN = bindings::PCI_VENDOR_ID_FOXCONN,
    UMC = bindings::PCI_VENDOR_ID_UMC,
    PICOPOWER = bindings::PCI_VENDOR_ID_PICOPOWER,
    MYLEX = bindings::PCI_VENDOR_ID_MYLEX,
    APPLE = bindings::PCI_VENDOR_ID_APPLE,
    YAMAHA = bindings::PCI_VENDOR_ID_YAMAHA,
    QLOGIC = bindings::PCI_VENDOR_ID_QLOGIC,
    CYRIX = bindings::PCI_VENDOR_ID_CYRIX,
    CONTAQ = bindings::PCI_VENDOR_ID_CONTAQ,
    OLICOM = bindings::PCI_VENDOR_ID_OLICOM,
    SUN = bindings::PCI_VENDOR_ID_SUN,
    NI = bindings::PCI_VENDOR_ID_NI,
    CMD = bindings::PCI_VENDOR_ID_CMD,
    BROOKTREE = bindings::PCI_VENDOR_ID_BROOKTREE,
    SGI = bindings::PCI_VENDOR_ID_SGI,
    WINBOND = bindings::PCI_VENDOR_ID_WINBOND,
    PLX = bindings::PCI_VENDOR_ID_PLX,
    MADGE = bindings::PCI_VENDOR_ID_MADGE,
    THREECOM = bindings::PCI_VENDOR_ID_3COM,
    AL = bindings::PCI_VENDOR_ID_AL,
    NEOMAGIC = bindings::PCI_VENDOR_ID_NEOMAGIC,
    TCONRAD = bindings::PCI_VENDOR_ID_TCONRAD,
    ROHM = bindings::PCI_VENDOR_ID_ROHM,
    NVIDIA = bindings::PCI_VENDOR_ID_NVIDIA,
    IMS = bindings::PCI_VENDOR_ID_IMS,
    AMCC = bindings::PCI_VENDOR_ID_AMCC,
    AMPERE = bindings::PCI_VENDOR_ID_AMPERE,
    INTERG = bindings::PCI_VENDOR_ID_INTERG,
    REALTEK = bindings::PCI_VENDOR_ID_REALTEK,
    XILINX = bindings::PCI_VENDOR_ID_XILINX,
    INIT = bindings::PCI_VENDOR_ID_INIT,
    CREATIVE = bindings::PCI_VENDOR_ID_CREATIVE,
    TTI = bindings::PCI_VENDOR_ID_TTI,
    SIGMA = bindings::PCI_VENDOR_ID_SIGMA,
    VIA = bindings::PCI_VENDOR_ID_VIA,
    SIEMENS = bindings::PCI_VENDOR_ID_SIEMENS,
    VORTEX = bindings::PCI_VENDOR_ID_VORTEX,
    EF = bindings::PCI_VENDOR_ID_EF,
    IDT = bindings::PCI_VENDOR_ID_IDT,
    FORE = bindings::PCI_VENDOR_ID_FORE,
    PHILIPS = bindings::PCI_VENDOR_ID_PHILIPS,
    EICON = bindings::PCI_VENDOR_ID_EICON,
    CISCO = bindings::PCI_VENDOR_ID_CISCO,
    ZIATECH = bindings::PCI_VENDOR_ID_ZIATECH,
    SYSKONNECT = bindings::PCI_VENDOR_ID_SYSKONNECT,
    DIGI = bindings::PCI_VENDOR_ID_DIGI,
    XIRCOM = bindings::PCI_VENDOR_ID_XIRCOM,
    SERVERWORKS = bindings::PCI_VENDOR_ID_SERVERWORKS,
    ALTERA = bindings::PCI_VENDOR_ID_ALTERA,
    SBE = bindings::PCI_VENDOR_ID_SBE,
    TOSHIBA = bindings::PCI_VENDOR_ID_TOSHIBA,
    TOSHIBA_2 = bindings::PCI_VENDOR_ID_TOSHIBA_2,
    ATTO = bindings::PCI_VENDOR_ID_ATTO,
    RICOH = bindings::PCI_VENDOR_ID_RICOH,
    DLINK = bindings::PCI_VENDOR_ID_DLINK,
    ARTOP = bindings::PCI_VENDOR_ID_ARTOP,
    ZEITNET = bindings::PCI_VENDOR_ID_ZEITNET,
    FUJITSU_ME = bindings::PCI_VENDOR_ID_FUJITSU_ME,
    MARVELL = bindings::PCI_VENDOR_ID_MARVELL,
    MARVELL_EXT = bindings::PCI_VENDOR_ID_MARVELL_EXT,
    V3 = bindings::PCI_VENDOR_ID_V3,
    ATT = bindings::PCI_VENDOR_ID_ATT,
    SPECIALIX = bindings::PCI_VENDOR_ID_SPECIALIX,
    ANALOG_DEVICES = bindings::PCI_VENDOR_ID_ANALOG_DEVICES,
    ZORAN = bindings::PCI_VENDOR_ID_ZORAN,
    COMPEX = bindings::PCI_VENDOR_ID_COMPEX,
    MICROSEMI = bindings::PCI_VENDOR_ID_MICROSEMI,
    RP = bindings::PCI_VENDOR_ID_RP,
    CYCLADES = bindings::PCI_VENDOR_ID_CYCLADES,
    O2 = bindings::PCI_VENDOR_ID_O2,
    THREEDX = bindings::PCI_VENDOR_ID_3DFX,
    AVM = bindings::PCI_VENDOR_ID_AVM,
    STALLION = bindings::PCI_VENDOR_ID_STALLION,
    AT = bindings::PCI_VENDOR_ID_AT,
    ASIX = bindings::PCI_VENDOR_ID_ASIX,
    ESS = bindings::PCI_VENDOR_ID_ESS,
    SATSAGEM = bindings::PCI_VENDOR_ID_SATSAGEM,
    ENSONIQ = bindings::PCI_VENDOR_ID_ENSONIQ,
    TRANSMETA = bindings::PCI_VENDOR_ID_TRANSMETA,
    ROCKWELL = bindings::PCI_VENDOR_ID_ROCKWELL,
    ITE = bindings::PCI_VENDOR_ID_ITE,
    ALTEON = bindings::PCI_VENDOR_ID_ALTEON,
    NVIDIA_SGS = bindings::PCI_VENDOR_ID_NVIDIA_SGS,
    PERICOM = bindings::PCI_VENDOR_ID_PERICOM,
    AUREAL = bindings::PCI_VENDOR_ID_AUREAL,
    ELECTRONICDESIGNGMBH = bindings::PCI_VENDOR_ID_ELECTRONICDESIGNGMBH,
    ESDGMBH = bindings::PCI_VENDOR_ID_ESDGMBH,
    CB = bindings::PCI_VENDOR_ID_CB,
    SIIG = bindings::PCI_VENDOR_ID_SIIG,
    RADISYS = bindings::PCI_VENDOR_ID_RADISYS,
    MICRO_MEMORY = bindings::PCI_VENDOR_ID_MICRO_MEMORY,
    DOMEX = bindings::PCI_VENDOR_ID_DOMEX,
    INTASHIELD = bindings::PCI_VENDOR_ID_INTASHIELD,
    QUATECH = bindings::PCI_VENDOR_ID_QUATECH,
    SEALEVEL = bindings::PCI_VENDOR_ID_SEALEVEL,
    HYPERCOPE = bindings::PCI_VENDOR_ID_HYPERCOPE,
    DIGIGRAM = bindings::PCI_VENDOR_ID_DIGIGRAM,
    KAWASAKI = bindings::PCI_VENDOR_ID_KAWASAKI,
    CNET = bindings::PCI_VENDOR_ID_CNET,
    LMC = bindings::PCI_VENDOR_ID_LMC,
    NETGEAR = bindings::PCI_VENDOR_ID_NETGEAR,
    APPLICOM = bindings::PCI_VENDOR_ID_APPLICOM,
    MOXA = bindings::PCI_VENDOR_ID_MOXA,
    CCD = bindings::PCI_VENDOR_ID_CCD,
    EXAR = bindings::PCI_VENDOR_ID_EXAR,
    MICROGATE = bindings::PCI_VENDOR_ID_MICROGATE,
    THREEWARE = bindings::PCI_VENDOR_ID_3WARE,
    IOMEGA = bindings::PCI_VENDOR_ID_IOMEGA,
    ABOCOM = bindings::PCI_VENDOR_ID_ABOCOM,
    SUNDANCE = bindings::PCI_VENDOR_ID_SUNDANCE,
    CMEDIA = bindings::PCI_VENDOR_ID_CMEDIA,
    ADVANTECH = bindings::PCI_VENDOR_ID_ADVANTECH,
    MEILHAUS = bindings::PCI_VENDOR_ID_MEILHAUS,
    LAVA = bindings::PCI_VENDOR_ID_LAVA,
    TIMEDIA = bindings::PCI_VENDOR_ID_TIMEDIA,
    ICE = bindings::PCI_VENDOR_ID_ICE,
    MICROSOFT = bindings::PCI_VENDOR_ID_MICROSOFT,
    OXSEMI = bindings::PCI_VENDOR_ID_OXSEMI,
    CHELSIO = bindings::PCI_VENDOR_ID_CHELSIO,
    EDIMAX = bindings::PCI_VENDOR_ID_EDIMAX,
    ADLINK = bindings::PCI_VENDOR_ID_ADLINK,
    SAMSUNG = bindings::PCI_VENDOR_ID_SAMSUNG,
    GIGABYTE = bindings::PCI_VENDOR_ID_GIGABYTE,
    AMBIT = bindings::PCI_VENDOR_ID_AMBIT,
    MYRICOM = bindings::PCI_VENDOR_ID_MYRICOM,
    MEDIATEK = bindings::PCI_VENDOR_ID_MEDIATEK,
    TITAN = bindings::PCI_VENDOR_ID_TITAN,
    PANACOM = bindings::PCI_VENDOR_ID_PANACOM,
    SIPACKETS = bindings::PCI_VENDOR_ID_SIPACKETS,
    AFAVLAB = bindings::PCI_VENDOR_ID_AFAVLAB,
    AMPLICON = bindings::PCI_VENDOR_ID_AMPLICON,
    BCM_GVC = bindings::PCI_VENDOR_ID_BCM_GVC,
    BROADCOM = bindings::PCI_VENDOR_ID_BROADCOM,
    TOPIC = bindings::PCI_VENDOR_ID_TOPIC,
    MAINPINE = bindings::PCI_VENDOR_ID_MAINPINE,
    ENE = bindings::PCI_VENDOR_ID_ENE,
    SYBA = bindings::PCI_VENDOR_ID_SYBA,
    MORETON = bindings::PCI_VENDOR_ID_MORETON,
    VMWARE = bindings::PCI_VENDOR_ID_VMWARE,
    ZOLTRIX = bindings::PCI_VENDOR_ID_ZOLTRIX,
    MELLANOX = bindings::PCI_VENDOR_ID_MELLANOX,
    DFI = bindings::PCI_VENDOR_ID_DFI,
    QUICKNET = bindings::PCI_VENDOR_ID_QUICKNET,
    ADDIDATA = bindings::PCI_VENDOR_ID_ADDIDATA,
    PDC = bindings::PCI_VENDOR_ID_PDC,
    FARSITE = bindings::PCI_VENDOR_ID_FARSITE,
    ARIMA = bindings::PCI_VENDOR_ID_ARIMA,
    BROCADE = bindings::PCI_VENDOR_ID_BROCADE,
    SIBYTE = bindings::PCI_VENDOR_ID_SIBYTE,
    ATHEROS = bindings::PCI_VENDOR_ID_ATHEROS,
    NETCELL = bindings::PCI_VENDOR_ID_NETCELL,
    CENATEK = bindings::PCI_VENDOR_ID_CENATEK,
    SYNOPSYS = bindings::PCI_VENDOR_ID_SYNOPSYS,
    USR = bindings::PCI_VENDOR_ID_USR,
    VITESSE = bindings::PCI_VENDOR_ID_VITESSE,
    LINKSYS = bindings::PCI_VENDOR_ID_LINKSYS,
    ALTIMA = bindings::PCI_VENDOR_ID_ALTIMA,
    CAVIUM = bindings::PCI_VENDOR_ID_CAVIUM,
    TECHWELL = bindings::PCI_VENDOR_ID_TECHWELL,
    BELKIN = bindings::PCI_VENDOR_ID_BELKIN,
    RDC = bindings::PCI_VENDOR_ID_RDC,
    GLI = bindings::PCI_VENDOR_ID_GLI,
    LENOVO = bindings::PCI_VENDOR_ID_LENOVO,
    QCOM = bindings::PCI_VENDOR_ID_QCOM,
    CDNS = bindings::PCI_VENDOR_ID_CDNS,
    ARECA = bindings::PCI_VENDOR_ID_ARECA,
    S2IO = bindings::PCI_VENDOR_ID_S2IO,
    SITECOM = bindings::PCI_VENDOR_ID_SITECOM,
    TOPSPIN = bindings::PCI_VENDOR_ID_TOPSPIN,
    COMMTECH = bindings::PCI_VENDOR_ID_COMMTECH,
    SILAN = bindings::PCI_VENDOR_ID_SILAN,
    RENESAS = bindings::PCI_VENDOR_ID_RENESAS,
    SOLARFLARE = bindings::PCI_VENDOR_ID_SOLARFLARE,
    TDI = bindings::PCI_VENDOR_ID_TDI,
    NXP = bindings::PCI_VENDOR_ID_NXP,
    PASEMI = bindings::PCI_VENDOR_ID_PASEMI,
    ATTANSIC = bindings::PCI_VENDOR_ID_ATTANSIC,
    JMICRON = bindings::PCI_VENDOR_ID_JMICRON,
    KORENIX = bindings::PCI_VENDOR_ID_KORENIX,
    HUAWEI = bindings::PCI_VENDOR_ID_HUAWEI,
    NETRONOME = bindings::PCI_VENDOR_ID_NETRONOME,
    QMI = bindings::PCI_VENDOR_ID_QMI,
    AZWAVE = bindings::PCI_VENDOR_ID_AZWAVE,
    REDHAT_QUMRANET = bindings::PCI_VENDOR_ID_REDHAT_QUMRANET,
    ASMEDIA = bindings::PCI_VENDOR_ID_ASMEDIA,
    REDHAT = bindings::PCI_VENDOR_ID_REDHAT,
    WCHIC = bindings::PCI_VENDOR_ID_WCHIC,
    SILICOM_DENMARK = bindings::PCI_VENDOR_ID_SILICOM_DENMARK,
    AMAZON_ANNAPURNA_LABS = bindings::PCI_VENDOR_ID_AMAZON_ANNAPURNA_LABS,
    CIRCUITCO = bindings::PCI_VENDOR_ID_CIRCUITCO,
    AMAZON = bindings::PCI_VENDOR_ID_AMAZON,
    ZHAOXIN = bindings::PCI_VENDOR_ID_ZHAOXIN,
    ROCKCHIP = bindings::PCI_VENDOR_ID_ROCKCHIP,
    HYGON = bindings::PCI_VENDOR_ID_HYGON,
    META = bindings::PCI_VENDOR_ID_META,
    FUNGIBLE = bindings::PCI_VENDOR_ID_FUNGIBLE,
    HXT = bindings::PCI_VENDOR_ID_HXT,
    TEKRAM = bindings::PCI_VENDOR_ID_TEKRAM,
    RPI = bindings::PCI_VENDOR_ID_RPI,
    ALIBABA = bindings::PCI_VENDOR_ID_ALIBABA,
    CXL = bindings::PCI_VENDOR_ID_CXL,
    TEHUTI = bindings::PCI_VENDOR_ID_TEHUTI,
    SUNIX = bindings::PCI_VENDOR_ID_SUNIX,
    HINT = bindings::PCI_VENDOR_ID_HINT,
    THREEDLABS = bindings::PCI_VENDOR_ID_3DLABS,
    NETXEN = bindings::PCI_VENDOR_ID_NETXEN,
    AKS = bindings::PCI_VENDOR_ID_AKS,
    WCHCN = bindings::PCI_VENDOR_ID_WCHCN,
    ACCESSIO = bindings::PCI_VENDOR_ID_ACCESSIO,
    S3 = bindings::PCI_VENDOR_ID_S3,
    DUNORD = bindings::PCI_VENDOR_ID_DUNORD,
    DCI = bindings::PCI_VENDOR_ID_DCI,
    GLENFLY = bindings::PCI_VENDOR_ID_GLENFLY,
    INTEL = bindings::PCI_VENDOR_ID_INTEL,
    WANGXUN = bindings::PCI_VENDOR_ID_WANGXUN,
    SCALEMP = bindings::PCI_VENDOR_ID_SCALEMP,
    COMPUTONE = bindings::PCI_VENDOR_ID_COMPUTONE,
    KTI = bindings::PCI_VENDOR_ID_KTI,
    ADAPTEC = bindings::PCI_VENDOR_ID_ADAPTEC,
    ADAPTEC2 = bindings::PCI_VENDOR_ID_ADAPTEC2,
    HOLTEK = bindings::PCI_VENDOR_ID_HOLTEK,
    NETMOS = bindings::PCI_VENDOR_ID_NETMOS,
    THREECOM_2 = bindings::PCI_VENDOR_ID_3COM_2,
    SOLIDRUN = bindings::PCI_VENDOR_ID_SOLIDRUN,
    DIGIUM = bindings::PCI_VENDOR_ID_DIGIUM,
    TIGERJET = bindings::PCI_VENDOR_ID_TIGERJET,
    XILINX_RME = bindings::PCI_VENDOR_ID_XILINX_RME,
    XEN = bindings::PCI_VENDOR_ID_XEN,
    OCZ = bindings::PCI_VENDOR_ID_OCZ,
    NCUBE = bindings::PCI_VENDOR_ID_NCUBE,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_have_the_kernel_values() {
        assert_eq!(Vendor::REDHAT.as_raw(), 0x1b36);
        assert_eq!(Vendor::INTEL.as_raw(), 0x8086);
        assert_eq!(Class::STORAGE_EXPRESS.as_raw(), 0x01_0802);
        assert_eq!(Class::NETWORK_ETHERNET.as_raw(), 0x02_0000);
    }

    #[test]
    fn display_names_known_values_and_prints_others() {
        assert_eq!(Vendor::REDHAT.to_string(), "REDHAT");
        assert_eq!(Vendor::from_raw(0x1234).to_string(), "0x1234");
        assert_eq!(Class::from_raw(0x01_0802).to_string(), "STORAGE_EXPRESS");
        assert_eq!(format!("{:?}", Class::from_raw(0x00_ff00)), "0x00ff00");
    }

    #[test]
    fn class_masks_convert_from_their_raw_values() {
        assert_eq!(ClassMask::try_from(0xff_ff00), Ok(ClassMask::ClassSubclass));
        assert_eq!(ClassMask::try_from(0xff_0000), Err(EINVAL));
    }
}
