//! The few ONNX protobuf messages geomaml writes and reads, declared with prost's
//! derive macros.
//!
//! Field numbers are those of `onnx/onnx.proto` (IR version 8-10); only the fields
//! geomaml uses are declared, and protobuf skips the others when decoding. This
//! needs neither `protoc` nor a vendored `.proto` file.

/// `TensorProto.DataType.FLOAT`.
pub const DATA_TYPE_FLOAT: i32 = 1;
/// `TensorProto.DataType.INT64`.
pub const DATA_TYPE_INT64: i32 = 7;

/// A whole model: graph, opsets and metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// IR version of the file format.
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// Operator sets the graph uses.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// Tool that wrote the model.
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// Version of that tool.
    #[prost(string, tag = "3")]
    pub producer_version: String,
    /// Reverse-DNS namespace of the model.
    #[prost(string, tag = "4")]
    pub domain: String,
    /// Version of the model itself.
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    /// Free text.
    #[prost(string, tag = "6")]
    pub doc_string: String,
    /// The computation.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// Key/value metadata (the model card lives here).
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// An operator set: domain (empty = `ai.onnx`) and version.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    /// Domain; empty for the default ONNX operators.
    #[prost(string, tag = "1")]
    pub domain: String,
    /// Opset version.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// One metadata entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringEntryProto {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A graph: nodes in topological order, weights, inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    /// Nodes, topologically sorted.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// Graph name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Constant tensors (weights), referenced by name.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Free text.
    #[prost(string, tag = "10")]
    pub doc_string: String,
    /// Graph inputs.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// Graph outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// Types of intermediate values (optional).
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// One operator application.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    /// Input value names.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Output value names.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// Node name (unique within the graph).
    #[prost(string, tag = "3")]
    pub name: String,
    /// Operator (`Conv`, `Relu`, ...).
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// Attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// Free text.
    #[prost(string, tag = "6")]
    pub doc_string: String,
    /// Operator domain; empty for `ai.onnx`.
    #[prost(string, tag = "7")]
    pub domain: String,
}

/// `AttributeProto.AttributeType` values geomaml uses.
pub mod attribute_type {
    /// A single float (`f`).
    pub const FLOAT: i32 = 1;
    /// A single integer (`i`).
    pub const INT: i32 = 2;
    /// A list of integers (`ints`).
    pub const INTS: i32 = 7;
}

/// A named attribute of a node.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Float value.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// Integer value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// Integer list value.
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// Which value field is set ([`attribute_type`]).
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

/// A dense tensor (initializers).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// Shape.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// Element type ([`DATA_TYPE_FLOAT`], [`DATA_TYPE_INT64`]).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Float values (packed).
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// Int64 values (packed).
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// Name, referenced by node inputs.
    #[prost(string, tag = "8")]
    pub name: String,
    /// Little-endian raw bytes (alternative to the typed fields).
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

/// Name and type of a graph input, output or intermediate value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    /// Value name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    /// Free text.
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

/// A value type; geomaml only uses tensor types.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    /// Tensor type (field 1 of the `value` oneof).
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TypeProtoTensor>,
}

/// `TypeProto.Tensor`: element type and shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProtoTensor {
    /// Element type ([`DATA_TYPE_FLOAT`]).
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// Shape, with symbolic dimensions where sizes vary.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// A tensor shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// Dimensions, outermost first.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// One dimension: a fixed size or a symbolic name.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dimension {
    /// Fixed size (field 1 of the `value` oneof).
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    /// Symbolic name such as `batch` (field 2 of the `value` oneof).
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
}

impl Dimension {
    /// A fixed-size dimension.
    pub fn fixed(n: usize) -> Self {
        Dimension {
            dim_value: Some(n as i64),
            dim_param: None,
        }
    }

    /// A symbolic dimension.
    pub fn symbolic(name: &str) -> Self {
        Dimension {
            dim_value: None,
            dim_param: Some(name.into()),
        }
    }
}

/// A float tensor type of the given dimensions.
pub fn float_tensor_type(dims: Vec<Dimension>) -> TypeProto {
    TypeProto {
        tensor_type: Some(TypeProtoTensor {
            elem_type: DATA_TYPE_FLOAT,
            shape: Some(TensorShapeProto { dim: dims }),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn models_round_trip_through_protobuf() {
        let model = ModelProto {
            ir_version: 9,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            metadata_props: vec![StringStringEntryProto {
                key: "k".into(),
                value: "v".into(),
            }],
            graph: Some(GraphProto {
                name: "g".into(),
                input: vec![ValueInfoProto {
                    name: "input".into(),
                    r#type: Some(float_tensor_type(vec![
                        Dimension::symbolic("batch"),
                        Dimension::fixed(3),
                    ])),
                    doc_string: String::new(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = model.encode_to_vec();
        assert_eq!(ModelProto::decode(bytes.as_slice()).unwrap(), model);
    }

    #[test]
    fn field_numbers_follow_onnx_proto() {
        // ir_version (field 1, varint) = 9 encodes as 0x08 0x09.
        let bytes = ModelProto {
            ir_version: 9,
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(bytes, vec![0x08, 0x09]);
        // metadata_props is field 14, length-delimited: tag byte (14 << 3) | 2 = 0x72.
        let m = ModelProto {
            metadata_props: vec![StringStringEntryProto {
                key: "a".into(),
                value: String::new(),
            }],
            ..Default::default()
        };
        assert_eq!(m.encode_to_vec()[0], 0x72);
    }
}
