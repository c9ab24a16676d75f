//! Which burn backend a `Device` belongs to, for the few places where densify takes a
//! backend-specific path (the libtorch attention mask and flex's attention bias in densify-model, the top-k selection in
//! densify-eval's exact search).
//!
//! burn 0.22's `Device` exposes no backend enum to crates that do not enable the backends, so
//! this reads its `Debug` form (`Device<LibTorch(Cuda(0))>`, `Device<Flex(Cpu)>`, ...): the one
//! place that does, so that a change in that format is mended here.

use burn::tensor::Device;

/// The backend of a device, as far as densify's backend-specific paths need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// libtorch (burn-tch) on the CPU or, with `cuda`, on a GPU.
    LibTorch {
        /// On a CUDA device.
        cuda: bool,
    },
    /// burn-flex, the pure-Rust CPU default.
    Flex,
    /// Any other backend (ndarray, cubecl/wgpu, ...), and autodiff devices.
    Other,
}

impl Backend {
    /// The backend of `device`.
    pub fn of(device: &Device) -> Self {
        Self::from_debug(&format!("{device:?}"))
    }

    fn from_debug(device: &str) -> Self {
        if let Some(inner) = device.strip_prefix("Device<LibTorch(") {
            Backend::LibTorch {
                cuda: inner.starts_with("Cuda"),
            }
        } else if device.starts_with("Device<Flex(") {
            Backend::Flex
        } else {
            Backend::Other
        }
    }
}

/// Whether burn 0.22 can all-reduce gradients across devices like `device`: its collective is
/// implemented on burn's CUDA backend (cubecl, NCCL) only; flex, ndarray, libtorch and wgpu
/// leave it `unimplemented!()`.
pub fn has_collective(device: &Device) -> bool {
    has_collective_debug(&format!("{device:?}"))
}

fn has_collective_debug(device: &str) -> bool {
    device.contains("Cube(Cuda(")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_burns_device_names() {
        assert_eq!(Backend::of(&Device::flex()), Backend::Flex);
        assert_eq!(Backend::of(&Device::flex().autodiff()), Backend::Other);
        assert_eq!(
            Backend::from_debug("Device<LibTorch(Cpu)>"),
            Backend::LibTorch { cuda: false }
        );
        assert_eq!(
            Backend::from_debug("Device<LibTorch(Cuda(0))>"),
            Backend::LibTorch { cuda: true }
        );
        assert_eq!(
            Backend::from_debug("Device<Autodiff { device: LibTorch(Cpu), checkpointing: None }>"),
            Backend::Other
        );
    }

    #[test]
    fn only_burn_s_cuda_devices_have_a_collective() {
        assert!(!has_collective(&Device::flex()));
        assert!(!has_collective(&Device::flex().autodiff()));
        assert!(!has_collective_debug("Device<LibTorch(Cuda(0))>"));
        assert!(has_collective_debug(
            "Device<Cube(Cuda(CudaDevice { index: 1 }))>"
        ));
        assert!(has_collective_debug(
            "Device<Autodiff { device: Cube(Cuda(CudaDevice { index: 0 })), checkpointing: None }>"
        ));
    }
}
