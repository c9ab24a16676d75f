//! Helpers shared by the model tests.

use std::path::PathBuf;

/// The all-MiniLM-L6-v2 folder: `$DENSIFY_MODEL_DIR`, else `scripts/fetch_minilm.sh`'s cache
/// (`$DENSIFY_CACHE` or `~/.cache/densify`, then `models/all-MiniLM-L6-v2`).
pub fn minilm_dir() -> PathBuf {
    let dir = std::env::var_os("DENSIFY_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("DENSIFY_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/densify")
                });
            cache.join("models/all-MiniLM-L6-v2")
        });
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} has no model: run scripts/fetch_minilm.sh",
        dir.display()
    );
    dir
}

/// The device the model tests run on: `$DENSIFY_TEST_DEVICE`, a `--device` name (`flex`,
/// `ndarray`, `tch-cpu`, `wgpu`, each when compiled in), default flex.
/// `scripts/backend_parity.sh` uses it.
#[allow(dead_code)]
pub fn test_device() -> burn::tensor::Device {
    let name = std::env::var("DENSIFY_TEST_DEVICE").unwrap_or_else(|_| "flex".into());
    densify::device::parse(&name).unwrap_or_else(|e| panic!("DENSIFY_TEST_DEVICE: {e}"))
}
