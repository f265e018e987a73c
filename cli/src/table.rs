//! Plain-text tables: columns as wide as their widest cell, separated by two spaces.

/// Renders `header` and `rows` as lines; the last column is not padded.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out += &line(&mut row.iter().map(String::as_str));
    }
    out
}

/// `text` cut to `max` characters, ending in `…` when cut.
pub fn trim(text: &str, max: usize) -> String {
    let text = text.lines().next().unwrap_or("");
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut + "…"
}

/// A duration as an operator reads it: `4s`, `2m 5s`, `3h 1m` (whole seconds, at most two
/// units).
pub fn age(duration: std::time::Duration) -> String {
    let whole = std::time::Duration::from_secs(duration.as_secs());
    let text = humantime::format_duration(whole).to_string();
    let units: Vec<&str> = text.split(' ').take(2).collect();
    units.join(" ")
}

/// An instant in UTC as an operator reads it: `2026-11-25 12:00:01.234`.
pub fn time(epoch_ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(epoch_ms.max(0) as u64);
    humantime::format_rfc3339_millis(at)
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn columns_align_on_their_widest_cell() {
        let table = render(
            &["KEY", "ERROR"],
            &[
                vec!["ghost".into(), "not created".into()],
                vec!["a".into(), String::new()],
            ],
        );
        assert_eq!(table, "KEY    ERROR\nghost  not created\na\n");
    }

    #[test]
    fn trims_to_the_first_line_and_a_length() {
        assert_eq!(trim("short", 10), "short");
        assert_eq!(trim("a longer message", 8), "a longe…");
        assert_eq!(trim("first\nsecond", 20), "first");
    }

    #[test]
    fn ages_keep_two_units_of_whole_seconds() {
        assert_eq!(age(Duration::from_millis(4_600)), "4s");
        assert_eq!(age(Duration::from_secs(3 * 3600 + 65)), "3h 1m");
        assert_eq!(age(Duration::ZERO), "0s");
    }
}
