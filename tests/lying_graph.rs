//! Exported models made to lie about their output: the `probabilities` output of a
//! real exported model sent through a few more ONNX operations and its declared
//! shape removed, so that only running the graph shows what it produces. Shared by
//! the integration tests (choices from a seeded generator) and the `graphs` fuzz
//! target (choices from the fuzzer's bytes).

use geomaml::export::proto::{
    attribute_type, AttributeProto, ModelProto, NodeProto, TensorProto, DATA_TYPE_FLOAT,
    DATA_TYPE_INT64,
};
use prost::Message;

/// The exported model `base` (ONNX bytes) with its `probabilities` output renamed
/// `raw` inside the graph (for nodes to be appended that compute the real output
/// from it) and the output's declared shape removed.
///
/// Panics when `base` is not an ONNX model with a graph (it is always one of ours).
pub fn undeclared(base: &[u8], raw: &str) -> ModelProto {
    let mut model = ModelProto::decode(base).expect("an ONNX model");
    let graph = model.graph.as_mut().expect("a graph");
    let out = geomaml::export::PROBABILITIES;
    for o in graph.node.iter_mut().flat_map(|n| n.output.iter_mut()) {
        if o == out {
            *o = raw.to_string();
        }
    }
    for o in graph.output.iter_mut().filter(|o| o.name == out) {
        if let Some(t) = o.r#type.as_mut().and_then(|t| t.tensor_type.as_mut()) {
            t.shape = None;
        }
    }
    model
}

/// `base` (ONNX bytes, card unchanged) whose `probabilities` output goes through 1-3
/// operations chosen by `next(n)` (a choice in `0..n`): slices along the class axis
/// to 0-8 classes, concatenations of 2-3 copies along the batch or class axis,
/// reshapes to `[-1]`, `[1, -1]` or `[-1, 1]`, a transpose, a product with NaN, ±inf,
/// 0, -1 or 1e30. The output's shape is not declared. Returns the model's bytes and
/// the operations in words, for messages.
pub fn compose(base: &[u8], mut next: impl FnMut(u64) -> u64) -> (Vec<u8>, String) {
    let mut model = undeclared(base, "lie_0");
    let graph = model.graph.as_mut().unwrap();
    let out = geomaml::export::PROBABILITIES;
    let ints = |name: String, v: &[i64]| TensorProto {
        dims: vec![v.len() as i64],
        data_type: DATA_TYPE_INT64,
        int64_data: v.to_vec(),
        name,
        ..Default::default()
    };
    let int_attr = |name: &str, i: i64| AttributeProto {
        name: name.into(),
        i,
        r#type: attribute_type::INT,
        ..Default::default()
    };
    let ops = 1 + next(3);
    let mut said = Vec::new();
    for k in 0..ops {
        let (input, output) = (format!("lie_{k}"), format!("lie_{}", k + 1));
        let c = |s: &str| format!("lie_{k}_{s}");
        let (op, inputs, attribute): (&str, Vec<String>, Vec<AttributeProto>) = match next(5) {
            0 => {
                let end = next(9) as i64;
                said.push(format!("slice to {end}"));
                graph.initializer.extend([
                    ints(c("start"), &[0]),
                    ints(c("end"), &[end]),
                    ints(c("axis"), &[1]),
                ]);
                let i = vec![input, c("start"), c("end"), c("axis")];
                ("Slice", i, vec![])
            }
            1 => {
                let (copies, axis) = (2 + next(2), next(2) as i64);
                said.push(format!("{copies} copies along axis {axis}"));
                (
                    "Concat",
                    vec![input; copies as usize],
                    vec![int_attr("axis", axis)],
                )
            }
            2 => {
                let shape: &[i64] = [&[-1][..], &[1, -1], &[-1, 1]][next(3) as usize];
                said.push(format!("reshape to {shape:?}"));
                graph.initializer.push(ints(c("shape"), shape));
                ("Reshape", vec![input, c("shape")], vec![])
            }
            3 => {
                said.push("transpose".into());
                let perm = AttributeProto {
                    name: "perm".into(),
                    ints: vec![1, 0],
                    r#type: attribute_type::INTS,
                    ..Default::default()
                };
                ("Transpose", vec![input], vec![perm])
            }
            _ => {
                let v =
                    [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -1.0, 1e30][next(6) as usize];
                said.push(format!("times {v}"));
                graph.initializer.push(TensorProto {
                    dims: vec![],
                    data_type: DATA_TYPE_FLOAT,
                    float_data: vec![v],
                    name: c("value"),
                    ..Default::default()
                });
                ("Mul", vec![input, c("value")], vec![])
            }
        };
        let output = if k + 1 == ops {
            out.to_string()
        } else {
            output
        };
        graph.node.push(NodeProto {
            input: inputs,
            output: vec![output],
            name: c("node"),
            op_type: op.to_string(),
            attribute,
            ..Default::default()
        });
    }
    (model.encode_to_vec(), said.join(", "))
}
