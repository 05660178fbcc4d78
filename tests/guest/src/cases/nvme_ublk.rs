//! drydock's NVMe driver as a disk of the kernel: `nvme --ublk` serves NVMe controller 0's
//! namespace as `/dev/ublkbN`, which gets an ext4 file system, files, an unmount and a mount,
//! and then, while a shell writes and `fsync`s files on it, the process is killed with SIGKILL
//! and started again: the disk stays, the new process takes it back (ublk's user recovery), the
//! writes carry on, and after an unmount `e2fsck` finds the file system clean and every file
//! whose `fsync` returned reads back as written.
//!
//! The guest has no e2fsprogs of its own: `mkfs.ext4` and `e2fsck` are the host's (from its
//! e2fsprogs package, under `/host`), run with the host's dynamic loader and libraries.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use drydock_guest::layout::{self, Role, HOST_ROOT_MOUNT};

use super::driver_process::DriverProcess;
use super::{ensure, shell, CaseResult};
use crate::sysfs;

/// Where the file system is mounted.
const MOUNT: &str = "/run/drydock-test/nvme-ublk";
/// The checksums of the files whose `fsync` returned, one `sha256sum` line each, kept off the
/// disk under test.
const ACKED: &str = "/tmp/nvme-ublk-acked";
/// Made to stop the writer.
const STOP: &str = "/tmp/nvme-ublk-stop";
/// How long the disk may take to appear, and the writes to make progress.
const PATIENCE: Duration = Duration::from_secs(60);

/// Defines `$E2FS`, which runs a program of the host's e2fsprogs with the host's loader and
/// libraries, and fails unless the host has them.
const E2FS: &str = "\
lib=/host/usr/lib/x86_64-linux-gnu
E2FS=\"$lib/ld-linux-x86-64.so.2 --library-path $lib\"
export MKE2FS_CONFIG=/host/etc/mke2fs.conf
for tool in mkfs.ext4 e2fsck; do
    [ -x /host/usr/sbin/$tool ] \
        || { echo \"the host has no /usr/sbin/$tool (e2fsprogs)\" >&2; exit 1; }
done
";

/// Makes the file system, writes 8 files of 256 KiB, records their checksums, unmounts, mounts
/// again and checks them.
const FILL: &str = "\
set -e
$E2FS /host/usr/sbin/mkfs.ext4 -t ext4 -q -F $DISK
mkdir -p $MNT
mount -t ext4 $DISK $MNT
for i in 0 1 2 3 4 5 6 7; do
    dd if=/dev/urandom of=$MNT/f$i bs=64k count=4 2>/dev/null
done
sha256sum $MNT/f* > /tmp/nvme-ublk-first
umount $MNT
mount -t ext4 $DISK $MNT
sha256sum -c /tmp/nvme-ublk-first | grep -c ': OK$'
";

/// Writes files of 128 KiB on the mounted file system, each `fsync`ed (`conv=fsync`), and adds
/// its checksum to `$ACKED` once `dd` returned, until [`STOP`] exists.
const WRITER: &str = "\
i=0
while [ ! -e $STOP ]; do
    dd if=/dev/urandom of=$MNT/w$i bs=64k count=2 conv=fsync 2>/dev/null \
        && sha256sum $MNT/w$i >> $ACKED
    i=$((i + 1))
done
";

/// Unmounts, checks the file system (`-f`: even if marked clean; `-n`: changing nothing), mounts
/// it again and checks every file written before the kill and every acknowledged one.
const CHECK: &str = "\
set -e
umount $MNT
$E2FS /host/usr/sbin/e2fsck -f -n $DISK > /tmp/nvme-ublk-fsck 2>&1 \
    || { cat /tmp/nvme-ublk-fsck; exit 1; }
echo e2fsck: clean
mount -t ext4 $DISK $MNT
sha256sum -c /tmp/nvme-ublk-first | grep -c ': OK$'
sha256sum -c $ACKED | grep -vc ': OK$' || true
umount $MNT
";

/// The controller the driver serves.
fn controller() -> String {
    layout::device(Role::Nvme {
        index: 0,
        serial: "drydock-nvme0",
    })
    .address()
}

/// The lines of [`ACKED`].
fn acked() -> usize {
    std::fs::read_to_string(ACKED).map_or(0, |text| text.lines().count())
}

/// Waits until [`ACKED`] has more than `count` lines; fails if the writes stall.
fn acked_beyond(count: usize, what: &str) -> Result<usize, String> {
    let more = sysfs::wait_for(PATIENCE, || {
        let now = acked();
        (now > count).then_some(now)
    });
    more.ok_or_else(|| format!("no fsync returned {what} within {PATIENCE:?}"))
}

/// Starts `nvme --ublk` on the controller and waits for its log to say `what` about a disk;
/// returns the process and the disk's name.
fn start_driver(nvme: &str, what: &str) -> Result<(DriverProcess, String), String> {
    println!("$ nvme --ublk {nvme} &");
    let mut process = DriverProcess::start("nvme", &["--ublk", nvme], &[("DRYDOCK_LOG", "info")])?;
    let line = process.wait_for_line(what)?;
    let name = line
        .rsplit_once("/dev/")
        .map(|(_, name)| name.trim().to_owned())
        .ok_or_else(|| format!("no disk name in `{line}`"))?;
    Ok((process, name))
}

/// Stops the writer after its current write, and reaps it.
fn end(writer: &mut Child) -> CaseResult {
    std::fs::write(STOP, "").map_err(|e| format!("cannot write {STOP}: {e}"))?;
    let status = writer.wait().map_err(|e| e.to_string())?;
    ensure!(status.success(), "the writer ended with {status}");
    Ok(())
}

/// The case: see the module's documentation.
pub fn nvme_ublk_disk_survives_sigkill() -> CaseResult {
    let nvme = controller();
    ensure!(
        Path::new(HOST_ROOT_MOUNT)
            .join("usr/sbin/mkfs.ext4")
            .exists(),
        "the host has no mkfs.ext4 (e2fsprogs), which this case runs from {HOST_ROOT_MOUNT}"
    );
    sysfs::bind(&nvme, "vfio-pci")?;
    let (mut first, name) = start_driver(&nvme, "served as /dev/")?;
    let disk = format!("/dev/{name}");
    let appeared = sysfs::wait_for(PATIENCE, || Path::new(&disk).exists().then_some(()));
    ensure!(
        appeared.is_some(),
        "{disk} did not appear within {PATIENCE:?}"
    );
    let env = [
        ("DISK", disk.as_str()),
        ("MNT", MOUNT),
        ("ACKED", ACKED),
        ("STOP", STOP),
    ];
    let root = Path::new("/");
    let filled = shell::run(root, &format!("{E2FS}{FILL}"), &env);
    let filled = match filled {
        Ok(filled) => filled,
        Err(e) => {
            first.kill();
            return Err(e);
        }
    };
    ensure!(
        filled.trim() == "8",
        "after a remount, {} of 8 files read back as written",
        filled.trim()
    );
    println!("8 files written, read back after a remount");

    let _ = std::fs::remove_file(ACKED);
    let _ = std::fs::remove_file(STOP);
    let mut writer = Command::new("sh")
        .args(["-c", WRITER])
        .envs(env)
        .spawn()
        .map_err(|e| format!("cannot start the writer: {e}"))?;
    // If the disk was not taken back, the writer waits for it forever: it is left to the
    // runner, which ends the case's processes.
    let (second, acked_at_kill) = kill_and_restart(&nvme, &name, &mut first, &mut writer)?;
    end(&mut writer)?;
    let checked = shell::run(root, &format!("{E2FS}{CHECK}"), &env);
    let stopped = second.stop_with(libc::SIGTERM);
    let checked = checked?;
    stopped?;
    let lines: Vec<&str> = checked.lines().collect();
    println!("{checked}");
    let total = acked();
    ensure!(
        lines == ["e2fsck: clean", "8", "0"],
        "after the kill and restart, the check printed {lines:?}, not that e2fsck found the \
         file system clean, the 8 first files intact and none of the {total} acknowledged ones \
         ({acked_at_kill} before the kill) lost"
    );
    println!("{total} files acknowledged ({acked_at_kill} before the kill), all intact");
    let gone = sysfs::wait_for(PATIENCE, || (!Path::new(&disk).exists()).then_some(()));
    ensure!(
        gone.is_some(),
        "{disk} is still there after the driver stopped"
    );
    sysfs::give_back(&nvme)?;
    Ok(())
}

/// Kills the driver while `writer` writes, checks the disk stays, starts the driver again and
/// checks it takes the disk back and the writes carry on. Returns the new process and how many
/// writes were acknowledged at the kill.
fn kill_and_restart(
    nvme: &str,
    name: &str,
    first: &mut DriverProcess,
    writer: &mut Child,
) -> Result<(DriverProcess, usize), String> {
    acked_beyond(4, "before the kill")?;
    first.kill();
    let acked_at_kill = acked();
    println!("killed the driver (SIGKILL) with {acked_at_kill} writes acknowledged");
    std::thread::sleep(Duration::from_secs(1));
    ensure!(
        Path::new("/sys/block").join(name).exists(),
        "the disk {name} went with the killed driver"
    );
    ensure!(
        writer.try_wait().map_err(|e| e.to_string())?.is_none(),
        "the writer ended when the driver was killed"
    );
    let (second, again) = start_driver(nvme, "serves again /dev/")?;
    ensure!(
        again == name,
        "the restarted driver serves {again}, not the disk {name} it should take back"
    );
    let now = acked_beyond(acked_at_kill + 4, "after the restart")?;
    println!("the restarted driver took {name} back; {now} writes acknowledged");
    Ok((second, acked_at_kill))
}
