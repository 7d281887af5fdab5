//! The headers of a 200 to REGISTER (RFC 3261 §10.3 step 8, RFC 3327 §5.3).

use bytestring::ByteString;
use sip::{Contact, Header, NameAddr, Param, Params, Request, SipDate, Uri};

use super::{Binding, RegisterReply};
use crate::UnixTime;

/// 200 OK listing `bindings` (the AOR's current ones, in lookup order) with the time each has
/// left, the request's Path (RFC 3327 §5.3: the UA learns its outbound route), a Date (some
/// phones set their clock from it) and `Supported: path`.
pub(super) fn ok_reply(bindings: &[&Binding], request: &Request, now: UnixTime) -> RegisterReply {
    let mut headers = Vec::with_capacity(4);
    let contacts: Vec<NameAddr> = bindings
        .iter()
        .filter_map(|b| contact_entry(b, now))
        .collect();
    if !contacts.is_empty() {
        headers.push(Header::Contact(Contact::Addresses(contacts)));
    }
    headers.extend(
        request
            .headers
            .iter()
            .filter(|h| matches!(h, Header::Path(_)))
            .cloned(),
    );
    headers.push(date_header(now));
    headers.push(Header::Supported(vec![ByteString::from_static("path")]));
    RegisterReply {
        status: 200,
        reason: None,
        headers,
    }
}

/// One binding as a Contact value: the stored URI in `<>` (so its own parameters and headers
/// stay part of the URI, RFC 4475 cparam02 and regescrt), then `expires`, `q` and the RFC 5626
/// parameters.
fn contact_entry(binding: &Binding, now: UnixTime) -> Option<NameAddr> {
    let uri = stored_uri(&binding.contact)?;
    let mut params = vec![Param::new(
        "expires",
        Some(binding.remaining_secs(now).to_string()),
    )];
    if let Some(q) = binding.q_milli {
        params.push(Param::new("q", Some(format_q(q))));
    }
    if let Some(instance) = &binding.instance_id {
        params.push(Param::new("+sip.instance", Some(quote(instance))));
    }
    if let Some(reg_id) = binding.reg_id {
        params.push(Param::new("reg-id", Some(reg_id.to_string())));
    }
    Some(NameAddr {
        display_name: None,
        uri,
        params: Params(params),
    })
}

/// The stored Contact text as a URI. Text written by `register` always parses; a restored
/// one that does not is kept as an opaque `scheme:rest` URI, which still prints as stored.
fn stored_uri(text: &str) -> Option<Uri> {
    match Uri::parse(text) {
        Ok(uri) => Some(uri),
        Err(_) => {
            let (scheme, rest) = text.split_once(':')?;
            Some(Uri::Other {
                scheme: scheme.into(),
                rest: rest.into(),
            })
        }
    }
}

/// A q-value from thousandths: `1`, `0.5`, `0.25`, `0.125`, `0`.
pub(super) fn format_q(q_milli: u16) -> String {
    if q_milli >= 1000 {
        return "1".to_string();
    }
    let mut s = format!("0.{q_milli:03}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    s
}

/// A quoted string, with `"` and `\` escaped.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `Date: <RFC 1123 date>` for `now` (whole seconds, GMT).
pub(super) fn date_header(now: UnixTime) -> Header {
    let secs = now.0 / 1000;
    Header::Date(SipDate {
        text: rfc1123(secs).into(),
        unix_seconds: i64::try_from(secs).unwrap_or(i64::MAX),
    })
}

/// Formats seconds since the epoch as an RFC 1123 date (`Sun, 06 Nov 1994 08:49:37 GMT`), the
/// only form SIP's Date allows (RFC 3261 §20.17).
pub(super) fn rfc1123(unix_seconds: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_seconds / 86_400;
    let of_day = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        // 1970-01-01 was a Thursday.
        WEEKDAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian (year, month 1-12, day 1-31) of a day count since 1970-01-01
/// (Howard Hinnant's days-to-civil, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values_format_without_trailing_zeros() {
        assert_eq!(format_q(1000), "1");
        assert_eq!(format_q(500), "0.5");
        assert_eq!(format_q(250), "0.25");
        assert_eq!(format_q(5), "0.005");
        assert_eq!(format_q(0), "0");
    }

    #[test]
    fn dates_are_rfc1123_gmt_and_parse_back() {
        assert_eq!(rfc1123(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(rfc1123(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(rfc1123(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(rfc1123(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(rfc1123(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        for secs in [0u64, 784_111_777, 951_782_400, 1_709_251_199, 4_107_542_400] {
            let header = date_header(UnixTime(secs * 1000 + 999));
            let parsed = Header::parse(header.to_string().as_bytes()).expect("Date parses");
            match parsed {
                Header::Date(d) => assert_eq!(d.unix_seconds, i64::try_from(secs).unwrap_or(0)),
                other => panic!("not a Date: {other:?}"),
            }
        }
    }
}
