//! Cutting an exported graph in two at a named value, for inference that shares
//! work between overlapping windows.
//!
//! The CNN is a chain, so the nodes up to the producer of a value (`blocks.4/pool`)
//! form a "trunk" that can run on a whole block of a scene at once, and the rest a
//! "tail" that runs per window on crops of the trunk's feature map. Both halves keep
//! the original initializers they use; the trunk's spatial input and output sizes
//! are made symbolic so it accepts any block size.

use super::proto::{float_tensor_type, Dimension, GraphProto, ModelProto, ValueInfoProto};
use std::collections::HashSet;

/// Why a graph cannot be cut at a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The model has no graph.
    #[error("the model has no graph")]
    NoGraph,
    /// No node produces the value.
    #[error("the graph has no value named {0}")]
    NoValue(String),
    /// A later node reads a value from before the cut (a skip connection).
    #[error("the graph is not a chain at {0}: later nodes read earlier values")]
    NotAChain(String),
}

/// The two halves of a model cut at `value`: `(trunk, tail)`. The trunk maps the
/// original input to `value` (`[batch, channels, height, width]`, `channels` given),
/// the tail maps `value` to the original outputs.
pub fn split_at(
    model: &ModelProto,
    value: &str,
    channels: usize,
) -> Result<(ModelProto, ModelProto), SplitError> {
    let graph = model.graph.as_ref().ok_or(SplitError::NoGraph)?;
    let cut = graph
        .node
        .iter()
        .position(|n| n.output.iter().any(|o| o == value))
        .ok_or_else(|| SplitError::NoValue(value.into()))?;
    let (head, rest) = graph.node.split_at(cut + 1);
    let produced: HashSet<&str> = head
        .iter()
        .flat_map(|n| n.output.iter().map(String::as_str))
        .collect();
    if rest
        .iter()
        .flat_map(|n| &n.input)
        .any(|i| produced.contains(i.as_str()) && i != value)
    {
        return Err(SplitError::NotAChain(value.into()));
    }
    let dims = || {
        vec![
            Dimension::symbolic("batch"),
            Dimension::fixed(channels),
            Dimension::symbolic("fheight"),
            Dimension::symbolic("fwidth"),
        ]
    };
    let feature = ValueInfoProto {
        name: value.into(),
        r#type: Some(float_tensor_type(dims())),
        doc_string: String::new(),
    };
    let used = |nodes: &[super::proto::NodeProto]| -> HashSet<String> {
        nodes.iter().flat_map(|n| n.input.iter().cloned()).collect()
    };
    let (head_used, rest_used) = (used(head), used(rest));
    let mut input = graph.input.clone();
    for i in &mut input {
        if let Some(shape) = i
            .r#type
            .as_mut()
            .and_then(|t| t.tensor_type.as_mut())
            .and_then(|t| t.shape.as_mut())
        {
            for (k, d) in shape.dim.iter_mut().enumerate().skip(2) {
                *d = Dimension::symbolic(if k == 2 { "height" } else { "width" });
            }
        }
    }
    let trunk = GraphProto {
        node: head.to_vec(),
        name: format!("{}_trunk", graph.name),
        initializer: graph
            .initializer
            .iter()
            .filter(|t| head_used.contains(&t.name))
            .cloned()
            .collect(),
        input,
        output: vec![feature.clone()],
        ..Default::default()
    };
    let tail = GraphProto {
        node: rest.to_vec(),
        name: format!("{}_tail", graph.name),
        initializer: graph
            .initializer
            .iter()
            .filter(|t| rest_used.contains(&t.name))
            .cloned()
            .collect(),
        input: vec![feature],
        output: graph.output.clone(),
        ..Default::default()
    };
    let wrap = |g: GraphProto| ModelProto {
        graph: Some(g),
        metadata_props: Vec::new(),
        ..model.clone()
    };
    Ok((wrap(trunk), wrap(tail)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::tests::sample_card;
    use crate::export::{random_checkpoint, to_model};
    use crate::model::ModelSpec;

    #[test]
    fn cnn_splits_into_trunk_and_tail_sharing_no_nodes() {
        let mut card = sample_card();
        card.spec = ModelSpec {
            width: 4,
            depth: 3,
            tile_size: 16,
            ..card.spec
        };
        let model = to_model(&random_checkpoint(card, 1)).unwrap();
        let (trunk, tail) = split_at(&model, "blocks.1/pool", 4).unwrap();
        let (t, r) = (trunk.graph.unwrap(), tail.graph.unwrap());
        assert_eq!(
            t.node.len() + r.node.len(),
            model.graph.as_ref().unwrap().node.len()
        );
        assert_eq!(t.node.last().unwrap().output[0], "blocks.1/pool");
        assert_eq!(r.input[0].name, "blocks.1/pool");
        assert!(r.initializer.iter().any(|i| i.name == "head.weight"));
        assert!(!t.initializer.iter().any(|i| i.name == "head.weight"));
        assert!(split_at(&model, "nope", 4).is_err());
    }
}
