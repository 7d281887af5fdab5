//! Checks on admin input, shared by the repositories: every value from a command line is
//! checked here before it reaches SQL, with a message that names the field.

use crate::{Result, StoreError};

/// Longest name or key accepted.
pub const MAX_NAME_LEN: usize = 64;

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A SIP user part (RFC 3261 `user`, without escapes): letters, digits and
/// `-_.!~*'()&=+$,;?/`, 1 to 64 of them. No `:` or `@`, which would make HA1 or the AOR
/// ambiguous.
pub fn sip_user(field: &'static str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > MAX_NAME_LEN {
        return Err(invalid(
            field,
            format!("'{s}' must be 1 to {MAX_NAME_LEN} characters"),
        ));
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(*c)))
    {
        Some(c) => Err(invalid(
            field,
            format!("'{s}' contains '{c}'; use letters, digits and -_.!~*'()&=+$,;?/"),
        )),
        None => Ok(()),
    }
}

/// A name (group, agent, skill, queue, flow): letters, digits, `-`, `_` and `.`, starting
/// with a letter or digit, 1 to 64 characters.
pub fn name(field: &'static str, s: &str) -> Result<()> {
    let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok_start || !ok_rest || s.len() > MAX_NAME_LEN {
        return Err(invalid(
            field,
            format!(
                "'{s}' must be 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', \
                 starting with a letter or digit"
            ),
        ));
    }
    Ok(())
}

/// Free text shown to people (display names, realms): 1 to 128 characters, no control
/// characters and no `"` (they end up in SIP quoted strings).
pub fn text(field: &'static str, s: &str) -> Result<()> {
    if s.trim().is_empty() || s.chars().count() > 128 {
        return Err(invalid(field, "must be 1 to 128 characters"));
    }
    if s.chars().any(|c| c.is_control() || c == '"') {
        return Err(invalid(
            field,
            "must not contain control characters or '\"'",
        ));
    }
    Ok(())
}

/// An integer within `min..=max`.
pub fn range(field: &'static str, value: i64, min: i64, max: i64) -> Result<()> {
    if value < min || value > max {
        return Err(invalid(
            field,
            format!("{value} is not within {min}..={max}"),
        ));
    }
    Ok(())
}

/// A `name:level` pair as given on the command line (`--skill sales:80`); the level runs
/// 1 to 100.
pub fn skill_spec(s: &str) -> Result<(String, i16)> {
    let (skill, level) = s
        .split_once(':')
        .ok_or_else(|| invalid("skill", format!("'{s}' is not NAME:LEVEL (e.g. sales:80)")))?;
    name("skill", skill)?;
    let level: i16 = level.parse().map_err(|_| {
        invalid(
            "skill",
            format!("level '{level}' of '{skill}' is not a number"),
        )
    })?;
    range("skill level", i64::from(level), 1, 100)?;
    Ok((skill.to_string(), level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_users_and_names_are_checked() {
        assert!(sip_user("username", "1001").is_ok());
        assert!(sip_user("username", "alice.smith+x").is_ok());
        assert!(sip_user("username", "").is_err());
        assert!(sip_user("username", "a:b").is_err());
        assert!(sip_user("username", "a@b").is_err());
        assert!(sip_user("username", &"x".repeat(65)).is_err());
        assert!(name("queue", "support-1").is_ok());
        assert!(name("queue", "-x").is_err());
        assert!(name("queue", "a b").is_err());
        assert!(text("realm", "switchboard").is_ok());
        assert!(text("realm", "a\"b").is_err());
        assert!(text("realm", " ").is_err());
    }

    #[test]
    fn skill_specs_parse_with_levels_in_range() {
        assert_eq!(skill_spec("sales:80").ok(), Some(("sales".into(), 80)));
        for bad in [
            "sales",
            "sales:",
            "sales:0",
            "sales:101",
            "sales:x",
            ":5",
            "a b:5",
        ] {
            assert!(skill_spec(bad).is_err(), "{bad}");
        }
    }
}
