//! Time limits of the local executor (`exp run --time-limit [NAME|KIND=]DURATION`): how
//! long a node may run before it is stopped with a clear message. A limit changes no
//! result, so it is an option of the run, never a parameter (it is in no identity).
//! A definition's own limit wins over its kind's, which wins over the default.

use std::time::Duration;

/// One `--time-limit`: for every node, a kind or a definition name.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeLimit {
    /// `None`: every node without a more specific limit.
    pub target: Option<String>,
    pub limit: Duration,
}

impl std::str::FromStr for TimeLimit {
    type Err = String;

    /// `2h`, `jmedbench=30m`, `cpt_en_dominant=1d`, `10s`, `90` (seconds).
    fn from_str(s: &str) -> Result<TimeLimit, String> {
        let (target, duration) = match s.split_once('=') {
            Some((t, d)) if !t.trim().is_empty() => (Some(t.trim().to_string()), d),
            Some(_) => return Err(format!("`{s}`: name a kind or a definition before `=`")),
            None => (None, s),
        };
        Ok(TimeLimit { target, limit: parse_duration(duration.trim())? })
    }
}

/// A duration as a number and a unit (`s`, `m`, `h`, `d`; seconds without one).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("`{s}` is not a duration (write `90s`, `30m`, `2h`, `1d`)"))?;
    let seconds = match unit.trim() {
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => return Err(format!("`{other}` is not a unit of time (write `s`, `m`, `h` or `d`)")),
    };
    if !(value > 0.0 && value.is_finite()) {
        return Err(format!("`{s}`: a time limit is more than nothing"));
    }
    Ok(Duration::from_secs_f64(value * seconds))
}

/// The limit of a node, from the limits given: its definition's, else its kind's, else
/// the default one, else none. With the `--time-limit` that set it, for the message.
pub fn limit_of<'a>(limits: &'a [TimeLimit], name: &str, kind: &str) -> Option<&'a TimeLimit> {
    let find = |target: Option<&str>| limits.iter().rev().find(|l| l.target.as_deref() == target);
    find(Some(name)).or_else(|| find(Some(kind))).or_else(|| find(None))
}

/// The duration as the user would write it.
pub fn show(d: Duration) -> String {
    let s = d.as_secs_f64();
    let (value, unit) = if s >= 86_400.0 && s % 86_400.0 == 0.0 {
        (s / 86_400.0, "d")
    } else if s >= 3600.0 && s % 3600.0 == 0.0 {
        (s / 3600.0, "h")
    } else if s >= 60.0 && s % 60.0 == 0.0 {
        (s / 60.0, "m")
    } else {
        (s, "s")
    };
    format!("{value}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_the_most_specific_wins() {
        let limits: Vec<TimeLimit> =
            ["2h", "jmedbench=30m", "eval_base=90s"].iter().map(|s| s.parse().expect("parses")).collect();
        assert_eq!(limits[0], TimeLimit { target: None, limit: Duration::from_secs(7200) });
        assert_eq!(limit_of(&limits, "eval_base", "jmedbench").map(|l| l.limit), Some(Duration::from_secs(90)));
        assert_eq!(limit_of(&limits, "eval_x", "jmedbench").map(|l| l.limit), Some(Duration::from_secs(1800)));
        assert_eq!(limit_of(&limits, "cpt", "cpt").map(|l| l.limit), Some(Duration::from_secs(7200)));
        assert_eq!(limit_of(&limits[1..], "cpt", "cpt"), None);
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("2 weeks").expect_err("no weeks").contains("`weeks` is not a unit of time"));
        assert!("=2h".parse::<TimeLimit>().is_err() && parse_duration("0s").is_err());
        assert_eq!((show(Duration::from_secs(1800)), show(Duration::from_millis(2500))), ("30m".into(), "2.5s".into()));
    }
}
