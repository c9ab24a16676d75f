//! AdamW as Hugging Face configures it for fine-tuning, on burn's optimizer.
//!
//! burn's `ModuleOptimizer` with two parameter groups: every parameter with weight decay, then
//! (the later group wins) biases and LayerNorm parameters without, the rule of Hugging Face's
//! `get_decay_parameter_names`. Clipping is global, as `torch.nn.utils.clip_grad_norm_`: burn's
//! own clipping works per tensor, so [`clip_global_norm`] scales every gradient by one factor.

use burn::Tensor;
use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};

use crate::config::OptimizerConfig;

/// Parameters that get no weight decay: biases and LayerNorm scales and shifts (densify names
/// LayerNorms `layer_norm`; burn calls their parameters `gamma` and `beta`).
pub const NO_DECAY: [&str; 2] = [r"\.bias$", r"layer_norm\.(gamma|beta)$"];

/// The optimizer for `config`.
pub fn adamw(config: &OptimizerConfig) -> ModuleOptimizer {
    let base = AdamWConfig::new()
        .with_beta_1(config.beta1 as f32)
        .with_beta_2(config.beta2 as f32)
        .with_epsilon(config.epsilon as f32);
    let decayed = base.clone().with_weight_decay(config.weight_decay as f32);
    let plain = base.with_weight_decay(0.0).build();
    let no_decay = ParamGroup::from_any_regexes(NO_DECAY.to_vec()).expect("valid patterns");
    decayed.init().with_group(no_decay, plain, None)
}

/// The global L2 norm of `grads` over `module`'s parameters, and the gradients scaled so the
/// norm is at most `max_norm` (when given), as `clip_grad_norm_` does: factor
/// `max_norm / (norm + 1e-6)` when below 1.
pub fn clip_global_norm<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: Option<f64>,
) -> f64 {
    let mut sum = SquaredNorm { grads, total: None };
    module.visit(&mut sum);
    let norm = sum
        .total
        .map(|t| f64::from(t.into_scalar::<f32>()).sqrt())
        .unwrap_or(0.0);
    if let Some(max) = max_norm {
        let factor = max / (norm + 1e-6);
        if factor < 1.0 {
            module.visit(&mut Scale {
                grads,
                factor: factor as f32,
            });
        }
    }
    norm
}

/// Multiplies every gradient of `module`'s parameters by `factor` (averaging accumulated
/// gradients).
pub fn scale_gradients<M: Module>(module: &M, grads: &mut GradientsParams, factor: f32) {
    module.visit(&mut Scale { grads, factor });
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.square().sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.factor));
        }
    }
}
