//! Deadlines counted in hours, calendar days or business days.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};

pub fn after_hours(from: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
    from + Duration::hours(i64::from(hours))
}

/// `days` days after `from`; with `business_days`, Saturdays and Sundays
/// (UTC) are not counted, and a deadline never falls on a weekend.
pub fn after_days(from: DateTime<Utc>, days: u32, business_days: bool) -> DateTime<Utc> {
    if !business_days {
        return from + Duration::days(i64::from(days));
    }
    let mut due = from;
    let mut remaining = days;
    while remaining > 0 {
        due += Duration::days(1);
        if !matches!(due.weekday(), Weekday::Sat | Weekday::Sun) {
            remaining -= 1;
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn business_days_skip_weekends() {
        // Thursday 2026-11-26 10:00 + 5 business days = Thursday 2026-12-03.
        let thursday = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
        assert_eq!(
            after_days(thursday, 5, true),
            Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap()
        );
        assert_eq!(
            after_days(thursday, 5, false),
            Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
        );
        // Friday + 1 business day = Monday.
        let friday = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        assert_eq!(after_days(friday, 1, true).weekday(), Weekday::Mon);
        assert_eq!(
            after_hours(friday, 24),
            Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap()
        );
    }
}
