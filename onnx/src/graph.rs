//! The SE-CNN as an ONNX graph, layer for layer as the seed's PyTorch module runs in eval mode
//! (BatchNorm on its running statistics, no Dropout): the weights keep the seed's names, each
//! block's SE weights are an output of their own (`se1` … `seN`), and the logits are `logits`.

use crate::{
    architecture::{Architecture, Tensors},
    builder::{Dim, GraphBuilder, f32_value, float, int, ints},
    proto::{GraphProto, ValueInfoProto},
};

/// The batch dimension's name: any batch size runs.
pub const BATCH: &str = "batch";
/// BatchNorm2d's epsilon in PyTorch (and secnn).
const BN_EPSILON: f32 = 1e-5;
/// Where Unsqueeze puts the SE weights' two unit axes: `[N, C]` → `[N, C, 1, 1]`.
const SE_AXES: &str = "se_axes";

/// The graph of `architecture` with the weights of `tensors` (checked against it).
pub fn se_cnn_graph(architecture: &Architecture, tensors: &Tensors) -> GraphProto {
    let mut graph = GraphBuilder::default();
    for (name, shape) in architecture.state_dict_shapes() {
        graph.f32_initializer(&name, &shape, tensors[&name].data);
    }
    graph.i64_initializer(SE_AXES, &[2, 3]);
    let mut x = "image".to_string();
    for i in 1..=architecture.blocks.len() {
        x = block_nodes(&mut graph, i, &x);
    }
    head_nodes(&mut graph, &x);
    let doc = "secnn's SE-CNN: per block conv3x3 → BatchNorm → ReLU → squeeze-and-excitation → maxpool 2; \
               then flatten → fc1 → ReLU → fc2. Outputs: the logits, and each block's SE weights.";
    graph.finish("secnn", doc, vec![image_input(architecture)], outputs(architecture))
}

/// Block `i`: `Conv → BatchNormalization → Relu → SE → Mul → MaxPool`; returns its output.
fn block_nodes(graph: &mut GraphBuilder, i: usize, x: &str) -> String {
    let layer = |name: &str| format!("block{i}/{name}");
    let weight = |tensor: &str| tensor.replace("{i}", &i.to_string());
    let conv_attributes = vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1]), ints("strides", &[1, 1])];
    let conv = graph.node("Conv", &layer("conv"), &[x, &weight("conv{i}.weight"), &weight("conv{i}.bias")], conv_attributes);
    let bn_inputs = [conv.as_str(), &weight("bn{i}.weight"), &weight("bn{i}.bias"), &weight("bn{i}.running_mean"), &weight("bn{i}.running_var")];
    let bn = graph.node("BatchNormalization", &layer("bn"), &bn_inputs, vec![float("epsilon", BN_EPSILON)]);
    let relu = graph.node("Relu", &layer("relu"), &[&bn], vec![]);
    let se = se_nodes(graph, i, &relu);
    let per_channel = graph.node("Unsqueeze", &layer("se/unsqueeze"), &[&se, SE_AXES], vec![]);
    let scaled = graph.node("Mul", &layer("se/scale"), &[&relu, &per_channel], vec![]);
    graph.node("MaxPool", &layer("pool"), &[&scaled], vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])])
}

/// Block `i`'s squeeze-and-excitation weights `[N, C]` of `x`: global average pool → squeeze
/// (no bias) → ReLU → excite (no bias) → sigmoid, the graph output `se{i}`. Without a
/// bottleneck the squeeze has no units, so the excite gives 0 and every weight is 0.5, as in
/// PyTorch's `Linear(c, 0)`.
fn se_nodes(graph: &mut GraphBuilder, i: usize, x: &str) -> String {
    let layer = |name: &str| format!("block{i}/se/{name}");
    let pooled = graph.node("GlobalAveragePool", &layer("pool"), &[x], vec![]);
    let flat = graph.node("Flatten", &layer("flatten"), &[&pooled], vec![int("axis", 1)]);
    let squeezed = graph.node("Gemm", &layer("squeeze"), &[&flat, &format!("ca{i}.fc.0.weight")], vec![int("transB", 1)]);
    let relu = graph.node("Relu", &layer("relu"), &[&squeezed], vec![]);
    let excited = graph.node("Gemm", &layer("excite"), &[&relu, &format!("ca{i}.fc.2.weight")], vec![int("transB", 1)]);
    graph.node_to("Sigmoid", &layer("sigmoid"), &[&excited], &format!("se{i}"), vec![])
}

/// The classifier: `Flatten → Gemm (fc1) → Relu → Gemm (fc2)` to the output `logits`.
fn head_nodes(graph: &mut GraphBuilder, x: &str) {
    let flat = graph.node("Flatten", "head/flatten", &[x], vec![int("axis", 1)]);
    let fc1 = graph.node("Gemm", "head/fc1", &[&flat, "fc1.weight", "fc1.bias"], vec![int("transB", 1)]);
    let relu = graph.node("Relu", "head/relu", &[&fc1], vec![]);
    graph.node_to("Gemm", "head/fc2", &[&relu, "fc2.weight", "fc2.bias"], "logits", vec![int("transB", 1)]);
}

fn image_input(architecture: &Architecture) -> ValueInfoProto {
    let side = Dim::Fixed(architecture.input_size);
    let doc = "RGB images, normalised: resized (short side) and centre-cropped to the input size, scaled to [0, 1], \
               then (x - mean) / std per channel; size, mean and std are in the model's metadata";
    f32_value("image", &[Dim::Named(BATCH), Dim::Fixed(3), side, side], doc)
}

/// `logits`, then `se1` … `seN`.
fn outputs(architecture: &Architecture) -> Vec<ValueInfoProto> {
    let logits = f32_value("logits", &[Dim::Named(BATCH), Dim::Fixed(architecture.classes)], "class scores before softmax");
    let se = architecture.blocks.iter().enumerate().map(|(index, block)| {
        let doc = format!("block {}'s SE (channel attention) weights, in (0, 1)", index + 1);
        f32_value(&format!("se{}", index + 1), &[Dim::Named(BATCH), Dim::Fixed(block.width)], &doc)
    });
    std::iter::once(logits).chain(se).collect()
}
