//! The ONNX graph of a checkpoint, layer by layer as `model::spec` documents it.
//!
//! Every parameter and batch-norm buffer becomes an initializer under its checkpoint
//! name (`blocks.0.conv.weight`), so a graph can be checked against the spec by
//! name. Batch norm uses the frozen running statistics (`training_mode = 0`) with
//! [`BN_EPS`]. Value and node names are `<layer>/<op>` (`blocks.3/pool`, `dec1/up`),
//! so a consumer can find a layer's output by name.
//!
//! Input `input` `[batch, bands, T, T]` (`batch` symbolic; height and width fixed to
//! the card's tile size `T` for both architectures: the U-Net runs only on multiples
//! of 2^depth, and a declared shape must admit only sizes that run; fixed sizes are
//! also what the Deepness QGIS plugin requires). Non-finite input values become 0,
//! the training mean after the card's normalisation (`input/finite`), as geomaml
//! fills invalid pixels with a band's mean. One output, `probabilities` (softmax over
//! classes; Deepness treats every output as a head): `[batch, classes]` for the CNN,
//! `[batch, classes, T, T]` for the U-Net and for the CNN in its [`Form::Deepness`]
//! form, where the tile's class probabilities are repeated over the tile.

use super::proto::{
    attribute_type, float_tensor_type, AttributeProto, Dimension, GraphProto, NodeProto,
    TensorProto, ValueInfoProto, DATA_TYPE_FLOAT, DATA_TYPE_INT64,
};
use crate::model::spec::{Arch, ModelSpec, BN_EPS};
use crate::model::NamedTensors;

/// Name of the graph input.
pub const INPUT: &str = "input";
/// Name of the logits output.
pub const LOGITS: &str = "logits";
/// Name of the softmax output.
pub const PROBABILITIES: &str = "probabilities";

/// Name of the input after non-finite values are replaced.
pub const FINITE_INPUT: &str = "input/finite";

/// What the graph's output is shaped for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Form {
    /// What `geomaml map` reads: one class vector per tile for the CNN.
    #[default]
    Native,
    /// What the Deepness QGIS plugin runs (a segmentation output): the CNN's class
    /// probabilities repeated over the tile. The U-Net is the same in both forms.
    Deepness,
}

/// Accumulates nodes and initializers while a network is traced.
pub struct GraphBuilder<'a> {
    tensors: &'a NamedTensors,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: attribute_type::INT,
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}

fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f: v,
        r#type: attribute_type::FLOAT,
        ..Default::default()
    }
}

impl<'a> GraphBuilder<'a> {
    /// A builder drawing weights from `tensors` (validated against the spec).
    pub fn new(tensors: &'a NamedTensors) -> Self {
        GraphBuilder {
            tensors,
            nodes: Vec::new(),
            initializers: Vec::new(),
        }
    }

    /// Adds the checkpoint tensor `name` as an initializer; returns its name.
    fn weight(&mut self, name: &str) -> String {
        let t = self
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("checkpoint validated: {name} present"));
        if !self.initializers.iter().any(|i| i.name == name) {
            self.initializers.push(TensorProto {
                dims: t.shape.iter().map(|&d| d as i64).collect(),
                data_type: DATA_TYPE_FLOAT,
                name: name.into(),
                raw_data: t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                ..Default::default()
            });
        }
        name.into()
    }

    /// Adds a float constant initializer `name` of shape `dims`.
    fn constant(&mut self, name: &str, dims: &[i64], values: &[f32]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.to_vec(),
            data_type: DATA_TYPE_FLOAT,
            name: name.into(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    /// Adds an int64 constant initializer `name` of shape `dims`.
    fn int64_constant(&mut self, name: &str, dims: &[i64], values: &[i64]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.to_vec(),
            data_type: DATA_TYPE_INT64,
            name: name.into(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    /// Appends a node; its single output is named `out`.
    pub fn node(
        &mut self,
        op: &str,
        inputs: Vec<String>,
        out: &str,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![out.into()],
            name: out.into(),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        out.into()
    }

    /// `Conv` with `{prefix}.weight/bias`, stride 1, "same" padding for odd kernels.
    pub fn conv(&mut self, x: &str, prefix: &str, kernel: usize) -> String {
        let (w, b) = (
            self.weight(&format!("{prefix}.weight")),
            self.weight(&format!("{prefix}.bias")),
        );
        let p = (kernel / 2) as i64;
        let k = kernel as i64;
        let attrs = vec![
            ints("kernel_shape", &[k, k]),
            ints("pads", &[p, p, p, p]),
            ints("strides", &[1, 1]),
        ];
        self.node(
            "Conv",
            vec![x.into(), w, b],
            &format!("{prefix}/conv"),
            attrs,
        )
    }

    /// `BatchNormalization` in inference mode with `{prefix}.{weight,bias,running_mean,running_var}`.
    pub fn batch_norm(&mut self, x: &str, prefix: &str) -> String {
        let inputs = ["weight", "bias", "running_mean", "running_var"]
            .iter()
            .map(|s| self.weight(&format!("{prefix}.{s}")))
            .collect::<Vec<_>>();
        let mut all = vec![x.to_string()];
        all.extend(inputs);
        self.node(
            "BatchNormalization",
            all,
            &format!("{prefix}/bn"),
            vec![float("epsilon", BN_EPS as f32)],
        )
    }

    /// `Relu`.
    pub fn relu(&mut self, x: &str, prefix: &str) -> String {
        self.node("Relu", vec![x.into()], &format!("{prefix}/relu"), vec![])
    }

    /// 2x2 `MaxPool` with stride 2 (floor mode, as PyTorch).
    pub fn max_pool(&mut self, x: &str, prefix: &str) -> String {
        let attrs = vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])];
        self.node("MaxPool", vec![x.into()], &format!("{prefix}/pool"), attrs)
    }

    /// conv -> batch norm -> ReLU, the unit both architectures repeat.
    pub fn conv_bn_relu(&mut self, x: &str, conv: &str, bn: &str, out_prefix: &str) -> String {
        let c = self.conv(x, conv, 3);
        let b = self.batch_norm(&c, bn);
        self.relu(&b, out_prefix)
    }

    /// Finishes the graph with the given input and output types.
    pub fn finish(
        self,
        name: &str,
        input: ValueInfoProto,
        outputs: Vec<ValueInfoProto>,
    ) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: name.into(),
            initializer: self.initializers,
            input: vec![input],
            output: outputs,
            ..Default::default()
        }
    }
}

fn value_info(name: &str, dims: Vec<Dimension>) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(float_tensor_type(dims)),
        doc_string: String::new(),
    }
}

/// The paper CNN: `depth` x [conv 3x3 -> bn -> ReLU -> max-pool 2], global mean, linear head.
fn cnn(spec: &ModelSpec, g: &mut GraphBuilder<'_>) -> String {
    let mut x = FINITE_INPUT.to_string();
    for i in 0..spec.depth {
        let block = format!("blocks.{i}");
        let r = g.conv_bn_relu(&x, &format!("{block}.conv"), &format!("{block}.bn"), &block);
        x = g.max_pool(&r, &block);
    }
    let mean = g.node("GlobalAveragePool", vec![x], "head/mean", vec![]);
    let flat = g.node("Flatten", vec![mean], "head/flatten", vec![int("axis", 1)]);
    let (w, b) = (g.weight("head.weight"), g.weight("head.bias"));
    g.node("Gemm", vec![flat, w, b], LOGITS, vec![int("transB", 1)])
}

/// Two [conv 3x3 -> bn -> ReLU] of a U-Net level.
fn double_conv(g: &mut GraphBuilder<'_>, x: &str, level: &str) -> String {
    let a = g.conv_bn_relu(
        x,
        &format!("{level}.conv1"),
        &format!("{level}.bn1"),
        &format!("{level}.1"),
    );
    g.conv_bn_relu(
        &a,
        &format!("{level}.conv2"),
        &format!("{level}.bn2"),
        &format!("{level}.2"),
    )
}

/// The U-Net of `model::spec`: encoder, bottleneck `mid`, decoder with skip concat, 1x1 head.
fn unet(spec: &ModelSpec, g: &mut GraphBuilder<'_>) -> String {
    let mut x = FINITE_INPUT.to_string();
    let mut skips = Vec::new();
    for l in 0..spec.depth {
        let level = format!("enc{l}");
        let s = double_conv(g, &x, &level);
        x = g.max_pool(&s, &level);
        skips.push(s);
    }
    x = double_conv(g, &x, "mid");
    for l in (0..spec.depth).rev() {
        let level = format!("dec{l}");
        let (w, b) = (
            g.weight(&format!("{level}.up.weight")),
            g.weight(&format!("{level}.up.bias")),
        );
        let attrs = vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])];
        let up = g.node(
            "ConvTranspose",
            vec![x, w, b],
            &format!("{level}/up"),
            attrs,
        );
        let cat = g.node(
            "Concat",
            vec![up, skips[l].clone()],
            &format!("{level}/concat"),
            vec![int("axis", 1)],
        );
        x = double_conv(g, &cat, &level);
    }
    g.conv(&x, "head", 1);
    g.node("Identity", vec!["head/conv".into()], LOGITS, vec![])
}

/// `input` with NaN and ±inf replaced by 0.
fn finite_input(g: &mut GraphBuilder<'_>) {
    let nan = g.node("IsNaN", vec![INPUT.into()], "input/nan", vec![]);
    let inf = g.node("IsInf", vec![INPUT.into()], "input/inf", vec![]);
    let bad = g.node("Or", vec![nan, inf], "input/not_finite", vec![]);
    let zero = g.constant("input/zero", &[], &[0.0]);
    g.node("Where", vec![bad, zero, INPUT.into()], FINITE_INPUT, vec![]);
}

/// Builds the inference graph of a validated checkpoint's tensors for `spec`, with
/// its output shaped for `form`.
pub fn build_graph(spec: &ModelSpec, tensors: &NamedTensors, form: Form) -> GraphProto {
    let mut g = GraphBuilder::new(tensors);
    finite_input(&mut g);
    let logits = match spec.arch {
        Arch::Cnn => cnn(spec, &mut g),
        Arch::Unet => unet(spec, &mut g),
    };
    let per_tile = spec.arch == Arch::Cnn && form == Form::Deepness;
    let softmax_out = if per_tile {
        "head/probabilities"
    } else {
        PROBABILITIES
    };
    let p = g.node("Softmax", vec![logits], softmax_out, vec![int("axis", 1)]);
    if per_tile {
        // [batch, classes] -> [batch, classes, 1, 1] -> [batch, classes, T, T].
        let t = spec.tile_size as i64;
        let axes = g.int64_constant("head/axes", &[2], &[2, 3]);
        let cells = g.node("Unsqueeze", vec![p, axes], "head/cells", vec![]);
        let shape = g.int64_constant("head/tile_shape", &[4], &[1, 1, t, t]);
        g.node("Expand", vec![cells, shape], PROBABILITIES, vec![]);
    }
    let batch = Dimension::symbolic("batch");
    let (h, w) = (
        Dimension::fixed(spec.tile_size),
        Dimension::fixed(spec.tile_size),
    );
    let input = value_info(
        INPUT,
        vec![
            batch.clone(),
            Dimension::fixed(spec.in_channels),
            h.clone(),
            w.clone(),
        ],
    );
    let classes = Dimension::fixed(spec.num_classes);
    let out_dims = match (spec.arch, form) {
        (Arch::Cnn, Form::Native) => vec![batch, classes],
        _ => vec![batch, classes, h, w],
    };
    let outputs = vec![value_info(PROBABILITIES, out_dims)];
    let name = format!("geomaml_{:?}", spec.arch).to_lowercase();
    g.finish(&name, input, outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::random::random_tensors;

    fn ops(g: &GraphProto) -> Vec<&str> {
        g.node.iter().map(|n| n.op_type.as_str()).collect()
    }

    #[test]
    fn cnn_graph_follows_the_spec() {
        let spec = ModelSpec {
            arch: Arch::Cnn,
            in_channels: 3,
            num_classes: 4,
            width: 8,
            depth: 2,
            tile_size: 16,
        };
        let g = build_graph(&spec, &random_tensors(&spec, 1), Form::Native);
        assert_eq!(
            ops(&g),
            [
                "IsNaN",
                "IsInf",
                "Or",
                "Where",
                "Conv",
                "BatchNormalization",
                "Relu",
                "MaxPool",
                "Conv",
                "BatchNormalization",
                "Relu",
                "MaxPool",
                "GlobalAveragePool",
                "Flatten",
                "Gemm",
                "Softmax"
            ]
        );
        let names: Vec<_> = g.initializer.iter().map(|t| t.name.clone()).collect();
        let expected: Vec<_> = spec.tensors().into_iter().map(|t| t.name).collect();
        assert_eq!(
            names.len(),
            expected.len() + 1,
            "the weights and input/zero"
        );
        assert!(expected.iter().all(|n| names.contains(n)));
        assert_eq!(g.output[0].name, PROBABILITIES);
    }

    #[test]
    fn unet_graph_concatenates_skips_and_has_dynamic_size() {
        let spec = ModelSpec {
            arch: Arch::Unet,
            in_channels: 3,
            num_classes: 5,
            width: 4,
            depth: 2,
            tile_size: 16,
        };
        let g = build_graph(&spec, &random_tensors(&spec, 2), Form::Native);
        assert_eq!(ops(&g).iter().filter(|o| **o == "ConvTranspose").count(), 2);
        assert_eq!(ops(&g).iter().filter(|o| **o == "Concat").count(), 2);
        let dims = &g.input[0]
            .r#type
            .as_ref()
            .unwrap()
            .tensor_type
            .as_ref()
            .unwrap()
            .shape
            .as_ref()
            .unwrap()
            .dim;
        // Fixed height and width: every declared size runs.
        assert_eq!(
            (dims[2].dim_value, dims[3].dim_value),
            (Some(spec.tile_size as i64), Some(spec.tile_size as i64))
        );
        // The weights and `input/zero`.
        assert_eq!(g.initializer.len(), spec.tensors().len() + 1);
        // The Deepness form of a U-Net is the same graph.
        assert_eq!(
            build_graph(&spec, &random_tensors(&spec, 2), Form::Deepness),
            g
        );
    }
}
