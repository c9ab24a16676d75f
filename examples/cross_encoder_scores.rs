//! Scores (query, passage) pairs with a cross-encoder folder and prints them as JSON, e.g. to
//! compare with `sentence_transformers.CrossEncoder` (`scripts/st_reference.py cross DIR`).
//!
//! Run: `cargo run --release --example cross_encoder_scores -- MODEL_DIR`.

use burn::tensor::Device;
use densify::model::CrossEncoder;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: cross_encoder_scores MODEL_DIR");
    let device = Device::flex();
    let model = CrossEncoder::load(&dir, 512, &device).expect("a cross-encoder folder");
    let pairs = [
        ("what is a cat", "a cat is a small animal"),
        ("what is a cat", "stock markets fell"),
        ("vitamin d", ""),
    ];
    let scores = model.score(&pairs, 8, &device).expect("scores");
    println!("{scores:?}");
}
