//! Measuring two paths side by side on a shared machine.
//!
//! A benchmark here compares a drydock primitive with its bare baseline. On a machine shared with
//! other work, load drifts between criterion's benchmarks, which run one after the other, and the
//! ratio of two separately measured means drifts with it. [`interleaved`] avoids that: while one
//! path is measured, each measured run is followed by an unmeasured run of the other path, so both
//! see the same load, the same cache state and the same frequency.

use std::time::{Duration, Instant};

use criterion::Criterion;

/// Benchmarks `a` and `b` under `group/a_name` and `group/b_name`, each measured while the other
/// runs interleaved with it.
pub fn interleaved(
    c: &mut Criterion,
    group: &str,
    (a_name, mut a): (&str, impl FnMut()),
    (b_name, mut b): (&str, impl FnMut()),
) {
    let mut group = c.benchmark_group(group);
    group.bench_function(a_name, |bencher| {
        bencher.iter_custom(|iters| measure(iters, &mut a, &mut b))
    });
    group.bench_function(b_name, |bencher| {
        bencher.iter_custom(|iters| measure(iters, &mut b, &mut a))
    });
    group.finish();
}

/// Runs `measured` `iters` times, each followed by an unmeasured run of `other`, in batches so
/// the clock is read far less often than the paths run; returns the time `measured` took.
fn measure(iters: u64, measured: &mut impl FnMut(), other: &mut impl FnMut()) -> Duration {
    const BATCH: u64 = 64;
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = BATCH.min(iters - done);
        let start = Instant::now();
        for _ in 0..n {
            measured();
        }
        total += start.elapsed();
        for _ in 0..n {
            other();
        }
        done += n;
    }
    total
}
