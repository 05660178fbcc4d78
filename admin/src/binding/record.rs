//! The drivers devices had before drydock bound them, kept across processes.
//!
//! One file per device, `run/drydock/original-drivers/<address>` under the tree's root
//! (`/run/drydock/...` on a running system), holding the original driver's name, or nothing for
//! a device that had none. `/run` is emptied at boot, as bindings are, so a record never
//! outlives the binding it describes. A record is written before the device leaves its driver
//! (so an interrupted bind still knows where the device came from), is never overwritten by a
//! later bind (binding to vfio-pci, then to uio_pci_generic, still remembers the kernel driver),
//! and is removed once the device is given back.

use std::fs;
use std::io;
use std::path::PathBuf;

use drydock_host::error::HostError;
use drydock_host::sysfs::{file_error, list_dir, Sysfs};

/// Where the records live, under the tree's root.
const RECORDS: &str = "run/drydock/original-drivers";

/// The records of one system.
#[derive(Clone, Debug)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    /// The records of the system `sysfs` describes.
    pub fn of(sysfs: &Sysfs) -> Self {
        Self {
            dir: sysfs.path(RECORDS),
        }
    }

    /// The directory holding the records.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The original driver of the device at `address`: `None` without a record, `Some(None)`
    /// if it had no driver.
    pub fn get(&self, address: &str) -> Result<Option<Option<String>>, HostError> {
        let path = self.dir.join(address);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let driver = text.trim();
                Ok(Some((!driver.is_empty()).then(|| driver.to_owned())))
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(file_error("reading", &path, err)),
        }
    }

    /// Records `original` as the driver of the device at `address`, unless a record exists.
    /// Returns whether it wrote one.
    pub fn remember(&self, address: &str, original: Option<&str>) -> Result<bool, HostError> {
        if self.get(address)?.is_some() {
            return Ok(false);
        }
        fs::create_dir_all(&self.dir).map_err(|err| file_error("creating", &self.dir, err))?;
        // Written aside and renamed, so a reader never sees half a record.
        let path = self.dir.join(address);
        let partial = self.dir.join(format!(".{address}.partial"));
        fs::write(&partial, format!("{}\n", original.unwrap_or("")))
            .map_err(|err| file_error("writing", &partial, err))?;
        fs::rename(&partial, &path).map_err(|err| file_error("writing", &path, err))?;
        Ok(true)
    }

    /// Removes the record of the device at `address`, if any.
    pub fn forget(&self, address: &str) -> Result<(), HostError> {
        let path = self.dir.join(address);
        match fs::remove_file(&path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => {
                Err(file_error("removing", &path, err))
            }
            _ => Ok(()),
        }
    }

    /// Every record, as (address, original driver), sorted by address.
    pub fn all(&self) -> Result<Vec<(String, Option<String>)>, HostError> {
        let mut records = Vec::new();
        for address in list_dir(&self.dir)? {
            if address.starts_with('.') {
                continue;
            }
            if let Some(original) = self.get(&address)? {
                records.push((address, original));
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_sim::sysfs::FakeSys;

    #[test]
    fn a_record_is_kept_until_forgotten_and_never_overwritten() {
        let fake = FakeSys::new("records");
        let records = Records::of(&fake.sysfs());
        assert_eq!(records.get("0000:00:06.0").unwrap(), None);
        assert!(records.remember("0000:00:06.0", Some("e1000e")).unwrap());
        assert!(!records.remember("0000:00:06.0", Some("vfio-pci")).unwrap());
        assert!(records.remember("0000:00:02.0", None).unwrap());
        // Another process (another `Records`) reads the same.
        let again = Records::of(&fake.sysfs());
        assert_eq!(
            again.get("0000:00:06.0").unwrap(),
            Some(Some("e1000e".to_owned()))
        );
        assert_eq!(again.get("0000:00:02.0").unwrap(), Some(None));
        assert_eq!(
            again.all().unwrap(),
            vec![
                ("0000:00:02.0".to_owned(), None),
                ("0000:00:06.0".to_owned(), Some("e1000e".to_owned()))
            ]
        );
        assert!(fake
            .root()
            .join("run/drydock/original-drivers/0000:00:06.0")
            .is_file());
        again.forget("0000:00:06.0").unwrap();
        again.forget("0000:00:06.0").unwrap();
        assert_eq!(records.get("0000:00:06.0").unwrap(), None);
    }
}
