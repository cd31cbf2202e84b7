use super::*;
use crate::export::random::random_tensors;
use crate::model::Arch;

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
