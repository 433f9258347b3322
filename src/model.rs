//! The seed's Squeeze-and-Excitation CNN for 32x32 RGB images.
//!
//! Three blocks `conv3x3 → BatchNorm → ReLU → channel attention → maxpool 2`
//! (3→32→64→128 channels), then `flatten 2048 → Linear 512 → ReLU → Dropout → Linear classes`.
//! Field names follow the seed's PyTorch module (`conv1`, `bn1`, `ca1`, …, `fc1`, `fc2`) so a
//! PyTorch `state_dict` maps onto this struct with a single rename (`ca*.fc.0/2` → `squeeze/excite`).

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

/// Side length of the square RGB input the network expects.
pub const INPUT_SIZE: usize = 32;
/// Number of attention blocks.
pub const NUM_BLOCKS: usize = 3;

/// Hyper-parameters of the architecture. The defaults are the seed's CIFAR-10 model.
#[derive(Config, Debug)]
pub struct SeCnnConfig {
    /// Number of output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Output channels of the three convolutional blocks.
    #[config(default = "[32, 64, 128]")]
    pub widths: [usize; 3],
    /// Channel-attention reduction ratio: the bottleneck has `channels / reduction` units.
    #[config(default = 16)]
    pub reduction: usize,
    /// Width of the hidden fully-connected layer.
    #[config(default = 512)]
    pub hidden: usize,
    /// Dropout probability before the last layer.
    #[config(default = 0.5)]
    pub dropout: f64,
}

/// Squeeze-and-Excitation channel attention.
///
/// `weights = sigmoid(excite(relu(squeeze(mean_hw(x)))))`, output `x * weights` per channel.
#[derive(Module, Debug)]
pub struct ChannelAttention {
    /// `Linear(c, c / r)` without bias (PyTorch `fc.0`).
    pub squeeze: Linear,
    /// `Linear(c / r, c)` without bias (PyTorch `fc.2`).
    pub excite: Linear,
    relu: Relu,
}

impl ChannelAttention {
    fn new(channels: usize, reduction: usize, device: &Device) -> Self {
        let hidden = (channels / reduction).max(1);
        Self {
            squeeze: LinearConfig::new(channels, hidden)
                .with_bias(false)
                .init(device),
            excite: LinearConfig::new(hidden, channels)
                .with_bias(false)
                .init(device),
            relu: Relu::new(),
        }
    }

    /// Channel weights in (0, 1).
    ///
    /// - `x`: `[batch, channels, height, width]`
    /// - returns `[batch, channels]`
    pub fn weights(&self, x: Tensor<4>) -> Tensor<2> {
        let [batch, channels, height, width] = x.dims();
        let pooled = x.reshape([batch, channels, height * width]).mean_dim(2);
        let pooled = pooled.reshape([batch, channels]);
        sigmoid(self.excite.forward(self.relu.forward(self.squeeze.forward(pooled))))
    }

    /// Scales each channel of `x` by its attention weight.
    ///
    /// - `x`: `[batch, channels, height, width]`, `weights`: `[batch, channels]`
    pub fn apply(x: Tensor<4>, weights: Tensor<2>) -> Tensor<4> {
        cpu::scale_channels(x, weights)
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
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub ca1: ChannelAttention,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub ca2: ChannelAttention,
    pub conv3: Conv2d,
    pub bn3: BatchNorm,
    pub ca3: ChannelAttention,
    pub fc1: Linear,
    pub fc2: Linear,
    pool: MaxPool2d,
    relu: Relu,
    dropout: Dropout,
}

impl SeCnnConfig {
    /// A freshly initialised model on `device`.
    pub fn init(&self, device: &Device) -> SeCnn {
        let [w1, w2, w3] = self.widths;
        let conv = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let spatial = INPUT_SIZE / 8;
        SeCnn {
            conv1: conv(3, w1),
            bn1: BatchNormConfig::new(w1).init(device),
            ca1: ChannelAttention::new(w1, self.reduction, device),
            conv2: conv(w1, w2),
            bn2: BatchNormConfig::new(w2).init(device),
            ca2: ChannelAttention::new(w2, self.reduction, device),
            conv3: conv(w2, w3),
            bn3: BatchNormConfig::new(w3).init(device),
            ca3: ChannelAttention::new(w3, self.reduction, device),
            fc1: LinearConfig::new(w3 * spatial * spatial, self.hidden).init(device),
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
    /// - `images`: normalised `[batch, 3, 32, 32]`
    /// - returns `[batch, classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.downsample(self.block(0, images).features);
        let x = self.downsample(self.block(1, x).features);
        let x = self.downsample(self.block(2, x).features);
        self.head(x)
    }

    /// Test-time flip averaging: the mean of the logits of `images` and of their mirror images.
    ///
    /// - `images`: normalised `[batch, 3, 32, 32]`
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
        let mut blocks = Vec::with_capacity(NUM_BLOCKS);
        let mut x = images;
        for index in 0..NUM_BLOCKS {
            let trace = self.block(index, x);
            x = self.downsample(trace.features.clone());
            blocks.push(trace);
        }
        ForwardTrace {
            logits: self.head(x),
            blocks,
        }
    }

    /// The convolutional part: three blocks with pooling, `[batch, 3, 32, 32]` → `[batch, 128, 4, 4]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<4> {
        (0..NUM_BLOCKS).fold(images, |x, index| {
            self.downsample(self.block(index, x).features)
        })
    }

    /// The classifier on top of [`Self::features`]: `[batch, 128, 4, 4]` → `[batch, classes]`.
    pub fn head(&self, features: Tensor<4>) -> Tensor<2> {
        self.fc2.forward(self.dropout.forward(self.embed(features)))
    }

    /// The penultimate activations `relu(fc1(flatten(features)))`, what the last layer reads:
    /// `[batch, 128, 4, 4]` → `[batch, 512]`.
    pub fn embed(&self, features: Tensor<4>) -> Tensor<2> {
        let [batch, channels, height, width] = features.dims();
        let x = features.reshape([batch, channels * height * width]);
        self.relu.forward(self.fc1.forward(x))
    }

    /// Block 3 up to (not including) its pooling, from an image batch: the layer Grad-CAM reads.
    ///
    /// - returns `[batch, 128, 8, 8]`
    pub fn last_block_features(&self, images: Tensor<4>) -> Tensor<4> {
        let x = self.downsample(self.block(0, images).features);
        let x = self.downsample(self.block(1, x).features);
        self.block(2, x).features
    }

    /// Pooling followed by [`Self::head`]: the rest of the network after [`Self::last_block_features`].
    pub fn head_from_last_block(&self, features: Tensor<4>) -> Tensor<2> {
        self.head(self.downsample(features))
    }

    /// The 2×2 max pooling after each block: `[batch, c, h, w]` → `[batch, c, h / 2, w / 2]`.
    fn downsample(&self, x: Tensor<4>) -> Tensor<4> {
        cpu::max_pool2d(&self.pool, x)
    }

    /// One block without its pooling: conv → BN → ReLU → channel attention.
    pub fn block(&self, index: usize, x: Tensor<4>) -> BlockTrace {
        let (conv, bn, attention) = match index {
            0 => (&self.conv1, &self.bn1, &self.ca1),
            1 => (&self.conv2, &self.bn2, &self.ca2),
            2 => (&self.conv3, &self.bn3, &self.ca3),
            _ => panic!("the SE-CNN has {NUM_BLOCKS} blocks, not {}", index + 1),
        };
        let x = self.relu.forward(cpu::batch_norm(bn, cpu::conv2d(conv, x)));
        let se_weights = attention.weights(x.clone());
        BlockTrace {
            features: ChannelAttention::apply(x, se_weights.clone()),
            se_weights,
        }
    }

    /// `Σ w²` over the convolution and linear weights (SE layers included; BatchNorm parameters
    /// and biases excluded): what weight decay shrinks. Returns `[1]`.
    pub fn weight_norm_squared(&self) -> Tensor<1> {
        let squared = |w: Tensor<2>| (w.clone() * w).sum();
        let conv = |c: &Conv2d| {
            let [out, c_in, kh, kw] = c.weight.dims();
            squared(c.weight.val().reshape([out, c_in * kh * kw]))
        };
        let linears = [
            &self.ca1.squeeze,
            &self.ca1.excite,
            &self.ca2.squeeze,
            &self.ca2.excite,
            &self.ca3.squeeze,
            &self.ca3.excite,
            &self.fc1,
            &self.fc2,
        ];
        linears
            .into_iter()
            .map(|l| squared(l.weight.val()))
            .fold(conv(&self.conv1) + conv(&self.conv2) + conv(&self.conv3), |a, b| a + b)
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
    pub fn widths(&self) -> [usize; 3] {
        [
            self.conv1.weight.shape().dims::<4>()[0],
            self.conv2.weight.shape().dims::<4>()[0],
            self.conv3.weight.shape().dims::<4>()[0],
        ]
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
