//! Process metrics read from `/proc/self` when `/metrics` is scraped (Linux only; elsewhere
//! nothing is reported). Never called on the request path.

/// One reading of the process's resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessStat {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub threads: u64,
    pub open_fds: u64,
    pub cpu_seconds: f64,
    pub start_time_seconds: u64,
}

/// Linux reports CPU times in clock ticks of `USER_HZ`, 100 on every mainstream architecture.
const USER_HZ: f64 = 100.0;

/// Reads `/proc/self/status`, `/proc/self/stat`, `/proc/stat` and `/proc/self/fd`.
pub fn read() -> Option<ProcessStat> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut stat = ProcessStat {
        resident_bytes: kb("VmRSS:") * 1024,
        virtual_bytes: kb("VmSize:") * 1024,
        threads: kb("Threads:"),
        open_fds: std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0),
        ..ProcessStat::default()
    };
    if let Ok(text) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command name; utime is field 14, stime 15, starttime 22.
        if let Some((_, rest)) = text.rsplit_once(')') {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
            let (utime, stime) = (field(14).unwrap_or(0), field(15).unwrap_or(0));
            stat.cpu_seconds = (utime + stime) as f64 / USER_HZ;
            let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            });
            if let (Some(boot), Some(start)) = (boot, field(22)) {
                stat.start_time_seconds = boot + (start as f64 / USER_HZ) as u64;
            }
        }
    }
    Some(stat)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let s = super::read().expect("linux has /proc");
        assert!(s.resident_bytes > 0);
        assert!(s.threads >= 1);
        assert!(s.open_fds >= 1);
        assert!(s.start_time_seconds > 1_600_000_000);
    }
}
