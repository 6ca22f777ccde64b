//! Plain SVG charts (lines and scatter), written by hand so that a report is a few small
//! text files with no plotting dependency, and byte-identical for the same run.

use std::fmt::Write;

/// One named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// How the points are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Lines,
    Dots,
}

/// A chart's text.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub kind: Kind,
    /// Draw y = x across the plot (for share-against-share charts).
    pub diagonal: bool,
    /// Logarithmic axes.
    pub log_x: bool,
    pub log_y: bool,
}

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A short label for an axis value.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || (a >= 1.0 && v.fract() == 0.0) {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 1e-3 {
        format!("{v:.4}")
    } else {
        format!("{v:.1e}")
    }
}

/// The axis `[a, b]` widened to whole steps, and the step: 1, 2 or 5 × 10^k for about four
/// intervals, or whole decades (at least one) on a log axis, whose values are exponents.
fn nice_axis(a: f64, b: f64, log: bool) -> (f64, f64, f64) {
    let raw = (b - a) / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let mut step = mag
        * if f <= 1.0 {
            1.0
        } else if f <= 2.0 {
            2.0
        } else if f <= 5.0 {
            5.0
        } else {
            10.0
        };
    if log {
        step = step.round().max(1.0);
    }
    let lo = (a / step).floor() * step;
    let hi = (b / step).ceil() * step;
    (lo, if hi > lo { hi } else { lo + step }, step)
}

/// Renders the chart as an SVG document.
pub fn render(c: &Chart<'_>, series: &[Series]) -> String {
    let tx = |v: f64, log: bool| if log { v.max(1e-300).log10() } else { v };
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| {
            x.is_finite() && y.is_finite() && (!c.log_x || *x > 0.0) && (!c.log_y || *y > 0.0)
        });
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in pts {
        let (x, y) = (tx(*x, c.log_x), tx(*y, c.log_y));
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if !c.log_y && y0 > 0.0 {
        y0 = 0.0;
    }
    if c.diagonal {
        let lo = x0.min(y0);
        let hi = x1.max(y1);
        (x0, x1, y0, y1) = (lo, hi, lo, hi);
    }
    if x1 - x0 <= 0.0 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 <= 0.0 {
        y1 = y0 + 1.0;
    }
    // Round the axes out to whole steps of 1, 2 or 5 × 10^k (whole decades on a log axis),
    // so that the grid lines fall on readable values.
    let (x0, x1, xstep) = nice_axis(x0, x1, c.log_x);
    let (y0, y1, ystep) = nice_axis(y0, y1, c.log_y);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let px = |x: f64| LEFT + (tx(x, c.log_x) - x0) / (x1 - x0) * pw;
    let py = |y: f64| TOP + ph - (tx(y, c.log_y) - y0) / (y1 - y0) * ph;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        LEFT + pw / 2.0,
        esc(c.title)
    );
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    let ticks = |a: f64, b: f64, step: f64| -> Vec<f64> {
        let n = ((b - a) / step).round() as i64;
        (0..=n).map(|k| a + k as f64 * step).collect()
    };
    for xv in ticks(x0, x1, xstep) {
        let xr = if c.log_x { 10f64.powf(xv) } else { xv };
        let gx = LEFT + (xv - x0) / (x1 - x0) * pw;
        let _ = writeln!(
            o,
            r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + ph,
            TOP + ph + 16.0,
            fmt_num(xr)
        );
    }
    for yv in ticks(y0, y1, ystep) {
        let yr = if c.log_y { 10f64.powf(yv) } else { yv };
        let gy = TOP + ph - (yv - y0) / (y1 - y0) * ph;
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            gy + 4.0,
            fmt_num(yr)
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        H - 18.0,
        esc(c.x_label)
    );
    let _ = writeln!(
        o,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">{}</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(c.y_label)
    );
    if c.diagonal {
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{TOP}" stroke="#999" stroke-dasharray="4 4"/>"##,
            TOP + ph,
            LEFT + pw
        );
    }
    for (k, s) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let visible: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|(x, y)| {
                x.is_finite() && y.is_finite() && (!c.log_x || *x > 0.0) && (!c.log_y || *y > 0.0)
            })
            .map(|(x, y)| (px(*x), py(*y)))
            .collect();
        match c.kind {
            Kind::Lines => {
                let path: Vec<String> = visible
                    .iter()
                    .map(|(x, y)| format!("{x:.1},{y:.1}"))
                    .collect();
                let _ = writeln!(
                    o,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                    path.join(" ")
                );
            }
            Kind::Dots => {
                for (x, y) in &visible {
                    let _ = writeln!(
                        o,
                        r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{color}" fill-opacity="0.6"/>"#
                    );
                }
            }
        }
        let ly = TOP + 14.0 + 18.0 * k as f64;
        let lx = W - RIGHT + 12.0;
        let _ = writeln!(
            o,
            r#"<rect x="{lx}" y="{:.1}" width="12" height="12" fill="{color}"/><text x="{:.1}" y="{ly:.1}">{}</text>"#,
            ly - 10.0,
            lx + 18.0,
            esc(&s.name)
        );
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_places_its_points_inside_the_plot() {
        let c = Chart {
            title: "t <1>",
            x_label: "x",
            y_label: "y",
            kind: Kind::Dots,
            diagonal: false,
            log_x: false,
            log_y: false,
        };
        let svg = render(
            &c,
            &[Series {
                name: "a".into(),
                points: vec![(0.0, 0.0), (10.0, 8.0)],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("t &lt;1&gt;"));
        // (0, 0) at the bottom-left corner, (10, 8) at the top-right: both axes end on a step.
        assert!(svg.contains(r#"cx="80.0" cy="360.0""#), "{svg}");
        assert!(svg.contains(r#"cx="550.0" cy="40.0""#), "{svg}");
    }
}
