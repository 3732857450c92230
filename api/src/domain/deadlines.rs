//! Deadlines counted in hours, calendar days or business days.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};

use super::timestamps;

// A deadline is stored with the change, so none lies beyond the last
// instant the databases hold (`timestamps::latest`): a policy's count of
// hours or days that reaches further means "not in this calendar", and
// adding it neither panics nor loops for billions of days.

pub fn after_hours(from: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
    from.checked_add_signed(Duration::hours(i64::from(hours)))
        .map_or_else(timestamps::latest, |due| due.min(timestamps::latest()))
}

/// `days` days after `from`; with `business_days`, Saturdays and Sundays
/// (UTC) are not counted, and a deadline never falls on a weekend.
pub fn after_days(from: DateTime<Utc>, days: u32, business_days: bool) -> DateTime<Utc> {
    let latest = timestamps::latest();
    if !business_days {
        return from
            .checked_add_signed(Duration::days(i64::from(days)))
            .map_or(latest, |due| due.min(latest));
    }
    let mut due = from;
    let mut remaining = days;
    while remaining > 0 {
        match due.checked_add_signed(Duration::days(1)) {
            Some(next) if next <= latest => due = next,
            _ => return latest,
        }
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

    #[test]
    fn deadlines_beyond_the_calendar_stop_at_its_last_instant() {
        let from = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
        assert_eq!(after_hours(from, u32::MAX), timestamps::latest());
        assert_eq!(after_days(from, u32::MAX, false), timestamps::latest());
        assert_eq!(after_days(from, u32::MAX, true), timestamps::latest());
        let late = timestamps::latest() - Duration::hours(1);
        assert_eq!(after_hours(late, 2), timestamps::latest());
    }
}
