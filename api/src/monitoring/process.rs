//! The `process_*` metrics every Prometheus client library exports, read
//! from `/proc/self` at scrape time (Linux; elsewhere they are absent).
//!
//! Written here rather than taken from the prometheus crate's `process`
//! feature: that feature pulls procfs with an older rustix, a second copy
//! of rustix and linux-raw-sys in every build (cargo deny's duplicate ban
//! lists why each duplicate we keep is unavoidable; this one is not). What
//! is read is five small files.

use prometheus::{Counter, Gauge, Registry};

/// Clock ticks per second of `/proc/<pid>/stat`: the kernel reports them
/// in USER_HZ, which the Linux ABI fixes at 100.
const USER_HZ: f64 = 100.0;

pub struct ProcessMetrics {
    cpu_seconds: Counter,
    resident_bytes: Gauge,
    virtual_bytes: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    threads: Gauge,
    start_time: Gauge,
}

impl ProcessMetrics {
    /// Registered unprefixed, under the names the client libraries use.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self {
            cpu_seconds: Counter::new(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
            )?,
            resident_bytes: Gauge::new(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            )?,
            virtual_bytes: Gauge::new(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            )?,
            open_fds: Gauge::new("process_open_fds", "Number of open file descriptors.")?,
            max_fds: Gauge::new(
                "process_max_fds",
                "Maximum number of open file descriptors.",
            )?,
            threads: Gauge::new("process_threads", "Number of OS threads in the process.")?,
            start_time: Gauge::new(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
            )?,
        };
        if cfg!(target_os = "linux") {
            for collector in [
                Box::new(metrics.cpu_seconds.clone()) as Box<dyn prometheus::core::Collector>,
                Box::new(metrics.resident_bytes.clone()),
                Box::new(metrics.virtual_bytes.clone()),
                Box::new(metrics.open_fds.clone()),
                Box::new(metrics.max_fds.clone()),
                Box::new(metrics.threads.clone()),
                Box::new(metrics.start_time.clone()),
            ] {
                registry.register(collector)?;
            }
        }
        Ok(metrics)
    }

    /// Reads the process's figures now; a file that cannot be read leaves
    /// its metric as it was.
    pub fn refresh(&self) {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        if let Some(stat) = read("/proc/self/stat").as_deref().and_then(Stat::parse) {
            let cpu = (stat.utime + stat.stime) / USER_HZ;
            let counted = self.cpu_seconds.get();
            if cpu > counted {
                self.cpu_seconds.inc_by(cpu - counted);
            }
            self.virtual_bytes.set(stat.vsize);
            self.threads.set(stat.threads);
            let boot = read("/proc/stat").as_deref().and_then(boot_time);
            if let Some(boot) = boot {
                self.start_time.set(boot + stat.start_ticks / USER_HZ);
            }
        }
        if let Some(resident) = read("/proc/self/status")
            .as_deref()
            .and_then(resident_bytes)
        {
            self.resident_bytes.set(resident);
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(entries.count() as f64);
        }
        if let Some(limit) = read("/proc/self/limits")
            .as_deref()
            .and_then(max_open_files)
        {
            self.max_fds.set(limit);
        }
    }
}

/// The fields of `/proc/self/stat` read here (proc(5) numbers them).
#[derive(Debug, PartialEq)]
struct Stat {
    utime: f64,
    stime: f64,
    threads: f64,
    start_ticks: f64,
    vsize: f64,
}

impl Stat {
    fn parse(line: &str) -> Option<Self> {
        // The command name (field 2) is in parentheses and may hold
        // spaces: count fields after its closing one.
        let rest = &line[line.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `fields[0]` is field 3 (state).
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        Some(Self {
            utime: field(14)?,
            stime: field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            vsize: field(23)?,
        })
    }
}

fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|seconds| seconds.trim().parse().ok())
}

fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `VmRSS` of `/proc/self/status`, which the kernel gives in kB.
fn resident_bytes(status: &str) -> Option<f64> {
    let kilobytes: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kilobytes * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "4242 (gate house) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615";
        assert_eq!(
            Stat::parse(line),
            Some(Stat {
                utime: 250.0,
                stime: 50.0,
                threads: 7.0,
                start_ticks: 12345.0,
                vsize: 104857600.0,
            })
        );
        assert_eq!(Stat::parse("garbage"), None);
    }

    #[test]
    fn limits_and_boot_time_are_read_from_their_lines() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024.0));
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1764720000\n"),
            Some(1_764_720_000.0)
        );
        assert_eq!(
            resident_bytes("Name:\tgatehouse\nVmRSS:\t   44032 kB\n"),
            Some(44032.0 * 1024.0)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_measured() {
        let registry = Registry::new();
        let metrics = ProcessMetrics::register(&registry).unwrap();
        metrics.refresh();
        assert!(metrics.resident_bytes.get() > 0.0);
        assert!(metrics.open_fds.get() > 0.0);
        assert!(metrics.threads.get() >= 1.0);
        assert!(metrics.start_time.get() > 1_600_000_000.0);
    }
}
