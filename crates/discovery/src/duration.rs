//! Go's duration syntax (`60s`, `1m30s`, `1.5h`, `500ms`), which classic
//! Swarm's `--heartbeat`, `--ttl`, `--delay` and `--timeout` took. Written by
//! hand because humantime reads a different syntax (no fractions, other units)
//! and the error texts must be Go's.

use std::time::Duration;

/// Why a duration did not parse; the texts are Go's `time.ParseDuration` ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoDurationError {
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit { unit: String, input: String },
    /// The value parsed but is below zero (Go allows it; our flags do not).
    #[error("duration {0:?} is negative")]
    Negative(String),
}

/// Parses a Go duration such as `1m30s`; negative values are an error.
pub fn parse_go_duration(input: &str) -> Result<Duration, GoDurationError> {
    let invalid = || GoDurationError::Invalid(input.to_string());
    let (negative, mut s) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let num_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let num = &s[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        s = &s[num_len..];
        let unit_len = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        if unit.is_empty() {
            return Err(GoDurationError::MissingUnit(input.to_string()));
        }
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => {
                return Err(GoDurationError::UnknownUnit {
                    unit: unit.to_string(),
                    input: input.to_string(),
                })
            }
        };
        total += value * scale;
        s = &s[unit_len..];
    }
    if !total.is_finite() || total > 9.2e9 {
        return Err(invalid());
    }
    if negative && total > 0.0 {
        return Err(GoDurationError::Negative(input.to_string()));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration the way Go prints one (`1m0s`, `1.5s`, `500ms`).
pub fn format_go_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if d < Duration::from_secs(1) {
        let ms = d.as_secs_f64() * 1e3;
        return if ms >= 1.0 {
            format!("{}ms", trim(ms))
        } else {
            format!("{}µs", trim(ms * 1e3))
        };
    }
    let total = d.as_secs_f64();
    let h = (total / 3600.0).floor();
    let m = ((total - h * 3600.0) / 60.0).floor();
    let s = total - h * 3600.0 - m * 60.0;
    let secs = format!("{}s", trim(s));
    if h > 0.0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0.0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("+2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_go_duration("-0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn errors_read_like_go() {
        assert_eq!(
            parse_go_duration("x").unwrap_err().to_string(),
            r#"time: invalid duration "x""#
        );
        assert_eq!(
            parse_go_duration("5").unwrap_err().to_string(),
            r#"time: missing unit in duration "5""#
        );
        assert_eq!(
            parse_go_duration("5x").unwrap_err().to_string(),
            r#"time: unknown unit "x" in duration "5x""#
        );
        assert_eq!(
            parse_go_duration("").unwrap_err().to_string(),
            r#"time: invalid duration """#
        );
        assert!(matches!(
            parse_go_duration("-1s"),
            Err(GoDurationError::Negative(_))
        ));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(format_go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_go_duration(Duration::from_secs(3661)), "1h1m1s");
    }
}
