//! Spreadsheet formula injection (CSV injection): a cell whose text starts
//! with `=`, `+`, `-` or `@` is run as a formula when the file is opened in
//! a spreadsheet, and a leading tab or carriage return lets some of them
//! find the formula after it (OWASP "CSV Injection"). Every CSV Gatehouse
//! writes, the report tables here and the evidence pack in `api`, puts its
//! text cells through [`neutralise`].

use std::borrow::Cow;

/// `text` with a leading `'` when a spreadsheet would take it for a
/// formula; other text unchanged. Spreadsheets show the `'` as the marker
/// of literal text, so the value a reader sees is otherwise intact.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_get_a_quote_and_other_text_is_kept() {
        for (text, expected) in [
            (
                "=HYPERLINK(\"https://evil.example\")",
                "'=HYPERLINK(\"https://evil.example\")",
            ),
            ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("Rotate TLS keys", "Rotate TLS keys"),
            ("CR-2026-0001", "CR-2026-0001"),
            ("", ""),
        ] {
            assert_eq!(neutralise(text), expected, "{text:?}");
        }
        assert!(matches!(neutralise("plain"), Cow::Borrowed(_)));
    }
}
