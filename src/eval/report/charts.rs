//! The plots of a report, each drawn by plotters into an inline SVG string: line charts,
//! reliability diagrams, scatter plots and the sweep's strip plot.

use std::collections::BTreeSet;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::error::ReportError;
use crate::eval::sweep::SweepReport;
use crate::train::ClassificationMetrics;

/// 10 distinguishable colours (Tableau 10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour `i` of the palette, with darker variants after the first ten.
fn colour(i: usize) -> RGBColor {
    let c = PALETTE[i % PALETTE.len()];
    let round = (i / PALETTE.len()) as u8;
    let darken = |v: u8| v.saturating_sub(round.saturating_mul(60));
    RGBColor(darken(c.0), darken(c.1), darken(c.2))
}

fn plot_err(plot: &str) -> impl Fn(String) -> ReportError + '_ {
    move |reason| ReportError::Plot {
        plot: plot.to_string(),
        reason,
    }
}

/// Draws into an SVG string of `size` pixels.
pub(super) fn svg<F>(name: &str, size: (u32, u32), draw: F) -> Result<String, ReportError>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
{
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .map_err(plot_err(name))?;
        draw(&root).map_err(plot_err(name))?;
        root.present()
            .map_err(|e| e.to_string())
            .map_err(plot_err(name))?;
    }
    Ok(buf)
}

/// `(lo, hi)` padded by 5 % (and widened when degenerate).
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= 1e-12 {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return (lo - d, hi + d);
    }
    (lo - 0.05 * span, hi + 0.05 * span)
}

/// A line chart: one named series per entry of `series` (x, y points).
#[allow(clippy::too_many_arguments)]
pub(super) fn line_chart(
    name: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    y_range: Option<(f64, f64)>,
    size: (u32, u32),
    markers: bool,
) -> Result<String, ReportError> {
    line_chart_x(
        name, title, x_desc, y_desc, series, y_range, size, markers, None,
    )
}

/// [`line_chart`] with an explicit x range; x labels are whole numbers when the axis
/// is a count (steps, epochs, severities).
#[allow(clippy::too_many_arguments)]
pub(super) fn line_chart_x(
    name: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    y_range: Option<(f64, f64)>,
    size: (u32, u32),
    markers: bool,
    x_range: Option<(f64, f64)>,
) -> Result<String, ReportError> {
    let pts = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    let (x0, x1) = match x_range {
        Some(r) => r,
        None if x1 > x0 => (x0, x1),
        None => padded(x0, x1),
    };
    let (y0, y1) = y_range.unwrap_or_else(|| padded(y0, y1));
    let integer_x = series
        .iter()
        .flat_map(|(_, p)| p.iter())
        .all(|(x, _)| x.fract() == 0.0);
    let data_x1 = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(f64::NEG_INFINITY, f64::max);
    let x_fmt = move |x: &f64| {
        if !integer_x {
            format!("{x}")
        } else if x.fract().abs() < 1e-9 && *x <= data_x1 + 1e-9 {
            format!("{x:.0}")
        } else {
            String::new()
        }
    };
    svg(name, size, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (label, points)) in series.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<(f64, f64)> = points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            if markers {
                chart
                    .draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 3, c.filled())))
                    .map_err(|e| e.to_string())?;
            }
        }
        if series.len() > 1 || series.first().is_some_and(|s| !s.0.is_empty()) {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .label_font(("sans-serif", 12))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// Reliability diagram (accuracy per confidence bin against the diagonal) above the
/// histogram of confidences.
pub(super) fn reliability_chart(
    name: &str,
    title: &str,
    m: &ClassificationMetrics,
) -> Result<String, ReportError> {
    let bins = &m.calibration.bins;
    let max_count = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    svg(name, (420, 460), |root| {
        let (top, bottom) = root.split_vertically(330);
        let mut chart = ChartBuilder::on(&top)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .y_desc("accuracy")
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        let blue = PALETTE[0];
        let red = PALETTE[3];
        chart
            .draw_series(bins.iter().filter(|b| b.count > 0).map(|b| {
                Rectangle::new(
                    [(b.lower, 0.0), (b.upper, b.accuracy)],
                    blue.mix(0.75).filled(),
                )
            }))
            .map_err(|e| e.to_string())?
            .label("accuracy")
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], blue.mix(0.75).filled())
            });
        chart
            .draw_series(bins.iter().filter(|b| b.count > 0).map(|b| {
                PathElement::new(
                    vec![(b.lower, b.confidence), (b.upper, b.confidence)],
                    red.stroke_width(3),
                )
            }))
            .map_err(|e| e.to_string())?
            .label("mean confidence")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], red.stroke_width(3)));
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                RGBColor(90, 90, 90).stroke_width(1),
            ))
            .map_err(|e| e.to_string())?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], RGBColor(90, 90, 90)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 11))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| e.to_string())?;
        let mut hist = ChartBuilder::on(&bottom)
            .margin_left(10)
            .margin_right(10)
            .margin_bottom(5)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..max_count * 1.1)
            .map_err(|e| e.to_string())?;
        hist.configure_mesh()
            .x_desc("confidence")
            .y_desc("count")
            .y_labels(3)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        hist.draw_series(bins.iter().map(|b| {
            Rectangle::new(
                [(b.lower, 0.0), (b.upper, b.count as f64)],
                PALETTE[7].mix(0.7).filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Scatter of 2-D points coloured by class, with a legend of class names.
pub(super) fn scatter_chart(
    name: &str,
    title: &str,
    points: &[(f64, f64)],
    labels: &[usize],
    class_names: &[String],
) -> Result<String, ReportError> {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (x0, x1) = padded(x0, x1);
    let (y0, y1) = padded(y0, y1);
    let used: BTreeSet<usize> = labels.iter().copied().collect();
    svg(name, (560, 440), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .right_y_label_area_size(0)
            .build_cartesian_2d(x0..x1 + (x1 - x0) * 0.35, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("PC 1")
            .y_desc("PC 2")
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        for &c in &used {
            let col = colour(c);
            let name = class_names.get(c).cloned().unwrap_or_else(|| c.to_string());
            chart
                .draw_series(
                    points
                        .iter()
                        .zip(labels)
                        .filter(|(_, l)| **l == c)
                        .map(|(&(x, y), _)| Circle::new((x, y), 2, col.mix(0.8).filled())),
                )
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, col.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 11))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Strip plot of top-1 per method (one column per method), with mean ± std.
pub(super) fn sweep_chart(name: &str, report: &SweepReport) -> Result<String, ReportError> {
    let methods: Vec<_> = report.config.methods.clone();
    let m = methods.len().max(1) as f64;
    let mut ys: Vec<f64> = report.points.iter().filter_map(|p| p.top1).collect();
    ys.push(0.0);
    let y1 = ys.iter().copied().fold(0.0, f64::max).max(0.1);
    svg(name, (520, 380), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "test top-1 over the grid (each dot a grid point)",
                ("sans-serif", 15),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..m - 0.5, 0f64..(y1 * 1.1).min(1.0))
            .map_err(|e| e.to_string())?;
        let names: Vec<String> = methods.iter().map(|x| x.name().to_string()).collect();
        chart
            .configure_mesh()
            .x_labels(methods.len())
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("test top-1")
            .disable_x_mesh()
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, method) in methods.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<f64> = report
                .points
                .iter()
                .filter(|p| p.method == *method)
                .filter_map(|p| p.top1)
                .collect();
            let n = pts.len().max(1) as f64;
            chart
                .draw_series(pts.iter().enumerate().map(|(j, &y)| {
                    let jitter = (j as f64 + 0.5) / n * 0.4 - 0.2;
                    Circle::new((i as f64 + jitter, y), 4, c.mix(0.7).filled())
                }))
                .map_err(|e| e.to_string())?;
            if let Some(s) = report.summary.iter().find(|s| s.method == *method)
                && let (Some(mean), Some(std)) = (s.mean, s.std)
            {
                let x = i as f64;
                chart
                    .draw_series([
                        PathElement::new(
                            vec![(x - 0.3, mean), (x + 0.3, mean)],
                            BLACK.stroke_width(2),
                        ),
                        PathElement::new(
                            vec![(x + 0.25, mean - std), (x + 0.25, mean + std)],
                            BLACK.stroke_width(1),
                        ),
                    ])
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_chart_is_an_svg_with_its_labels() {
        let svg = line_chart(
            "t",
            "A title",
            "step",
            "loss",
            &[("train".into(), vec![(0.0, 1.0), (1.0, 0.5)])],
            None,
            (300, 200),
            true,
        )
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("A title") && svg.contains("train"));
    }
}
