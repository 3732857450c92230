//! XLSX: one sheet per table; the trend sheet carries native Excel charts.

use rust_xlsxwriter::{Chart, ChartType, Format, Workbook, Worksheet};

use super::figures::{headline_rows, show_instant, zone_of};
use crate::{
    catalogue::{Metric, Unit},
    document::{NotableChange, ReportDocument},
    period::Granularity,
    report::{Bucket, ReportError, VolumeCount},
};

/// The number formats of the Summary's values, by unit: the value stays a
/// number and the format writes it as the text formats do (`66.7%`,
/// `1.50 h`, `0.25 /day`, `7`).
struct SummaryFormats {
    count: Format,
    rate: Format,
    hours: Format,
    per_day: Format,
}

impl SummaryFormats {
    fn new() -> Self {
        Self {
            count: Format::new().set_num_format("0"),
            rate: Format::new().set_num_format("0.0%"),
            hours: Format::new().set_num_format("0.00\" h\""),
            per_day: Format::new().set_num_format("0.00\" /day\""),
        }
    }

    fn of(&self, unit: Unit) -> &Format {
        match unit {
            Unit::Count => &self.count,
            Unit::Rate => &self.rate,
            Unit::Hours => &self.hours,
            Unit::PerDay => &self.per_day,
        }
    }
}

/// The columns of a series sheet after the period: header and metric. The
/// headers name the unit of the hours, which the cells' format does not.
const SERIES: [(&str, Metric); 22] = [
    ("Implemented", Metric::Implemented),
    ("Success rate", Metric::SuccessRate),
    ("Failure rate", Metric::FailureRate),
    ("Rollback rate", Metric::RollbackRate),
    ("Emergency share", Metric::EmergencyShare),
    ("With issues rate", Metric::WithIssuesRate),
    ("Lead time p50 (h)", Metric::LeadTimeP50Hours),
    ("Lead time p90 (h)", Metric::LeadTimeP90Hours),
    ("Lead time mean (h)", Metric::LeadTimeMeanHours),
    ("Change time mean (h)", Metric::ChangeDurationMeanHours),
    ("Change time p50 (h)", Metric::ChangeDurationP50Hours),
    ("Planned time mean (h)", Metric::PlannedDurationMeanHours),
    ("Approval time p50 (h)", Metric::ApprovalTimeP50Hours),
    ("Approval time mean (h)", Metric::ApprovalTimeMeanHours),
    ("CAB approval rate", Metric::CabApprovalRate),
    ("Emergency docs on time", Metric::EmergencyDocsOnTimeRate),
    ("Deployments", Metric::Deployments),
    ("Deployments per day", Metric::DeploymentsPerDay),
    (
        "Lead time for changes p50 (h)",
        Metric::DeploymentLeadTimeP50Hours,
    ),
    ("Deployment failure rate", Metric::DeploymentFailureRate),
    ("Time to restore mean (h)", Metric::TimeToRestoreMeanHours),
    ("Unauthorised deployments", Metric::UnauthorisedDeployments),
];

/// The column of `metric` in a series sheet.
fn series_column(metric: Metric) -> u16 {
    (1u16..)
        .zip(SERIES)
        .find(|(_, (_, m))| *m == metric)
        .map_or(0, |(col, _)| col)
}

pub fn render(doc: &ReportDocument) -> Result<Vec<u8>, ReportError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let percent = Format::new().set_num_format("0.0%");
    let hours = Format::new().set_num_format("0.00");
    let zone = zone_of(doc);

    let summary = book.add_worksheet().set_name("Summary")?;
    summary.write_string_with_format(0, 0, &doc.title, &bold)?;
    summary.write_string(
        1,
        0,
        format!(
            "Period {} ({} to {}), time zone {}, policy {}",
            doc.headline.period,
            show_instant(doc.headline.start, zone),
            show_instant(doc.headline.end, zone),
            doc.time_zone,
            doc.policy
        ),
    )?;
    for (col, header) in ["Metric", "Target", "Actual", "Status"].iter().enumerate() {
        summary.write_string_with_format(3, col as u16, *header, &bold)?;
    }
    // The actual values are numbers, so a spreadsheet (or openpyxl) can
    // compute with them; the cell's format shows the unit, which the
    // Summary's one column of mixed metrics has no header for.
    let summary_formats = SummaryFormats::new();
    for (row, headline) in (4u32..).zip(headline_rows(doc)) {
        summary.write_string(row, 0, headline.metric.label())?;
        summary.write_string(row, 1, &headline.target)?;
        // Null stays an empty cell, like the series sheets' gaps.
        if let Some(value) = headline.value {
            summary.write_number_with_format(
                row,
                2,
                value,
                summary_formats.of(headline.metric.unit()),
            )?;
        }
        summary.write_string(row, 3, headline.status)?;
    }
    summary.set_column_width(0, 34)?;
    summary.set_column_width(2, 12)?;

    let trend_name = "Trend";
    let trend = book.add_worksheet().set_name(trend_name)?;
    let rows = write_series(trend, &doc.series, &bold, &percent, &hours)?;
    if rows > 0 {
        let last = rows;
        let implemented = series_column(Metric::Implemented);
        let mut volume = Chart::new(ChartType::Column);
        volume.title().set_name("Implemented changes");
        volume
            .add_series()
            .set_name("Implemented")
            .set_categories((trend_name, 1, 0, last, 0))
            .set_values((trend_name, 1, implemented, last, implemented));
        trend.insert_chart(last + 2, 0, &volume)?;
        let mut rates = Chart::new(ChartType::Line);
        rates.title().set_name("Rates");
        for (name, metric) in [
            ("Success rate", Metric::SuccessRate),
            ("Failure rate", Metric::FailureRate),
            ("Rollback rate", Metric::RollbackRate),
            ("Emergency share", Metric::EmergencyShare),
            ("With issues", Metric::WithIssuesRate),
        ] {
            let col = series_column(metric);
            rates
                .add_series()
                .set_name(name)
                .set_categories((trend_name, 1, 0, last, 0))
                .set_values((trend_name, 1, col, last, col));
        }
        trend.insert_chart(last + 2, 8, &rates)?;
        let mut lead = Chart::new(ChartType::Line);
        lead.title().set_name("Lead time (hours)");
        for (name, metric) in [
            ("p50", Metric::LeadTimeP50Hours),
            ("p90", Metric::LeadTimeP90Hours),
        ] {
            let col = series_column(metric);
            lead.add_series()
                .set_name(name)
                .set_categories((trend_name, 1, 0, last, 0))
                .set_values((trend_name, 1, col, last, col));
        }
        trend.insert_chart(last + 18, 0, &lead)?;
    }
    // Every workbook whose periods are months or coarser has the months:
    // a quarterly or trends report its finer series, a monthly report its
    // series itself (the Trend sheet's rows, without the charts). A weekly
    // CAB report reads weeks only.
    let months = if doc.detail.is_empty() && doc.series_granularity == Granularity::Month {
        &doc.series
    } else {
        &doc.detail
    };
    if !months.is_empty() {
        let sheet = book.add_worksheet().set_name("Months")?;
        write_series(sheet, months, &bold, &percent, &hours)?;
    }
    for (name, pick) in [
        (
            "By type",
            (|b: &Bucket| &b.volume_by_type) as fn(&Bucket) -> &Vec<VolumeCount>,
        ),
        ("By outcome", |b: &Bucket| &b.volume_by_outcome),
        ("By system", |b: &Bucket| &b.volume_by_system),
    ] {
        let sheet = book.add_worksheet().set_name(name)?;
        for (col, header) in ["Period", "Key", "Changes"].iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, *header, &bold)?;
        }
        let mut row = 1;
        for bucket in &doc.series {
            for count in pick(bucket) {
                sheet.write_string(row, 0, &bucket.period)?;
                sheet.write_string(row, 1, &count.key)?;
                sheet.write_number(row, 2, count.count as f64)?;
                row += 1;
            }
        }
    }
    write_notable(
        book.add_worksheet().set_name("Emergencies")?,
        &doc.emergencies,
        &bold,
    )?;
    write_notable(
        book.add_worksheet().set_name("Rollbacks")?,
        &doc.rollbacks,
        &bold,
    )?;
    Ok(book.save_to_buffer()?)
}

/// Writes one row per bucket; returns the number of data rows.
fn write_series(
    sheet: &mut Worksheet,
    buckets: &[Bucket],
    bold: &Format,
    percent: &Format,
    hours: &Format,
) -> Result<u32, ReportError> {
    sheet.write_string_with_format(0, 0, "Period", bold)?;
    for (col, (header, _)) in (1u16..).zip(SERIES) {
        sheet.write_string_with_format(0, col, header, bold)?;
    }
    for (row, b) in (1u32..).zip(buckets) {
        sheet.write_string(row, 0, &b.period)?;
        for (col, (_, metric)) in (1u16..).zip(SERIES) {
            // Null stays an empty cell: a chart shows a gap, not a zero.
            let Some(v) = b.value(metric) else {
                continue;
            };
            match metric.unit() {
                Unit::Count => sheet.write_number(row, col, v)?,
                Unit::Rate => sheet.write_number_with_format(row, col, v, percent)?,
                Unit::Hours | Unit::PerDay => sheet.write_number_with_format(row, col, v, hours)?,
            };
        }
    }
    sheet.set_column_width(0, 12)?;
    Ok(buckets.len() as u32)
}

fn write_notable(
    sheet: &mut Worksheet,
    list: &[NotableChange],
    bold: &Format,
) -> Result<(), ReportError> {
    for (col, header) in [
        "Change",
        "Title",
        "Type",
        "Outcome",
        "Ended",
        "Approved on time",
        "Rollback reason",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string_with_format(0, col as u16, *header, bold)?;
    }
    for (i, c) in list.iter().enumerate() {
        let row = 1 + i as u32;
        sheet.write_string(row, 0, &c.number)?;
        sheet.write_string(row, 1, &c.title)?;
        sheet.write_string(row, 2, &c.change_type)?;
        sheet.write_string(row, 3, c.outcome.as_deref().unwrap_or(""))?;
        sheet.write_string(
            row,
            4,
            c.actual_end.map(|t| t.to_rfc3339()).unwrap_or_default(),
        )?;
        sheet.write_string(row, 5, c.approved_on_time_label())?;
        sheet.write_string(row, 6, c.rollback_reason.as_deref().unwrap_or(""))?;
    }
    Ok(())
}
