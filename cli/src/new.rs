//! `drydock new`: writes a driver crate for a PCI device, which builds and passes its tests at
//! once, and whose driver file builds in a Linux 7.3 tree.
//!
//! The crate is the shape of drydock's own drivers (`drivers/NAME`): the driver file as the
//! library's root (an ID table for the device, a probe that enables it, maps BAR0 and takes its
//! interrupt, an unbind), a build script passing the kernel configuration, tests on the simulated
//! bus with a model of the device (`tests/model`), and the binary that runs the driver as a
//! process (`process/`). Written into drydock's `drivers/`, it is a member of drydock's workspace
//! (joining the kernel proof is a step of its own: docs/kernel-proof.md); anywhere else, it is a
//! workspace of its own depending on drydock by path or git, with drydock's lints and dev profile.
//! The files come from `cli/templates/` ([`template`]).

mod template;
mod vendors;

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::args::NewArgs;
use crate::filters::Ids;
use crate::output::line;
use crate::Failure;
use template::{Values, CRATE};

/// The drydock checkout this program was built from: the default for `--drydock`.
const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// drydock's workspace manifest, whose lints and dev profile an out-of-tree crate takes.
const WORKSPACE_MANIFEST: &str = include_str!("../../Cargo.toml");

/// drydock's cargo configuration (the doctests' optimisation), which an out-of-tree crate takes.
const CARGO_CONFIG: &str = include_str!("../../.cargo/config.toml");

/// The parts of drydock's workspace manifest an out-of-tree crate copies, by their headers.
const COPIED_SECTIONS: &[&str] = &[
    "[workspace.lints.rust]",
    "[workspace.lints.clippy]",
    "[workspace.lints.rustdoc]",
    "[profile.dev]",
];

/// Library names a driver cannot take: the kernel tree's crates and those a driver links.
const TAKEN: &[&str] = &[
    "alloc",
    "bindings",
    "build_error",
    "compiler_builtins",
    "core",
    "ffi",
    "kernel",
    "macros",
    "pin_init",
    "pin_init_internal",
    "proc_macro",
    "std",
    "test",
    "uapi",
    "zerocopy",
];

/// Where the crate's drydock dependencies come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Drydock {
    /// A checkout, by its absolute path.
    Path(PathBuf),
    /// A git repository.
    Git(String),
}

/// Where the crate goes, which decides how its manifests name drydock.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    /// `drivers/NAME` of the drydock checkout: a workspace member, its paths relative.
    InWorkspace,
    /// Anywhere else: a workspace of its own.
    OutOfTree(Drydock),
}

/// Runs `drydock new`.
pub(crate) fn new(args: &NewArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let name = crate_name(args)?;
    let ids = device_ids(&args.ids)?;
    let dir = absolute(&args.path)?;
    let drydock = drydock_source(args.drydock.as_deref(), &dir)?;
    if fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Failure::failed(format!(
            "{} already exists and is not empty",
            args.path.display()
        )));
    }
    let place = place(&dir, &name, drydock)?;

    let values = values(&name, &ids, &place);
    let mut written = Vec::new();
    for template in CRATE {
        let path = values.render(template.path, |_| None);
        let depth = Path::new(&path).components().count() - 1;
        let text = values.render(template.text, |placeholder| {
            let crate_path = placeholder.strip_prefix("at:")?;
            Some(dependency(&place, depth, crate_path))
        });
        write(&dir, &path, &text)?;
        written.push(path);
    }
    if let Place::OutOfTree(drydock) = &place {
        write(&dir, ".gitignore", "/target\n")?;
        write(&dir, ".cargo/config.toml", CARGO_CONFIG)?;
        // The versions drydock is tested with, so the crate builds as drydock does (and offline).
        if let Drydock::Path(root) = drydock {
            if let Ok(lock) = fs::read_to_string(root.join("Cargo.lock")) {
                write(&dir, "Cargo.lock", &lock)?;
            }
        }
    }
    report(out, &args.path, &name, &written, &place);
    Ok(())
}

/// The crate's name: `--name`, or the directory's; lower case, as a module's name is.
fn crate_name(args: &NewArgs) -> Result<String, Failure> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None => args
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Failure::usage(format!(
                    "{} names no directory: give the crate's directory, such as \
                     drivers/mydev",
                    args.path.display()
                ))
            })?,
    };
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        return Err(Failure::usage(format!(
            "`{name}` cannot name a driver: a driver's name is its kernel module's, lower-case \
             letters, digits, `_` and `-`, starting with a letter (give another with --name)"
        )));
    }
    let lib = name.replace('-', "_");
    if TAKEN.contains(&lib.as_str()) || lib.starts_with("drydock") {
        return Err(Failure::usage(format!(
            "`{name}` is the name of a crate a driver links or the kernel has: give another \
             with --name"
        )));
    }
    Ok(name)
}

/// The device: vendor and device IDs, and the class when given (base class and subclass).
#[derive(Debug)]
struct DeviceIds {
    vendor: u16,
    device: u16,
    class: Option<u16>,
}

/// Parses `-d VENDOR:DEVICE[:CLASS]`, as `lspci -d` takes it but with both IDs required, and the
/// class too when the kernel names no constant for the vendor (the ID table then matches the
/// class, and probe the IDs).
fn device_ids(text: &str) -> Result<DeviceIds, Failure> {
    let ids = Ids::parse(text)?;
    let narrow = |value: Option<u32>| value.and_then(|v| u16::try_from(v).ok());
    let (Some(vendor), Some(device)) = (narrow(ids.vendor()), narrow(ids.device())) else {
        return Err(Failure::usage(format!(
            "`{text}` does not name one device: `-d` takes VENDOR:DEVICE in hex, as `lspci -n` \
             and `drydock list` show them (`1af4:1041`)"
        )));
    };
    let class = narrow(ids.class());
    if vendors::name(vendor).is_none() && class.is_none() {
        return Err(Failure::usage(format!(
            "the kernel names no PCI vendor {vendor:04x}, so a driver's ID table cannot match it \
             by ID: give the device's class too, `-d {vendor:04x}:{device:04x}:CLASS`, CLASS its \
             base class and subclass in hex (`lspci -n` shows them before the IDs: `00:04.0 \
             00ff: 1234:11e8`); the driver then matches the class and checks the IDs in probe"
        )));
    }
    Ok(DeviceIds {
        vendor,
        device,
        class,
    })
}

/// Whether `dir` is a drydock checkout: its `kernel/` is the mirror's package.
fn is_checkout(dir: &Path) -> bool {
    fs::read_to_string(dir.join("kernel/Cargo.toml"))
        .is_ok_and(|manifest| manifest.contains("name = \"drydock-kernel\""))
}

/// Where drydock comes from: `--drydock`; else the checkout the crate's directory `dir` is in;
/// else the checkout this program was built from.
fn drydock_source(given: Option<&str>, dir: &Path) -> Result<Drydock, Failure> {
    if let Some(url) = given.filter(|g| g.contains("://") || g.starts_with("git@")) {
        return Ok(Drydock::Git(url.to_owned()));
    }
    let enclosing = dir.ancestors().find(|d| is_checkout(d));
    if let (None, Some(root)) = (given, enclosing) {
        return Ok(Drydock::Path(root.to_owned()));
    }
    let root = Path::new(given.unwrap_or(BUILT_FROM));
    let checkout = root.canonicalize().ok().filter(|root| is_checkout(root));
    checkout.map(Drydock::Path).ok_or_else(|| match given {
        Some(_) => Failure::usage(format!(
            "{} is not a drydock checkout (it has no kernel/Cargo.toml); --drydock takes one's \
             path or a git URL",
            root.display()
        )),
        None => Failure::usage(format!(
            "the drydock checkout this drydock was built from ({}) is gone: give one with \
             --drydock PATH, or a git URL",
            root.display()
        )),
    })
}

/// `path`, absolute, with `.` and `..` resolved through the directories that exist.
fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    let joined = std::path::absolute(path)
        .map_err(|e| Failure::failed(format!("cannot resolve {}: {e}", path.display())))?;
    let mut resolved = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => {
                resolved.push(other);
                if let Ok(real) = resolved.canonicalize() {
                    resolved = real;
                }
            }
        }
    }
    Ok(resolved)
}

/// Whether the crate in `dir` is in drydock's workspace (it must then be `drivers/NAME`) or out of
/// its tree.
fn place(dir: &Path, name: &str, drydock: Drydock) -> Result<Place, Failure> {
    let Drydock::Path(root) = &drydock else {
        return Ok(Place::OutOfTree(drydock));
    };
    if !dir.starts_with(root) {
        return Ok(Place::OutOfTree(drydock));
    }
    if dir.parent() == Some(&root.join("drivers")) {
        Ok(Place::InWorkspace)
    } else {
        Err(Failure::usage(format!(
            "in drydock's checkout a driver crate goes in drivers/ (drivers/{name}), where the \
             workspace takes it in; out of it, anywhere"
        )))
    }
}

/// The templates' values for the crate `name` for `ids`.
fn values(name: &str, ids: &DeviceIds, place: &Place) -> Values {
    let lib = name.replace('-', "_");
    let type_name: String = lib
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| part[..1].to_ascii_uppercase() + &part[1..])
        .collect();
    let (entry, class_match) = match (vendors::name(ids.vendor), ids.class) {
        (Some(vendor), _) => (
            format!(
                "pci::DeviceId::from_id(pci::Vendor::{vendor}, {:#06x})",
                ids.device
            ),
            false,
        ),
        // `device_ids` made sure a vendor without a name comes with a class.
        (None, class) => (
            format!(
                "pci::DeviceId::from_class({:#08x}, pci::ClassMask::ClassSubclass.as_raw())",
                u32::from(class.unwrap_or_default()) << 8
            ),
            true,
        ),
    };
    // In drydock's workspace, drydock's licence; elsewhere the kernel's, which any module may take
    // (the crate's `license` says the same).
    let (spdx, module_license) = match place {
        Place::InWorkspace => ("GPL-2.0 OR MIT", "Dual MIT/GPL"),
        Place::OutOfTree(_) => ("GPL-2.0", "GPL"),
    };
    let mut values = Values::default();
    values
        .set("package", name)
        .set("lib", lib)
        .set("Type", type_name)
        .set("ids", format!("{:04x}:{:04x}", ids.vendor, ids.device))
        .set("vendor", format!("{:#06x}", ids.vendor))
        .set("device", format!("{:#06x}", ids.device))
        // The model's class: the one given, else "unassigned".
        .set(
            "class",
            format!(
                "{:#08x}",
                ids.class.map_or(0xff_0000, |c| u32::from(c) << 8)
            ),
        )
        .set("id_table", id_table(&entry))
        .set("drydock_settings", copied_sections())
        .set("spdx", spdx)
        .set("module_license", module_license)
        .flag("class_match", class_match)
        .flag("in_workspace", *place == Place::InWorkspace)
        .flag("out_of_tree", *place != Place::InWorkspace);
    values
}

/// The ID table's entries, the one `entry` with no data, laid out as rustfmt lays them out (on
/// one line when the array's content fits rustfmt's `array_width`, 60).
fn id_table(entry: &str) -> String {
    let item = format!("({entry}, ())");
    if item.len() <= 60 {
        format!("    [{item}]")
    } else {
        format!("    [(\n        {entry},\n        ()\n    )]")
    }
}

/// The source of drydock's crate at `crate_path` (`kernel/pin-init`) for a manifest `depth`
/// directories below the crate's root.
fn dependency(place: &Place, depth: usize, crate_path: &str) -> String {
    match place {
        // drivers/NAME is two levels below drydock's root.
        Place::InWorkspace => format!("path = \"{}{crate_path}\"", "../".repeat(depth + 2)),
        Place::OutOfTree(Drydock::Path(root)) => {
            format!("path = \"{}\"", root.join(crate_path).display())
        }
        Place::OutOfTree(Drydock::Git(url)) => format!("git = \"{url}\""),
    }
}

/// The sections of drydock's workspace manifest an out-of-tree crate copies, each a paragraph of
/// the manifest (its comments, header and settings).
fn copied_sections() -> String {
    let paragraphs: Vec<&str> = WORKSPACE_MANIFEST
        .split("\n\n")
        .filter(|p| p.lines().any(|l| COPIED_SECTIONS.contains(&l.trim())))
        .map(str::trim)
        .collect();
    assert_eq!(
        paragraphs.len(),
        COPIED_SECTIONS.len(),
        "drydock's Cargo.toml has each copied section in a paragraph of its own"
    );
    paragraphs.join("\n\n")
}

/// Writes `text` to `path` under `dir`, creating directories.
fn write(dir: &Path, path: &str, text: &str) -> Result<(), Failure> {
    let file = dir.join(path);
    let parent = file.parent().expect("a file in the crate");
    fs::create_dir_all(parent)
        .and_then(|()| fs::write(&file, text))
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", file.display())))
}

/// Says what was written and what to do next.
fn report(out: &mut dyn Write, shown: &Path, name: &str, written: &[String], place: &Place) {
    let shown = shown.display();
    let lib = name.replace('-', "_");
    line(
        out,
        &format!("drydock: wrote the driver crate {name} in {shown}:"),
    );
    let described = [
        (
            format!("src/{lib}.rs"),
            "the driver file (it builds as a Linux 7.3 module too)",
        ),
        ("tests/sim.rs".to_owned(), "its tests, on the simulated bus"),
        (
            "tests/model/mod.rs".to_owned(),
            "the device model the tests use",
        ),
        ("process/main.rs".to_owned(), "the driver as a process"),
    ];
    for (path, what) in &described {
        line(out, &format!("  {path:<20} {what}"));
    }
    let others: Vec<&str> = written
        .iter()
        .filter(|path| !described.iter().any(|(d, _)| d == *path))
        .map(String::as_str)
        .collect();
    line(out, &format!("  and {}", others.join(", ")));
    let (test, build) = match place {
        Place::InWorkspace => (
            format!("cargo test -p {name}"),
            format!("cargo build --release -p {name}-process"),
        ),
        Place::OutOfTree(_) => (
            format!("cd {shown} && cargo test"),
            "cargo build --release".into(),
        ),
    };
    line(out, "Next:");
    let width = test.len().max(build.len());
    line(out, &format!("  {test:<width$}  the tests, on any machine"));
    line(
        out,
        &format!("  {build:<width$}  the binary: as root, `drydock bind BDF`, then"),
    );
    line(
        out,
        &format!(
            "  {:<width$}  `target/release/{name} BDF` drives the device",
            ""
        ),
    );
    line(
        out,
        &format!(
            "The registers in src/{lib}.rs are placeholders: drydock's docs/new-driver.md goes \
             from\nthere to your device's, the VM and a kernel tree."
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values as `new` sets them, for a named vendor.
    pub(super) fn values() -> Values {
        let ids = DeviceIds {
            vendor: 0x1af4,
            device: 0x1041,
            class: None,
        };
        super::values("my-dev", &ids, &Place::InWorkspace)
    }

    fn args(path: &str, name: Option<&str>) -> NewArgs {
        NewArgs {
            path: path.into(),
            ids: "1af4:1041".into(),
            name: name.map(str::to_owned),
            drydock: None,
        }
    }

    #[test]
    fn names_are_module_names() {
        assert_eq!(crate_name(&args("drivers/my-dev", None)).unwrap(), "my-dev");
        assert_eq!(crate_name(&args("x/Y", Some("y2"))).unwrap(), "y2");
        for bad in [
            "drivers/MyDev",
            "2dev",
            "my.dev",
            "kernel",
            "pin-init",
            "drydock-x",
        ] {
            let err = crate_name(&args(bad, None)).unwrap_err();
            assert_eq!(err.code, drydock_host::exit_status::USAGE, "{bad}");
            assert!(err.message.contains("--name"), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn both_ids_are_needed_and_a_class_may_follow() {
        let ids = device_ids("1234:11e8:00ff").unwrap();
        assert_eq!(
            (ids.vendor, ids.device, ids.class),
            (0x1234, 0x11e8, Some(0xff))
        );
        assert_eq!(device_ids("8086:10d3").unwrap().class, None);
        for bad in ["8086", "8086:", ":10d3", "xyz:1"] {
            assert!(device_ids(bad).is_err(), "{bad}");
        }
        // QEMU's vendor has no name in the kernel: the class is needed.
        let err = device_ids("1234:11e8").unwrap_err();
        assert!(
            err.message.contains("-d 1234:11e8:CLASS"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_named_vendor_is_matched_by_id_another_by_class_and_in_probe() {
        let mut values = values();
        let named = values.render("{{id_table}}", |_| None);
        assert_eq!(
            named,
            "    [(\n        pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, 0x1041),\n\
             \x20       ()\n    )]"
        );
        assert_eq!(
            id_table("pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5)"),
            "    [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]"
        );
        let ids = DeviceIds {
            vendor: 0x1234,
            device: 0x11e8,
            class: Some(0x00ff),
        };
        values = super::values("edu2", &ids, &Place::InWorkspace);
        let unnamed = values.render(
            "{{id_table}}\n{{class}}\n{{#class_match}}\ncheck\n{{/class_match}}\n",
            |_| None,
        );
        // Too long for one line, laid out as rustfmt lays it out.
        assert_eq!(
            unnamed,
            "    [(\n        pci::DeviceId::from_class(0x00ff00, \
             pci::ClassMask::ClassSubclass.as_raw()),\n        ()\n    )]\n0x00ff00\ncheck\n"
        );
    }

    #[test]
    fn dependencies_are_relative_in_the_workspace_absolute_or_git_out_of_it() {
        assert_eq!(
            dependency(&Place::InWorkspace, 0, "kernel"),
            "path = \"../../kernel\""
        );
        assert_eq!(
            dependency(&Place::InWorkspace, 1, "runner"),
            "path = \"../../../runner\""
        );
        let path = Place::OutOfTree(Drydock::Path("/src/drydock".into()));
        assert_eq!(
            dependency(&path, 1, "kernel/pin-init"),
            "path = \"/src/drydock/kernel/pin-init\""
        );
        let git = Place::OutOfTree(Drydock::Git("https://example.org/drydock".into()));
        assert_eq!(
            dependency(&git, 0, "sim"),
            "git = \"https://example.org/drydock\""
        );
    }

    #[test]
    fn a_crate_in_the_checkout_goes_in_drivers() {
        let root = PathBuf::from(BUILT_FROM).canonicalize().unwrap();
        let drydock = Drydock::Path(root.clone());
        let inside = place(&root.join("drivers/x"), "x", drydock.clone());
        assert_eq!(inside.unwrap(), Place::InWorkspace);
        let err = place(&root.join("examples/x"), "x", drydock.clone()).unwrap_err();
        assert!(err.message.contains("drivers/x"), "{}", err.message);
        let outside = place(Path::new("/elsewhere/x"), "x", drydock.clone()).unwrap();
        assert_eq!(outside, Place::OutOfTree(drydock));
    }

    #[test]
    fn an_out_of_tree_crate_takes_drydocks_lints_and_profile() {
        let sections = copied_sections();
        for header in COPIED_SECTIONS {
            assert!(sections.contains(header), "{header}");
        }
        assert!(sections.contains("missing_docs = \"warn\""));
        assert!(sections.contains("opt-level = 1"));
        assert!(!sections.contains("[workspace]\n"));
    }

    #[test]
    fn paths_resolve_dot_dot_through_existing_directories() {
        let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
        assert_eq!(absolute(Path::new("a/../b")).unwrap(), cwd.join("b"));
        assert_eq!(
            absolute(Path::new("/x/./y/../z")).unwrap(),
            PathBuf::from("/x/z")
        );
    }
}
