//! The soak's samples as CSV and as a small SVG chart (RSS in MB and open
//! fds over time, two polylines on their own scales), written by hand: a
//! chart this simple needs no plotting library.

use std::fmt::Write as _;

use super::Sample;

/// `secs,rss_kib,fds,threads,open_clients,answered`, one line per sample.
pub fn csv(samples: &[Sample]) -> String {
    let mut out = String::from("secs,rss_kib,fds,threads,open_clients,answered\n");
    for s in samples {
        let _ = writeln!(
            out,
            "{:.1},{},{},{},{},{}",
            s.secs, s.proc.rss_kib, s.proc.fds, s.proc.threads, s.open_clients, s.answered
        );
    }
    out
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 60.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 40.0;

/// A round axis maximum at or above `max` (1, 2 or 5 times a power of ten).
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * power >= max {
            return step * power;
        }
    }
    10.0 * power
}

fn polyline(points: impl Iterator<Item = (f64, f64)>, color: &str) -> String {
    let mut path = String::new();
    for (x, y) in points {
        let _ = write!(path, "{x:.1},{y:.1} ");
    }
    format!(
        "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
        path.trim_end()
    )
}

/// The chart: RSS (MB, left axis, blue) and open fds (right axis, orange)
/// against seconds since the start, with `title` above.
pub fn svg(samples: &[Sample], title: &str) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let end_secs = samples.last().map_or(1.0, |s| s.secs.max(1.0));
    let rss_mb = |s: &Sample| s.proc.rss_kib as f64 / 1024.0;
    let rss_top = nice_ceiling(samples.iter().map(rss_mb).fold(0.0, f64::max) * 1.1);
    let fds_top = nice_ceiling(
        samples
            .iter()
            .map(|s| s.proc.fds as f64)
            .fold(0.0, f64::max)
            * 1.1,
    );
    let x = |secs: f64| LEFT + secs / end_secs * plot_w;
    let y = |value: f64, top: f64| TOP + plot_h - value / top * plot_h;

    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"13\">{}</text>\n",
        escape(title)
    );
    // Frame, grid lines and axis labels (five steps on each axis).
    let _ = writeln!(
        out,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#999\"/>"
    );
    for i in 0..=5 {
        let frac = f64::from(i) / 5.0;
        let gy = TOP + plot_h - frac * plot_h;
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{gy:.1}\" y2=\"{gy:.1}\" stroke=\"#eee\"/>\n\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1f77b4\">{}</text>\n\
             <text x=\"{}\" y=\"{:.1}\" fill=\"#ff7f0e\">{}</text>",
            LEFT + plot_w,
            LEFT - 6.0,
            gy + 4.0,
            trim_number(rss_top * frac),
            LEFT + plot_w + 6.0,
            gy + 4.0,
            trim_number(fds_top * frac),
        );
        let gx = LEFT + frac * plot_w;
        let _ = writeln!(
            out,
            "<text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h + 16.0,
            minutes_label(end_secs * frac)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">time (min:s)</text>\n\
         <text x=\"12\" y=\"{:.1}\" fill=\"#1f77b4\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">RSS (MB)</text>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#ff7f0e\" transform=\"rotate(90 {:.1} {:.1})\" text-anchor=\"middle\">open fds</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        WIDTH - 12.0,
        TOP + plot_h / 2.0,
        WIDTH - 12.0,
        TOP + plot_h / 2.0,
    );
    out.push_str(&polyline(
        samples
            .iter()
            .map(|s| (x(s.secs), y(s.proc.fds as f64, fds_top))),
        "#ff7f0e",
    ));
    out.push_str(&polyline(
        samples.iter().map(|s| (x(s.secs), y(rss_mb(s), rss_top))),
        "#1f77b4",
    ));
    out.push_str("</svg>\n");
    out
}

fn trim_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn minutes_label(secs: f64) -> String {
    let secs = secs.round() as u64;
    format!("{}:{:02}", secs / 60, secs % 60)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::ProcSample;

    fn sample(secs: f64, rss_kib: u64, fds: usize) -> Sample {
        Sample {
            secs,
            proc: ProcSample {
                rss_kib,
                fds,
                threads: 3,
            },
            open_clients: 0,
            answered: 0,
        }
    }

    #[test]
    fn axes_round_up() {
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }

    #[test]
    fn the_chart_has_one_point_per_sample_on_each_line() {
        let samples = [
            sample(0.0, 10240, 20),
            sample(30.0, 11264, 40),
            sample(60.0, 10240, 20),
        ];
        let svg = svg(&samples, "a <soak>");
        assert_eq!(svg.matches("<polyline").count(), 2);
        // The RSS line ends at the right edge, at 10 of an axis up to 20 MB.
        assert!(svg.contains("660.0,150.0\"/>"), "{svg}");
        assert!(svg.contains("a &lt;soak&gt;"));
        assert_eq!(csv(&samples).lines().count(), 4);
    }
}
