//! A step's PNG chart: each latency over the step's time (left) and its cumulative
//! distribution (right).

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use plotters::prelude::*;

use crate::run::{ms, StepResult};

fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    })
}

type Series = (&'static str, RGBColor, Vec<(f64, f64)>);

/// Writes the chart of `result` to `path` (PNG, 1400 × 560).
pub fn write(result: &StepResult, path: &Path) -> Result<(), String> {
    if !font_ready() {
        return Err("the chart font could not be loaded".into());
    }
    let measured: Vec<_> = result.samples.iter().filter(|s| !s.warmup).collect();
    let over_time = |pick: fn(&crate::run::Sample) -> Option<Duration>| -> Vec<(f64, f64)> {
        measured
            .iter()
            .filter_map(|s| pick(s).map(|d| (s.sent.as_secs_f64(), ms(d))))
            .collect()
    };
    let series: Vec<Series> = vec![
        (
            "confirmation",
            RGBColor(31, 119, 180),
            over_time(|s| s.confirmation),
        ),
        (
            "submission",
            RGBColor(255, 127, 14),
            over_time(|s| s.submission),
        ),
        (
            "retrieval",
            RGBColor(44, 160, 44),
            over_time(|s| s.retrieval),
        ),
    ];
    let max_ms = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().map(|p| p.1))
        .fold(1.0f64, f64::max)
        * 1.05;
    let (t0, t1) = (
        result.config.warmup.as_secs_f64(),
        (result.config.warmup + result.config.duration).as_secs_f64(),
    );
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!(
            "{:.0} sends/s to {} nodes, {:.0} committed/s",
            result.config.rate,
            result.nodes,
            result.throughput()
        );
        let root = root.titled(&title, ("sans-serif", 22))?;
        let (left, right) = root.split_horizontally(760);
        let mut chart = ChartBuilder::on(&left)
            .caption("latency by send time", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(t0..t1, 0.0..max_ms)?;
        chart
            .configure_mesh()
            .x_desc("seconds into the step")
            .y_desc("ms")
            .draw()?;
        for (name, color, points) in &series {
            let color = *color;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(move |p| Circle::new(*p, 1, color.filled())),
                )?
                .label(*name)
                .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        let mut cdf = ChartBuilder::on(&right)
            .caption("cumulative distribution", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..max_ms, 0.0..100.0)?;
        cdf.configure_mesh()
            .x_desc("ms")
            .y_desc("% of samples at most")
            .draw()?;
        for (name, color, points) in &series {
            let mut values: Vec<f64> = points.iter().map(|p| p.1).collect();
            values.sort_by(f64::total_cmp);
            let n = values.len() as f64;
            let color = *color;
            cdf.draw_series(LineSeries::new(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (*v, (i + 1) as f64 / n * 100.0)),
                color.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        cdf.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| format!("{}: {e}", path.display()))
}
