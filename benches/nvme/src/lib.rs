//! Workloads for drydock's NVMe driver (`drivers/nvme`), and the same workloads on the kernel's
//! nvme driver, for side-by-side measurements.
//!
//! - [`workload`]: what a run does: 4 KiB random reads or writes at a queue depth, on some
//!   queues, for some time;
//! - [`stats`]: what a run measured: IOPS, latency percentiles, CPU time per I/O;
//! - [`drydock`]: opens a controller through VFIO into a drydock bus with the driver loaded, and
//!   runs workloads on the driver's [`drydock_nvme::Queue`]s, one thread per queue;
//! - [`uring`]: runs the same workloads on a block device of the kernel's nvme driver, with
//!   `O_DIRECT` and io_uring at the same queue depth, one ring per thread, interrupt driven or
//!   polled;
//! - [`spdk`]: runs the same workloads (one queue) with SPDK's `spdk_nvme_perf`, a peer, on
//!   drydock's controller, and parses its output;
//! - [`ublk`]: drydock's NVMe driver as a process serving the controller as a ublk disk
//!   (`nvme --ublk`), which [`uring`] drives as it drives the kernel's nvme;
//! - [`poll_queues`]: gives the kernel's nvme driver the poll queues its polled path needs;
//! - [`huge_pages`]: reserves 2 MiB huge pages and chooses the pages of drydock's DMA memory;
//! - [`integrity`]: writes patterns across a namespace, runs mixed reads and writes at mixed
//!   sizes and queue depths checking every block read, and reads everything back;
//! - [`report`]: the side-by-side table (text, Markdown, CSV) and SVG charts of IOPS and latency;
//! - [`chart`]: the SVG bar charts, on a round value axis;
//! - [`host`]: the chart of the host benchmarks' ratios (`drydock-benches`, criterion).
//!
//! The `nvme-bench` binary runs the whole matrix inside drydock's QEMU guest
//! (`drydock-vm nvme-bench`); the guest test cases and the simulated-bus tests call the library.

pub mod chart;
pub mod drydock;
pub mod host;
pub mod huge_pages;
pub mod integrity;
pub mod poll_queues;
pub mod report;
pub mod spdk;
pub mod stats;
pub mod ublk;
pub mod uring;
pub mod workload;
