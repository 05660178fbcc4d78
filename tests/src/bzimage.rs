//! Booting a kernel without decompressing it in the guest.
//!
//! A bzImage decompresses itself when it starts, which under TCG takes seconds (about 4 s of a
//! 10 s boot for Debian's xz-compressed kernel). QEMU can instead boot the uncompressed kernel
//! ELF directly through its PVH entry point, when the kernel has one (`CONFIG_PVH`, announced
//! by a `Xen` ELF note of type 18). [`fast_boot_image`] extracts that ELF once, on the host, and
//! caches it under the bzImage's hash; any kernel it cannot handle boots as a bzImage.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cache::{self, Cache};
use crate::elf::Elf;
use crate::{Context, Error, Result};

/// `XEN_ELFNOTE_PHYS32_ENTRY`: the note that holds the PVH entry point.
const PVH_ENTRY_NOTE: u32 = 18;
/// The magic of an xz stream.
const XZ_MAGIC: &[u8] = b"\xfd7zXZ\x00";

/// The compressed payload of a bzImage (boot protocol 2.08 or later), if `image` is one.
pub fn payload(image: &[u8]) -> Option<&[u8]> {
    let u32_at = |offset: usize| {
        image
            .get(offset..offset + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
    };
    if image.get(0x202..0x206)? != b"HdrS"
        || u16::from_le_bytes([image[0x206], image[0x207]]) < 0x208
    {
        return None;
    }
    let setup_sectors = match image[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let start = (setup_sectors + 1) * 512 + u32_at(0x248)?;
    image.get(start..start.checked_add(u32_at(0x24c)?)?)
}

/// The image to boot for the bzImage at `image`: the cached uncompressed kernel if it can be
/// booted through PVH, else `image` itself.
pub fn fast_boot_image(cache: &Cache, image: &Path) -> Result<PathBuf> {
    let data = fs::read(image).with_context(|| format!("cannot read {}", image.display()))?;
    let dir = cache.dir("vmlinux")?;
    let hash = cache::sha256_hex(&data);
    let target = dir.join(format!("{hash}.elf"));
    // Remembers that this image cannot be booted through PVH, so it is not unpacked again.
    let unsuitable = dir.join(format!("{hash}.no-pvh"));
    if target.exists() {
        return Ok(target);
    }
    if unsuitable.exists() {
        return Ok(image.to_owned());
    }
    let vmlinux = match payload(&data).filter(|p| p.starts_with(XZ_MAGIC)) {
        Some(payload) => Some(unxz(payload)?),
        None => None,
    };
    let bootable = vmlinux.as_deref().is_some_and(|vmlinux| {
        Elf::parse(vmlinux)
            .and_then(|elf| elf.has_note("Xen", PVH_ENTRY_NOTE))
            .unwrap_or(false)
    });
    let (content, path) = match vmlinux {
        Some(vmlinux) if bootable => (vmlinux, &target),
        _ => (Vec::new(), &unsuitable),
    };
    let staged = cache::staging_path(path);
    fs::write(&staged, &content)
        .with_context(|| format!("cannot write {}", staged.display()))
        .and_then(|()| cache::publish(&staged, path))
        .inspect_err(|_| {
            let _ = fs::remove_file(&staged);
        })?;
    Ok(if bootable { target } else { image.to_owned() })
}

/// Decompresses one xz stream (the kernel appends its size after the stream, which
/// `--single-stream` ignores).
fn unxz(compressed: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new("xz")
        .args(["--decompress", "--stdout", "--single-stream"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run xz (from xz-utils) to unpack the guest kernel")?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let compressed = compressed.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &compressed));
    let out = child.wait_with_output().context("cannot run xz")?;
    writer
        .join()
        .expect("the writer thread does not panic")
        .context("cannot feed xz")?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "xz cannot unpack the guest kernel ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bzimage(setup_sects: u8, version: u16, payload: &[u8]) -> Vec<u8> {
        let mut image = vec![0u8; 0x400];
        image[0x1f1] = setup_sects;
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x206..0x208].copy_from_slice(&version.to_le_bytes());
        image[0x248..0x24c].copy_from_slice(&0x10u32.to_le_bytes());
        image[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        let start = (usize::from(if setup_sects == 0 { 4 } else { setup_sects }) + 1) * 512 + 0x10;
        image.resize(start, 0);
        image.extend_from_slice(payload);
        image.extend_from_slice(b"trailer");
        image
    }

    #[test]
    fn the_payload_is_located_from_the_header() {
        assert_eq!(
            payload(&bzimage(2, 0x20f, b"PAYLOAD")),
            Some(&b"PAYLOAD"[..])
        );
        assert_eq!(payload(&bzimage(0, 0x20f, b"P")), Some(&b"P"[..]));
    }

    #[test]
    fn old_or_foreign_images_have_no_payload() {
        assert_eq!(payload(&bzimage(2, 0x207, b"PAYLOAD")), None);
        assert_eq!(payload(b"\x7fELF not a bzImage"), None);
        let mut truncated = bzimage(2, 0x20f, b"PAYLOAD");
        truncated.truncate(truncated.len() - 10);
        assert_eq!(payload(&truncated), None);
    }

    #[test]
    fn unxz_unpacks_a_stream_with_trailing_bytes() {
        let mut packed = crate::process::run(
            Command::new("sh").args(["-c", "printf 'kernel bytes' | xz --format=xz"]),
        )
        .unwrap()
        .stdout;
        assert!(packed.starts_with(XZ_MAGIC));
        packed.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(unxz(&packed).unwrap(), b"kernel bytes");
        assert!(unxz(b"not xz").is_err());
    }
}
