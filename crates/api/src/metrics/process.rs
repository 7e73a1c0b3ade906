//! Process metrics read from `/proc` (Linux; elsewhere nothing is reported): Qdrant's
//! `process_*` families, and its `memory_*` families from the kernel's view of this process
//! (Quiver uses the system allocator, not jemalloc: see design record 015).

use super::families::Families;
use std::path::Path;

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A `Key:   1234 kB` line of `/proc/self/status`, in bytes (or the plain number).
fn status_value(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))?;
    let mut words = line[key.len() + 1..].split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    Some(if words.next() == Some("kB") { value * 1024.0 } else { value })
}

/// Fields of `/proc/self/stat` after the command name (field 3 is index 0).
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default()
}

/// The soft limit of open files from `/proc/self/limits`.
fn max_fds(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

pub fn add(out: &mut Families) {
    let Some(status) = read("/proc/self/status") else { return };
    let stat = read("/proc/self/stat").unwrap_or_default();
    let fields = stat_fields(&stat);
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let rss = status_value(&status, "VmRSS").unwrap_or(0.0);
    let anon = status_value(&status, "RssAnon").unwrap_or(rss);
    let size = status_value(&status, "VmSize").unwrap_or(0.0);
    out.single("memory_active_bytes", "anonymous memory resident for the application (RssAnon)", anon);
    out.single("memory_allocated_bytes", "memory allocated by the application (anonymous resident, RssAnon)", anon);
    out.single(
        "memory_metadata_bytes",
        "memory of the page tables (VmPTE)",
        status_value(&status, "VmPTE").unwrap_or(0.0),
    );
    out.single("memory_resident_bytes", "bytes in physically resident pages (VmRSS)", rss);
    out.single("memory_retained_bytes", "bytes in virtual memory mappings (VmSize)", size);
    out.single("process_threads", "number of used system threads", status_value(&status, "Threads").unwrap_or(0.0));
    let mmaps = read("/proc/self/maps").map_or(0, |maps| maps.lines().count());
    out.single("process_open_mmaps", "number of open memory maps", mmaps as f64);
    let max_mmaps = read("/proc/sys/vm/max_map_count").and_then(|v| v.trim().parse().ok()).unwrap_or(0.0);
    out.single("system_max_mmaps", "system wide maximum number of open memory maps", max_mmaps);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count());
    out.single("process_open_fds", "number of open file descriptors", fds as f64);
    let limit = read("/proc/self/limits").and_then(|l| max_fds(&l)).unwrap_or(0.0);
    out.single("process_max_fds", "maximum number of open file descriptors", limit);
    // stat fields 10 (minflt) and 12 (majflt): indexes 7 and 9 after the command name.
    let minor = vec![super::families::counter(field(7), &[])];
    out.counter("process_minor_page_faults_total", "number of minor page faults of the process", minor);
    let major = vec![super::families::counter(field(9), &[])];
    out.counter("process_major_page_faults_total", "number of major page faults of the process", major);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let status = "Name:\tquiver\nVmRSS:\t    2048 kB\nThreads:\t7\n";
        assert_eq!(status_value(status, "VmRSS"), Some(2048.0 * 1024.0));
        assert_eq!(status_value(status, "Threads"), Some(7.0));
        assert_eq!(status_value(status, "VmSize"), None);
        let stat = "42 (quiver (x)) S 1 42 42 0 -1 4194560 1234 0 5 0";
        assert_eq!(stat_fields(stat)[7], "1234");
        assert_eq!(stat_fields(stat)[9], "5");
        let limits = "Limit  Soft Limit  Hard Limit  Units\nMax open files            1024                 524288               files\n";
        assert_eq!(max_fds(limits), Some(1024.0));
    }
}
