//! `training.svg` beside the checkpoints: training loss (and its running mean), dev loss and dev
//! nDCG@10 against steps, drawn from `metrics.jsonl` and rewritten (atomically) at every evaluation and
//! at the end. Plain SVG, so any browser opens it; no plotting dependency.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Result, TrainError};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 360.0;
const MARGIN: f64 = 48.0;

/// Draws `metrics` (the lines of `metrics.jsonl`) into `path`.
pub fn write_plot(metrics: &Path, path: &Path) -> Result<()> {
    let text =
        densify_core::read_regular_to_string(metrics).map_err(|e| TrainError::io(metrics, e))?;
    let mut losses: Vec<(f64, f64)> = Vec::new();
    let mut ndcg: Vec<(f64, f64)> = Vec::new();
    let mut dev_losses: Vec<(f64, f64)> = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(step) = v["step"].as_f64() else {
            continue;
        };
        match v["kind"].as_str() {
            Some("step") => {
                if let Some(l) = v["loss"].as_f64().filter(|l| l.is_finite()) {
                    losses.push((step, l));
                }
            }
            Some("eval") => {
                if let Some(n) = v["ndcg@10"].as_f64() {
                    ndcg.push((step, n));
                }
                if let Some(l) = v["dev_loss"].as_f64().filter(|l| l.is_finite()) {
                    dev_losses.push((step, l));
                }
            }
            _ => {}
        }
    }
    let svg = render(&losses, &dev_losses, &ndcg);
    densify_core::write_atomic(path, svg.as_bytes()).map_err(|e| TrainError::io(path, e))
}

/// The SVG text: training and dev loss on the left axis, nDCG@10 on the right (0 to 1).
fn render(losses: &[(f64, f64)], dev_losses: &[(f64, f64)], ndcg: &[(f64, f64)]) -> String {
    let last_step = losses
        .iter()
        .chain(ndcg)
        .map(|p| p.0)
        .fold(1.0f64, f64::max);
    let max_loss = losses
        .iter()
        .chain(dev_losses)
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let x = |step: f64| MARGIN + (WIDTH - 2.0 * MARGIN) * step / last_step;
    let y_loss = |l: f64| HEIGHT - MARGIN - (HEIGHT - 2.0 * MARGIN) * l / max_loss;
    let y_ndcg = |n: f64| HEIGHT - MARGIN - (HEIGHT - 2.0 * MARGIN) * n.clamp(0.0, 1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" \
         fill=\"white\"/>\n"
    );
    let (left, right, top, bottom) = (MARGIN, WIDTH - MARGIN, MARGIN, HEIGHT - MARGIN);
    let _ = writeln!(
        s,
        "<path d=\"M{left} {top} V{bottom} H{right} V{top}\" fill=\"none\" stroke=\"#888\"/>"
    );
    let _ = writeln!(
        s,
        "<text x=\"{left}\" y=\"{}\" fill=\"#1f77b4\">training loss (max {max_loss:.4}){}</text>",
        top - 8.0,
        if dev_losses.is_empty() {
            ""
        } else {
            ", dev loss (orange)"
        }
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#d62728\">dev nDCG@10 (0-1)</text>",
        right,
        top - 8.0
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step (last {last_step})</text>",
        (left + right) / 2.0,
        bottom + 30.0
    );
    let polyline = |points: Vec<(f64, f64)>, colour: &str, width: f64| {
        let mut p = String::new();
        for (px, py) in points {
            let _ = write!(p, "{px:.1},{py:.1} ");
        }
        format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\"/>\n",
            p.trim_end()
        )
    };
    s += &polyline(
        losses.iter().map(|&(st, l)| (x(st), y_loss(l))).collect(),
        "#aec7e8",
        1.0,
    );
    // Running mean over 10 steps, the curve a person reads.
    let window = 10usize;
    let smooth: Vec<(f64, f64)> = (0..losses.len())
        .map(|i| {
            let from = i.saturating_sub(window - 1);
            let part = &losses[from..=i];
            let mean = part.iter().map(|p| p.1).sum::<f64>() / part.len() as f64;
            (x(losses[i].0), y_loss(mean))
        })
        .collect();
    s += &polyline(smooth, "#1f77b4", 2.0);
    s += &polyline(
        dev_losses
            .iter()
            .map(|&(st, l)| (x(st), y_loss(l)))
            .collect(),
        "#ff7f0e",
        2.0,
    );
    s += &polyline(
        ndcg.iter().map(|&(st, n)| (x(st), y_ndcg(n))).collect(),
        "#d62728",
        2.0,
    );
    for &(st, n) in ndcg {
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#d62728\"><title>step {st}: {n:.4}</title></circle>",
            x(st),
            y_ndcg(n)
        );
    }
    s += "</svg>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_both_curves_from_the_metrics_file() {
        let dir = std::env::temp_dir().join(format!("densify-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let metrics = dir.join("metrics.jsonl");
        std::fs::write(
            &metrics,
            "{\"kind\":\"step\",\"step\":1,\"loss\":2.0}\n{\"kind\":\"step\",\"step\":2,\"loss\":1.0}\n\
             {\"kind\":\"eval\",\"step\":2,\"ndcg@10\":0.5,\"dev_loss\":1.5}\nnot json\n",
        )
        .unwrap();
        let svg = dir.join("training.svg");
        write_plot(&metrics, &svg).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg") && text.ends_with("</svg>\n"));
        // Loss 2 at step 1 is the top-middle point; 1 at step 2 the middle of the right edge.
        assert!(text.contains("360.0,48.0 672.0,180.0"), "{text}");
        assert!(text.contains("<title>step 2: 0.5000</title>"));
        // The dev loss 1.5 at step 2: three quarters up the loss axis, on the right edge.
        assert!(text.contains("points=\"672.0,114.0\" fill=\"none\" stroke=\"#ff7f0e\""));
    }
}
