//! SVG charts of `sluice-bench` results (plotters): throughput per measure
//! for each workload, or a scaling curve over thread counts.

use std::path::Path;

use plotters::prelude::*;

use crate::Row;

const MEASURES: [&str; 6] = ["verify limit", "sigverify", "serial exec", "parallel exec", "commit", "end to end"];

fn values(row: &Row) -> [f64; 6] {
    let m = &row.measures;
    [m.verify_limit_tps(), m.sigverify_tps(), m.exec.serial_tps(), m.exec.parallel_tps(), m.commit_tps(), m.e2e_tps()]
}

pub fn draw(path: &Path, rows: &[Row], scaling: bool) -> Result<(), String> {
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let result = if scaling { draw_scaling(&root, rows) } else { draw_bars(&root, rows) };
    result.map_err(|e| format!("cannot draw {}: {e}", path.display()))?;
    root.present().map_err(|e| e.to_string())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Throughput (log scale) of each measure, one series per workload.
fn draw_bars(root: &Area<'_>, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    let max = rows.iter().flat_map(values).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption("sluice-bench: throughput per measure (tx/s, log scale)", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..MEASURES.len() as f64 - 0.5, (1_000f64..max * 2.0).log_scale())?;
    // Each measure's group of bars is centred on its index, where its label goes.
    chart
        .configure_mesh()
        .x_labels(MEASURES.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            let on_index = (x - i).abs() < 1e-6 && i >= 0.0;
            on_index.then(|| MEASURES.get(i as usize)).flatten().copied().unwrap_or("").to_string()
        })
        .y_desc("tx/s")
        .draw()?;
    let width = 0.8 / rows.len().max(1) as f64;
    for (i, row) in rows.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let bars = values(row).into_iter().enumerate().map(move |(m, v)| {
            let x0 = m as f64 - 0.4 + i as f64 * width;
            Rectangle::new([(x0, 1_000.0), (x0 + width, v.max(1_000.0))], color.filled())
        });
        chart
            .draw_series(bars)?
            .label(format!("{} ({} threads)", row.workload, row.measures.threads))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    Ok(())
}

/// Throughput against thread count, one line per measure and workload.
fn draw_scaling(root: &Area<'_>, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    let max_threads = rows.iter().map(|r| r.measures.threads).max().unwrap_or(1) as f64;
    let max = rows.iter().flat_map(values).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption("sluice-bench: scaling with threads (tx/s)", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(1f64..max_threads, 0f64..max * 1.1)?;
    chart.configure_mesh().x_desc("threads").y_desc("tx/s").draw()?;
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
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    Ok(())
}
