//! Memory figures of this process (Linux `/proc/self/status`), for the benchmarks.

/// Peak resident set size of this process in MiB (Linux `VmHWM`), 0 when unknown.
pub(crate) fn peak_rss_mb() -> f64 {
    rss_mb("VmHWM:")
}

/// A memory figure of this process's `/proc/self/status` (`VmHWM:`, `VmRSS:`) in MiB, 0
/// when unknown.
pub(crate) fn rss_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
