//! The box tables of `openclaw devices list`, laid out as the reference lays
//! them out (same column widths, same wrapping), so its output and ours look
//! the same for the same state.
//!
//! The rules: a column is as wide as its widest cell plus one space of
//! padding each side, at least its minimum. When the table is wider than the
//! terminal (120 columns when stdout is not one), the widest flexible column
//! gives up one column at a time down to its minimum, then fixed ones; when
//! narrower, flexible columns share the spare width. Cells wrap at spaces and
//! after `/ - _ .`, and a word longer than the column is cut.

/// One column: its header, minimum width (with padding), and whether it may
/// grow and shrink with the terminal.
pub struct Column {
    pub header: &'static str,
    pub min_width: usize,
    pub flex: bool,
}

const PADDING: usize = 1;

/// The width a table may use: the reference's fallback of 120 when stdout is
/// not a terminal; on a terminal `COLUMNS` when set (at least 60).
pub fn terminal_width() -> usize {
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        if let Some(cols) = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
        {
            return cols.max(60);
        }
    }
    120
}

fn width_of(text: &str) -> usize {
    text.chars().count()
}

/// `rows` (one cell per column) as a box table `max_width` wide, ending in a
/// newline-free last line.
pub fn render(columns: &[Column], rows: &[Vec<String>], max_width: usize) -> String {
    let header_w: Vec<usize> = columns.iter().map(|c| width_of(c.header)).collect();
    let cell_w: Vec<usize> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| width_of(c)))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| c.min_width.max(header_w[i].max(cell_w[i]) + PADDING * 2))
        .collect();
    let preferred_min: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| c.min_width.max(header_w[i] + PADDING * 2).max(3))
        .collect();
    let absolute_min: Vec<usize> = (0..columns.len())
        .map(|i| (header_w[i] + PADDING * 2).max(3))
        .collect();
    let separators = columns.len() + 1;
    let total = widths.iter().sum::<usize>() + separators;
    let flex: Vec<usize> = (0..columns.len()).filter(|&i| columns[i].flex).collect();
    let fixed: Vec<usize> = (0..columns.len()).filter(|&i| !columns[i].flex).collect();
    if total > max_width {
        let mut over = total - max_width;
        for (indices, mins) in [
            (&flex, &preferred_min),
            (&flex, &absolute_min),
            (&fixed, &preferred_min),
            (&fixed, &absolute_min),
        ] {
            while over > 0 {
                // The first of the widest columns still above its minimum.
                let mut widest: Option<usize> = None;
                for &i in indices.iter() {
                    if widths[i] <= mins[i] {
                        continue;
                    }
                    if widest.is_none_or(|w| widths[i] > widths[w]) {
                        widest = Some(i);
                    }
                }
                let Some(w) = widest else { break };
                widths[w] -= 1;
                over -= 1;
            }
        }
    }
    let used = widths.iter().sum::<usize>() + separators;
    if used < max_width && !flex.is_empty() {
        let mut extra = max_width - used;
        while extra > 0 {
            let round = (extra / flex.len()).max(1);
            for &i in &flex {
                let amount = round.min(extra);
                widths[i] += amount;
                extra -= amount;
                if extra == 0 {
                    break;
                }
            }
        }
    }

    let line = |left: &str, mid: &str, right: &str| {
        let parts: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
        format!("{left}{}{right}", parts.join(mid))
    };
    let content = |i: usize| widths[i].saturating_sub(PADDING * 2).max(1);
    let mut out = vec![line("┌", "┬", "┐")];
    let render_row = |cells: Vec<&str>, out: &mut Vec<String>| {
        let wrapped: Vec<Vec<String>> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| wrap(cell, content(i)))
            .collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
        for li in 0..height {
            let parts: Vec<String> = wrapped
                .iter()
                .enumerate()
                .map(|(i, lines)| {
                    let text = lines.get(li).map_or("", String::as_str);
                    format!(" {} ", pad(text, content(i)))
                })
                .collect();
            out.push(format!("│{}│", parts.join("│")));
        }
    };
    render_row(columns.iter().map(|c| c.header).collect(), &mut out);
    out.push(line("├", "┼", "┤"));
    for row in rows {
        let cells = (0..columns.len())
            .map(|i| row.get(i).map_or("", String::as_str))
            .collect();
        render_row(cells, &mut out);
    }
    out.push(line("└", "┴", "┘"));
    out.join("\n")
}

/// Left-aligned in `width`, cut when longer.
fn pad(text: &str, width: usize) -> String {
    let w = width_of(text);
    if w >= width {
        return text.chars().take(width).collect();
    }
    format!("{text}{}", " ".repeat(width - w))
}

fn is_break(c: char) -> bool {
    matches!(c, ' ' | '/' | '-' | '_' | '.')
}

/// Wrap one cell to `width`: at the last break character that fits, else
/// cut; leading spaces of a wrapped line are dropped, trailing ones trimmed.
fn wrap(text: &str, width: usize) -> Vec<String> {
    if text.is_empty() {
        return vec![String::new()];
    }
    let mut lines = Vec::new();
    let mut buf: Vec<char> = Vec::new();
    let mut last_break: Option<usize> = None;
    let flush = |buf: &mut Vec<char>, at: usize, lines: &mut Vec<String>| {
        let left: String = buf.drain(..at).collect();
        lines.push(left.trim_end().to_owned());
    };
    for c in text.chars() {
        if c == '\n' {
            let n = buf.len();
            flush(&mut buf, n, &mut lines);
            last_break = None;
            continue;
        }
        let c = if c == '\t' { ' ' } else { c };
        if buf.len() + 1 > width && !buf.is_empty() {
            let at = last_break.filter(|&b| b > 0).unwrap_or(buf.len());
            flush(&mut buf, at, &mut lines);
            last_break = None;
            if buf.len() + 1 > width && !buf.is_empty() {
                let n = buf.len();
                flush(&mut buf, n, &mut lines);
            }
        }
        if buf.is_empty() && c == ' ' {
            continue;
        }
        buf.push(c);
        if is_break(c) {
            last_break = Some(buf.len());
        }
    }
    if !buf.is_empty() {
        let n = buf.len();
        flush(&mut buf, n, &mut lines);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_like_the_reference() {
        assert_eq!(
            wrap("roles: operator; scopes: operator.read", 16),
            ["roles:", "operator;", "scopes:", "operator.read"]
        );
        let id = "4d0da777390015277e84ded2a2740e32eba245d24dec4bdb482c0b87a6a93dbe";
        assert_eq!(
            wrap(id, 14),
            [
                "4d0da777390015",
                "277e84ded2a274",
                "0e32eba245d24d",
                "ec4bdb482c0b87",
                "a6a93dbe"
            ]
        );
        assert_eq!(wrap("", 5), [""]);
        assert_eq!(wrap("short", 10), ["short"]);
    }

    /// The reference's output for one paired device (captured from
    /// `openclaw devices list` of 2026.9.6, stdout not a terminal).
    #[test]
    fn lays_out_the_paired_table_like_the_reference() {
        let columns = super::super::human::PAIRED_COLUMNS;
        let row = [
            "Kitchen Mac",
            "4d0da777390015277e84ded2a2740e32eba245d24dec4bdb482c0b87a6a93dbe",
            "operator",
            "operator.read",
            "operator (revoked)",
            "",
        ]
        .map(str::to_owned)
        .to_vec();
        let expected = "\
┌────────────────┬──────────────────────────────────────┬────────────┬───────────────┬────────────────────┬────────────┐
│ Device         │ Device ID                            │ Roles      │ Scopes        │ Tokens             │ IP         │
├────────────────┼──────────────────────────────────────┼────────────┼───────────────┼────────────────────┼────────────┤
│ Kitchen Mac    │ 4d0da777390015277e84ded2a2740e32eba2 │ operator   │ operator.read │ operator (revoked) │            │
│                │ 45d24dec4bdb482c0b87a6a93dbe         │            │               │                    │            │
└────────────────┴──────────────────────────────────────┴────────────┴───────────────┴────────────────────┴────────────┘";
        assert_eq!(render(&columns, &[row], 120), expected);
    }

    #[test]
    fn lays_out_the_pending_table_like_the_reference() {
        let columns = super::super::human::PENDING_COLUMNS;
        let row = [
            "7c35f354-0262-47c1-8870-46be2db99e3a",
            "4d0da777390015277e84ded2a2740e32eba245d24dec4bdb482c0b87a6a93dbe",
            "roles: operator; scopes: operator.read",
            "none",
            "just now",
            "new pairing",
        ]
        .map(str::to_owned)
        .to_vec();
        let expected = "\
┌──────────────────────────────────────┬────────────────┬──────────────────┬──────────────────┬──────────┬─────────────┐
│ Request                              │ Device         │ Requested        │ Approved         │ Age      │ Status      │
├──────────────────────────────────────┼────────────────┼──────────────────┼──────────────────┼──────────┼─────────────┤
│ 7c35f354-0262-47c1-8870-46be2db99e3a │ 4d0da777390015 │ roles:           │ none             │ just now │ new pairing │
│                                      │ 277e84ded2a274 │ operator;        │                  │          │             │
│                                      │ 0e32eba245d24d │ scopes:          │                  │          │             │
│                                      │ ec4bdb482c0b87 │ operator.read    │                  │          │             │
│                                      │ a6a93dbe       │                  │                  │          │             │
└──────────────────────────────────────┴────────────────┴──────────────────┴──────────────────┴──────────┴─────────────┘";
        assert_eq!(render(&columns, &[row], 120), expected);
    }
}
