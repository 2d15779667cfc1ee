//! Calendar arithmetic on UTC timestamps: authorisations run for calendar months, not for a
//! fixed number of days.

use tearline_domain::Timestamp;
use time::{Date, Month, OffsetDateTime};

pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;

/// `at` plus `months` calendar months; a day that does not exist in the target month falls
/// back to that month's last day (31 January + 1 month = 28 or 29 February).
pub fn add_months(at: Timestamp, months: u32) -> Timestamp {
    let Ok(instant) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000) else {
        return at;
    };
    let date = instant.date();
    let total = date.year() * 12 + i32::from(u8::from(date.month())) - 1
        + i32::try_from(months).unwrap_or(i32::MAX / 2);
    let (year, month) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let Ok(month) = Month::try_from(u8::try_from(month).unwrap_or(1)) else {
        return at;
    };
    let day = date.day().min(month.length(year));
    let Ok(date) = Date::from_calendar_date(year, month, day) else {
        return at;
    };
    let moved = instant.replace_date(date);
    Timestamp(i64::try_from(moved.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        let parsed =
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).expect("valid");
        Timestamp(i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).expect("fits"))
    }

    #[test]
    fn months_are_calendar_months_clamped_to_the_last_day() {
        assert_eq!(add_months(at("2026-01-15T10:00:00Z"), 12), at("2027-01-15T10:00:00Z"));
        assert_eq!(add_months(at("2026-01-31T10:00:00Z"), 1), at("2026-02-28T10:00:00Z"));
        assert_eq!(add_months(at("2027-10-31T00:00:00Z"), 4), at("2028-02-29T00:00:00Z"));
        assert_eq!(add_months(at("2026-11-30T23:59:59Z"), 3), at("2027-02-28T23:59:59Z"));
    }
}
