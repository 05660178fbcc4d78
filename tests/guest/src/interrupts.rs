//! The guest kernel's own count of the interrupts a device raised, from `/proc/interrupts`: an
//! outside check of what a driver says it handled. VFIO names a device's host interrupts
//! `vfio-msi[N](BDF)`, `vfio-msix[N](BDF)` and `vfio-intx(BDF)`.

/// How many times the host interrupt named `name` fired, from `/proc/interrupts`.
pub(crate) fn host_interrupts(name: &str) -> Result<u64, String> {
    host_interrupts_listed(name)?.ok_or_else(|| format!("{name} is not in /proc/interrupts"))
}

/// [`host_interrupts`], or `None` if no interrupt has that name.
pub(crate) fn host_interrupts_listed(name: &str) -> Result<Option<u64>, String> {
    let table = std::fs::read_to_string("/proc/interrupts").map_err(|e| e.to_string())?;
    Ok(table
        .lines()
        .find(|line| {
            // A shared line lists its handlers' names separated by commas.
            line.split(|c: char| c.is_whitespace() || c == ',')
                .any(|field| field == name)
        })
        .map(|line| {
            // `IRQ:` then one count per CPU, then the chip and the name.
            line.split_whitespace()
                .skip(1)
                .map_while(|field| field.parse::<u64>().ok())
                .sum()
        }))
}

/// The name VFIO gives the host interrupt of MSI vector `vector` of the device at `address`.
pub(crate) fn vfio_msi(vector: u32, address: &str) -> String {
    format!("vfio-msi[{vector}]({address})")
}

/// The name VFIO gives the host interrupt of the INTx pin of the device at `address`.
pub(crate) fn vfio_intx(address: &str) -> String {
    format!("vfio-intx({address})")
}
