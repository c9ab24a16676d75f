//! The BERT encoder: embeddings, post-LayerNorm transformer layers, optional pooler.
//!
//! Field names mirror the Hugging Face checkpoint keys (`embeddings.word_embeddings`,
//! `encoder.layer.N.attention.self.query`, ...), except where Rust needs otherwise; the few
//! renames are the table in [`crate::weights`]. Dropout is active only on autodiff devices
//! (training); inference is deterministic.
//!
//! Reference: Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language
//! Understanding", NAACL 2019; layer layout of `transformers`' `modeling_bert.py`.

use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig,
};
use burn::tensor::activation::{gelu, gelu_approximate, relu, tanh};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Distribution, Int, Tensor};
use densify_core::Backend;

use crate::config::BertConfig;

/// Word, position and token-type embeddings, summed, then LayerNorm and dropout.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// `[vocab_size, hidden]`.
    pub word_embeddings: Embedding,
    /// `[max_positions, hidden]`.
    pub position_embeddings: Embedding,
    /// `[type_vocab_size, hidden]`.
    pub token_type_embeddings: Embedding,
    /// Checkpoint key `LayerNorm`.
    pub layer_norm: LayerNorm,
    dropout: Dropout,
}

impl BertEmbeddings {
    fn new(c: &BertConfig, device: &Device) -> Self {
        Self {
            word_embeddings: EmbeddingConfig::new(c.vocab_size, c.hidden_size).init(device),
            position_embeddings: EmbeddingConfig::new(c.max_position_embeddings, c.hidden_size)
                .init(device),
            token_type_embeddings: EmbeddingConfig::new(c.type_vocab_size, c.hidden_size)
                .init(device),
            layer_norm: LayerNormConfig::new(c.hidden_size)
                .with_epsilon(c.layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
        }
    }

    /// # Shapes
    /// - `input_ids`, `token_type_ids`: `[batch, seq]` -> `[batch, seq, hidden]`
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &input_ids.device())
            .unsqueeze::<2>()
            .expand([batch, seq]);
        let x = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(token_type_ids);
        dropout(&self.dropout, self.layer_norm.forward(x))
    }
}

/// Multi-head self-attention projections (checkpoint key `attention.self`).
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    /// Query projection.
    pub query: Linear,
    /// Key projection.
    pub key: Linear,
    /// Value projection.
    pub value: Linear,
    dropout: Dropout,
    #[module(skip)]
    heads: usize,
}

/// The padding of a batch in the form its attention path needs, built once per forward.
///
/// Inference (a device without autodiff) uses burn's fused attention: one kernel instead of
/// matmul, scale, add, softmax, matmul. It gets the padding as a float `attn_bias`, except on
/// libtorch: burn-tch sends any `attn_bias` to burn's generic (unfused) fallback, and only a
/// boolean `mask` reaches PyTorch's `scaled_dot_product_attention`. burn-tch 0.22.1 passes that
/// mask to PyTorch unchanged, where `true` means "attend" (burn's own convention is the
/// opposite), so libtorch gets the keep-mask `attention_mask == 1`. `tests/model_parity.rs` on
/// `tch` fails if either half of that changes upstream. Training takes the explicit path, which
/// supports attention dropout.
#[derive(Debug, Clone)]
pub(crate) enum AttentionMask {
    /// Training: the additive bias `[batch, 1, 1, seq]` ([`attention_bias`]) on the explicit
    /// path.
    Explicit(Tensor<4>),
    /// Inference: the same bias, given to burn's fused attention (expanded over heads and
    /// queries in each layer, as a view).
    FusedBias(Tensor<4>),
    /// Inference on flex: the bias materialised once per forward as `[batch, 1, seq, seq]`.
    /// burn-flex reads a bias whose head dimension is 1 without copying (stride 0 over heads),
    /// while the `[batch, heads, seq, seq]` view of `FusedBias` is copied to contiguous memory
    /// in every layer (about 100 MB per layer at 32 x 256 with 12 heads).
    FlexBias(Tensor<4>),
    /// Inference on libtorch: `true` where a key is a token, `[batch, 1, 1, seq]`. Left
    /// unexpanded: PyTorch broadcasts it, while an expanded mask would become a float
    /// `[batch, heads, seq, seq]` tensor in every layer (4% of the time at length 256).
    LibTorchKeep(Tensor<4, Bool>),
}

impl AttentionMask {
    /// The mask for `attention_mask` (1 = token, 0 = padding), in the form its device's attention
    /// path takes.
    ///
    /// # Shapes
    /// - `attention_mask`: `[batch, seq]`
    pub(crate) fn new(attention_mask: Tensor<2, Int>) -> Self {
        let device = attention_mask.device();
        if device.is_autodiff() {
            Self::Explicit(attention_bias(attention_mask))
        } else {
            let [batch, seq] = attention_mask.dims();
            match Backend::of(&device) {
                Backend::LibTorch { .. } => {
                    Self::LibTorchKeep(attention_mask.equal_elem(1).reshape([batch, 1, 1, seq]))
                }
                Backend::Flex => {
                    let bias = attention_bias(attention_mask);
                    let tiled = Tensor::<4>::zeros([batch, 1, seq, seq], &device)
                        + bias.expand([batch, 1, seq, seq]);
                    Self::FlexBias(tiled)
                }
                Backend::Other => Self::FusedBias(attention_bias(attention_mask)),
            }
        }
    }
}

impl BertSelfAttention {
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]` -> `[batch, seq, hidden]`
    pub(crate) fn forward(&self, x: Tensor<3>, mask: &AttentionMask) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let head_dim = hidden / self.heads;
        let split = |t: Tensor<3>| {
            t.reshape([batch, seq, self.heads, head_dim])
                .swap_dims(1, 2)
        };
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        let options = AttentionModuleOptions::default();
        let context = match mask {
            AttentionMask::LibTorchKeep(keep) => {
                attention(q, k, v, Some(keep.clone()), None, options)
            }
            AttentionMask::FusedBias(bias) => {
                let bias = bias.clone().expand([batch, self.heads, seq, seq]);
                attention(q, k, v, None, Some(bias), options)
            }
            AttentionMask::FlexBias(bias) => attention(q, k, v, None, Some(bias.clone()), options),
            AttentionMask::Explicit(bias) => {
                let scale = (head_dim as f64).sqrt();
                let scores = q.div_scalar(scale).matmul(k.swap_dims(2, 3)) + bias.clone();
                dropout(&self.dropout, softmax_for_training(scores)).matmul(v)
            }
        };
        context.swap_dims(1, 2).reshape([batch, seq, hidden])
    }
}

/// Softmax over the last dimension for the autodiff path: `e · (1 / Σe)` with `e = exp(x -
/// max x)` (the max detached), where burn's autodiff decomposes `softmax` into the same steps
/// but ends with a division, whose backward makes two full-size passes more than a
/// multiplication by the (small, `[.., 1]`) reciprocal. Equal to `softmax` within an ulp.
///
/// # Shapes
/// - `x`: `[batch, heads, queries, keys]` -> the same
fn softmax_for_training(x: Tensor<4>) -> Tensor<4> {
    let max = x.clone().detach().max_dim(3);
    let e = (x - max).exp();
    let total = e.clone().sum_dim(3);
    e * total.recip()
}

/// burn's [`Dropout::forward`] with one tracked multiplication instead of two: the Bernoulli
/// mask is scaled by `1 / keep` before it meets the activations (`x · (m / keep)`, not
/// `(x · m) / keep`). The mask draws the same numbers from the device's generator, and since
/// `m` is 0 or 1 both forms round identically, so the output and its gradient are
/// bit-for-bit burn's, with one full-size pass fewer forward and backward (the attention
/// probabilities are the largest activations of a layer).
///
/// # Shapes
/// - `x`: any -> the same
fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let keep = 1.0 - layer.prob;
    let scaled_mask = x
        .random_like(Distribution::Bernoulli(keep))
        .mul_scalar(1.0 / keep);
    x * scaled_mask
}

/// Dense projection, dropout, residual and LayerNorm (checkpoint keys `attention.output` and
/// `output`).
#[derive(Module, Debug)]
pub struct BertResidual {
    /// The projection.
    pub dense: Linear,
    /// Checkpoint key `LayerNorm`.
    pub layer_norm: LayerNorm,
    dropout: Dropout,
}

impl BertResidual {
    fn new(input: usize, c: &BertConfig, device: &Device) -> Self {
        Self {
            dense: LinearConfig::new(input, c.hidden_size).init(device),
            layer_norm: LayerNormConfig::new(c.hidden_size)
                .with_epsilon(c.layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
        }
    }

    /// `LayerNorm(dropout(dense(x)) + residual)`.
    pub fn forward(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        self.layer_norm
            .forward(dropout(&self.dropout, self.dense.forward(x)) + residual)
    }
}

/// Self-attention with its output block (checkpoint key `attention`).
#[derive(Module, Debug)]
pub struct BertAttention {
    /// Checkpoint key `self`.
    pub self_attention: BertSelfAttention,
    /// Checkpoint key `output`.
    pub output: BertResidual,
}

/// The feed-forward expansion (checkpoint key `intermediate`).
#[derive(Module, Debug)]
pub struct BertIntermediate {
    /// `hidden -> intermediate`.
    pub dense: Linear,
    #[module(skip)]
    activation: Activation,
}

/// Feed-forward activations of BERT checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// Exact (erf) GELU: `hidden_act = "gelu"`.
    #[default]
    Gelu,
    /// Tanh-approximated GELU: `gelu_new`, `gelu_pytorch_tanh`.
    GeluTanh,
    /// ReLU.
    Relu,
}

impl Activation {
    fn from_name(name: &str) -> Self {
        match name {
            "gelu_new" | "gelu_pytorch_tanh" => Self::GeluTanh,
            "relu" => Self::Relu,
            _ => Self::Gelu,
        }
    }

    fn apply(self, x: Tensor<3>) -> Tensor<3> {
        match self {
            Self::Gelu => gelu(x),
            Self::GeluTanh => gelu_approximate(x),
            Self::Relu => relu(x),
        }
    }
}

/// One transformer layer (checkpoint key `encoder.layer.N`).
#[derive(Module, Debug)]
pub struct BertLayer {
    /// Self-attention block.
    pub attention: BertAttention,
    /// Feed-forward expansion.
    pub intermediate: BertIntermediate,
    /// Feed-forward output block.
    pub output: BertResidual,
}

impl BertLayer {
    fn new(c: &BertConfig, device: &Device) -> Self {
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        Self {
            attention: BertAttention {
                self_attention: BertSelfAttention {
                    query: linear(c.hidden_size, c.hidden_size),
                    key: linear(c.hidden_size, c.hidden_size),
                    value: linear(c.hidden_size, c.hidden_size),
                    dropout: DropoutConfig::new(c.attention_probs_dropout_prob).init(),
                    heads: c.num_attention_heads,
                },
                output: BertResidual::new(c.hidden_size, c, device),
            },
            intermediate: BertIntermediate {
                dense: linear(c.hidden_size, c.intermediate_size),
                activation: Activation::from_name(&c.hidden_act),
            },
            output: BertResidual::new(c.intermediate_size, c, device),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, seq, hidden]` -> `[batch, seq, hidden]`
    pub(crate) fn forward(&self, x: Tensor<3>, mask: &AttentionMask) -> Tensor<3> {
        let attended = self
            .attention
            .output
            .forward(self.attention.self_attention.forward(x.clone(), mask), x);
        let expanded = self
            .intermediate
            .activation
            .apply(self.intermediate.dense.forward(attended.clone()));
        self.output.forward(expanded, attended)
    }
}

/// The layer stack (checkpoint key `encoder`).
#[derive(Module, Debug)]
pub struct BertEncoder {
    /// Checkpoint keys `encoder.layer.N`.
    pub layer: Vec<BertLayer>,
}

/// `tanh(dense(h_[CLS]))` (checkpoint key `pooler`), used by classification heads.
#[derive(Module, Debug)]
pub struct BertPooler {
    /// `hidden -> hidden`.
    pub dense: Linear,
}

impl BertPooler {
    /// # Shapes
    /// - `hidden`: `[batch, seq, hidden]` -> `[batch, hidden]`
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, width] = hidden.dims();
        tanh(
            self.dense
                .forward(hidden.narrow(1, 0, 1).reshape([batch, width])),
        )
    }
}

/// Hugging Face's `initializer_range` (every BERT-family config sets 0.02): the std of the
/// normal draw `BertPreTrainedModel._init_weights` gives new linear weights.
pub const HF_INITIALIZER_RANGE: f64 = 0.02;

/// A new linear layer as Hugging Face initialises one (`_init_weights`): weights from
/// N(0, 0.02), bias zero. burn's default (Kaiming uniform, bias drawn too) gives a new
/// classification head outputs of a larger, random scale than a `transformers` user starts
/// from.
pub fn hf_linear(d_input: usize, d_output: usize, device: &Device) -> burn::nn::Linear {
    let mut linear = LinearConfig::new(d_input, d_output)
        .with_initializer(burn::nn::Initializer::Normal {
            mean: 0.0,
            std: HF_INITIALIZER_RANGE,
        })
        .init(device);
    linear.bias = Some(burn::module::Param::from_tensor(Tensor::<1>::zeros(
        [d_output],
        device,
    )));
    linear
}

/// A BERT model: embeddings, encoder and (for classification heads) the pooler.
#[derive(Module, Debug)]
pub struct BertModel {
    /// Embeddings.
    pub embeddings: BertEmbeddings,
    /// Transformer layers.
    pub encoder: BertEncoder,
    /// The pooler; `None` for bi-encoders, which do not use it.
    pub pooler: Option<BertPooler>,
}

/// The additive attention bias: 0 where `attention_mask` is 1, the dtype's lowest finite value
/// where it is 0 in f32 (`f32::MIN`, as `transformers` builds its extended attention mask), and
/// `densify_core::masked_logit` in other dtypes (f16 would turn `f32::MIN` into `-inf`).
///
/// # Shapes
/// - `attention_mask`: `[batch, seq]` -> `[batch, 1, 1, seq]`
pub(crate) fn attention_bias(attention_mask: Tensor<2, Int>) -> Tensor<4> {
    let [batch, seq] = attention_mask.dims();
    let padded = attention_mask.equal_elem(0);
    let zeros = Tensor::<2>::zeros([batch, seq], &padded.device());
    let fill = match zeros.dtype() {
        burn::tensor::DType::F32 => f64::from(f32::MIN),
        other => densify_core::masked_logit(other),
    };
    zeros.mask_fill(padded, fill).reshape([batch, 1, 1, seq])
}

impl BertModel {
    /// A randomly initialised model (`with_pooler` for classification heads).
    pub fn new(config: &BertConfig, with_pooler: bool, device: &Device) -> Self {
        Self {
            embeddings: BertEmbeddings::new(config, device),
            encoder: BertEncoder {
                layer: (0..config.num_hidden_layers)
                    .map(|_| BertLayer::new(config, device))
                    .collect(),
            },
            pooler: with_pooler.then(|| BertPooler {
                dense: hf_linear(config.hidden_size, config.hidden_size, device),
            }),
        }
    }

    /// The same model with every dropout probability set to 0 (what `model.eval()` does in
    /// PyTorch, while gradients keep flowing): for reference checks and deterministic training
    /// steps.
    pub fn without_dropout(mut self) -> Self {
        self.embeddings.dropout.prob = 0.0;
        for layer in &mut self.encoder.layer {
            layer.attention.self_attention.dropout.prob = 0.0;
            layer.attention.output.dropout.prob = 0.0;
            layer.output.dropout.prob = 0.0;
        }
        self
    }

    /// Token states of the last layer.
    ///
    /// # Shapes
    /// - `input_ids`, `token_type_ids`, `attention_mask`: `[batch, seq]` -> `[batch, seq, hidden]`
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
    ) -> Tensor<3> {
        let mask = AttentionMask::new(attention_mask);
        let mut x = self.embeddings.forward(input_ids, token_type_ids);
        for layer in &self.encoder.layer {
            x = layer.forward(x, &mask);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pooling::{Pooling, pool};
    use burn::tensor::TensorData;

    /// flex keeps one random generator per process: the tests that draw from it (random
    /// init, dropout) hold this lock, so the one that seeds it and compares draws bit for bit
    /// is not interleaved with another's draws.
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn rng() -> std::sync::MutexGuard<'static, ()> {
        RNG.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[test]
    fn a_new_linear_layer_starts_as_transformers_starts_one() {
        let _guard = rng();
        let device = Device::flex();
        let linear = hf_linear(384, 64, &device);
        let weights: Vec<f32> = linear.weight.val().into_data().iter::<f32>().collect();
        let n = weights.len() as f64;
        let mean = weights.iter().map(|&w| f64::from(w)).sum::<f64>() / n;
        let std = (weights
            .iter()
            .map(|&w| (f64::from(w) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        // 24,576 draws from N(0, 0.02): the sample std is within 2 % of 0.02 and the mean
        // within 5 standard errors of 0.
        assert!((std - 0.02).abs() < 0.0004, "std {std}");
        assert!(mean.abs() < 5.0 * 0.02 / n.sqrt(), "mean {mean}");
        let bias: Vec<f32> = linear
            .bias
            .unwrap()
            .val()
            .into_data()
            .iter::<f32>()
            .collect();
        assert_eq!(bias, vec![0.0; 64]);
    }

    fn ints(rows: &[&[i64]], device: &Device) -> Tensor<2, Int> {
        let width = rows[0].len();
        Tensor::from_data(TensorData::new(rows.concat(), [rows.len(), width]), device)
    }

    #[test]
    fn padding_does_not_change_the_embedding_of_a_shorter_text() {
        let _rng = rng();
        let device = Device::flex();
        device.seed(1);
        let model = BertModel::new(&BertConfig::tiny(50), false, &device);
        let alone = ints(&[&[1, 7, 8, 2]], &device);
        let ones = ints(&[&[1, 1, 1, 1]], &device);
        let zeros = ints(&[&[0, 0, 0, 0]], &device);
        let single = pool(
            model.forward(alone, zeros, ones.clone()),
            ones,
            Pooling::Mean,
        );
        // The same text padded to 7 tokens beside a longer one.
        let ids = ints(
            &[&[1, 7, 8, 2, 0, 0, 0], &[1, 9, 10, 11, 12, 13, 2]],
            &device,
        );
        let mask = ints(&[&[1, 1, 1, 1, 0, 0, 0], &[1, 1, 1, 1, 1, 1, 1]], &device);
        let types = ints(&[&[0; 7], &[0; 7]], &device);
        let hidden = model.forward(ids, types, mask.clone());
        assert_eq!(hidden.dims(), [2, 7, 32]);
        let batched = pool(hidden, mask, Pooling::Mean).narrow(0, 0, 1);
        let a: Vec<f32> = single.into_data().iter::<f32>().collect();
        let b: Vec<f32> = batched.into_data().iter::<f32>().collect();
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "padding changed the embedding by {diff}");
    }

    #[test]
    fn dropout_is_active_only_when_training() {
        let _rng = rng();
        let plain = Device::flex();
        let model = BertModel::new(&BertConfig::tiny(50), false, &plain);
        let ids = ints(&[&[1, 5, 6, 2]], &plain);
        let run = |m: &BertModel, d: &Device| -> Vec<f32> {
            let ids = ids.clone().to_device(d);
            let ones = Tensor::<2, Int>::ones([1, 4], d);
            m.forward(ids, ones.clone().zeros_like(), ones)
                .into_data()
                .iter::<f32>()
                .collect()
        };
        assert_eq!(
            run(&model, &plain),
            run(&model, &plain),
            "inference is deterministic"
        );
        let training = plain.clone().autodiff();
        let model = model.to_device(&training);
        assert_ne!(
            run(&model, &training),
            run(&model, &training),
            "dropout on an autodiff device"
        );
    }

    /// `f(x)` and the gradient of `Σ weights · f(x)` with respect to `x`, on flex autodiff.
    fn output_and_gradient<const D: usize>(
        values: &[f32],
        shape: [usize; D],
        weights: &[f32],
        f: impl Fn(Tensor<D>) -> Tensor<D>,
    ) -> (Vec<f32>, Vec<f32>) {
        let device = Device::flex().autodiff();
        let tensor = |v: &[f32]| {
            Tensor::<D>::from_data(burn::tensor::TensorData::new(v.to_vec(), shape), &device)
        };
        let x = tensor(values).require_grad();
        let y = f(x.clone());
        let grads = (y.clone() * tensor(weights)).sum().backward();
        let g = x.grad(&grads).unwrap();
        (
            y.into_data().iter::<f32>().collect(),
            g.into_data().iter::<f32>().collect(),
        )
    }

    #[test]
    fn dropout_with_one_multiplication_is_burn_s_bit_for_bit() {
        let _rng = rng();
        let layer = DropoutConfig::new(0.3).init();
        let values: Vec<f32> = (0..512).map(|i| (i as f32 - 200.0) * 0.37).collect();
        let weights: Vec<f32> = (0..512).map(|i| (i % 7) as f32 - 3.0).collect();
        let run = |ours: bool| {
            output_and_gradient(&values, [16, 32], &weights, |x| {
                x.device().seed(11);
                if ours {
                    dropout(&layer, x)
                } else {
                    layer.forward(x)
                }
            })
        };
        let (burn_y, burn_g) = run(false);
        let (our_y, our_g) = run(true);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&our_y), bits(&burn_y));
        assert_eq!(bits(&our_g), bits(&burn_g));
        let dropped = our_y.iter().filter(|v| **v == 0.0).count();
        assert!(
            (100..=210).contains(&dropped),
            "{dropped} of 512 dropped at p = 0.3"
        );
    }

    #[test]
    fn training_softmax_is_softmax_with_its_gradient() {
        let values: Vec<f32> = (0..96)
            .map(|i| ((i * 37) % 23) as f32 * 0.41 - 4.0)
            .collect();
        let weights: Vec<f32> = (0..96).map(|i| (i % 5) as f32 - 2.0).collect();
        let run = |ours: bool| {
            output_and_gradient(&values, [2, 3, 4, 4], &weights, |x| {
                if ours {
                    softmax_for_training(x)
                } else {
                    burn::tensor::activation::softmax(x, 3)
                }
            })
        };
        let (y, g) = run(false);
        let (our_y, our_g) = run(true);
        for (a, b) in our_y.iter().zip(&y).chain(our_g.iter().zip(&g)) {
            assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
        }
        // Rows sum to 1.
        for row in our_y.chunks(4) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn attention_bias_masks_padding() {
        let device = Device::flex();
        let bias: Vec<f32> = attention_bias(ints(&[&[1, 1, 0]], &device))
            .into_data()
            .iter::<f32>()
            .collect();
        assert_eq!(bias[..2], [0.0, 0.0]);
        assert_eq!(bias[2], f32::MIN);
    }
}
