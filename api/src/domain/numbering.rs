//! Human keys for change requests: `CR-YYYY-NNNN`, sequential per year.

use super::ValidationError;

/// Formats the `sequence`-th change of `year`. Numbers past 9999 simply
/// grow a digit, so they still sort correctly within a year.
pub fn format_number(year: i32, sequence: i32) -> String {
    format!("CR-{year}-{sequence:04}")
}

/// Parses `CR-2026-0042` into `(2026, 42)`.
pub fn parse_number(number: &str) -> Result<(i32, i32), ValidationError> {
    let invalid = || ValidationError::new("number", "expected the form CR-YYYY-NNNN");
    let rest = number.strip_prefix("CR-").ok_or_else(invalid)?;
    let (year, sequence) = rest.split_once('-').ok_or_else(invalid)?;
    if year.len() != 4 || sequence.len() < 4 {
        return Err(invalid());
    }
    if !year
        .bytes()
        .chain(sequence.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let year = year.parse().map_err(|_| invalid())?;
    let sequence: i32 = sequence.parse().map_err(|_| invalid())?;
    if sequence == 0 {
        return Err(invalid());
    }
    Ok((year, sequence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_four_digits() {
        assert_eq!(format_number(2026, 1), "CR-2026-0001");
        assert_eq!(format_number(2026, 12345), "CR-2026-12345");
    }

    #[test]
    fn parses_what_it_formats() {
        for sequence in [1, 42, 9999, 10000] {
            let number = format_number(2026, sequence);
            assert_eq!(parse_number(&number).unwrap(), (2026, sequence));
        }
    }

    #[test]
    fn rejects_malformed_numbers() {
        for bad in [
            "",
            "CR-2026",
            "CR-26-0001",
            "cr-2026-0001",
            "CR-2026-01",
            "CR-2026-00a1",
            "CR-2026-0000",
        ] {
            assert!(parse_number(bad).is_err(), "{bad}");
        }
    }
}
