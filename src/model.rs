//! The seed's Squeeze-and-Excitation CNN and its family: square RGB images through 1 to 6
//! blocks `conv3x3 → BatchNorm → ReLU → channel attention → maxpool 2`, then
//! `flatten → Linear hidden → ReLU → Dropout → Linear classes`.
//!
//! The seed is the default: three blocks of 32, 64 and 128 channels on 32x32 images, SE
//! reduction 16, 512 hidden units, 10 classes. Which other members exist, and how large a one
//! the browser takes, is [`crate::architecture`]'s rule. Weights files name the layers as the
//! seed's PyTorch module does (`conv1`, `bn1`, `ca1`, …, `fc1`, `fc2`): `weights::names` maps
//! them to the blocks here.

use crate::cpu;
use burn::{
    nn::{
        BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
        Relu,
        conv::{Conv2d, Conv2dConfig},
        pool::{MaxPool2d, MaxPool2dConfig},
    },
    prelude::*,
    tensor::activation::sigmoid,
};

/// Hyper-parameters of the architecture. The defaults are the seed's CIFAR-10 model; check a
/// config with [`SeCnnConfig::check`] before building it.
#[derive(Config, Debug, PartialEq)]
pub struct SeCnnConfig {
    /// Number of output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Output channels of each block, first to last (as many blocks as widths).
    #[config(default = "vec![32, 64, 128]")]
    pub widths: Vec<usize>,
    /// Channel-attention reduction ratio: a block of `c` channels has a bottleneck of `c / r`
    /// units, rounded down as PyTorch's `c // r` (0 when `c < r`).
    #[config(default = 16)]
    pub reduction: usize,
    /// Width of the hidden fully-connected layer.
    #[config(default = 512)]
    pub hidden: usize,
    /// Side of the square input in pixels: a multiple of `2^blocks`.
    #[config(default = 32)]
    pub input_size: usize,
    /// Dropout probability before the last layer.
    #[config(default = 0.5)]
    pub dropout: f64,
}

impl SeCnnConfig {
    /// Number of blocks.
    pub fn blocks(&self) -> usize {
        self.widths.len()
    }

    /// SE bottleneck units of a block of `channels` channels: `channels // reduction`.
    pub fn bottleneck(&self, channels: usize) -> usize {
        channels / self.reduction.max(1)
    }

    /// Side of the last block's pooled output (what `fc1` reads, flattened).
    pub fn final_side(&self) -> usize {
        self.input_size >> self.blocks()
    }

    /// Inputs of `fc1`: the last block's channels times its pooled side squared.
    pub fn flat_features(&self) -> usize {
        self.widths.last().copied().unwrap_or(0) * self.final_side() * self.final_side()
    }
}

/// Squeeze-and-Excitation channel attention.
///
/// `weights = sigmoid(excite(relu(squeeze(mean_hw(x)))))`, output `x * weights` per channel.
/// A block narrower than the reduction ratio has no bottleneck (PyTorch's `Linear(c, 0)`): its
/// weights are then `sigmoid(0) = 0.5` for every channel.
#[derive(Module, Debug)]
pub struct ChannelAttention {
    /// `Linear(c, c / r)` without bias (PyTorch `fc.0`); `None` when `c / r` is 0.
    pub squeeze: Option<Linear>,
    /// `Linear(c / r, c)` without bias (PyTorch `fc.2`); `None` when `c / r` is 0.
    pub excite: Option<Linear>,
    relu: Relu,
}

impl ChannelAttention {
    fn new(channels: usize, bottleneck: usize, device: &Device) -> Self {
        let linear = |inputs, outputs| LinearConfig::new(inputs, outputs).with_bias(false).init(device);
        let some = bottleneck > 0;
        Self {
            squeeze: some.then(|| linear(channels, bottleneck)),
            excite: some.then(|| linear(bottleneck, channels)),
            relu: Relu::new(),
        }
    }

    /// Channel weights in (0, 1).
    ///
    /// - `x`: `[batch, channels, height, width]`
    /// - returns `[batch, channels]`
    pub fn weights(&self, x: Tensor<4>) -> Tensor<2> {
        let [batch, channels, _, _] = x.dims();
        let (Some(squeeze), Some(excite)) = (&self.squeeze, &self.excite) else {
            return Tensor::full([batch, channels], 0.5, &x.device());
        };
        let pooled = cpu::channel_means(x);
        sigmoid(excite.forward(self.relu.forward(squeeze.forward(pooled))))
    }

    /// Scales each channel of `x` by its attention weight.
    ///
    /// - `x`: `[batch, channels, height, width]`, `weights`: `[batch, channels]`
    pub fn apply(x: Tensor<4>, weights: Tensor<2>) -> Tensor<4> {
        cpu::scale_channels(x, weights)
    }

    /// The bottleneck's two weights (none without a bottleneck).
    fn linears(&self) -> impl Iterator<Item = &Linear> {
        self.squeeze.iter().chain(&self.excite)
    }
}

/// One block without its pooling: `conv3x3 → BatchNorm → ReLU → channel attention`.
#[derive(Module, Debug)]
pub struct SeBlock {
    pub conv: Conv2d,
    pub bn: BatchNorm,
    pub attention: ChannelAttention,
}

impl SeBlock {
    fn new(inputs: usize, channels: usize, bottleneck: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([inputs, channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            bn: BatchNormConfig::new(channels).init(device),
            attention: ChannelAttention::new(channels, bottleneck, device),
        }
    }

    /// Output channels.
    pub fn width(&self) -> usize {
        self.conv.weight.shape().dims::<4>()[0]
    }
}

/// What one block computed, for explanation.
#[derive(Debug, Clone)]
pub struct BlockTrace {
    /// Channel-attention weights, `[batch, channels]`, each in (0, 1).
    pub se_weights: Tensor<2>,
    /// The attended feature maps (after attention, before pooling), `[batch, channels, h, w]`.
    pub features: Tensor<4>,
}

/// Logits plus, per block, the attention weights and attended feature maps.
#[derive(Debug, Clone)]
pub struct ForwardTrace {
    /// `[batch, classes]`
    pub logits: Tensor<2>,
    /// One trace per block, in order.
    pub blocks: Vec<BlockTrace>,
}

/// The SE-CNN. Build it with [`SeCnnConfig::init`].
#[derive(Module, Debug)]
pub struct SeCnn {
    /// The blocks, first to last (`conv1`/`bn1`/`ca1` is the first).
    pub blocks: Vec<SeBlock>,
    pub fc1: Linear,
    pub fc2: Linear,
    pool: MaxPool2d,
    relu: Relu,
    dropout: Dropout,
}

impl SeCnnConfig {
    /// A freshly initialised model on `device` (the config must pass [`Self::check`]).
    pub fn init(&self, device: &Device) -> SeCnn {
        let inputs = std::iter::once(3).chain(self.widths.iter().copied());
        let blocks = inputs
            .zip(&self.widths)
            .map(|(inputs, &channels)| SeBlock::new(inputs, channels, self.bottleneck(channels), device))
            .collect();
        SeCnn {
            blocks,
            fc1: LinearConfig::new(self.flat_features(), self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.num_classes).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            relu: Relu::new(),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

impl SeCnn {
    /// Class logits.
    ///
    /// - `images`: normalised `[batch, 3, input size, input size]`
    /// - returns `[batch, classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head(self.features(images))
    }

    /// Test-time flip averaging: the mean of the logits of `images` and of their mirror images.
    ///
    /// - `images`: normalised `[batch, 3, input size, input size]`
    /// - returns `[batch, classes]`
    pub fn forward_tta(&self, images: Tensor<4>) -> Tensor<2> {
        let mirrored = images.clone().flip([3]);
        (self.forward(images) + self.forward(mirrored)).div_scalar(2.0)
    }

    /// [`Self::forward_tta`] when `tta`, else [`Self::forward`]: the choice every prediction makes.
    pub fn logits(&self, images: Tensor<4>, tta: bool) -> Tensor<2> {
        if tta { self.forward_tta(images) } else { self.forward(images) }
    }

    /// Logits together with every block's attention weights and attended feature maps.
    pub fn forward_explained(&self, images: Tensor<4>) -> ForwardTrace {
        let mut blocks = Vec::with_capacity(self.blocks.len());
        let mut x = images;
        for index in 0..self.blocks.len() {
            let trace = self.block(index, x);
            x = self.downsample(trace.features.clone());
            blocks.push(trace);
        }
        ForwardTrace {
            logits: self.head(x),
            blocks,
        }
    }

    /// The convolutional part: every block with its pooling,
    /// `[batch, 3, input size, input size]` → `[batch, last width, final side, final side]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<4> {
        (0..self.blocks.len()).fold(images, |x, index| self.pooled_block(index, x))
    }

    /// The classifier on top of [`Self::features`]: `[batch, last width, side, side]` →
    /// `[batch, classes]`.
    pub fn head(&self, features: Tensor<4>) -> Tensor<2> {
        cpu::linear(&self.fc2, self.dropout.forward(self.embed(features)))
    }

    /// The penultimate activations `relu(fc1(flatten(features)))`, what the last layer reads:
    /// `[batch, last width, side, side]` → `[batch, hidden]`.
    pub fn embed(&self, features: Tensor<4>) -> Tensor<2> {
        let [batch, channels, height, width] = features.dims();
        let x = features.reshape([batch, channels * height * width]);
        self.relu.forward(cpu::linear(&self.fc1, x))
    }

    /// The last block up to (not including) its pooling, from an image batch: the layer
    /// Grad-CAM reads.
    ///
    /// - returns `[batch, last width, 2 · final side, 2 · final side]`
    pub fn last_block_features(&self, images: Tensor<4>) -> Tensor<4> {
        let last = self.blocks.len() - 1;
        let x = (0..last).fold(images, |x, index| self.pooled_block(index, x));
        self.block(last, x).features
    }

    /// Pooling followed by [`Self::head`]: the rest of the network after [`Self::last_block_features`].
    pub fn head_from_last_block(&self, features: Tensor<4>) -> Tensor<2> {
        self.head(self.downsample(features))
    }

    /// The 2×2 max pooling after each block: `[batch, c, h, w]` → `[batch, c, h / 2, w / 2]`.
    fn downsample(&self, x: Tensor<4>) -> Tensor<4> {
        cpu::max_pool2d(&self.pool, x)
    }

    /// Block `index` (from 0) without its pooling: conv → BN → ReLU → channel attention.
    pub fn block(&self, index: usize, x: Tensor<4>) -> BlockTrace {
        let (x, se_weights) = self.activations_and_weights(index, x);
        BlockTrace {
            features: ChannelAttention::apply(x, se_weights.clone()),
            se_weights,
        }
    }

    /// Block `index` with its pooling, `downsample(block(index, x).features)`, the pooling
    /// before the attention's scaling (the same values, a quarter of them scaled): what training
    /// and classification run.
    fn pooled_block(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        let (x, se_weights) = self.activations_and_weights(index, x);
        cpu::max_pool2d_scaled(&self.pool, x, se_weights)
    }

    /// Block `index`'s `relu(bn(conv(x)))` and its channel-attention weights from them.
    fn activations_and_weights(&self, index: usize, x: Tensor<4>) -> (Tensor<4>, Tensor<2>) {
        let block = &self.blocks[index];
        let x = cpu::batch_norm_relu(&block.bn, cpu::conv2d(&block.conv, x));
        let se_weights = block.attention.weights(x.clone());
        (x, se_weights)
    }

    /// `Σ w²` over the convolution and linear weights (SE layers included; BatchNorm parameters
    /// and biases excluded): what weight decay shrinks. Returns `[1]`.
    pub fn weight_norm_squared(&self) -> Tensor<1> {
        let squared = |w: Tensor<2>| (w.clone() * w).sum();
        let conv = |c: &Conv2d| {
            let [out, c_in, kh, kw] = c.weight.dims();
            squared(c.weight.val().reshape([out, c_in * kh * kw]))
        };
        let attention = self.blocks.iter().flat_map(|block| block.attention.linears());
        let linears = attention.chain([&self.fc1, &self.fc2]).map(|l| squared(l.weight.val()));
        let convs = self.blocks.iter().map(|block| conv(&block.conv));
        convs.chain(linears).reduce(|a, b| a + b).expect("a model has layers")
    }

    /// Number of trainable parameters (BatchNorm running statistics are state, not parameters).
    pub fn trainable_params(&self) -> usize {
        struct Count {
            path: Vec<String>,
            total: usize,
        }
        impl burn::module::ModuleVisitor for Count {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.path.push(name.to_string());
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.path.pop();
            }
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                if !self.path.last().is_some_and(|name| name.starts_with("running_")) {
                    self.total += param.lazy_shape().num_elements();
                }
            }
        }
        let mut count = Count { path: Vec::new(), total: 0 };
        self.visit(&mut count);
        count.total
    }

    /// Number of output classes.
    pub fn num_classes(&self) -> usize {
        self.fc2.weight.shape().dims::<2>()[1]
    }

    /// Channels per block.
    pub fn widths(&self) -> Vec<usize> {
        self.blocks.iter().map(SeBlock::width).collect()
    }

    /// Side of the square input the model takes: what makes the last block's pooled output
    /// fill `fc1`'s inputs, times two per block.
    pub fn input_size(&self) -> usize {
        let inputs = self.fc1.weight.shape().dims::<2>()[0];
        let channels = self.blocks.last().map_or(1, SeBlock::width).max(1);
        let side = ((inputs / channels) as f64).sqrt().round() as usize;
        side << self.blocks.len()
    }

    /// The same model with another dropout probability (0 makes training deterministic).
    pub fn with_dropout(mut self, probability: f64) -> Self {
        self.dropout = DropoutConfig::new(probability).init();
        self
    }

    /// Replaces the last layer with a freshly initialised one for `num_classes` outputs.
    pub fn with_new_head(mut self, num_classes: usize, device: &Device) -> Self {
        let hidden = self.fc1.weight.shape().dims::<2>()[1];
        self.fc2 = LinearConfig::new(hidden, num_classes).init(device);
        self
    }
}
