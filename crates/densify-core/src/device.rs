//! Device names (`--device cpu`, `cuda:0`, ...) to burn devices, limited to the backends
//! compiled in (Cargo features `flex`, `ndarray`, `tch`, `wgpu`, `cuda`).

use burn::tensor::Device;

/// Parses a device name: `cpu` or `flex`, `ndarray`, `tch-cpu`, `cuda:N` (libtorch CUDA when the
/// `tch` feature is on, else burn's CUDA backend), `wgpu`.
pub fn parse(name: &str) -> Result<Device, String> {
    let missing = |feature: &str| {
        format!(
            "--device {name}: this densify was built without the `{feature}` feature (rebuild with --features {feature})"
        )
    };
    match name {
        "cpu" | "flex" => {
            #[cfg(feature = "flex")]
            return Ok(Device::flex());
            #[cfg(not(feature = "flex"))]
            return Err(missing("flex"));
        }
        "ndarray" => {
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            return Ok(Device::ndarray());
            #[cfg(not(feature = "ndarray"))]
            return Err(missing("ndarray"));
        }
        "tch-cpu" => {
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            return Ok(Device::libtorch());
            #[cfg(not(feature = "tch"))]
            return Err(missing("tch"));
        }
        "wgpu" => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice));
            #[cfg(not(feature = "wgpu"))]
            return Err(missing("wgpu"));
        }
        _ => {}
    }
    if let Some(index) = name.strip_prefix("cuda:") {
        let index: usize = index
            .parse()
            .map_err(|_| format!("--device {name}: expected cuda:N with N a GPU index"))?;
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        return Ok(Device::libtorch_cuda(index));
        #[cfg(all(feature = "cuda", not(feature = "tch")))]
        return Ok(Device::cuda(index));
        #[cfg(not(any(feature = "tch", feature = "cuda")))]
        {
            let _ = index;
            return Err(missing("tch"));
        }
    }
    Err(format!(
        "--device {name}: unknown device (expected cpu, flex, ndarray, tch-cpu, cuda:N or wgpu)"
    ))
}

/// The device names this build accepts (from the backends compiled in), for help texts.
pub fn available() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "flex") {
        names.extend(["cpu", "flex"]);
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "tch") {
        names.extend(["tch-cpu", "cuda:N"]);
    } else if cfg!(feature = "cuda") {
        names.push("cuda:N");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_missing_devices_are_clear_errors() {
        let e = parse("tpu").unwrap_err();
        assert!(e.contains("unknown device"), "{e}");
        let e = parse("cuda:x").unwrap_err();
        assert!(e.contains("cuda:N"), "{e}");
        #[cfg(not(feature = "wgpu"))]
        assert!(parse("wgpu").unwrap_err().contains("--features wgpu"));
        #[cfg(feature = "flex")]
        assert!(parse("cpu").is_ok() && available().contains(&"cpu"));
    }
}
