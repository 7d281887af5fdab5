//! The timestamps of the `registrations` table as bound parameters: native `timestamptz` in
//! PostgreSQL; in SQLite, RFC 3339 UTC text with exactly six fractional digits.
//!
//! sqlx writes an `OffsetDateTime` to SQLite as RFC 3339 with as few fractional digits as
//! the value needs (`…:05Z`, `…:05.5Z`), and such strings do not sort as the times do ('Z'
//! sorts after '.'). With a fixed width the text order is the time order, so
//! `expires_at > $1` is exact in SQL and can use the index. Reading back needs no wrapper:
//! sqlx parses any RFC 3339 text.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo};
use sqlx::{Encode, Postgres, Sqlite, Type};
use time::{OffsetDateTime, UtcOffset};

/// A time to bind; kept to the microsecond on both backends (PostgreSQL's precision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DbTime(pub(crate) OffsetDateTime);

impl DbTime {
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC; an error outside the years 0 to 9999, which
    /// have no four-digit form.
    pub(crate) fn text(t: OffsetDateTime) -> Result<String, BoxDynError> {
        let t = t.to_offset(UtcOffset::UTC);
        if !(0..=9999).contains(&t.year()) {
            return Err(format!("year {} is outside 0..=9999", t.year()).into());
        }
        Ok(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        ))
    }
}

impl Type<Postgres> for DbTime {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for DbTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl Type<Sqlite> for DbTime {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for DbTime {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(DbTime::text(self.0)?, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn text_order_is_time_order() {
        let t = OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000);
        let times = [
            t,
            t + Duration::microseconds(1),
            t + Duration::milliseconds(500),
            t + Duration::seconds(1),
            t + Duration::seconds(1) + Duration::nanoseconds(999),
        ];
        let texts: Vec<String> = times.iter().filter_map(|t| DbTime::text(*t).ok()).collect();
        assert_eq!(texts[0], "2023-11-14T22:13:20.000000Z");
        assert_eq!(texts[2], "2023-11-14T22:13:20.500000Z");
        assert!(texts.windows(2).all(|w| w[0] <= w[1]), "{texts:?}");
        let offset = t.to_offset(UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC));
        assert_eq!(DbTime::text(offset).ok(), DbTime::text(t).ok());
        assert!(DbTime::text(t.replace_year(-1).unwrap_or(t)).is_err());
    }
}
