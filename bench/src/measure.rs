//! What the tools measure with: wall-clock microseconds (the clock `x-ready-us` is written in),
//! this process's CPU time, and percentiles.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch: the clock of `x-ready-us`, shared by every process on
/// the machine.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// CPU seconds (user + system) this process has used, from `/proc/self/stat`; 0 elsewhere.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name; USER_HZ
    // is 100 on Linux.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The `q` quantile (0..=1) of `v` by nearest rank; sorts `v`. 0 when empty.
pub fn quantile<T: Copy + Ord + Default>(v: &mut [T], q: f64) -> T {
    if v.is_empty() {
        return T::default();
    }
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    v[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let cases: [(&[u32], f64, u32); 5] = [
            (&[], 0.5, 0),
            (&[7], 0.99, 7),
            (&[3, 1, 2], 0.5, 2),
            (&[5, 1, 4, 2, 3], 1.0, 5),
            (&[5, 1, 4, 2, 3], 0.0, 1),
        ];
        for (input, q, want) in cases {
            let mut v = input.to_vec();
            assert_eq!(quantile(&mut v, q), want, "{input:?} q={q}");
        }
    }

    #[test]
    fn this_process_has_a_clock_and_a_cpu_time() {
        assert!(now_us() > 1_600_000_000_000_000);
        assert!(cpu_seconds() >= 0.0);
    }
}
