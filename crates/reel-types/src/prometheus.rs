//! Reading samples out of a Prometheus text exposition (`/metrics`).
//!
//! The nodes write this format and the `reel demo` and the tests read it back; one parser
//! means they agree on what a line is. A sample line is
//! `name{label="value",…} value [timestamp]`; comments (`#`) and lines that do not parse
//! are skipped, never guessed at.

/// One sample: a series (name and labels) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name.
    pub name: String,
    /// The labels in the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The value (`NaN` and `±Inf` included).
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if the sample has it.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every sample in `text` that parses, in order.
pub fn samples(text: &str) -> impl Iterator<Item = Sample> + '_ {
    text.lines().filter_map(parse_line)
}

/// The value of one series: `series` is a bare name (`livepeer_tickets_recv`, the series
/// without labels) or a name with labels (`reel_segment_rejected_total{reason="poison"}`,
/// matched whatever order the labels are written in). `None` when no sample matches or
/// `series` itself does not parse.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    let (name, labels) = parse_series(series.trim())?;
    samples(text)
        .find(|s| s.name == name && same_labels(&s.labels, &labels))
        .map(|s| s.value)
}

/// The sum of every series named `name`, whatever its labels (0 when there is none).
pub fn sum(text: &str, name: &str) -> f64 {
    samples(text)
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

fn same_labels(a: &[(String, String)], b: &[(String, String)]) -> bool {
    a.len() == b.len() && a.iter().all(|l| b.contains(l))
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    // The series ends at the first blank outside a label value: the labels may hold blanks.
    let (series, rest) = split_series(line)?;
    let (name, labels) = parse_series(series)?;
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next()?)?;
    // An optional integer timestamp, then nothing.
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().ok()?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `line` split after its series (name and `{…}` if any).
fn split_series(line: &str) -> Option<(&str, &str)> {
    let end = match line.find(['{', ' ', '\t']) {
        Some(i) if line.get(i..)?.starts_with('{') => {
            let close = closing_brace(line.get(i..)?)?;
            i.checked_add(close)?.checked_add(1)?
        }
        Some(i) => i,
        None => return None,
    };
    let rest = line.get(end..)?;
    // A value must be separated from the series.
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some((line.get(..end)?, rest))
}

/// The byte offset of the `}` closing the label set that `s` starts with, skipping quoted
/// values (which may hold `}` and escaped quotes).
fn closing_brace(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

type Labels = Vec<(String, String)>;

/// `name` or `name{k="v",…}` into the name and its labels.
fn parse_series(series: &str) -> Option<(&str, Labels)> {
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
        None => (series, Vec::new()),
    };
    valid_name(name).then_some((name, labels))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `k="v",k2="v2"` (a trailing comma allowed) into unescaped pairs.
fn parse_labels(mut s: &str) -> Option<Labels> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Some(out);
        }
        let (key, rest) = s.split_once('=')?;
        let key = key.trim();
        if !valid_name(key) || key.contains(':') {
            return None;
        }
        let rest = rest.trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let after = loop {
            match chars.next()? {
                (i, '"') => break rest.get(i.checked_add(1)?..)?,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    _ => return None,
                },
                (_, c) => value.push(c),
            }
        };
        out.push((key.to_owned(), value));
        let after = after.trim_start();
        s = match after.strip_prefix(',') {
            Some(more) => more,
            None if after.is_empty() => after,
            None => return None,
        };
    }
}

/// A sample value: a float, `NaN`, `+Inf` or `-Inf`.
fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        // Rust also reads `inf`, `infinity` and `nan` in any case, which the format does
        // not allow: only digits, signs, dots and exponents get here.
        _ if v
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E')) =>
        {
            v.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP livepeer_segment_transcoded_total Segments transcoded.
# TYPE livepeer_segment_transcoded_total counter
livepeer_segment_transcoded_total 4
livepeer_segment_transcoded_total_extra 99
reel_segments_by_worker_total{worker="local"} 1
reel_segments_by_worker_total{worker="transcoder-1"} 3
reel_segment_rejected_total{reason="poison",kind="video"} 2
reel_ticket_store_healthy 0
livepeer_tickets_recv 1.5e3 1700000000000
reel_odd{path="a \"quoted\" {brace} \\ back\nslash"} 7
"#;

    #[test]
    fn a_bare_name_is_the_series_without_labels_and_not_a_longer_name() {
        assert_eq!(metric(TEXT, "livepeer_segment_transcoded_total"), Some(4.0));
        assert_eq!(metric(TEXT, "reel_ticket_store_healthy"), Some(0.0));
        // A labelled series is not the bare one.
        assert_eq!(metric(TEXT, "reel_segments_by_worker_total"), None);
        assert_eq!(metric(TEXT, "livepeer_segment"), None);
        assert_eq!(metric(TEXT, "absent"), None);
    }

    #[test]
    fn labels_match_as_a_set_and_values_are_unescaped() {
        assert_eq!(
            metric(
                TEXT,
                r#"reel_segments_by_worker_total{worker="transcoder-1"}"#
            ),
            Some(3.0)
        );
        assert_eq!(
            metric(
                TEXT,
                r#"reel_segment_rejected_total{kind="video", reason="poison"}"#
            ),
            Some(2.0)
        );
        // A subset of the labels is another series.
        assert_eq!(
            metric(TEXT, r#"reel_segment_rejected_total{reason="poison"}"#),
            None
        );
        let odd = samples(TEXT).find(|s| s.name == "reel_odd").unwrap();
        assert_eq!(
            odd.label("path"),
            Some("a \"quoted\" {brace} \\ back\nslash")
        );
        assert_eq!(odd.value, 7.0);
    }

    #[test]
    fn a_timestamp_is_not_the_value_and_special_values_parse() {
        assert_eq!(metric(TEXT, "livepeer_tickets_recv"), Some(1500.0));
        assert_eq!(metric("x +Inf\n", "x"), Some(f64::INFINITY));
        assert_eq!(metric("x -Inf\n", "x"), Some(f64::NEG_INFINITY));
        assert!(metric("x NaN\n", "x").unwrap().is_nan());
        assert_eq!(metric("x -0.25\n", "x"), Some(-0.25));
    }

    #[test]
    fn sum_adds_every_label_set_of_a_name() {
        assert_eq!(sum(TEXT, "reel_segments_by_worker_total"), 4.0);
        assert_eq!(sum(TEXT, "livepeer_segment_transcoded_total"), 4.0);
        assert_eq!(sum(TEXT, "absent"), 0.0);
    }

    #[test]
    fn malformed_lines_are_skipped_not_guessed() {
        let bad = [
            "x",                    // no value
            "x abc",                // not a number
            "x inf",                // Rust's spelling, not the format's
            "x 1 2 3",              // trailing garbage
            "x 1 notatimestamp",    // timestamp not an integer
            "x{a=\"1\" 1",          // unclosed labels
            "x{a=1} 1",             // unquoted label value
            "x{a=\"1\"}1",          // no blank before the value
            "x{a=\"\\q\"} 1",       // unknown escape
            "x{a=\"1\" b=\"2\"} 1", // missing comma
            "x{1a=\"1\"} 1",        // bad label name
            "1x 1",                 // bad metric name
            "{a=\"1\"} 1",          // no name
            "   ",                  // blank
            "# x 1",                // comment
        ];
        for line in bad {
            assert_eq!(samples(line).count(), 0, "{line:?} parsed");
        }
        // Good lines around bad ones still count.
        let text = format!("x 1\n{}\ny{{a=\"b\",}} 2\n", bad.join("\n"));
        assert_eq!(metric(&text, "x"), Some(1.0));
        assert_eq!(metric(&text, "y{a=\"b\"}"), Some(2.0));
        assert_eq!(samples(&text).count(), 2);
        // A selector that does not parse matches nothing.
        assert_eq!(metric(&text, "y{a=b}"), None);
    }
}
