//! XLSX: one sheet per table; the trend sheet carries native Excel charts.

use rust_xlsxwriter::{Chart, ChartType, Format, Workbook, Worksheet};

use super::headline_rows;
use crate::{
    document::{NotableChange, ReportDocument},
    report::{Bucket, ReportError, VolumeCount},
};

pub fn render(doc: &ReportDocument) -> Result<Vec<u8>, ReportError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let percent = Format::new().set_num_format("0.0%");
    let hours = Format::new().set_num_format("0.00");

    let summary = book.add_worksheet().set_name("Summary")?;
    summary.write_string_with_format(0, 0, &doc.title, &bold)?;
    summary.write_string(
        1,
        0,
        format!(
            "Period {} ({} to {}), time zone {}, policy {}",
            doc.headline.period,
            doc.headline.start.to_rfc3339(),
            doc.headline.end.to_rfc3339(),
            doc.time_zone,
            doc.policy
        ),
    )?;
    for (col, header) in ["Metric", "Target", "Actual", "Status"].iter().enumerate() {
        summary.write_string_with_format(3, col as u16, *header, &bold)?;
    }
    for (i, (metric, target, actual, status)) in headline_rows(doc).into_iter().enumerate() {
        let row = 4 + i as u32;
        summary.write_string(row, 0, metric)?;
        summary.write_string(row, 1, target)?;
        summary.write_string(row, 2, actual)?;
        summary.write_string(row, 3, status)?;
    }
    summary.set_column_width(0, 34)?;

    let trend_name = "Trend";
    let trend = book.add_worksheet().set_name(trend_name)?;
    let rows = write_series(trend, &doc.series, &bold, &percent, &hours)?;
    if rows > 0 {
        let last = rows;
        let mut volume = Chart::new(ChartType::Column);
        volume.title().set_name("Implemented changes");
        volume
            .add_series()
            .set_name("Implemented")
            .set_categories((trend_name, 1, 0, last, 0))
            .set_values((trend_name, 1, 1, last, 1));
        trend.insert_chart(last + 2, 0, &volume)?;
        let mut rates = Chart::new(ChartType::Line);
        rates.title().set_name("Rates");
        for (col, name) in [
            (2u16, "Success rate"),
            (3, "Failure rate"),
            (4, "Rollback rate"),
            (5, "Emergency share"),
            (6, "With issues"),
        ] {
            rates
                .add_series()
                .set_name(name)
                .set_categories((trend_name, 1, 0, last, 0))
                .set_values((trend_name, 1, col, last, col));
        }
        trend.insert_chart(last + 2, 8, &rates)?;
        let mut lead = Chart::new(ChartType::Line);
        lead.title().set_name("Lead time (hours)");
        for (col, name) in [(7u16, "p50"), (8, "p90")] {
            lead.add_series()
                .set_name(name)
                .set_categories((trend_name, 1, 0, last, 0))
                .set_values((trend_name, 1, col, last, col));
        }
        trend.insert_chart(last + 18, 0, &lead)?;
    }
    if !doc.detail.is_empty() {
        let months = book.add_worksheet().set_name("Months")?;
        write_series(months, &doc.detail, &bold, &percent, &hours)?;
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
    let headers = [
        "Period",
        "Implemented",
        "Success rate",
        "Failure rate",
        "Rollback rate",
        "Emergency share",
        "With issues rate",
        "Lead time p50 (h)",
        "Lead time p90 (h)",
        "Lead time mean (h)",
        "Change time mean (h)",
        "Change time p50 (h)",
        "Planned time mean (h)",
        "Approval time p50 (h)",
        "Approval time mean (h)",
        "CAB approval rate",
        "Emergency docs on time",
    ];
    for (col, header) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *header, bold)?;
    }
    for (i, b) in buckets.iter().enumerate() {
        let row = 1 + i as u32;
        sheet.write_string(row, 0, &b.period)?;
        sheet.write_number(row, 1, b.implemented as f64)?;
        let values = [
            (b.success_rate, true),
            (b.failure_rate, true),
            (b.rollback_rate, true),
            (b.emergency_share, true),
            (b.with_issues_rate, true),
            (b.lead_time_hours.p50, false),
            (b.lead_time_hours.p90, false),
            (b.lead_time_hours.mean, false),
            (b.change_duration_hours.mean, false),
            (b.change_duration_hours.p50, false),
            (b.change_duration_hours.planned_mean, false),
            (b.approval_time_hours.p50, false),
            (b.approval_time_hours.mean, false),
            (b.cab_approval_rate, true),
            (b.emergency_docs_on_time_rate, true),
        ];
        for (j, (value, rate)) in values.into_iter().enumerate() {
            // Null stays an empty cell: a chart shows a gap, not a zero.
            if let Some(v) = value {
                sheet.write_number_with_format(
                    row,
                    2 + j as u16,
                    v,
                    if rate { percent } else { hours },
                )?;
            }
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
        sheet.write_string(row, 5, if c.approved_on_time() { "yes" } else { "no" })?;
        sheet.write_string(row, 6, c.rollback_reason.as_deref().unwrap_or(""))?;
    }
    Ok(())
}
