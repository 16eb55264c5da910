//! SVG charts of `sluice-bench` results (plotters).
//!
//! One thread count: three panels of the ratios the harness exists to
//! report, one bar group per workload, each bar labelled with its value
//! and marked with its target where one is set ([`targets`]):
//!
//! * end to end over the dalek verification limit;
//! * sigverify over ed25519-zebra and over the dalek limit;
//! * parallel over serial execution.
//!
//! Several thread counts: throughput against threads, one line per measure
//! and workload, with axis labels in k and M.
//!
//! Every caption names its series, so no legend sits over a bar.

use std::path::Path;

use plotters::prelude::*;

use crate::Row;

const MEASURES: [&str; 6] = ["verify limit", "sigverify", "serial exec", "parallel exec", "commit", "end to end"];

fn values(row: &Row) -> [f64; 6] {
    let m = &row.measures;
    [m.verify_limit_tps(), m.sigverify_tps(), m.exec.serial_tps(), m.exec.parallel_tps(), m.commit_tps(), m.e2e_tps()]
}

/// The targets the throughput work set, per ratio and workload: end to end
/// at 0.90 of the limit everywhere and 1.0 on zipf; sigverify at 1.0 of
/// ed25519-zebra everywhere and 1.15 on zipf; sigverify at 1.3 of the limit
/// on hot. `None`: no target.
pub mod targets {
    pub const E2E_OVER_LIMIT: f64 = 0.90;
    pub const E2E_OVER_LIMIT_ZIPF: f64 = 1.0;
    pub const SIGVERIFY_OVER_ZEBRA: f64 = 1.0;
    pub const SIGVERIFY_OVER_ZEBRA_ZIPF: f64 = 1.15;
    pub const SIGVERIFY_OVER_LIMIT_HOT: f64 = 1.3;

    pub fn e2e_over_limit(workload: &str) -> Option<f64> {
        Some(if workload == "zipf" { E2E_OVER_LIMIT_ZIPF } else { E2E_OVER_LIMIT })
    }

    pub fn sigverify_over_zebra(workload: &str) -> Option<f64> {
        Some(if workload == "zipf" { SIGVERIFY_OVER_ZEBRA_ZIPF } else { SIGVERIFY_OVER_ZEBRA })
    }

    pub fn sigverify_over_limit(workload: &str) -> Option<f64> {
        (workload == "hot").then_some(SIGVERIFY_OVER_LIMIT_HOT)
    }
}

pub fn draw(path: &Path, rows: &[Row], scaling: bool) -> Result<(), String> {
    let size = if scaling { (960, 540) } else { (1320, 440) };
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let result = if scaling { draw_scaling(&root, rows) } else { draw_ratios(&root, rows) };
    result.map_err(|e| format!("cannot draw {}: {e}", path.display()))?;
    root.present().map_err(|e| e.to_string())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// `1.2M`, `850k`, `950`: how a reader says a rate.
pub fn human_rate(value: f64) -> String {
    if value >= 1e6 {
        format!("{}M", trim(value / 1e6))
    } else if value >= 1e3 {
        format!("{}k", trim(value / 1e3))
    } else {
        trim(value)
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_string)
}

/// One bar of a ratio panel: its value and its target, if any.
struct Bar {
    value: f64,
    target: Option<f64>,
}

/// One panel: a group of bars per workload, one colour per series.
struct Panel<'a> {
    caption: &'a str,
    series: &'a [RGBColor],
    groups: Vec<(String, Vec<Bar>)>,
    /// A line across the panel (parity), drawn thin and grey.
    reference: Option<f64>,
}

fn draw_ratios(root: &Area<'_>, rows: &[Row]) -> DrawResult {
    let panels = [
        Panel {
            caption: "end to end ÷ dalek verify limit",
            series: &[BLUE],
            groups: rows
                .iter()
                .map(|r| {
                    let m = &r.measures;
                    let bar = Bar { value: m.fraction_of_limit(), target: targets::e2e_over_limit(&r.workload) };
                    (r.workload.clone(), vec![bar])
                })
                .collect(),
            reference: Some(1.0),
        },
        Panel {
            caption: "sigverify ÷ ed25519-zebra (green), ÷ dalek limit (orange)",
            series: &[RGBColor(0, 140, 70), RGBColor(230, 120, 0)],
            groups: rows
                .iter()
                .map(|r| {
                    let m = &r.measures;
                    let zebra = Bar {
                        value: m.sigverify_tps() / m.zebra_tps(),
                        target: targets::sigverify_over_zebra(&r.workload),
                    };
                    let limit = Bar {
                        value: m.sigverify_tps() / m.verify_limit_tps(),
                        target: targets::sigverify_over_limit(&r.workload),
                    };
                    (r.workload.clone(), vec![zebra, limit])
                })
                .collect(),
            reference: Some(1.0),
        },
        Panel {
            caption: "parallel ÷ serial execution",
            series: &[RGBColor(120, 60, 160)],
            groups: rows
                .iter()
                .map(|r| (r.workload.clone(), vec![Bar { value: r.measures.exec.speedup(), target: None }]))
                .collect(),
            reference: Some(1.0),
        },
    ];
    let threads = rows.first().map_or(0, |r| r.measures.threads);
    let title = format!("sluice-bench on {threads} threads: red marks are targets, the grey line is parity");
    let root = root.titled(&title, ("sans-serif", 20))?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, panel) in areas.iter().zip(&panels) {
        draw_panel(area, panel)?;
    }
    Ok(())
}

fn draw_panel(area: &Area<'_>, panel: &Panel<'_>) -> DrawResult {
    let groups = panel.groups.len().max(1);
    let top = panel
        .groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().flat_map(|b| [b.value, b.target.unwrap_or(0.0)]))
        .fold(1.0, f64::max)
        * 1.18;
    let mut chart = ChartBuilder::on(area)
        .caption(panel.caption, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(-0.5f64..groups as f64 - 0.5, 0f64..top)?;
    let names: Vec<String> = panel.groups.iter().map(|(name, _)| name.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups)
        .x_label_formatter(&|x| {
            let i = x.round();
            let on_index = (x - i).abs() < 1e-6 && i >= 0.0;
            on_index.then(|| names.get(i as usize)).flatten().cloned().unwrap_or_default()
        })
        .y_label_formatter(&|y| format!("{y:.1}"))
        .draw()?;
    if let Some(level) = panel.reference {
        let line = [(-0.5, level), (groups as f64 - 0.5, level)];
        chart.draw_series(LineSeries::new(line, RGBColor(150, 150, 150).stroke_width(1)))?;
    }
    let width = 0.7 / panel.series.len().max(1) as f64;
    for (g, (_, bars)) in panel.groups.iter().enumerate() {
        for (s, bar) in bars.iter().enumerate() {
            let color = panel.series.get(s).copied().unwrap_or(BLACK);
            let x0 = g as f64 - 0.35 + s as f64 * width;
            let x1 = x0 + width * 0.9;
            chart.draw_series([Rectangle::new([(x0, 0.0), (x1, bar.value)], color.filled())])?;
            let label = Text::new(format!("{:.2}", bar.value), (x0, bar.value + top * 0.03), ("sans-serif", 12));
            chart.draw_series([label])?;
            if let Some(target) = bar.target {
                let mark = [(x0 - width * 0.1, target), (x1 + width * 0.1, target)];
                chart.draw_series(LineSeries::new(mark, RED.stroke_width(3)))?;
            }
        }
    }
    Ok(())
}

/// Throughput against thread count, one line per measure and workload.
fn draw_scaling(root: &Area<'_>, rows: &[Row]) -> DrawResult {
    let max_threads = rows.iter().map(|r| r.measures.threads).max().unwrap_or(1) as f64;
    let max = rows.iter().flat_map(values).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption("sluice-bench: throughput against threads (tx/s)", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1f64..max_threads, 0f64..max * 1.1)?;
    chart.configure_mesh().x_desc("threads").y_desc("tx/s").y_label_formatter(&|y| human_rate(*y)).draw()?;
    let workloads: Vec<&str> = rows.iter().map(|r| r.workload.as_str()).fold(Vec::new(), |mut seen, w| {
        if !seen.contains(&w) {
            seen.push(w);
        }
        seen
    });
    let mut series = 0;
    for workload in workloads {
        for (m, measure) in MEASURES.iter().enumerate() {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.workload == workload)
                .map(|r| (r.measures.threads as f64, values(r)[m]))
                .collect();
            let color = Palette99::pick(series).to_rgba();
            series += 1;
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(format!("{workload}: {measure}"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_people_say_them() {
        assert_eq!(human_rate(1_000_000.0), "1M");
        assert_eq!(human_rate(1_300_000.0), "1.3M");
        assert_eq!(human_rate(850_000.0), "850k");
        assert_eq!(human_rate(62_500.0), "62.5k");
        assert_eq!(human_rate(950.0), "950");
        assert_eq!(human_rate(0.0), "0");
    }
}
