//! Column maps for `gatehouse import --map NAME|FILE`: how another tool's
//! CSV export becomes the importer's rows. Pure: no database.
//!
//! A map is a TOML file (docs/reports.md, "Column maps"): which source
//! column feeds which importer column (`COLUMNS`), what each value of an
//! enumerated column means, the formats and time zone of the export's
//! dates, and text for required columns the source has no field for. The
//! two built-in maps (`jsm`, `servicenow`) are such files, compiled in and
//! read by the same code as a user's, which may `extends` one of them.
//!
//! Under a map, columns the map does not name are ignored (an export has
//! hundreds); a column it names that the file lacks is an error, and so
//! is a value its value map does not list.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use entity::{BoardOutcome, ChangeOutcome, ChangeStatus, Priority};
use serde::Deserialize;
use serde_json::Value;

use super::{COLUMNS, RawRow, RowError};

/// The maps that come with Gatehouse, by the name `--map` takes.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("jsm", include_str!("maps/jsm.toml")),
    ("servicenow", include_str!("maps/servicenow.toml")),
];

/// The importer's columns that hold instants: a mapped value is read with
/// the map's date formats and time zone.
const TIMESTAMP_COLUMNS: &[&str] = &[
    "plannedStart",
    "plannedEnd",
    "submittedAt",
    "approvedAt",
    "scheduledStart",
    "scheduledEnd",
    "actualStart",
    "actualEnd",
    "boardDecidedAt",
    "approvalDueAt",
    "documentedAt",
    "closedAt",
    "createdAt",
];

/// Why a map cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    #[error("reading the map {path}: {message}")]
    Unreadable { path: String, message: String },
    #[error("the map {origin} is not valid: {message}")]
    Invalid { origin: String, message: String },
}

/// A map file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    /// A built-in map this one adds to or overrides.
    extends: Option<String>,
    /// What the map is for (shown nowhere; for the reader of the file).
    #[allow(dead_code)]
    description: Option<String>,
    /// IANA name of the zone the export's dates are written in.
    time_zone: Option<String>,
    /// chrono `strftime` formats of the export's dates, tried in order.
    date_formats: Option<Vec<String>>,
    /// Source column -> importer column(s).
    #[serde(default)]
    columns: BTreeMap<String, Targets>,
    /// Importer column -> source value -> importer value ("" = none).
    #[serde(default)]
    values: BTreeMap<String, BTreeMap<String, String>>,
    /// Importer column -> value when the source gives none.
    #[serde(default)]
    defaults: BTreeMap<String, String>,
    /// Status -> importer columns the map leaves out on rows of that
    /// status (a source with one creation time serves as submission time
    /// too, except for a draft).
    #[serde(default)]
    ignore_for_status: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Targets {
    One(String),
    Many(Vec<String>),
}

impl Targets {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(target) => vec![target],
            Self::Many(targets) => targets,
        }
    }
}

/// What a value map says of one source value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ValueMap {
    /// Source values as written in the map, for error messages.
    accepted: Vec<String>,
    /// Trimmed, lower-cased source value -> importer value (`None`: the
    /// row has no value for the column).
    by_value: BTreeMap<String, Option<String>>,
}

/// A checked map, ready to read exports with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    /// The built-in name or the file's path.
    pub origin: String,
    time_zone: Tz,
    date_formats: Vec<String>,
    /// Source column -> importer columns.
    columns: BTreeMap<String, Vec<String>>,
    values: BTreeMap<String, ValueMap>,
    defaults: BTreeMap<String, String>,
    ignore_for_status: Vec<(ChangeStatus, Vec<String>)>,
}

/// A row read through a map, with its line, or every problem it has.
pub type MappedRow = Result<(u64, RawRow), Vec<RowError>>;

/// The map `--map` names: a built-in one by name, else a file.
pub fn load(name_or_path: &str) -> Result<ColumnMap, MapError> {
    if let Some(text) = built_in(name_or_path) {
        return parse(text, name_or_path);
    }
    let text = std::fs::read_to_string(name_or_path).map_err(|error| MapError::Unreadable {
        path: name_or_path.to_owned(),
        message: format!(
            "{error} (the built-in maps are {})",
            BUILT_IN
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })?;
    parse(&text, name_or_path)
}

fn built_in(name: &str) -> Option<&'static str> {
    BUILT_IN
        .iter()
        .find(|(built_in, _)| *built_in == name)
        .map(|(_, text)| *text)
}

/// Parses and checks the text of a map; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<ColumnMap, MapError> {
    let invalid = |message: String| MapError::Invalid {
        origin: origin.to_owned(),
        message,
    };
    let file: MapFile = toml::from_str(text).map_err(|error| invalid(error.to_string()))?;
    let file = match file.extends.clone() {
        None => file,
        Some(base) => {
            let base_text = built_in(&base).ok_or_else(|| {
                invalid(format!(
                    "extends `{base}`, which is not a built-in map ({})",
                    BUILT_IN
                        .iter()
                        .map(|(name, _)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let base_file: MapFile = toml::from_str(base_text).map_err(|error| {
                invalid(format!("the built-in map {base} is unreadable: {error}"))
            })?;
            if base_file.extends.is_some() {
                return Err(invalid(format!("the built-in map {base} extends another")));
            }
            overlay(base_file, file)
        }
    };
    check(file).map_err(invalid).map(|mut map| {
        map.origin = origin.to_owned();
        map
    })
}

/// `base` with what `over` sets: its columns, values and defaults added
/// (replacing the base's entries of the same key; a column mapped to `[]`
/// is no longer read), its zone and formats instead of the base's.
fn overlay(mut base: MapFile, over: MapFile) -> MapFile {
    base.extends = None;
    base.time_zone = over.time_zone.or(base.time_zone);
    base.date_formats = over.date_formats.or(base.date_formats);
    base.columns.extend(over.columns);
    for (target, values) in over.values {
        base.values.entry(target).or_default().extend(values);
    }
    base.defaults.extend(over.defaults);
    base.ignore_for_status.extend(over.ignore_for_status);
    base
}

/// Whether `text` is a value of the enumeration `T`, read as the importer
/// reads it (`Row::enumeration`).
fn is_value_of<T: serde::de::DeserializeOwned>(text: &str) -> bool {
    let key = text.trim().to_ascii_uppercase().replace([' ', '-'], "_");
    serde_json::from_value::<T>(Value::String(key)).is_ok()
}

/// Whether `value` is acceptable for the enumerated importer column
/// `target` (other columns are checked when the rows are).
fn enumeration_accepts(target: &str, value: &str) -> bool {
    match target {
        "status" => is_value_of::<ChangeStatus>(value),
        "outcome" => is_value_of::<ChangeOutcome>(value),
        "boardOutcome" => is_value_of::<BoardOutcome>(value),
        "priority" | "urgency" => is_value_of::<Priority>(value),
        _ => true,
    }
}

fn check(file: MapFile) -> Result<ColumnMap, String> {
    let known = |column: &str, context: &str| {
        if COLUMNS.contains(&column) {
            Ok(())
        } else {
            Err(format!(
                "{context}: `{column}` is not an import column (one of: {})",
                COLUMNS.join(", ")
            ))
        }
    };
    let time_zone_name = file.time_zone.unwrap_or_else(|| "UTC".to_owned());
    let time_zone = Tz::from_str(&time_zone_name)
        .map_err(|_| format!("time_zone: `{time_zone_name}` is not an IANA time zone"))?;
    let date_formats = file.date_formats.unwrap_or_default();
    for format in &date_formats {
        if format.trim().is_empty()
            || StrftimeItems::new(format).any(|item| matches!(item, Item::Error))
        {
            return Err(format!(
                "date_formats: `{format}` is not a chrono strftime format"
            ));
        }
    }
    let mut columns = BTreeMap::new();
    let mut fed_by: BTreeMap<String, String> = BTreeMap::new();
    for (source, targets) in file.columns {
        let targets = targets.into_vec();
        for target in &targets {
            known(target, &format!("columns.\"{source}\""))?;
            if let Some(other) = fed_by.insert(target.clone(), source.clone()) {
                return Err(format!(
                    "columns: `{target}` is fed by both `{other}` and `{source}`"
                ));
            }
        }
        if !targets.is_empty() {
            columns.insert(source, targets);
        }
    }
    let mut values = BTreeMap::new();
    for (target, entries) in file.values {
        known(&target, &format!("values.{target}"))?;
        if !fed_by.contains_key(&target) {
            return Err(format!(
                "values.{target}: no column is mapped to `{target}`"
            ));
        }
        let mut map = ValueMap {
            accepted: Vec::new(),
            by_value: BTreeMap::new(),
        };
        for (source_value, value) in entries {
            let value = value.trim();
            if !value.is_empty() && !enumeration_accepts(&target, value) {
                return Err(format!(
                    "values.{target}.\"{source_value}\": `{value}` is not a value of {target}"
                ));
            }
            let key = source_value.trim().to_lowercase();
            let value = (!value.is_empty()).then(|| value.to_owned());
            if map.by_value.insert(key, value).is_some() {
                return Err(format!(
                    "values.{target}: `{source_value}` is listed twice (values match whatever their case)"
                ));
            }
            map.accepted.push(source_value);
        }
        values.insert(target, map);
    }
    for (target, value) in &file.defaults {
        known(target, &format!("defaults.{target}"))?;
        if !enumeration_accepts(target, value) {
            return Err(format!(
                "defaults.{target}: `{value}` is not a value of {target}"
            ));
        }
    }
    let mut ignore_for_status = Vec::new();
    for (status, ignored) in file.ignore_for_status {
        let key = status.trim().to_ascii_uppercase().replace([' ', '-'], "_");
        let parsed: ChangeStatus = serde_json::from_value(Value::String(key))
            .map_err(|_| format!("ignore_for_status: `{status}` is not a status"))?;
        for column in &ignored {
            known(column, &format!("ignore_for_status.{status}"))?;
        }
        ignore_for_status.push((parsed, ignored));
    }
    Ok(ColumnMap {
        origin: String::new(),
        time_zone,
        date_formats,
        columns,
        values,
        defaults: file.defaults,
        ignore_for_status,
    })
}

impl ColumnMap {
    /// The source column feeding `target`, if any.
    pub fn source_of(&self, target: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(_, targets)| targets.iter().any(|t| t == target))
            .map(|(source, _)| source.as_str())
    }

    /// Names the source column beside the importer column in `errors`
    /// (`title (from "Summary")`), so a user finds the cell in the export.
    pub fn name_sources(&self, errors: &mut [RowError]) {
        for error in errors {
            if let Some(source) = self.source_of(&error.field) {
                error.field = format!("{} (from \"{source}\")", error.field);
            }
        }
    }

    /// Reads a CSV export into importer rows.
    ///
    /// A column repeated in the header (a Jira export writes a field with
    /// several values as several columns of one name) is read whole: its
    /// values joined with `;` for `systems`, an error for any other column.
    pub fn read_csv(&self, text: &str) -> Result<Vec<MappedRow>, RowError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|error| {
                RowError::new(1, "(header)", format!("unreadable CSV header: {error}"))
            })?
            .iter()
            // Spreadsheet exports start with a byte order mark.
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
            .collect();
        let positions: BTreeMap<&str, Vec<usize>> = self
            .columns
            .keys()
            .map(|source| {
                let found = headers
                    .iter()
                    .enumerate()
                    .filter(|(_, header)| header.as_str() == source.as_str())
                    .map(|(index, _)| index)
                    .collect();
                (source.as_str(), found)
            })
            .collect();
        let missing: Vec<&str> = positions
            .iter()
            .filter(|(_, found)| found.is_empty())
            .map(|(source, _)| *source)
            .collect();
        if let Some(first) = missing.first() {
            return Err(RowError::new(
                1,
                *first,
                format!(
                    "the map {} reads {} missing from the file's header; export every field, or use a map file that leaves {} out (docs/reports.md, \"Column maps\")",
                    self.origin,
                    if missing.len() == 1 {
                        "this column, which is".to_owned()
                    } else {
                        format!(
                            "these columns, which are: {}",
                            missing
                                .iter()
                                .map(|m| format!("\"{m}\""))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                    if missing.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            rows.push(match record {
                Ok(record) => {
                    let line = record.position().map_or(0, |p| p.line());
                    let cells: Vec<&str> = record.iter().collect();
                    self.map_record(line, &positions, &cells)
                }
                Err(error) => {
                    let line = error.position().map_or(0, |p| p.line());
                    Err(vec![RowError::new(
                        line,
                        "(row)",
                        format!("invalid CSV: {error}"),
                    )])
                }
            });
        }
        Ok(rows)
    }

    fn map_record(
        &self,
        line: u64,
        positions: &BTreeMap<&str, Vec<usize>>,
        cells: &[&str],
    ) -> MappedRow {
        let mut row = RawRow::new();
        let mut errors = Vec::new();
        for (source, targets) in &self.columns {
            let found: Vec<&str> = positions
                .get(source.as_str())
                .into_iter()
                .flatten()
                .filter_map(|index| cells.get(*index))
                .map(|cell| cell.trim())
                .filter(|cell| !cell.is_empty())
                .collect();
            if found.is_empty() {
                continue;
            }
            let only_systems = targets.iter().all(|t| t == "systems");
            if found.len() > 1 && !only_systems {
                errors.push(RowError::new(
                    line,
                    source,
                    format!(
                        "has {} values ({}); {} takes one",
                        found.len(),
                        found.join(", "),
                        targets.join(", ")
                    ),
                ));
                continue;
            }
            let text = found.join("; ");
            for target in targets {
                match self.convert(target, &text) {
                    Ok(Some(value)) => {
                        row.insert(target.clone(), Value::String(value));
                    }
                    Ok(None) => {}
                    Err(message) => errors.push(RowError::new(line, source, message)),
                }
            }
        }
        for (target, value) in &self.defaults {
            row.entry(target.clone())
                .or_insert_with(|| Value::String(value.clone()));
        }
        let status = row.get("status").and_then(Value::as_str).and_then(|s| {
            serde_json::from_value::<ChangeStatus>(Value::String(s.to_ascii_uppercase())).ok()
        });
        for (_, ignored) in self
            .ignore_for_status
            .iter()
            .filter(|(ignored_for, _)| Some(*ignored_for) == status)
        {
            for column in ignored {
                row.remove(column);
            }
        }
        if errors.is_empty() {
            Ok((line, row))
        } else {
            Err(errors)
        }
    }

    /// The importer's value of `target` for the source text: through the
    /// value map when the map has one for it, as an instant for a
    /// timestamp column, else the text itself. `None`: the value map says
    /// the column has no value.
    fn convert(&self, target: &str, text: &str) -> Result<Option<String>, String> {
        if let Some(map) = self.values.get(target) {
            return match map.by_value.get(&text.to_lowercase()) {
                Some(value) => Ok(value.clone()),
                None => Err(format!(
                    "`{text}` is not a value the map {} knows for {target} (accepted: {})",
                    self.origin,
                    map.accepted.join(", ")
                )),
            };
        }
        if TIMESTAMP_COLUMNS.contains(&target) {
            return self
                .instant(text)
                .map(|at| Some(at.to_rfc3339_opts(SecondsFormat::AutoSi, true)));
        }
        Ok(Some(text.to_owned()))
    }

    /// An instant written in one of the map's date formats, in its zone;
    /// or RFC 3339 with an offset, whatever the map says. A wall time the
    /// zone passes twice (the hour DST ends) is the earlier.
    fn instant(&self, text: &str) -> Result<DateTime<Utc>, String> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(at.with_timezone(&Utc));
        }
        let local = self.date_formats.iter().find_map(|format| {
            NaiveDateTime::parse_from_str(text, format)
                .ok()
                .or_else(|| {
                    NaiveDate::parse_from_str(text, format)
                        .ok()
                        .and_then(|day| day.and_hms_opt(0, 0, 0))
                })
        });
        let Some(local) = local else {
            return Err(format!(
                "`{text}` is not a date in the map's formats ({}) or RFC 3339",
                if self.date_formats.is_empty() {
                    "none".to_owned()
                } else {
                    self.date_formats.join(", ")
                }
            ));
        };
        match self.time_zone.from_local_datetime(&local) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Ok(at.with_timezone(&Utc)),
            LocalResult::None => Err(format!(
                "`{text}` does not exist in {} (the clocks skipped it)",
                self.time_zone
            )),
        }
    }

    /// The importer columns the map fills, for checking a map.
    pub fn targets(&self) -> BTreeSet<&str> {
        self.columns
            .values()
            .flatten()
            .map(String::as_str)
            .chain(self.defaults.keys().map(String::as_str))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(map: &ColumnMap, csv: &str) -> Vec<MappedRow> {
        map.read_csv(csv).unwrap()
    }

    fn cell<'a>(row: &'a MappedRow, column: &str) -> Option<&'a str> {
        row.as_ref().ok()?.1.get(column)?.as_str()
    }

    const SMALL: &str = r#"
time_zone = "Europe/Berlin"
date_formats = ["%d/%b/%y %l:%M %p", "%Y-%m-%d"]
[columns]
"Key" = "number"
"When" = ["createdAt", "submittedAt"]
"State" = ["status", "outcome"]
"Service" = "systems"
[values.status]
Done = "CLOSED"
"In progress" = "IMPLEMENTING"
New = "DRAFT"
[values.outcome]
Done = "SUCCESSFUL"
"In progress" = ""
New = ""
[defaults]
businessJustification = "Not recorded"
[ignore_for_status]
DRAFT = ["submittedAt"]
"#;

    #[test]
    fn every_built_in_map_is_valid_and_fills_the_required_columns() {
        for (name, _) in BUILT_IN {
            let map = load(name).unwrap_or_else(|e| panic!("{e}"));
            let targets = map.targets();
            for required in [
                "title",
                "description",
                "businessJustification",
                "type",
                "status",
                "likelihood",
                "impact",
                "requesterEmail",
                "createdAt",
            ] {
                assert!(targets.contains(required), "{name} fills no {required}");
            }
        }
    }

    #[test]
    fn values_dates_and_defaults_are_mapped() {
        let map = parse(SMALL, "small").unwrap();
        let rows = mapped(
            &map,
            "\u{feff}Key,When,State,Service,Service,Ignored\n\
             A-1,02/Dec/26 1:18 PM,done,api,db,whatever\n\
             A-2,2026-07-01,New,,,\n",
        );
        let first = &rows[0];
        assert_eq!(cell(first, "number"), Some("A-1"));
        // 13:18 in Berlin (CET, UTC+1) in December.
        assert_eq!(cell(first, "createdAt"), Some("2026-12-02T12:18:00Z"));
        assert_eq!(cell(first, "submittedAt"), Some("2026-12-02T12:18:00Z"));
        assert_eq!(cell(first, "status"), Some("CLOSED"));
        assert_eq!(cell(first, "outcome"), Some("SUCCESSFUL"));
        assert_eq!(cell(first, "systems"), Some("api; db"));
        assert_eq!(cell(first, "businessJustification"), Some("Not recorded"));
        assert!(!rows[0].as_ref().unwrap().1.contains_key("Ignored"));
        // A date alone is midnight in the zone (CEST in July); a draft
        // keeps its creation time and has no submission.
        let draft = &rows[1];
        assert_eq!(cell(draft, "createdAt"), Some("2026-06-30T22:00:00Z"));
        assert_eq!(cell(draft, "submittedAt"), None);
        assert_eq!(cell(draft, "outcome"), None);
        assert_eq!(cell(draft, "systems"), None);
    }

    #[test]
    fn a_value_the_map_does_not_list_is_a_row_error_naming_what_it_accepts() {
        let map = parse(SMALL, "small").unwrap();
        let rows = mapped(&map, "Key,When,State,Service\nA-1,yesterday,Blocked,api\n");
        let errors = rows[0].as_ref().unwrap_err();
        let found: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "State",
                    "`Blocked` is not a value the map small knows for status (accepted: Done, In progress, New)"
                ),
                (
                    "State",
                    "`Blocked` is not a value the map small knows for outcome (accepted: Done, In progress, New)"
                ),
                (
                    "When",
                    "`yesterday` is not a date in the map's formats (%d/%b/%y %l:%M %p, %Y-%m-%d) or RFC 3339"
                ),
                (
                    "When",
                    "`yesterday` is not a date in the map's formats (%d/%b/%y %l:%M %p, %Y-%m-%d) or RFC 3339"
                ),
            ]
        );
        assert_eq!(errors[0].line, 2);
    }

    #[test]
    fn a_mapped_column_missing_from_the_file_is_named() {
        let map = parse(SMALL, "small").unwrap();
        let error = map.read_csv("Key,When\nA-1,2026-07-01\n").unwrap_err();
        assert_eq!(error.field, "Service");
        assert!(
            error.message.starts_with(
                "the map small reads these columns, which are: \"Service\", \"State\" missing"
            ),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_repeated_column_is_one_value_or_an_error() {
        let map = parse(SMALL, "small").unwrap();
        let rows = mapped(
            &map,
            "Key,When,State,State,Service\nA-1,2026-07-01,Done,New,api\n",
        );
        let errors = rows[0].as_ref().unwrap_err();
        assert_eq!(errors[0].field, "State");
        assert_eq!(
            errors[0].message,
            "has 2 values (Done, New); status, outcome takes one"
        );
    }

    #[test]
    fn importer_errors_name_the_source_column() {
        let map = parse(SMALL, "small").unwrap();
        let mut errors = vec![
            RowError::new(3, "createdAt", "bad"),
            RowError::new(3, "title", "is required"),
        ];
        map.name_sources(&mut errors);
        assert_eq!(errors[0].field, "createdAt (from \"When\")");
        assert_eq!(errors[1].field, "title");
    }

    #[test]
    fn a_wall_time_the_zone_skips_is_refused_and_one_it_repeats_is_the_earlier() {
        let map = parse(
            "time_zone = \"Europe/Berlin\"\ndate_formats = [\"%Y-%m-%d %H:%M\"]\n[columns]\nWhen = \"createdAt\"\n",
            "zone",
        )
        .unwrap();
        let rows = mapped(&map, "When\n2026-03-29 02:30\n2026-10-25 02:30\n");
        assert_eq!(
            rows[0].as_ref().unwrap_err()[0].message,
            "`2026-03-29 02:30` does not exist in Europe/Berlin (the clocks skipped it)"
        );
        assert_eq!(cell(&rows[1], "createdAt"), Some("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn a_map_file_extends_a_built_in_one() {
        let map = parse(
            "extends = \"servicenow\"\ntime_zone = \"America/New_York\"\n\
             [columns]\ncmdb_ci = []\n\"u_owner\" = \"requesterEmail\"\nrequested_by = []\n\
             [values.requesterEmail]\n\"Ada Lovelace\" = \"ada@example.com\"\n",
            "mine.toml",
        )
        .unwrap();
        assert_eq!(map.source_of("requesterEmail"), Some("u_owner"));
        assert_eq!(map.source_of("systems"), None);
        assert_eq!(map.source_of("title"), Some("short_description"));
        assert_eq!(map.time_zone, chrono_tz::America::New_York);
    }

    #[test]
    fn a_broken_map_says_what_is_wrong() {
        let invalid = |text: &str| match parse(text, "bad.toml") {
            Err(MapError::Invalid { message, .. }) => message,
            other => panic!("{other:?}"),
        };
        assert!(
            invalid("[columns]\nA = \"colour\"\n")
                .starts_with("columns.\"A\": `colour` is not an import column")
        );
        assert_eq!(
            invalid("[columns]\nA = \"title\"\nB = \"title\"\n"),
            "columns: `title` is fed by both `A` and `B`"
        );
        assert_eq!(
            invalid("[columns]\nA = \"status\"\n[values.status]\nx = \"FINISHED\"\n"),
            "values.status.\"x\": `FINISHED` is not a value of status"
        );
        assert_eq!(
            invalid("[values.type]\nx = \"normal\"\n"),
            "values.type: no column is mapped to `type`"
        );
        assert_eq!(
            invalid("time_zone = \"Mars/Olympus\"\n"),
            "time_zone: `Mars/Olympus` is not an IANA time zone"
        );
        assert_eq!(
            invalid("date_formats = [\"%Q\"]\n"),
            "date_formats: `%Q` is not a chrono strftime format"
        );
        assert!(
            invalid("extends = \"remedy\"\n")
                .starts_with("extends `remedy`, which is not a built-in map")
        );
        assert!(invalid("colour = 1\n").contains("unknown field `colour`"));
        assert!(matches!(
            load("/nonexistent/map.toml"),
            Err(MapError::Unreadable { .. })
        ));
    }
}
