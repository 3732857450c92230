//! The report formats. The bytes of every text format for one fixed
//! quarter, against files committed in `tests/snapshots/`: a change to a
//! header, a label, a column name or a number format shows up here as a
//! diff to review (`UPDATE_SNAPSHOTS=1 cargo test -p reports --test
//! render` rewrites them). And what a reader relies on, read back: the
//! HTML charts' geometry from their SVG, the workbooks' sheets and number
//! cells from their XML parts, the Parquet instants' types.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use reports::{
    ChangeFacts, ChangeFramesBuilder, Metric, MetricsOptions, Unit,
    document::{self, NotableChange, ReportKind, ReportPlan},
    parse_targets,
    period::parse_time_zone,
    render::{Format, Table, render},
};

fn t(s: &str) -> Option<DateTime<Utc>> {
    Some(at(s))
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn change(change_type: &str, outcome: &str, submitted: &str, hours: [i64; 3]) -> ChangeFacts {
    // hours: approval after submission, start after submission, duration.
    let submitted_at = at(submitted);
    let hour = chrono::Duration::hours;
    let start = submitted_at + hour(hours[1]);
    ChangeFacts {
        change_type: change_type.to_owned(),
        outcome: Some(outcome.to_owned()),
        submitted_at: Some(submitted_at),
        approved_at: Some(submitted_at + hour(hours[0])),
        scheduled_start: Some(start),
        scheduled_end: Some(start + hour(2)),
        actual_start: Some(start),
        actual_end: Some(start + hour(hours[2])),
        ..ChangeFacts::default()
    }
}

fn document() -> reports::document::ReportDocument {
    let mut b = ChangeFramesBuilder::default();
    let changes = [
        change("normal", "SUCCESSFUL", "2026-01-05T09:00:00Z", [3, 30, 1]),
        change(
            "normal",
            "SUCCESSFUL_WITH_ISSUES",
            "2026-01-12T09:00:00Z",
            [5, 50, 3],
        ),
        change("major", "FAILED", "2026-02-02T09:00:00Z", [20, 70, 4]),
        change("normal", "SUCCESSFUL", "2026-02-16T09:00:00Z", [2, 26, 1]),
        change("normal", "SUCCESSFUL", "2026-03-02T09:00:00Z", [4, 40, 2]),
        change("standard", "SUCCESSFUL", "2026-03-09T09:00:00Z", [1, 5, 1]),
    ];
    for (i, facts) in changes.into_iter().enumerate() {
        let key = b.push(facts);
        b.push_system(key, if i % 2 == 0 { "api" } else { "db" });
        b.push_board_decision(
            if i == 2 { "REJECTED" } else { "APPROVED" },
            at("2026-01-02T00:00:00Z") + chrono::Duration::days(14 * i as i64),
        );
    }
    let emergency = b.push(ChangeFacts {
        change_type: "emergency".into(),
        outcome: Some("ROLLED_BACK".into()),
        submitted_at: t("2026-02-10T00:00:00Z"),
        approved_at: t("2026-02-10T20:00:00Z"),
        actual_start: t("2026-02-10T01:00:00Z"),
        actual_end: t("2026-02-10T02:00:00Z"),
        approval_due_at: t("2026-02-11T01:00:00Z"),
        has_incident: true,
        ..ChangeFacts::default()
    });
    b.push_system(emergency, "=db");
    // Last year, for the trend series.
    b.push(change(
        "normal",
        "SUCCESSFUL",
        "2025-11-03T09:00:00Z",
        [6, 30, 2],
    ));
    let frames = b.finish().unwrap();

    let targets = parse_targets(Metric::with_targets().map(|metric| {
        let text = if metric.unit() == Unit::Rate {
            "> 50%"
        } else {
            "< 24"
        };
        (metric.key(), text)
    }))
    .unwrap();
    let options = MetricsOptions::new(targets);
    let zone = parse_time_zone("Europe/Berlin").unwrap();
    let plan = ReportPlan::new(
        ReportKind::Quarterly {
            period: "2026-Q1".into(),
        },
        zone,
    )
    .unwrap();
    let notable = vec![NotableChange {
        number: "CR-2026-0007".into(),
        title: "Roll back | the *cache* <now>".into(),
        change_type: "emergency".into(),
        outcome: Some("ROLLED_BACK".into()),
        actual_start: t("2026-02-10T01:00:00Z"),
        actual_end: t("2026-02-10T02:00:00Z"),
        approved_at: t("2026-02-10T20:00:00Z"),
        approval_due_at: t("2026-02-11T01:00:00Z"),
        rollback_reason: Some("=cmd".into()),
    }];
    document::build(
        &plan,
        &frames,
        &options,
        notable,
        "tiered-cab",
        at("2026-04-01T06:00:00Z"),
    )
    .unwrap()
}

fn check(name: &str, bytes: Vec<u8>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &bytes).unwrap();
        return;
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    assert!(
        expected == bytes,
        "{name} differs from its snapshot:\n{}",
        String::from_utf8_lossy(&bytes)
    );
}

#[test]
fn text_formats_match_their_snapshots() {
    let doc = document();
    for (name, format) in [
        ("quarterly.json", Format::Json),
        ("quarterly.md", Format::Md),
        ("quarterly.html", Format::Html),
    ] {
        check(name, render(&doc, format, Table::Metrics).unwrap());
    }
    for (name, table) in [
        ("metrics.csv", Table::Metrics),
        ("by-type.csv", Table::ByType),
        ("by-outcome.csv", Table::ByOutcome),
        ("by-system.csv", Table::BySystem),
        ("emergencies.csv", Table::Emergencies),
        ("rollbacks.csv", Table::Rollbacks),
    ] {
        check(name, render(&doc, Format::Csv, table).unwrap());
    }
}

// ---------------------------------------------------------------------
// A year of busier months (UTC): 30 to 41 changes a month, none, one or
// two of them failed, so success rates run between 93 and 100 %, and one
// emergency a month.

fn busy_year(kind: ReportKind) -> reports::document::ReportDocument {
    let mut b = ChangeFramesBuilder::default();
    for month in 1..=12u32 {
        let first = at(&format!("2026-{month:02}-01T08:00:00Z"));
        for i in 0..(29 + month) {
            let submitted = first + chrono::Duration::hours(i64::from(i) * 12);
            let outcome = if i < month % 3 {
                "FAILED"
            } else {
                "SUCCESSFUL"
            };
            let mut facts = change(
                "normal",
                outcome,
                &submitted.to_rfc3339(),
                [2, 6 + i64::from(i % 5), 1 + i64::from(i % 2)],
            );
            facts.has_incident = i == 0;
            let key = b.push(facts);
            b.push_system(key, ["api", "db", "network"][i as usize % 3]);
        }
        b.push(ChangeFacts {
            change_type: "emergency".into(),
            ..change(
                "emergency",
                "SUCCESSFUL_WITH_ISSUES",
                &(first + chrono::Duration::days(20)).to_rfc3339(),
                [3, 1, 1],
            )
        });
    }
    let targets = parse_targets([
        ("success_rate", "> 95%"),
        ("rollback_rate", "< 5%"),
        ("failure_rate", "< 5%"),
        ("emergency_share", "< 5%"),
        ("with_issues_rate", "< 10%"),
        ("lead_time_p50_hours", "< 24"),
        ("change_duration_mean_hours", "< 2"),
    ])
    .unwrap();
    let plan = ReportPlan::new(kind, parse_time_zone("UTC").unwrap()).unwrap();
    document::build(
        &plan,
        &b.finish().unwrap(),
        &MetricsOptions::new(targets),
        Vec::new(),
        "tiered-cab",
        at("2026-12-02T01:18:32.047864Z"),
    )
    .unwrap()
}

fn every_kind() -> Vec<(ReportKind, reports::document::ReportDocument)> {
    [
        ReportKind::Monthly {
            period: "2026-12".into(),
        },
        ReportKind::Quarterly {
            period: "2026-Q4".into(),
        },
        ReportKind::Trends {
            from: "2024-Q1".into(),
            to: "2026-Q4".into(),
        },
        ReportKind::CabWeekly {
            week: "2026-W50".into(),
        },
    ]
    .into_iter()
    .map(|kind| (kind.clone(), busy_year(kind)))
    .collect()
}

// ---------------------------------------------------------------------
// Reading XML back: the SVG charts of the HTML report, the parts of an
// XLSX workbook.

#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: std::collections::HashMap<String, String>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .unwrap_or_else(|| panic!("<{}> has no {name}: {:?}", self.name, self.attrs))
    }

    fn number(&self, name: &str) -> f64 {
        let text = self.attr(name);
        text.parse()
            .unwrap_or_else(|_| panic!("<{}> {name}=\"{text}\" is not a number", self.name))
    }

    /// Every node below this one, depth first.
    fn descendants(&self) -> Vec<&Node> {
        let mut all = Vec::new();
        for child in &self.children {
            all.push(child);
            all.extend(child.descendants());
        }
        all
    }

    fn all(&self, name: &str) -> Vec<&Node> {
        self.descendants()
            .into_iter()
            .filter(|n| n.name == name)
            .collect()
    }
}

fn parse_xml(xml: &str) -> Node {
    use quick_xml::{
        escape::resolve_predefined_entity,
        events::{BytesStart, Event},
    };
    fn open(e: &BytesStart) -> Node {
        Node {
            name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
            attrs: e
                .attributes()
                .map(|a| {
                    let a = a.unwrap();
                    (
                        String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                        a.unescape_value().unwrap().into_owned(),
                    )
                })
                .collect(),
            ..Node::default()
        }
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack = vec![Node::default()];
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => stack.push(open(&e)),
            Event::Empty(e) => stack.last_mut().unwrap().children.push(open(&e)),
            Event::End(_) => {
                let node = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(node);
            }
            Event::Text(t) => stack
                .last_mut()
                .unwrap()
                .text
                .push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().unwrap();
                        resolve_predefined_entity(&name)
                            .unwrap_or_else(|| panic!("unknown entity &{name};"))
                            .to_owned()
                    }
                };
                stack.last_mut().unwrap().text.push_str(&text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    stack.pop().unwrap()
}

/// The `<svg>` elements of an HTML page, parsed.
fn charts(html: &str) -> Vec<Node> {
    html.match_indices("<svg")
        .map(|(start, _)| {
            let end = start + html[start..].find("</svg>").expect("closed svg") + "</svg>".len();
            let mut root = parse_xml(&html[start..end]);
            root.children.pop().unwrap()
        })
        .collect()
}

/// The box a text takes, from its anchor, a generous width per character
/// (digits are about 0.55 em in a sans serif face, capitals wider, `W`,
/// `M` and `%` widest) and the font's height above and below the baseline.
fn text_box(text: &Node, font_size: f64) -> [f64; 4] {
    let width: f64 = text
        .text
        .chars()
        .map(|c| match c {
            'W' | 'M' | 'm' | 'w' | '%' | '@' => 0.95,
            c if c.is_uppercase() => 0.72,
            _ => 0.6,
        })
        .sum::<f64>()
        * font_size;
    let (x, y) = (text.number("x"), text.number("y"));
    let left = match text.attr("text-anchor") {
        "start" => x,
        "middle" => x - width / 2.0,
        "end" => x - width,
        other => panic!("anchor {other}"),
    };
    [
        left,
        y - 0.8 * font_size,
        left + width,
        y + 0.25 * font_size,
    ]
}

fn overlap(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// Every bar, point and line of `svg` inside its plot (the box its grid
/// lines span), every text inside the view box and clear of the others,
/// the value ticks distinct, the last period labelled, both axes titled.
fn check_chart(svg: &Node, periods: &[String], context: &str) {
    let name = format!("{context}: {}", svg.attr("aria-label"));
    let view: Vec<f64> = svg
        .attr("viewBox")
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    let (width, height) = (view[2], view[3]);
    let font_size = svg.number("font-size");
    let grid: Vec<&Node> = svg
        .all("line")
        .into_iter()
        .filter(|l| l.attrs.get("class").map(String::as_str) == Some("grid"))
        .collect();
    assert!(grid.len() >= 3, "{name}: {} grid lines", grid.len());
    let ys = grid.iter().map(|l| l.number("y1"));
    let (top, bottom) = (ys.clone().fold(f64::MAX, f64::min), ys.fold(0.0, f64::max));
    let left = grid.iter().map(|l| l.number("x1")).fold(f64::MAX, f64::min);
    let right = grid.iter().map(|l| l.number("x2")).fold(0.0, f64::max);
    assert!(
        0.0 < left && right < width && 0.0 < top && bottom < height,
        "{name}: plot"
    );
    let inside = |x: f64, y: f64| {
        (left - 0.05..=right + 0.05).contains(&x) && (top - 0.05..=bottom + 0.05).contains(&y)
    };

    let bars = svg.all("rect");
    if svg.attr("aria-label") == "Implemented changes" {
        assert_eq!(bars.len(), periods.len(), "{name}: a bar per period");
    }
    for bar in bars {
        let (x, y) = (bar.number("x"), bar.number("y"));
        let (w, h) = (bar.number("width"), bar.number("height"));
        assert!(w > 0.0 && h >= 0.0, "{name}: bar {:?}", bar.attrs);
        assert!(
            inside(x, y) && inside(x + w, y + h),
            "{name}: bar {:?} outside the plot {left}..{right} x {top}..{bottom}",
            bar.attrs
        );
    }
    for point in svg.all("circle") {
        let (x, y, r) = (point.number("cx"), point.number("cy"), point.number("r"));
        assert!(inside(x, y), "{name}: point {:?}", point.attrs);
        assert!(x - r >= 0.0 && x + r <= width && y - r >= 0.0 && y + r <= height);
    }
    for path in svg.all("path") {
        for xy in path
            .attr("d")
            .split([' ', 'M', 'L'])
            .filter(|s| !s.is_empty())
        {
            let (x, y) = xy.split_once(',').unwrap();
            assert!(
                inside(x.parse().unwrap(), y.parse().unwrap()),
                "{name}: line through {xy}"
            );
        }
    }
    for target in svg.all("line") {
        if target.attrs.get("class").map(String::as_str) == Some("target") {
            assert!(
                inside(target.number("x1"), target.number("y1")),
                "{name}: target"
            );
        }
    }

    let texts: Vec<&Node> = svg.children.iter().filter(|n| n.name == "text").collect();
    let boxes: Vec<[f64; 4]> = texts.iter().map(|t| text_box(t, font_size)).collect();
    for (text, b) in texts.iter().zip(&boxes) {
        assert!(
            b[0] >= 0.0 && b[2] <= width && b[1] >= 0.0 && b[3] <= height,
            "{name}: `{}` at {b:?} outside 0 0 {width} {height}",
            text.text
        );
    }
    for i in 0..texts.len() {
        for j in i + 1..texts.len() {
            assert!(
                !overlap(boxes[i], boxes[j]),
                "{name}: `{}` overlaps `{}`",
                texts[i].text,
                texts[j].text
            );
        }
    }
    let ticks: Vec<&str> = texts
        .iter()
        .filter(|t| t.number("x") < left && t.attr("text-anchor") == "end")
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(ticks.len(), grid.len(), "{name}: a label per grid line");
    let mut distinct = ticks.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ticks.len(), "{name}: ticks {ticks:?}");
    let labelled: Vec<&str> = texts
        .iter()
        .map(|t| t.text.as_str())
        .filter(|t| periods.iter().any(|p| p == t))
        .collect();
    assert_eq!(
        labelled.last().copied(),
        periods.last().map(String::as_str),
        "{name}: the current period is labelled"
    );
    assert!(
        texts.iter().any(
            |t| ["quarter", "month", "ISO week"].contains(&t.text.as_str())
                && t.number("y") > bottom
        ),
        "{name}: the period axis has a title"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.number("y") < top && t.attr("text-anchor") == "start"),
        "{name}: the value axis has a title"
    );
    let target_label = texts.iter().find(|t| t.text.starts_with("target "));
    assert_eq!(
        target_label.is_some(),
        svg.all("line")
            .iter()
            .any(|l| l.attrs.get("class").map(String::as_str) == Some("target")),
        "{name}: a target line has its label"
    );
    if let Some(label) = target_label {
        let threshold = label.text["target ".len()..]
            .trim_start_matches(['<', '>', '='])
            .trim();
        assert!(
            threshold.starts_with(|c: char| c.is_ascii_digit()),
            "{name}: `{}` names the threshold",
            label.text
        );
    }
}

#[test]
fn charts_keep_bars_points_and_labels_inside_their_frames() {
    let mut reports = vec![("quarterly fixture".to_owned(), document())];
    reports.extend(
        every_kind()
            .into_iter()
            .map(|(kind, doc)| (format!("{kind:?}"), doc)),
    );
    for (context, doc) in reports {
        let html = String::from_utf8(render(&doc, Format::Html, Table::Metrics).unwrap()).unwrap();
        let periods: Vec<String> = doc.series.iter().map(|b| b.period.clone()).collect();
        let svgs = charts(&html);
        assert_eq!(svgs.len(), 8, "{context}");
        for svg in &svgs {
            check_chart(svg, &periods, &context);
        }
    }
}

#[test]
fn a_success_rate_near_the_target_is_not_drawn_on_a_zero_to_100_percent_axis() {
    let doc = busy_year(ReportKind::Monthly {
        period: "2026-12".into(),
    });
    let rates: Vec<f64> = doc.series.iter().filter_map(|b| b.success_rate).collect();
    assert!(rates.iter().all(|r| (0.93..=1.0).contains(r)), "{rates:?}");
    let html = String::from_utf8(render(&doc, Format::Html, Table::Metrics).unwrap()).unwrap();
    let svgs = charts(&html);
    let success = svgs
        .iter()
        .find(|s| s.attr("aria-label") == "Success rate")
        .unwrap();
    let ticks: Vec<&str> = success
        .children
        .iter()
        .filter(|t| {
            t.name == "text" && t.attrs.get("text-anchor").map(String::as_str) == Some("end")
        })
        .map(|t| t.text.as_str())
        .filter(|t| !t.starts_with("target"))
        .collect();
    assert_eq!(ticks.first(), Some(&"92 %"), "{ticks:?}");
    assert_eq!(ticks.last(), Some(&"100 %"), "{ticks:?}");
    let labels: Vec<&str> = success
        .all("text")
        .iter()
        .map(|t| t.text.as_str())
        .collect();
    assert!(labels.contains(&"target > 95 %"), "{labels:?}");
    assert!(labels.contains(&"% of implemented changes"), "{labels:?}");
    assert!(labels.contains(&"month"), "{labels:?}");
}

#[test]
fn people_read_instants_to_the_minute_and_outcomes_in_words() {
    let doc = busy_year(ReportKind::Quarterly {
        period: "2026-Q4".into(),
    });
    for format in [Format::Html, Format::Md] {
        let text = String::from_utf8(render(&doc, format, Table::Metrics).unwrap()).unwrap();
        assert!(text.contains("generated 2026-12-02 01:18 UTC"), "{format}");
        assert!(
            text.contains("2026-10-01 00:00 UTC to 2027-01-01 00:00 UTC"),
            "{format}"
        );
        assert!(!text.contains("+00:00"), "{format}: an RFC 3339 instant");
        assert!(text.contains("successful with issues"), "{format}");
        assert!(!text.contains("SUCCESSFUL_WITH_ISSUES"), "{format}");
    }
    // The Berlin fixture: instants in the report's zone.
    let html =
        String::from_utf8(render(&document(), Format::Html, Table::Metrics).unwrap()).unwrap();
    assert!(
        html.contains("<td>2026-02-10 03:00 CET</td>"),
        "the emergency's end"
    );
    assert!(html.contains("generated 2026-04-01 08:00 CEST"));
}

// ---------------------------------------------------------------------
// The emergency list and the headline metric beside it.

#[test]
fn the_emergency_list_marks_on_time_by_the_metrics_rule() {
    let mut b = ChangeFramesBuilder::default();
    let emergency = |approved: &str| ChangeFacts {
        change_type: "emergency".into(),
        outcome: Some("SUCCESSFUL".into()),
        submitted_at: t("2026-02-10T00:00:00Z"),
        approved_at: t(approved),
        actual_start: t("2026-02-10T01:00:00Z"),
        actual_end: t("2026-02-10T02:00:00Z"),
        // No deadline: the approval had to come before the start.
        approval_due_at: None,
        ..ChangeFacts::default()
    };
    let late = emergency("2026-02-10T05:00:00Z");
    let early = emergency("2026-02-10T00:30:00Z");
    let listed = |number: &str, facts: &ChangeFacts| NotableChange {
        number: number.into(),
        title: number.into(),
        change_type: facts.change_type.clone(),
        outcome: facts.outcome.clone(),
        actual_start: facts.actual_start,
        actual_end: facts.actual_end,
        approved_at: facts.approved_at,
        approval_due_at: facts.approval_due_at,
        rollback_reason: None,
    };
    // Imported without its start: on time or late cannot be told.
    let unknown = ChangeFacts {
        actual_start: None,
        ..emergency("2026-02-10T00:30:00Z")
    };
    let notable = vec![
        listed("CR-LATE", &late),
        listed("CR-EARLY", &early),
        listed("CR-UNKNOWN", &unknown),
    ];
    b.push(late);
    b.push(early);
    b.push(unknown);
    let plan = ReportPlan::new(
        ReportKind::Monthly {
            period: "2026-02".into(),
        },
        parse_time_zone("UTC").unwrap(),
    )
    .unwrap();
    let doc = document::build(
        &plan,
        &b.finish().unwrap(),
        &MetricsOptions::new(Vec::new()),
        notable,
        "tiered-cab",
        at("2026-03-01T00:00:00Z"),
    )
    .unwrap();
    // The unknown one is an emergency change, and left out of this
    // metric only.
    assert_eq!(doc.headline.emergency, 3);
    assert_eq!(doc.headline.emergency_docs_on_time, 1);
    assert_eq!(doc.headline.emergency_docs_on_time_rate, Some(0.5));
    let on_time: Vec<(&str, Option<bool>)> = doc
        .emergencies
        .iter()
        .map(|c| (c.number.as_str(), c.approved_on_time()))
        .collect();
    assert_eq!(
        on_time,
        [
            ("CR-LATE", Some(false)),
            ("CR-EARLY", Some(true)),
            ("CR-UNKNOWN", None)
        ]
    );
    let html = String::from_utf8(render(&doc, Format::Html, Table::Metrics).unwrap()).unwrap();
    assert!(html.contains("<td>CR-LATE</td><td class=\"text\">CR-LATE</td><td>successful</td><td>2026-02-10 02:00 UTC</td><td>no</td>"));
    assert!(html.contains("<td>CR-EARLY</td><td class=\"text\">CR-EARLY</td><td>successful</td><td>2026-02-10 02:00 UTC</td><td>yes</td>"));
    assert!(html.contains("<td>CR-UNKNOWN</td><td class=\"text\">CR-UNKNOWN</td><td>successful</td><td>2026-02-10 02:00 UTC</td><td>not known (no start on record)</td>"));
    let md = String::from_utf8(render(&doc, Format::Md, Table::Metrics).unwrap()).unwrap();
    assert!(
        md.contains("| CR-LATE | CR-LATE | successful | 2026-02-10 02:00 UTC | no |"),
        "{md}"
    );
}

// ---------------------------------------------------------------------
// XLSX and Parquet, read back.

struct Workbook {
    sheets: Vec<String>,
    parts: std::collections::HashMap<String, String>,
}

fn workbook(bytes: Vec<u8>) -> Workbook {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut parts = std::collections::HashMap::new();
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).unwrap();
        if file.name().ends_with(".xml") {
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            parts.insert(file.name().to_owned(), text);
        }
    }
    let sheets = parse_xml(&parts["xl/workbook.xml"])
        .all("sheet")
        .iter()
        .map(|s| s.attr("name").to_owned())
        .collect();
    Workbook { sheets, parts }
}

#[test]
fn every_workbook_has_the_sheets_the_docs_list() {
    let all = [
        "Summary",
        "Trend",
        "Months",
        "By type",
        "By outcome",
        "By system",
        "Emergencies",
        "Rollbacks",
    ];
    for (kind, doc) in every_kind() {
        let book = workbook(render(&doc, Format::Xlsx, Table::Metrics).unwrap());
        let expected: Vec<&str> = match kind {
            // Weeks only: its Trend sheet is the weeks.
            ReportKind::CabWeekly { .. } => all.into_iter().filter(|s| *s != "Months").collect(),
            _ => all.to_vec(),
        };
        assert_eq!(book.sheets, expected, "{kind:?}");
        if let Some(months) = book.sheets.iter().position(|s| s == "Months") {
            let sheet = &book.parts[&format!("xl/worksheets/sheet{}.xml", months + 1)];
            // A header row and a row per month.
            let rows = parse_xml(sheet).all("row").len();
            let expected = match kind {
                ReportKind::Monthly { .. } => 12,
                ReportKind::Quarterly { .. } => 3,
                _ => 36,
            };
            assert_eq!(rows, 1 + expected, "{kind:?}");
        }
    }
}

#[test]
fn the_summary_holds_numbers_with_their_units_as_number_formats() {
    let book = workbook(render(&document(), Format::Xlsx, Table::Metrics).unwrap());
    assert_eq!(book.sheets[0], "Summary");
    let strings: Vec<String> = parse_xml(&book.parts["xl/sharedStrings.xml"])
        .all("si")
        .iter()
        .map(|si| si.all("t").iter().map(|t| t.text.clone()).collect())
        .collect();
    let styles = parse_xml(&book.parts["xl/styles.xml"]);
    let custom: std::collections::HashMap<String, String> = styles
        .all("numFmt")
        .iter()
        .map(|f| {
            (
                f.attr("numFmtId").to_owned(),
                f.attr("formatCode").to_owned(),
            )
        })
        .collect();
    let cell_formats: Vec<String> = styles
        .all("cellXfs")
        .first()
        .unwrap()
        .children
        .iter()
        .map(|xf| {
            let id = xf.attrs.get("numFmtId").cloned().unwrap_or_default();
            // The built-in formats Excel numbers rather than names.
            match id.as_str() {
                "0" => "General".to_owned(),
                "1" => "0".to_owned(),
                "2" => "0.00".to_owned(),
                _ => custom.get(&id).cloned().unwrap_or(id),
            }
        })
        .collect();
    let summary = parse_xml(&book.parts["xl/worksheets/sheet1.xml"]);
    // label -> column letter -> (cell type, value, number format).
    let mut rows = std::collections::HashMap::new();
    for row in summary.all("row") {
        let mut cells = std::collections::HashMap::new();
        for cell in row.all("c") {
            let v = cell
                .all("v")
                .first()
                .map(|v| v.text.clone())
                .unwrap_or_default();
            let kind = cell.attrs.get("t").cloned();
            let value = match kind.as_deref() {
                Some("s") => strings[v.parse::<usize>().unwrap()].clone(),
                _ => v,
            };
            let style = cell
                .attrs
                .get("s")
                .map_or(0, |s| s.parse::<usize>().unwrap());
            let column = cell.attr("r").chars().next().unwrap();
            cells.insert(column, (kind, value, cell_formats[style].clone()));
        }
        if let Some((_, label, _)) = cells.get(&'A') {
            rows.insert(label.clone(), cells);
        }
    }
    let number = |label: &str| -> (f64, String) {
        let (kind, value, format) = &rows[label][&'C'];
        assert_eq!(*kind, None, "{label} is a number cell");
        (value.parse().unwrap(), format.clone())
    };
    let (success, format) = number("Success rate");
    assert!((success - 5.0 / 7.0).abs() < 1e-12, "{success}");
    assert_eq!(format, "0.0%");
    assert_eq!(number("Implemented changes"), (7.0, "0".to_owned()));
    assert_eq!(
        number("Lead time (median)"),
        (31.0, "0.00\" h\"".to_owned())
    );
    assert_eq!(
        number("Deployment frequency"),
        (0.0, "0.00\" /day\"".to_owned())
    );
    // No data: no value at all, not a dash or a zero; the status says so.
    let restore = &rows["Mean time to restore"];
    assert!(!restore.contains_key(&'C'), "{restore:?}");
    assert_eq!(restore[&'D'].1, "no data");
    assert_eq!(rows["Success rate"][&'B'].1, "> 50 %");
    assert_eq!(rows["Success rate"][&'D'].1, "met");
}

#[test]
fn parquet_instants_are_utc_timestamps() {
    use polars::prelude::*;
    let doc = document();
    let read = |table: Table| {
        let bytes = render(&doc, Format::Parquet, table).unwrap();
        ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .unwrap()
    };
    let utc = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let micros = |column: &Column| -> Vec<Option<i64>> {
        column
            .cast(&DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .collect()
    };
    let metrics = read(Table::Metrics);
    for name in ["period_start", "period_end"] {
        assert_eq!(metrics.column(name).unwrap().dtype(), &utc, "{name}");
    }
    // 2025-Q1 in Berlin: from 2025-01-01 00:00 +01:00.
    let first = micros(metrics.column("period_start").unwrap())[0];
    assert_eq!(first, Some(at("2024-12-31T23:00:00Z").timestamp_micros()));
    let last = micros(metrics.column("period_end").unwrap())[4];
    assert_eq!(last, Some(at("2026-03-31T22:00:00Z").timestamp_micros()));
    assert_eq!(
        metrics.column("period_label").unwrap().dtype(),
        &DataType::String
    );

    let emergencies = read(Table::Emergencies);
    for name in [
        "actual_start",
        "actual_end",
        "approved_at",
        "approval_due_at",
    ] {
        assert_eq!(emergencies.column(name).unwrap().dtype(), &utc, "{name}");
    }
    assert_eq!(
        micros(emergencies.column("actual_end").unwrap()),
        [Some(at("2026-02-10T02:00:00Z").timestamp_micros())]
    );
}
