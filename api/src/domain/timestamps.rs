//! The range of instants Gatehouse accepts from clients.
//!
//! PostgreSQL's `timestamptz` has no year 0 and refuses it as input, and
//! SQLite stores instants as text that sorts correctly only with four-digit
//! years. Every instant a client sends (GraphQL `DateTime` arguments and
//! input fields, report periods) is checked here before it reaches a query,
//! so an instant either database cannot hold is a validation error naming
//! the argument, never a database error.

use chrono::{DateTime, NaiveDate, Utc};

use super::ValidationError;

/// `0001-01-01T00:00:00Z`, the first instant both databases store.
pub fn earliest() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `9999-12-31T23:59:59.999999Z`, the last instant with a four-digit year
/// at the microsecond precision both databases keep.
pub fn latest() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|day| day.and_hms_micro_opt(23, 59, 59, 999_999))
        .map(|at| at.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Checks that `value` lies in `[earliest(), latest()]`.
pub fn check(field: &str, value: DateTime<Utc>) -> Result<(), ValidationError> {
    if value < earliest() || value > latest() {
        return Err(ValidationError::new(
            field,
            "must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z",
        ));
    }
    Ok(())
}

/// [`check`] for an optional argument.
pub fn check_optional(field: &str, value: Option<DateTime<Utc>>) -> Result<(), ValidationError> {
    value.map_or(Ok(()), |value| check(field, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a test timestamp")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_bounds_themselves_are_accepted() {
        assert_eq!(check("from", at("0001-01-01T00:00:00Z")), Ok(()));
        assert_eq!(check("to", at("9999-12-31T23:59:59.999999Z")), Ok(()));
        assert_eq!(check("to", at("2026-12-02T10:00:00Z")), Ok(()));
    }

    #[test]
    fn year_zero_and_year_ten_thousand_are_refused_naming_the_field() {
        for (field, text) in [
            ("from", "0000-01-01T00:00:00Z"),
            ("from", "0000-12-31T23:59:59.999999Z"),
            // Year 1 in the client's offset, year 0 in UTC.
            ("createdFrom", "0001-01-01T00:30:00+01:00"),
            // Year 9999 in the client's offset, year 10000 in UTC.
            ("plannedEnd", "9999-12-31T23:30:00-01:00"),
        ] {
            let error = check(field, at(text)).expect_err(text);
            assert_eq!(error.field, field);
        }
    }

    #[test]
    fn an_absent_optional_argument_is_fine() {
        assert_eq!(check_optional("to", None), Ok(()));
        assert!(check_optional("to", Some(at("0000-06-01T00:00:00Z"))).is_err());
    }
}
