//! The ONNX graph of a checkpoint, layer by layer as `model::spec` documents it.
//!
//! Every parameter and batch-norm buffer becomes an initializer under its checkpoint
//! name (`blocks.0.conv.weight`), so a graph can be checked against the spec by
//! name. Batch norm uses the frozen running statistics (`training_mode = 0`) with
//! [`BN_EPS`]. Value and node names are `<layer>/<op>` (`blocks.3/pool`, `dec1.up/up`; see
//! [`value_name`]),
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
use crate::checkpoint::NamedTensors;
use crate::model::arch::{value_name, Layers, Op};
use crate::model::spec::{ModelSpec, BN_EPS};

/// Name of the graph input.
pub const INPUT: &str = "input";
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

/// Accumulates nodes and initializers while an architecture's description runs on
/// it (the [`Layers`] implementation below).
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

/// The layer operations as ONNX nodes; a value is the name of a node's output,
/// [`value_name`] of the operation.
impl Layers for GraphBuilder<'_> {
    type Value = String;

    fn conv(&mut self, x: &String, name: &str, _out: usize, kernel: usize) -> String {
        let (w, b) = (
            self.weight(&format!("{name}.weight")),
            self.weight(&format!("{name}.bias")),
        );
        let (k, p) = (kernel as i64, (kernel / 2) as i64);
        let attrs = vec![
            ints("kernel_shape", &[k, k]),
            ints("pads", &[p, p, p, p]),
            ints("strides", &[1, 1]),
        ];
        self.node(
            "Conv",
            vec![x.clone(), w, b],
            &value_name(name, Op::Conv),
            attrs,
        )
    }

    fn batch_norm(&mut self, x: &String, name: &str) -> String {
        let mut inputs = vec![x.clone()];
        for part in ["weight", "bias", "running_mean", "running_var"] {
            inputs.push(self.weight(&format!("{name}.{part}")));
        }
        let attrs = vec![float("epsilon", BN_EPS as f32)];
        self.node(
            "BatchNormalization",
            inputs,
            &value_name(name, Op::BatchNorm),
            attrs,
        )
    }

    fn relu(&mut self, x: &String, name: &str) -> String {
        self.node("Relu", vec![x.clone()], &value_name(name, Op::Relu), vec![])
    }

    /// Floor mode, as PyTorch.
    fn max_pool2(&mut self, x: &String, name: &str) -> String {
        let attrs = vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])];
        self.node(
            "MaxPool",
            vec![x.clone()],
            &value_name(name, Op::MaxPool),
            attrs,
        )
    }

    fn up_conv2(&mut self, x: &String, name: &str, _out: usize) -> String {
        let (w, b) = (
            self.weight(&format!("{name}.weight")),
            self.weight(&format!("{name}.bias")),
        );
        let attrs = vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])];
        self.node(
            "ConvTranspose",
            vec![x.clone(), w, b],
            &value_name(name, Op::UpConv),
            attrs,
        )
    }

    fn concat(&mut self, a: &String, b: &String, name: &str) -> String {
        self.node(
            "Concat",
            vec![a.clone(), b.clone()],
            &value_name(name, Op::Concat),
            vec![int("axis", 1)],
        )
    }

    /// `GlobalAveragePool` (`[n, c, 1, 1]`) then `Flatten`.
    fn global_mean(&mut self, x: &String, name: &str) -> String {
        let pooled = format!("{name}/mean_nc11");
        let pooled = self.node("GlobalAveragePool", vec![x.clone()], &pooled, vec![]);
        self.node(
            "Flatten",
            vec![pooled],
            &value_name(name, Op::GlobalMean),
            vec![int("axis", 1)],
        )
    }

    fn linear(&mut self, x: &String, name: &str, _out: usize) -> String {
        let (w, b) = (
            self.weight(&format!("{name}.weight")),
            self.weight(&format!("{name}.bias")),
        );
        self.node(
            "Gemm",
            vec![x.clone(), w, b],
            &value_name(name, Op::Linear),
            vec![int("transB", 1)],
        )
    }
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
    let logits = spec.arch.build(spec, &mut g, FINITE_INPUT.to_string());
    let per_pixel = spec.is_segmentation();
    let per_tile = !per_pixel && form == Form::Deepness;
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
    let out_dims = if per_pixel || per_tile {
        vec![batch, classes, h, w]
    } else {
        vec![batch, classes]
    };
    let outputs = vec![value_info(PROBABILITIES, out_dims)];
    let name = format!("geomaml_{:?}", spec.arch).to_lowercase();
    g.finish(&name, input, outputs)
}

#[cfg(test)]
mod tests;
