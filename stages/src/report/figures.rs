//! The report's figures, drawn with `plotters` to SVG (kept as text for the HTML page)
//! and PNG. Three shapes cover the paper's figures: grouped bars (scores by task, by
//! category, IgakuQA 0/3-shot), stacked shares (corpus composition) and lines (loss
//! against tokens). Text in PNGs uses the bundled DejaVu Sans (`stages/fonts/`).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use std::sync::Once;

/// A figure's data.
pub enum Chart {
    /// Bars per category, one per series; `None` leaves a gap.
    Bars { categories: Vec<String>, series: Vec<(String, Vec<Option<f64>>)>, y_label: String },
    /// Per category, the shares of each part stacked to 100%.
    Stacked { categories: Vec<String>, parts: Vec<(String, Vec<f64>)> },
    /// One line per series of (x, y) points.
    Lines { series: Vec<(String, Vec<(f64, f64)>)>, x_label: String, y_label: String },
}

pub struct Figure {
    pub name: String,
    pub title: String,
    pub chart: Chart,
}

const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, include_bytes!("../../fonts/DejaVuSans.ttf"))
            .unwrap_or_else(|_| panic!("the bundled font loads"));
    });
}

impl Figure {
    fn size(&self) -> (u32, u32) {
        let n = match &self.chart {
            Chart::Bars { categories, series, .. } => categories.len() * series.len().max(1),
            Chart::Stacked { categories, .. } => categories.len() * 2,
            Chart::Lines { .. } => 12,
        };
        ((n as u32 * 28).clamp(720, 1600), 440)
    }

    /// Writes `<dir>/<name>.svg` and `<dir>/<name>.png`; returns the SVG text.
    pub fn write(&self, dir: &Path) -> Result<String, String> {
        register_font();
        let size = self.size();
        let mut svg = String::new();
        {
            let area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            self.draw(&area).map_err(|e| format!("{}: {e}", self.name))?;
            area.present().map_err(|e| format!("{}: {e}", self.name))?;
        }
        let file = |ext: &str| crate::files::inside(dir, &format!("{}.{ext}", self.name)).map_err(|e| e.to_string());
        std::fs::write(file("svg")?, &svg).map_err(|e| e.to_string())?;
        let png = file("png")?;
        let area = BitMapBackend::new(&png, size).into_drawing_area();
        self.draw(&area).map_err(|e| format!("{}: {e}", self.name))?;
        area.present().map_err(|e| format!("{}: {e}", self.name))?;
        Ok(svg)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        area.fill(&WHITE)?;
        let (title, body) = area.split_vertically(34);
        title.titled(&self.title, (FONT, 18))?;
        match &self.chart {
            Chart::Bars { categories, series, y_label } => bars(&body, categories, series, y_label),
            Chart::Stacked { categories, parts } => stacked(&body, categories, parts),
            Chart::Lines { series, x_label, y_label } => lines(&body, series, x_label, y_label),
        }
    }
}

fn color(i: usize) -> RGBColor {
    // Colour-blind-safe (Okabe–Ito), then plotters' palette.
    const OKABE_ITO: [RGBColor; 7] = [
        RGBColor(0, 114, 178),
        RGBColor(230, 159, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(86, 180, 233),
        RGBColor(213, 94, 0),
        RGBColor(240, 228, 66),
    ];
    OKABE_ITO.get(i).copied().unwrap_or_else(|| {
        let c = Palette99::pick(i).to_rgba();
        RGBColor(c.0, c.1, c.2)
    })
}

/// A legend in the right margin, beside the plot's top-right corner (bars and stacked
/// shares fill the plot, so an inside legend would hide some).
fn side_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    corner: (i32, i32),
    names: &[&String],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (ox, oy) = area.get_base_pixel();
    for (j, name) in names.iter().enumerate() {
        let (x, y) = (corner.0 - ox + 16, corner.1 - oy + 8 + 20 * j as i32);
        area.draw(&Rectangle::new([(x, y - 6), (x + 12, y + 6)], color(j).filled()))?;
        let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(name.to_string(), (x + 18, y), style))?;
    }
    Ok(())
}

/// Category names under the x axis, centred on `i + 0.5`, rotated when they are many.
fn category_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &ChartContext<
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    categories: &[String],
    y0: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let rotate = categories.len() > 10;
    for (i, name) in categories.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, y0));
        let style = if rotate {
            TextStyle::from((FONT, 12).into_font())
                .transform(FontTransform::Rotate90)
                .pos(Pos::new(HPos::Left, VPos::Center))
        } else {
            TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top))
        };
        let (ox, oy) = area.get_base_pixel();
        area.draw(&Text::new(name.clone(), (x - ox, y - oy + 6), style))?;
    }
    Ok(())
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    categories: &[String],
    series: &[(String, Vec<Option<f64>>)],
    y_label: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let values = series.iter().flat_map(|(_, v)| v.iter().flatten().copied());
    let (lo, hi) = values.fold((0.0f64, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = (hi - lo) * 0.08;
    let bottom = if categories.len() > 10 { 130 } else { 40 };
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .margin_bottom(bottom)
        .margin_right(160)
        .x_label_area_size(4)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..categories.len() as f64, (lo - if lo < 0.0 { pad } else { 0.0 })..(hi + pad))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()?;
    let k = series.len().max(1) as f64;
    for (j, (_, values)) in series.iter().enumerate() {
        let c = color(j);
        chart.draw_series(values.iter().enumerate().filter_map(|(i, v)| {
            let v = (*v)?;
            let x0 = i as f64 + 0.1 + 0.8 * j as f64 / k;
            Some(Rectangle::new([(x0, 0.0), (x0 + 0.8 / k, v)], c.filled()))
        }))?;
    }
    let top = chart.y_range().end;
    side_legend(
        area,
        chart.backend_coord(&(categories.len() as f64, top)),
        &series.iter().map(|(n, _)| n).collect::<Vec<_>>(),
    )?;
    let y0 = chart.y_range().start;
    category_labels(area, &chart, categories, y0)
}

fn stacked<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    categories: &[String],
    parts: &[(String, Vec<f64>)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .margin_bottom(40)
        .margin_right(200)
        .x_label_area_size(4)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..categories.len() as f64, 0.0..100.0)?;
    chart.configure_mesh().disable_x_mesh().x_labels(0).y_desc("share of tokens (%)").label_style((FONT, 13)).draw()?;
    let totals: Vec<f64> = (0..categories.len()).map(|i| parts.iter().map(|(_, v)| v[i]).sum::<f64>()).collect();
    let mut base = vec![0.0; categories.len()];
    for (j, (_, values)) in parts.iter().enumerate() {
        let c = color(j);
        let rects: Vec<Rectangle<(f64, f64)>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let share = if totals[i] > 0.0 { 100.0 * v / totals[i] } else { 0.0 };
                let r = Rectangle::new([(i as f64 + 0.2, base[i]), (i as f64 + 0.8, base[i] + share)], c.filled());
                base[i] += share;
                r
            })
            .collect();
        chart.draw_series(rects)?;
    }
    side_legend(
        area,
        chart.backend_coord(&(categories.len() as f64, 100.0)),
        &parts.iter().map(|(n, _)| n).collect::<Vec<_>>(),
    )?;
    category_labels(area, &chart, categories, 0.0)
}

fn lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[(String, Vec<(f64, f64)>)],
    x_label: &str,
    y_label: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let points = series.iter().flat_map(|(_, p)| p.iter().copied());
    let (x_max, y_lo, y_hi) = points
        .fold((1.0f64, f64::INFINITY, f64::NEG_INFINITY), |(x, lo, hi), (px, py)| (x.max(px), lo.min(py), hi.max(py)));
    let (y_lo, y_hi) = if y_lo.is_finite() { (y_lo, y_hi) } else { (0.0, 1.0) };
    let pad = ((y_hi - y_lo) * 0.08).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, (y_lo - pad)..(y_hi + pad))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .x_label_formatter(&|x| human(*x))
        .draw()?;
    for (j, (name, points)) in series.iter().enumerate() {
        let c = color(j);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
}

/// 1200 → "1.2k", 3400000 → "3.4M".
fn human(x: f64) -> String {
    match x.abs() {
        a if a >= 1e9 => format!("{:.1}B", x / 1e9),
        a if a >= 1e6 => format!("{:.1}M", x / 1e6),
        a if a >= 1e3 => format!("{:.0}k", x / 1e3),
        _ => format!("{x:.0}"),
    }
}
