//! CPU time and resident memory of processes, from /proc (Linux).

use std::time::Instant;

/// Parses `NAME=PID`.
pub fn parse_named_pid(text: &str) -> Result<(String, u32), String> {
    let (name, pid) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PID, got {text:?}"))?;
    let pid = pid
        .parse()
        .map_err(|_| format!("{pid:?} is not a process id"))?;
    Ok((name.to_owned(), pid))
}

/// CPU seconds (user + system) a process has used so far; `None` for ourselves means 0.
pub fn cpu_secs(pid: Option<u32>) -> f64 {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // SAFETY: sysconf only reads its argument.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) if per_sec > 0.0 => (user + system) / per_sec,
        _ => 0.0,
    }
}

/// Resident memory in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU of the measured processes and of this one, from one moment to another.
pub struct CpuWindow {
    at: Instant,
    theirs: Vec<f64>,
    ours: f64,
}

pub struct CpuUse {
    pub secs: f64,
    /// Per process, in the order given: CPU seconds used in the window.
    pub theirs: Vec<f64>,
    pub ours: f64,
}

impl CpuWindow {
    pub fn start(pids: &[(String, u32)]) -> Self {
        Self {
            at: Instant::now(),
            theirs: pids.iter().map(|(_, pid)| cpu_secs(Some(*pid))).collect(),
            ours: cpu_secs(None),
        }
    }

    pub fn end(&self, pids: &[(String, u32)]) -> CpuUse {
        CpuUse {
            secs: self.at.elapsed().as_secs_f64(),
            theirs: pids
                .iter()
                .zip(&self.theirs)
                .map(|((_, pid), before)| cpu_secs(Some(*pid)) - before)
                .collect(),
            ours: cpu_secs(None) - self.ours,
        }
    }
}

/// Every measured process's resident memory, as a JSON object.
pub fn rss_all(pids: &[(String, u32)]) -> serde_json::Value {
    pids.iter()
        .map(|(name, pid)| (name.clone(), serde_json::json!(rss_kib(*pid))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_pids_parse_and_bad_ones_say_why() {
        assert_eq!(parse_named_pid("hail-a=42"), Ok(("hail-a".into(), 42)));
        assert!(parse_named_pid("42").unwrap_err().contains("NAME=PID"));
        assert!(parse_named_pid("a=b")
            .unwrap_err()
            .contains("not a process id"));
    }

    #[test]
    fn this_process_has_memory_and_uses_cpu() {
        assert!(rss_kib(std::process::id()) > 0);
        let before = cpu_secs(None);
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_secs(None) >= before);
    }
}
