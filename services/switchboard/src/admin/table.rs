//! Plain-text tables for the `list` subcommands: a header line, then one line per row,
//! columns padded with spaces (easy to read and to `awk`).

use std::fmt;

use store::agents::SkillLevel;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Rows under a header.
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        for line in std::iter::once(&self.header).chain(&self.rows) {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                let width = widths.get(i).copied().unwrap_or(0);
                text.push_str(&format!("{cell:<width$}  "));
            }
            writeln!(f, "{}", text.trim_end())?;
        }
        Ok(())
    }
}

/// `yes` or `no`.
pub(crate) fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// A time as RFC 3339 UTC to the second (`2025-03-01T09:30:05Z`), or `-` for none.
pub(crate) fn time_or_dash(t: Option<OffsetDateTime>) -> String {
    t.map(|t| t.to_offset(UtcOffset::UTC))
        .and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "-".to_string())
}

/// The text, or `-` for none (so every column of a row has a word).
pub(crate) fn or_dash(s: Option<String>) -> String {
    s.filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".to_string())
}

/// Skills as `name:level,name:level`.
pub(crate) fn skills(skills: &[SkillLevel]) -> String {
    skills
        .iter()
        .map(|s| format!("{}:{}", s.skill, s.level))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let mut t = Table::new(&["NAME", "X"]);
        t.row(vec!["alice".into(), "1".into()]);
        t.row(vec!["b".into(), String::new()]);
        assert_eq!(t.to_string(), "NAME   X\nalice  1\nb\n");
    }

    #[test]
    fn times_are_rfc3339_utc_to_the_second() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(1_700_000_000_500);
        let paris = UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC);
        assert_eq!(
            time_or_dash(Some(t.to_offset(paris))),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(time_or_dash(None), "-");
        assert_eq!(or_dash(Some(String::new())), "-");
        assert_eq!(or_dash(Some("x".into())), "x");
    }
}
