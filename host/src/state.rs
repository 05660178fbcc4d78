//! A driver process's own state, shown in its debugfs tree: the interrupts of its devices, the
//! DMA memory their drivers hold and the address spaces it is mapped in, and the devices
//! themselves.
//!
//! In the kernel, what the kernel knows of a driver is in the kernel's own files:
//! `/proc/interrupts`, the IOMMU's and the DMA API's debugfs files, `lspci -k`. In a driver
//! process, the kernel sees only VFIO's (or UIO's) side of it; what the process's driver core
//! knows is published by [`publish`] as files of a directory of the process's debugfs tree, which
//! the runner mounts with FUSE ([`crate::debugfs`]), so a shell reads them while the driver runs:
//!
//! ```text
//! $ cat /run/drydock/debugfs/edu.812/drydock/interrupts
//! IRQ  INTERRUPTS  RUNS  DEVICE        TYPE  VECTOR  HANDLERS
//! 1:   23          23    0000:00:02.0  MSI   0       edu
//! ```
//!
//! - `devices`, a line per device on the bus: its address, vendor:device IDs and class, its
//!   backend (`vfio`, `vfio-cdev`, `vfio-noiommu`, `uio`, `simulated`), the driver bound to it
//!   (`-`: none), the type of its interrupt vectors and how many;
//! - `interrupts`, a line per allocated vector: its IRQ number, the interrupts that reached it
//!   (as `/proc/interrupts` counts them), the runs of its handlers, its device, type and index,
//!   its handlers;
//! - `dma`, a line per device, then a line per DMA space: per device, the coherent allocations
//!   and streaming mappings its driver holds and their bytes, and its space; per space, its
//!   backend, its mappings and the bytes they cover, its map and unmap calls.
//!
//! These are drydock's own files: the driver's (`kernel::debugfs`) are beside them, under the
//! names the driver gives them, as in `/sys/kernel/debug`.

use core::ffi::{c_void, CStr};
use core::fmt::Write;
use std::sync::Arc;

use crate::bus::Bus;
use crate::debugfs::{self, Dentry, FileOperations, SeqFile};
use crate::errno::Errno;
use crate::irq;

/// The directory the runner publishes a driver process's state in, at the root of its debugfs
/// tree.
pub const DIR: &CStr = c"drydock";

/// The files of a bus's state in the process's debugfs tree; removed when dropped.
///
/// # Invariants
///
/// The files under `dir` were created with a pointer to the bus `bus` holds, and are removed (by
/// `Drop`, which waits for their callbacks) before `bus` is dropped.
pub struct StateFiles {
    dir: Dentry,
    bus: Arc<Bus>,
}

impl Drop for StateFiles {
    fn drop(&mut self) {
        debugfs::debugfs_remove(self.dir);
    }
}

/// What one of the files shows of the bus.
trait View {
    /// The file's name.
    const NAME: &'static CStr;

    /// Writes the file's text for `bus` to `m`.
    fn show(m: &mut SeqFile, bus: &Bus);

    /// The file's operations.
    const FOPS: FileOperations = FileOperations {
        show: Some(show::<Self>),
        read: None,
        write: None,
    };
}

/// The `show` of a file of the state.
///
/// # Safety
///
/// `data` must point to a live [`Bus`] ([`publish`] passes the one its [`StateFiles`] holds).
unsafe fn show<V: View + ?Sized>(m: &mut SeqFile, data: *const c_void) {
    // SAFETY: by the safety requirements.
    V::show(m, unsafe { &*data.cast::<Bus>() });
}

/// Creates the directory `name` at the root of the process's debugfs tree with the files of
/// `bus`'s state (see the module documentation); they go when the returned value is dropped.
///
/// Fails as `debugfs_create_dir()` does: `EEXIST` (logged) if the tree has an entry `name`.
pub fn publish(bus: &Arc<Bus>, name: &CStr) -> Result<StateFiles, Errno> {
    let dir = debugfs::debugfs_create_dir(name, None)?;
    // INVARIANT: the files are created with a pointer to the bus the value holds.
    let files = StateFiles {
        dir,
        bus: bus.clone(),
    };
    let data = Arc::as_ptr(&files.bus).cast::<c_void>();
    let views: [(&CStr, &'static FileOperations); 3] = [
        (Devices::NAME, &Devices::FOPS),
        (Interrupts::NAME, &Interrupts::FOPS),
        (Dma::NAME, &Dma::FOPS),
    ];
    for (name, fops) in views {
        // SAFETY: `data` points to the bus `files` holds, which is `Sync`, as `show` requires, and
        // the file is removed with `files.dir` before the bus is dropped (type invariant); if
        // this fails, dropping `files` removes what was created.
        unsafe { debugfs::debugfs_create_file_full(name, 0o444, Some(dir), data, fops) }?;
    }
    Ok(files)
}

/// Writes `rows` (the header first) as a table: each column as wide as its widest cell, two
/// spaces apart, the last one not padded. Cells have no spaces, so `awk` splits rows into them.
fn table(m: &mut impl Write, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[column]);
            }
        }
        let _ = writeln!(m, "{}", line.trim_end());
    }
}

/// A table's header row.
fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// A device's name, as a table cell.
fn device_name(device: &crate::pci::RawPciDevice) -> String {
    device.dev.name().to_string_lossy().into_owned()
}

/// `devices`: the devices on the bus, how they are reached, what drives them.
struct Devices;

impl View for Devices {
    const NAME: &'static CStr = c"devices";

    fn show(m: &mut SeqFile, bus: &Bus) {
        let mut rows = vec![header(&[
            "DEVICE", "IDS", "CLASS", "BACKEND", "DRIVER", "IRQ", "VECTORS",
        ])];
        for device in bus.devices() {
            let ids = device.ids();
            let driver = device.dev.driver_name().map_or_else(
                || "-".to_owned(),
                |name| name.to_string_lossy().into_owned(),
            );
            let (kind, vectors) = device
                .irq_lines()
                .map_or(("-", 0), |(kind, lines)| (kind.name(), lines.len()));
            rows.push(vec![
                device_name(&device),
                format!("{:04x}:{:04x}", ids.vendor, ids.device),
                format!("{:06x}", ids.class),
                device.function().backend().to_owned(),
                driver,
                kind.to_owned(),
                vectors.to_string(),
            ]);
        }
        table(m, &rows);
    }
}

/// `interrupts`: each allocated vector's line, as `/proc/interrupts` shows the kernel's.
struct Interrupts;

impl View for Interrupts {
    const NAME: &'static CStr = c"interrupts";

    fn show(m: &mut SeqFile, bus: &Bus) {
        let mut rows = vec![header(&[
            "IRQ",
            "INTERRUPTS",
            "RUNS",
            "DEVICE",
            "TYPE",
            "VECTOR",
            "HANDLERS",
        ])];
        for device in bus.devices() {
            let Some((kind, lines)) = device.irq_lines() else {
                continue;
            };
            for (vector, line) in lines.into_iter().enumerate() {
                // A line freed since: its device's vectors are going.
                let Ok(stats) = irq::line_stats(line) else {
                    continue;
                };
                let handlers = match stats.handlers.is_empty() {
                    true => "-".to_owned(),
                    false => stats.handlers.join(","),
                };
                rows.push(vec![
                    format!("{line}:"),
                    stats.interrupts.to_string(),
                    stats.runs.to_string(),
                    device_name(&device),
                    kind.name().to_owned(),
                    vector.to_string(),
                    handlers,
                ]);
            }
        }
        table(m, &rows);
    }
}

/// `dma`: the DMA memory each device's driver holds, then the address spaces it is mapped in.
struct Dma;

impl View for Dma {
    const NAME: &'static CStr = c"dma";

    fn show(m: &mut SeqFile, bus: &Bus) {
        let mut usage = vec![header(&[
            "DEVICE",
            "COHERENT",
            "COHERENT_BYTES",
            "STREAMING",
            "STREAMING_BYTES",
            "SPACE",
        ])];
        let mut spaces = vec![header(&[
            "SPACE",
            "BACKEND",
            "MAPPINGS",
            "MAPPED_BYTES",
            "MAPS",
            "UNMAPS",
        ])];
        // The spaces seen so far, by address: devices may share one (a VFIO group's share its
        // container).
        let mut seen: Vec<*const u8> = Vec::new();
        for device in bus.devices() {
            let space = device.dev.dma_space().map(|space| {
                let address = Arc::as_ptr(space).cast::<u8>();
                let number = seen.iter().position(|&s| s == address).unwrap_or_else(|| {
                    seen.push(address);
                    let stats = space.stats();
                    spaces.push(vec![
                        (seen.len() - 1).to_string(),
                        device.function().backend().to_owned(),
                        stats.mappings.to_string(),
                        stats.mapped_bytes.to_string(),
                        stats.maps.to_string(),
                        stats.unmaps.to_string(),
                    ]);
                    seen.len() - 1
                });
                number.to_string()
            });
            let held = device.dev.dma_usage();
            usage.push(vec![
                device_name(&device),
                held.coherent.to_string(),
                held.coherent_bytes.to_string(),
                held.streaming.to_string(),
                held.streaming_bytes.to_string(),
                space.unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        table(m, &usage);
        let _ = writeln!(m);
        table(m, &spaces);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns_and_split_on_spaces() {
        let mut text = String::new();
        let rows = [
            header(&["IRQ", "INTERRUPTS", "DEVICE"]),
            vec!["1:".into(), "23".into(), "0000:00:02.0".into()],
            vec!["12:".into(), "1234567890123".into(), "-".into()],
        ];
        table(&mut text, &rows);
        assert_eq!(
            text,
            "IRQ  INTERRUPTS     DEVICE\n\
             1:   23             0000:00:02.0\n\
             12:  1234567890123  -\n"
        );
        for (line, row) in text.lines().zip(&rows) {
            assert_eq!(line.split_whitespace().collect::<Vec<_>>(), *row);
        }
    }

    #[test]
    fn the_files_of_an_empty_bus_have_their_headers_and_go_with_their_value() {
        let bus = Bus::new("state-test");
        let files = publish(&bus, c"state-test").unwrap();
        assert_eq!(
            debugfs::read_dir("state-test").unwrap(),
            ["devices", "dma", "interrupts"]
        );
        assert_eq!(
            debugfs::read("state-test/interrupts").unwrap(),
            b"IRQ  INTERRUPTS  RUNS  DEVICE  TYPE  VECTOR  HANDLERS\n"
        );
        let dma = String::from_utf8(debugfs::read("state-test/dma").unwrap()).unwrap();
        assert!(dma.starts_with("DEVICE  COHERENT"), "{dma}");
        assert!(dma.contains("\n\nSPACE  BACKEND"), "{dma}");
        assert_eq!(debugfs::metadata("state-test/devices").unwrap().mode, 0o444);
        // A second publication of the same name is refused.
        assert_eq!(publish(&bus, c"state-test").err(), Some(Errno::EEXIST));
        drop(files);
        assert_eq!(debugfs::metadata("state-test"), Err(Errno::ENOENT));
        assert_eq!(Arc::strong_count(&bus), 1, "the files let go of the bus");
    }
}
