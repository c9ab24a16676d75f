//! Helpers shared by the model tests.

use std::path::PathBuf;

/// The all-MiniLM-L6-v2 folder: `$DENSIFY_MODEL_DIR`, else the cache of
/// `scripts/fetch_minilm.sh` (`$DENSIFY_CACHE` or `~/.cache/densify`, then
/// `models/all-MiniLM-L6-v2`), running the script first when the model is not there yet, so
/// `cargo test` works on a fresh machine.
pub fn minilm_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DENSIFY_MODEL_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("DENSIFY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/densify")
        });
    let dir = cache.join("models/all-MiniLM-L6-v2");
    if !dir.join("model.safetensors").is_file() {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch_minilm.sh");
        let status = std::process::Command::new("bash")
            .arg(&script)
            .status()
            .expect("bash");
        assert!(
            status.success(),
            "{} failed: the model tests need all-MiniLM-L6-v2",
            script.display()
        );
    }
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} has no model after scripts/fetch_minilm.sh",
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
