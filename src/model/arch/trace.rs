//! Running a description without numbers: what a model's tensors are, whether it
//! outputs per pixel, and where its graph can be cut for shared inference.

use super::{value_name, Layers, Op};
use crate::model::spec::{ModelSpec, TensorSpec};

/// A value as the trace sees it.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    id: usize,
    channels: usize,
    /// Down-sampling from the input (`2^pools / 2^ups`), meaningful while `spatial`.
    scale: usize,
    spatial: bool,
}

#[derive(Debug)]
struct Node {
    name: String,
    op: Op,
    inputs: Vec<usize>,
    out: Shape,
}

/// Records tensors and the value graph; see [`trace`].
#[derive(Debug, Default)]
struct Tracer {
    tensors: Vec<TensorSpec>,
    nodes: Vec<Node>,
}

impl Tracer {
    fn param(&mut self, name: String, shape: Vec<usize>) {
        self.tensors.push(TensorSpec {
            name,
            shape,
            trainable: true,
        });
    }

    fn push(
        &mut self,
        name: &str,
        op: Op,
        inputs: &[&Shape],
        channels: usize,
        scale: usize,
        spatial: bool,
    ) -> Shape {
        let out = Shape {
            id: self.nodes.len() + 1,
            channels,
            scale,
            spatial,
        };
        self.nodes.push(Node {
            name: value_name(name, op),
            op,
            inputs: inputs.iter().map(|s| s.id).collect(),
            out,
        });
        out
    }
}

impl Layers for Tracer {
    type Value = Shape;

    fn conv(&mut self, x: &Shape, name: &str, out: usize, kernel: usize) -> Shape {
        self.param(
            format!("{name}.weight"),
            vec![out, x.channels, kernel, kernel],
        );
        self.param(format!("{name}.bias"), vec![out]);
        self.push(name, Op::Conv, &[x], out, x.scale, x.spatial)
    }

    fn batch_norm(&mut self, x: &Shape, name: &str) -> Shape {
        self.param(format!("{name}.weight"), vec![x.channels]);
        self.param(format!("{name}.bias"), vec![x.channels]);
        for buffer in ["running_mean", "running_var"] {
            self.tensors.push(TensorSpec {
                name: format!("{name}.{buffer}"),
                shape: vec![x.channels],
                trainable: false,
            });
        }
        self.push(name, Op::BatchNorm, &[x], x.channels, x.scale, x.spatial)
    }

    fn relu(&mut self, x: &Shape, name: &str) -> Shape {
        self.push(name, Op::Relu, &[x], x.channels, x.scale, x.spatial)
    }

    fn max_pool2(&mut self, x: &Shape, name: &str) -> Shape {
        self.push(name, Op::MaxPool, &[x], x.channels, x.scale * 2, x.spatial)
    }

    fn up_conv2(&mut self, x: &Shape, name: &str, out: usize) -> Shape {
        self.param(format!("{name}.weight"), vec![x.channels, out, 2, 2]);
        self.param(format!("{name}.bias"), vec![out]);
        self.push(name, Op::UpConv, &[x], out, (x.scale / 2).max(1), x.spatial)
    }

    fn concat(&mut self, a: &Shape, b: &Shape, name: &str) -> Shape {
        self.push(
            name,
            Op::Concat,
            &[a, b],
            a.channels + b.channels,
            a.scale,
            a.spatial,
        )
    }

    fn global_mean(&mut self, x: &Shape, name: &str) -> Shape {
        self.push(name, Op::GlobalMean, &[x], x.channels, x.scale, false)
    }

    fn linear(&mut self, x: &Shape, name: &str, out: usize) -> Shape {
        self.param(format!("{name}.weight"), vec![out, x.channels]);
        self.param(format!("{name}.bias"), vec![out]);
        self.push(name, Op::Linear, &[x], out, x.scale, false)
    }
}

/// A value where a model can be cut in two for inference that shares work between
/// overlapping windows (`infer::shared`): everything before it is convolutional
/// (conv, batch norm, ReLU, pooling), it is the output of a down-sampling, and
/// nothing after it reads an earlier value (no skip connection crosses it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The value's name in the ONNX graph (`blocks.4/pool`).
    pub value: String,
    /// Its channels.
    pub channels: usize,
    /// Its down-sampling from the input (a power of two).
    pub scale: usize,
}

/// What a description implies for a spec.
#[derive(Debug, Clone)]
pub struct Traced {
    /// Every parameter and batch-norm buffer, in forward order.
    pub tensors: Vec<TensorSpec>,
    /// Whether the output keeps height and width (one class per pixel).
    pub per_pixel: bool,
    /// The cut points, from the input towards the output.
    pub cuts: Vec<Cut>,
    /// The largest down-sampling any value reaches: input sizes must be multiples.
    pub max_scale: usize,
}

/// Traces the architecture of `spec`.
pub fn trace(spec: &ModelSpec) -> Traced {
    let mut t = Tracer::default();
    let input = Shape {
        id: 0,
        channels: spec.in_channels,
        scale: 1,
        spatial: true,
    };
    let out = spec.arch.build(spec, &mut t, input);
    let local = |op: Op| matches!(op, Op::Conv | Op::BatchNorm | Op::Relu | Op::MaxPool);
    let mut cuts = Vec::new();
    for (k, node) in t.nodes.iter().enumerate() {
        if !t.nodes[..=k].iter().all(|n| local(n.op)) {
            break;
        }
        let crossed = t.nodes[k + 1..]
            .iter()
            .flat_map(|n| &n.inputs)
            .any(|&i| i < node.out.id);
        if node.op == Op::MaxPool && !crossed {
            cuts.push(Cut {
                value: node.name.clone(),
                channels: node.out.channels,
                scale: node.out.scale,
            });
        }
    }
    let max_scale = t.nodes.iter().map(|n| n.out.scale).max().unwrap_or(1);
    Traced {
        tensors: t.tensors,
        per_pixel: out.spatial,
        cuts,
        max_scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cnn_can_be_cut_after_every_block() {
        let spec = ModelSpec::paper_cnn(15, 10);
        let t = trace(&spec);
        assert!(!t.per_pixel);
        let cuts: Vec<_> = t.cuts.iter().map(|c| (c.value.as_str(), c.scale)).collect();
        assert_eq!(cuts.len(), 7);
        assert_eq!(cuts[0], ("blocks.0/pool", 2));
        assert_eq!(cuts[6], ("blocks.6/pool", 128));
        assert!(t.cuts.iter().all(|c| c.channels == 64));
    }

    #[test]
    fn the_unet_has_no_cut_because_its_skips_cross_every_pool() {
        let t = trace(&ModelSpec::default_unet(3, 7, 64));
        assert!(t.per_pixel);
        assert!(t.cuts.is_empty());
    }
}
