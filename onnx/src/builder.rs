//! A graph put together node by node: each node named (its output value takes the same name,
//! so a viewer such as Netron shows one name per step), its weights as initializers.

use crate::proto::{
    ATTRIBUTE_FLOAT, ATTRIBUTE_INT, ATTRIBUTE_INTS, AttributeProto, Dimension, FLOAT, GraphProto, INT64, NodeProto,
    TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
};

/// The nodes and initializers of a graph in the making.
#[derive(Default)]
pub struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl GraphBuilder {
    /// Adds the node `name` (`op` of `inputs`); returns its output, also called `name`.
    pub fn node(&mut self, op: &str, name: &str, inputs: &[&str], attributes: Vec<AttributeProto>) -> String {
        self.node_to(op, name, inputs, name, attributes)
    }

    /// Adds the node `name` whose output is `output` (a graph output's name).
    pub fn node_to(&mut self, op: &str, name: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|i| i.to_string()).collect(),
            output: vec![output.to_string()],
            name: name.to_string(),
            op_type: op.to_string(),
            attribute: attributes,
            ..Default::default()
        });
        output.to_string()
    }

    /// A float32 initializer from little-endian bytes (as safetensors holds them).
    pub fn f32_initializer(&mut self, name: &str, shape: &[usize], little_endian: &[u8]) {
        self.initializer(name, shape, FLOAT, little_endian.to_vec());
    }

    /// A one-dimensional int64 initializer.
    pub fn i64_initializer(&mut self, name: &str, values: &[i64]) {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name, &[values.len()], INT64, bytes);
    }

    fn initializer(&mut self, name: &str, shape: &[usize], data_type: i32, raw_data: Vec<u8>) {
        self.initializers.push(TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type),
            name: name.to_string(),
            raw_data: Some(raw_data),
        });
    }

    /// The graph `name` with these inputs and outputs.
    pub fn finish(self, name: &str, doc: &str, inputs: Vec<ValueInfoProto>, outputs: Vec<ValueInfoProto>) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: name.to_string(),
            initializer: self.initializers,
            doc_string: doc.to_string(),
            input: inputs,
            output: outputs,
        }
    }
}

/// One dimension of a value's shape.
#[derive(Debug, Clone, Copy)]
pub enum Dim {
    Fixed(usize),
    /// A dimension the runtime chooses (the batch), by name.
    Named(&'static str),
}

/// A float32 tensor value `name` of `shape`, described by `doc`.
pub fn f32_value(name: &str, shape: &[Dim], doc: &str) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|d| match *d {
            Dim::Fixed(size) => Dimension { dim_value: Some(size as i64), dim_param: None },
            Dim::Named(name) => Dimension { dim_value: None, dim_param: Some(name.to_string()) },
        })
        .collect();
    let tensor_type = TensorTypeProto { elem_type: Some(FLOAT), shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto { name: name.to_string(), r#type: Some(TypeProto { tensor_type: Some(tensor_type) }), doc_string: doc.to_string() }
}

/// An int attribute.
pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.to_string(), i: Some(value), r#type: Some(ATTRIBUTE_INT), ..Default::default() }
}

/// An ints attribute.
pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto { name: name.to_string(), ints: values.to_vec(), r#type: Some(ATTRIBUTE_INTS), ..Default::default() }
}

/// A float attribute.
pub fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.to_string(), f: Some(value), r#type: Some(ATTRIBUTE_FLOAT), ..Default::default() }
}
