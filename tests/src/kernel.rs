//! A guest kernel: its image and its modules, and resolving which module files to load.
//!
//! Any kernel fits that comes as an image plus a module tree laid out like
//! `/lib/modules/<release>` (`kernel/**/*.ko` and `modules.builtin`), which is what both a
//! Debian package and `make modules_install` produce. Module dependencies are read from each
//! module's own `.modinfo` section (the `depends=` field `depmod` reads too), so the tree needs
//! no `modules.dep`; a wanted module that is built into the kernel is simply not loaded.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::elf::Elf;
use crate::{Context, Error, Result};

/// A kernel the harness can boot.
#[derive(Debug, Clone)]
pub struct GuestKernel {
    /// What the kernel is, for messages (e.g. `Debian linux-image-6.1.0-56-amd64 6.1.192-2`).
    pub description: String,
    /// The bootable image (`bzImage` / `vmlinuz`).
    pub image: PathBuf,
    /// The module tree, `lib/modules/<release>`.
    pub modules_dir: PathBuf,
}

/// A module file to load into the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFile {
    /// The module name, with `_` for `-` as the kernel spells it.
    pub name: String,
    /// The `.ko` file.
    pub path: PathBuf,
}

impl GuestKernel {
    /// A kernel from an image and a module tree, both of which must exist.
    pub fn new(description: String, image: PathBuf, modules_dir: PathBuf) -> Result<Self> {
        for path in [&image, &modules_dir] {
            if !path.exists() {
                return Err(Error::new(format!(
                    "{description}: {} does not exist",
                    path.display()
                )));
            }
        }
        Ok(GuestKernel {
            description,
            image,
            modules_dir,
        })
    }

    /// The module files to load, in load order, so that every module in `wanted` is available
    /// and each file comes after the modules it depends on.
    pub fn resolve_modules(&self, wanted: &[&str]) -> Result<Vec<ModuleFile>> {
        let index = ModuleIndex::scan(&self.modules_dir)?;
        let mut resolver = Resolver {
            index: &index,
            loaded: BTreeSet::new(),
            visiting: Vec::new(),
            order: Vec::new(),
        };
        for name in wanted {
            resolver
                .visit(&module_name(name))
                .with_context(|| format!("{}: cannot load module {name}", self.description))?;
        }
        Ok(resolver.order)
    }
}

/// The kernel's spelling of a module name: `-` becomes `_`.
pub fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The modules a module tree offers.
struct ModuleIndex {
    files: BTreeMap<String, PathBuf>,
    builtin: BTreeSet<String>,
}

impl ModuleIndex {
    fn scan(modules_dir: &Path) -> Result<Self> {
        let mut files = BTreeMap::new();
        let mut pending = vec![modules_dir.join("kernel")];
        while let Some(dir) = pending.pop() {
            let entries =
                fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
            for entry in entries {
                let path = entry
                    .with_context(|| format!("cannot list {}", dir.display()))?
                    .path();
                if path.is_dir() {
                    pending.push(path);
                } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                    if let Some(stem) = name.strip_suffix(".ko") {
                        files.insert(module_name(stem), path.clone());
                    }
                }
            }
        }
        let builtin_list = modules_dir.join("modules.builtin");
        let builtin = match fs::read_to_string(&builtin_list) {
            Ok(text) => parse_builtin(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(Error::new(format!("{}: {e}", builtin_list.display()))),
        };
        Ok(ModuleIndex { files, builtin })
    }
}

/// Module names listed in a `modules.builtin` file (`kernel/path/name.ko` per line).
fn parse_builtin(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            Path::new(l.trim())
                .file_name()?
                .to_str()?
                .strip_suffix(".ko")
        })
        .map(module_name)
        .collect()
}

/// The `depends=` list of a module's `.modinfo` section.
fn modinfo_depends(data: &[u8]) -> Result<Vec<String>> {
    let modinfo = Elf::parse(data)
        .and_then(|elf| elf.section(".modinfo"))
        .map_err(|e| Error::new(e.to_string()))?
        .ok_or_else(|| Error::new("no .modinfo section"))?;
    Ok(modinfo
        .split(|&b| b == 0)
        .filter_map(|field| field.strip_prefix(b"depends="))
        .flat_map(|list| list.split(|&b| b == b','))
        .filter(|name| !name.is_empty())
        .map(|name| module_name(&String::from_utf8_lossy(name)))
        .collect())
}

struct Resolver<'a> {
    index: &'a ModuleIndex,
    loaded: BTreeSet<String>,
    visiting: Vec<String>,
    order: Vec<ModuleFile>,
}

impl Resolver<'_> {
    fn visit(&mut self, name: &str) -> Result<()> {
        if self.loaded.contains(name) {
            return Ok(());
        }
        if self.visiting.iter().any(|v| v == name) {
            return Err(Error::new(format!(
                "circular module dependency: {} -> {name}",
                self.visiting.join(" -> ")
            )));
        }
        let Some(path) = self.index.files.get(name) else {
            if self.index.builtin.contains(name) {
                self.loaded.insert(name.to_owned());
                return Ok(());
            }
            return Err(Error::new(format!(
                "no module {name}: neither a {name}.ko file nor listed in modules.builtin"
            )));
        };
        let data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let depends = modinfo_depends(&data).with_context(|| path.display().to_string())?;
        self.visiting.push(name.to_owned());
        for dependency in depends {
            self.visit(&dependency)?;
        }
        self.visiting.pop();
        self.loaded.insert(name.to_owned());
        self.order.push(ModuleFile {
            name: name.to_owned(),
            path: path.clone(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::tests::build_elf;

    fn write_module(dir: &Path, file: &str, depends: &str) {
        let modinfo = format!("license=GPL\0depends={depends}\0name=x\0");
        let path = dir.join("kernel").join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, build_elf(&[(".modinfo", modinfo.as_bytes())], &[])).unwrap();
    }

    fn tree(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("drydock-kernel-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn kernel(dir: &Path) -> GuestKernel {
        GuestKernel::new("test kernel".into(), dir.join("kernel"), dir.to_path_buf()).unwrap()
    }

    #[test]
    fn dependencies_load_first_and_once() {
        let dir = tree("order");
        write_module(&dir, "drivers/vfio/pci/vfio-pci.ko", "vfio-pci-core,vfio");
        write_module(&dir, "drivers/vfio/pci/vfio-pci-core.ko", "vfio,irqbypass");
        write_module(&dir, "drivers/vfio/vfio.ko", "");
        write_module(&dir, "virt/lib/irqbypass.ko", "");
        write_module(&dir, "drivers/vfio/vfio_iommu_type1.ko", "vfio");
        let order = kernel(&dir)
            .resolve_modules(&["vfio_iommu_type1", "vfio-pci"])
            .unwrap();
        let names: Vec<_> = order.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "vfio",
                "vfio_iommu_type1",
                "irqbypass",
                "vfio_pci_core",
                "vfio_pci"
            ]
        );
        assert!(order[4].path.ends_with("drivers/vfio/pci/vfio-pci.ko"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn builtin_modules_are_skipped_and_unknown_ones_fail() {
        let dir = tree("builtin");
        write_module(&dir, "drivers/uio/uio_pci_generic.ko", "uio");
        fs::write(dir.join("modules.builtin"), "kernel/drivers/uio/uio.ko\n").unwrap();
        let k = kernel(&dir);
        let order = k.resolve_modules(&["uio_pci_generic"]).unwrap();
        assert_eq!(order.len(), 1);
        assert_eq!(order[0].name, "uio_pci_generic");
        let err = k.resolve_modules(&["nvme"]).unwrap_err().to_string();
        assert!(err.contains("no module nvme"), "{err}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn cycles_are_reported() {
        let dir = tree("cycle");
        write_module(&dir, "a.ko", "b");
        write_module(&dir, "b.ko", "a");
        let err = kernel(&dir)
            .resolve_modules(&["a"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("circular module dependency: a -> b -> a"),
            "{err}"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
