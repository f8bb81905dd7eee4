//! What several subcommands share besides their flags: durations as typed
//! (`500ms`, `10s`, `2m`), this host's name, the async runtime.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::Usage;

/// Parse a duration: `500ms`, `10s`, `2m`, `1h`, or plain seconds (`1.5`).
pub fn parse_duration(flag: &str, s: &str) -> Result<Duration> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    let value: f64 = number.parse().unwrap_or(f64::NAN);
    let secs = value * scale;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(Usage::about(
            Some(flag),
            s,
            "expected a duration such as 500ms, 10s or 2m (at most 24h)",
        )
        .into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// This host's name, as the kernel has it (`localhost` when it has none):
/// the default EHLO name of `probe`, `send` and `check`, and the trap's
/// greeting.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A current-thread runtime: one command, one task tree.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_or_mean_seconds() {
        let d = |s: &str| parse_duration("--timeout", s).ok();
        assert_eq!(d("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(d(" 10s "), Some(Duration::from_secs(10)));
        assert_eq!(d("2m"), Some(Duration::from_secs(120)));
        assert_eq!(d("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(d("1.5"), Some(Duration::from_millis(1500)));
        for bad in ["0", "-1s", "soon", "5d", "25h", "nan", ""] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }
}
