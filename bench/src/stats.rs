//! Latency percentiles and the server's resident memory.

use std::time::Duration;

/// Latencies of one scenario in microseconds, merged from every connection.
#[derive(Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    pub fn record(&mut self, elapsed: Duration) {
        self.0.push(elapsed.as_micros().min(u32::MAX as u128) as u32);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`th percentile (0-100) in milliseconds; sorts in place.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        f64::from(self.0[rank.min(self.0.len() - 1)]) / 1000.0
    }
}

/// Resident set size of `pid` in MiB, from /proc (Linux only).
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 =
        status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time in clock ticks (USER_HZ, 100 a second on Linux): the whole machine's busy
/// time over every core, and single processes' (user + system), to tell how much work a
/// request costs when throughput alone moves with whatever else the machine runs.
#[derive(Clone, Copy)]
pub struct CpuTicks {
    pub machine: u64,
    pub server: Option<u64>,
    pub driver: Option<u64>,
    /// Every process named like the database server (PostgreSQL runs a process per
    /// connection), when the database shares this machine.
    pub database: Option<u64>,
}

impl CpuTicks {
    pub fn now(server_pid: Option<u32>, database_process: Option<&str>) -> Option<Self> {
        Some(Self {
            machine: machine_busy_ticks()?,
            server: server_pid.and_then(process_ticks),
            driver: process_ticks(std::process::id()),
            database: database_process.and_then(named_processes_ticks),
        })
    }
}

/// The summed CPU ticks of every process whose command name is `name`. A process that
/// exits between two readings takes its ticks with it, so this fits servers whose
/// processes live as long as their connections, as PostgreSQL's do under a pool.
fn named_processes_ticks(name: &str) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let named = std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == name);
        if named {
            total += process_ticks(pid).unwrap_or(0);
        }
    }
    Some(total)
}

/// user + nice + system + irq + softirq of the `cpu` line; idle, iowait and steal
/// (time another guest had the core) are not this machine's work.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    Some(at(0) + at(1) + at(2) + at(5) + at(6))
}

/// utime + stime of `pid`, fields 14 and 15 of /proc/<pid>/stat (after the command
/// name, which may hold spaces but ends at the last ')').
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
}

/// Microseconds of CPU per request between two readings (100 ticks a second).
pub fn us_per_request(before: u64, after: u64, requests: u64) -> f64 {
    if requests == 0 {
        return 0.0;
    }
    after.saturating_sub(before) as f64 * 10_000.0 / requests as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_ranked_sample() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile_ms(50.0), 51.0);
        assert_eq!(l.percentile_ms(99.0), 99.0);
        assert_eq!(l.percentile_ms(100.0), 100.0);
    }

    #[test]
    fn this_process_and_the_machine_have_cpu_readings() {
        let burn = (0..20_000_000u64).fold(0u64, |a, i| a.wrapping_mul(31).wrapping_add(i));
        std::hint::black_box(burn);
        let ours = std::fs::read_to_string("/proc/self/comm").expect("comm");
        let ticks = CpuTicks::now(Some(std::process::id()), Some(ours.trim_end())).expect("/proc/stat");
        assert!(ticks.server.is_some() && ticks.driver.is_some());
        assert!(ticks.machine >= ticks.driver.unwrap_or(0));
        // This test's own process is among those named like it.
        assert!(ticks.database >= ticks.driver, "{:?} < {:?}", ticks.database, ticks.driver);
        assert_eq!(CpuTicks::now(None, Some("no process has this name")).and_then(|t| t.database), Some(0));
        assert_eq!(us_per_request(100, 300, 1000), 2000.0);
    }
}
