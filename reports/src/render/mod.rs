//! Report formats. Tables go through polars (CSV, Parquet) or
//! rust_xlsxwriter (XLSX); HTML and Markdown are written directly.

mod figures;
pub mod formula;
mod html;
mod markdown;
mod xlsx;

use std::{fmt, str::FromStr};

use polars::prelude::*;

use crate::{
    document::{NotableChange, ReportDocument},
    report::{Bucket, ReportError, VolumeCount},
    vocabulary::out,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Parquet,
    Xlsx,
    Html,
    Md,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Parquet => "application/vnd.apache.parquet",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Html => "text/html; charset=utf-8",
            Self::Md => "text/markdown; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Parquet => "parquet",
            Self::Xlsx => "xlsx",
            Self::Html => "html",
            Self::Md => "md",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "json" => Self::Json,
            "csv" => Self::Csv,
            "parquet" => Self::Parquet,
            "xlsx" => Self::Xlsx,
            "html" => Self::Html,
            "md" | "markdown" => Self::Md,
            other => {
                return Err(format!(
                    "unknown format `{other}` (json, csv, parquet, xlsx, html, md)"
                ));
            }
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// Which table a CSV or Parquet export holds (one table per file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Table {
    /// One row per period of the trend series, every metric a column.
    #[default]
    Metrics,
    ByType,
    ByOutcome,
    BySystem,
    Emergencies,
    Rollbacks,
}

impl FromStr for Table {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "metrics" => Self::Metrics,
            "by-type" => Self::ByType,
            "by-outcome" => Self::ByOutcome,
            "by-system" => Self::BySystem,
            "emergencies" => Self::Emergencies,
            "rollbacks" => Self::Rollbacks,
            other => {
                return Err(format!(
                    "unknown table `{other}` (metrics, by-type, by-outcome, by-system, emergencies, rollbacks)"
                ));
            }
        })
    }
}

/// Renders `doc` in `format`. Blocking.
pub fn render(doc: &ReportDocument, format: Format, table: Table) -> Result<Vec<u8>, ReportError> {
    match format {
        Format::Json => serde_json::to_vec_pretty(doc)
            .map_err(|e| ReportError::Unsupported(format!("JSON encoding failed: {e}"))),
        Format::Csv => {
            let mut frame = neutralise_text(table_frame(doc, table)?)?;
            let mut buffer = Vec::new();
            CsvWriter::new(&mut buffer)
                .include_header(true)
                .finish(&mut frame)?;
            Ok(buffer)
        }
        Format::Parquet => {
            let mut frame = typed_instants(table_frame(doc, table)?)?;
            let mut buffer = Vec::new();
            ParquetWriter::new(&mut buffer).finish(&mut frame)?;
            Ok(buffer)
        }
        Format::Xlsx => xlsx::render(doc),
        Format::Html => Ok(html::render(doc).into_bytes()),
        Format::Md => Ok(markdown::render(doc).into_bytes()),
    }
}

/// `frame` with every text cell through [`formula::neutralise`]: titles,
/// rollback reasons and system names are client text. Numbers are left
/// alone (a negative number is not a formula in a numeric column), and so
/// is Parquet, which a spreadsheet does not evaluate.
fn neutralise_text(frame: DataFrame) -> PolarsResult<DataFrame> {
    let height = frame.height();
    let columns = frame
        .columns()
        .iter()
        .map(|column| {
            if column.dtype() != &DataType::String {
                return Ok(column.clone());
            }
            let cells: Vec<Option<String>> = column
                .str()?
                .iter()
                .map(|cell| cell.map(|text| formula::neutralise(text).into_owned()))
                .collect();
            Ok(Column::new(column.name().clone(), cells))
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(height, columns)
}

/// The columns of the export tables that hold instants, as RFC 3339 text
/// (what CSV writes, with the offset of the report's time zone for the
/// periods).
const INSTANT_COLUMNS: [&str; 6] = [
    out::START,
    out::END,
    "actual_start",
    "actual_end",
    "approved_at",
    "approval_due_at",
];

/// `frame` with its instant columns as `Datetime(µs, "UTC")` instead of
/// text, for Parquet: DuckDB, pandas, pyarrow and Spark then read them as
/// timestamps (UTC-adjusted, so the instant is kept whatever zone the
/// report was cut in) and not as strings to parse.
fn typed_instants(mut frame: DataFrame) -> Result<DataFrame, ReportError> {
    for name in INSTANT_COLUMNS {
        let Ok(column) = frame.column(name) else {
            continue;
        };
        let micros = column
            .str()?
            .iter()
            .map(|text| {
                text.map(|text| {
                    chrono::DateTime::parse_from_rfc3339(text)
                        .map(|instant| instant.timestamp_micros())
                        .map_err(|e| {
                            ReportError::Unsupported(format!(
                                "{name}: `{text}` is not RFC 3339: {e}"
                            ))
                        })
                })
                .transpose()
            })
            .collect::<Result<Vec<Option<i64>>, _>>()?;
        // Typed directly rather than cast: a cast to a zoned type drops the
        // zone without polars' `timezones` feature, which nothing else
        // here needs.
        let instants = Int64Chunked::new(name.into(), &micros)
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        frame.with_column(instants.into_column())?;
    }
    Ok(frame)
}

/// The table behind a CSV or Parquet export.
pub fn table_frame(doc: &ReportDocument, table: Table) -> Result<DataFrame, ReportError> {
    Ok(match table {
        Table::Metrics => doc.series_table.clone(),
        Table::ByType => volume_frame(&doc.series, |b| &b.volume_by_type)?,
        Table::ByOutcome => volume_frame(&doc.series, |b| &b.volume_by_outcome)?,
        Table::BySystem => volume_frame(&doc.series, |b| &b.volume_by_system)?,
        Table::Emergencies => notable_frame(&doc.emergencies)?,
        Table::Rollbacks => notable_frame(&doc.rollbacks)?,
    })
}

fn volume_frame(
    series: &[Bucket],
    pick: impl Fn(&Bucket) -> &Vec<VolumeCount>,
) -> PolarsResult<DataFrame> {
    let mut periods = Vec::new();
    let mut keys = Vec::new();
    let mut counts = Vec::new();
    for bucket in series {
        for count in pick(bucket) {
            periods.push(bucket.period.clone());
            keys.push(count.key.clone());
            counts.push(count.count);
        }
    }
    DataFrame::new(
        counts.len(),
        vec![
            Column::new(out::LABEL.into(), periods),
            Column::new(out::KEY.into(), keys),
            Column::new(out::COUNT.into(), counts),
        ],
    )
}

fn rfc3339(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn notable_frame(list: &[NotableChange]) -> PolarsResult<DataFrame> {
    let text = |f: &dyn Fn(&NotableChange) -> Option<String>| -> Vec<Option<String>> {
        list.iter().map(f).collect()
    };
    DataFrame::new(
        list.len(),
        vec![
            Column::new("number".into(), text(&|c| Some(c.number.clone()))),
            Column::new("title".into(), text(&|c| Some(c.title.clone()))),
            Column::new("type".into(), text(&|c| Some(c.change_type.clone()))),
            Column::new("outcome".into(), text(&|c| c.outcome.clone())),
            Column::new("actual_start".into(), text(&|c| rfc3339(c.actual_start))),
            Column::new("actual_end".into(), text(&|c| rfc3339(c.actual_end))),
            Column::new("approved_at".into(), text(&|c| rfc3339(c.approved_at))),
            Column::new(
                "approval_due_at".into(),
                text(&|c| rfc3339(c.approval_due_at)),
            ),
            Column::new(
                "rollback_reason".into(),
                text(&|c| c.rollback_reason.clone()),
            ),
        ],
    )
}
