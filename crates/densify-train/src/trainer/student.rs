//! The model being trained, its encoder with tokenizers, and its named gradients.

use std::path::Path;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use densify_model::{BiEncoder, BiEncoderModel, CrossEncoder, CrossEncoderModel};

use crate::error::Result;

/// `device`, made autodiff when it is not.
pub(super) fn autodiff(device: &Device) -> Device {
    if device.is_autodiff() {
        device.clone()
    } else {
        device.clone().autodiff()
    }
}

/// `(parameter path, gradient values)` of every parameter of `student` that has a gradient.
pub(super) fn named_gradients(student: &Student, grads: &GradientsParams) -> NamedTensors {
    let mut named = NamedGradients {
        grads,
        path: Vec::new(),
        out: Vec::new(),
    };
    student.visit(&mut named);
    named.out
}

/// `(parameter path, values)` pairs, as [`Trainer::first_step_gradients`] returns.
pub type NamedTensors = Vec<(String, Vec<f32>)>;

/// The model being trained: a bi-encoder's towers or a cross-encoder. (One per run, so the
/// variants' size difference does not matter; burn's `Module` derive needs them unboxed.)
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Student {
    /// A bi-encoder.
    Bi(BiEncoderModel),
    /// A cross-encoder.
    Cross(CrossEncoderModel),
}

/// The model with its tokenizers and settings.
#[derive(Debug)]
pub(crate) enum Encoder {
    Bi(Box<BiEncoder>),
    Cross(Box<CrossEncoder>),
}

impl Encoder {
    /// A copy of the trainable part.
    pub(super) fn student(&self) -> Student {
        match self {
            Self::Bi(bi) => Student::Bi(bi.model.clone()),
            Self::Cross(cross) => Student::Cross(cross.model.clone()),
        }
    }

    /// Saves `student` (in the Hugging Face layout) as this encoder's model.
    pub(super) fn save(&mut self, student: Student, dir: &Path) -> Result<()> {
        match (self, student) {
            (Self::Bi(bi), Student::Bi(model)) => {
                bi.model = model;
                bi.save(dir)?;
            }
            (Self::Cross(cross), Student::Cross(model)) => {
                cross.model = model;
                cross.save(dir)?;
            }
            _ => unreachable!("the student matches its encoder"),
        }
        Ok(())
    }
}

/// Collects `(parameter path, gradient values)` of a module.
struct NamedGradients<'a> {
    grads: &'a GradientsParams,
    path: Vec<String>,
    out: Vec<(String, Vec<f32>)>,
}

impl burn::module::ModuleVisitor for NamedGradients<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.out
                .push((self.path.join("."), g.into_data().iter::<f32>().collect()));
        }
    }
}
