//! How each parameter sits in a weights file, by [`Storage`]: as f32 or f16, or quantized (8
//! bits per output channel; the classifier's large linear weight in 4 bits) with its scales in a
//! tensor beside it. Written from a model's parameters, and read back as the f32 tensors the
//! quantized ones stand for.

use super::{PendingTensor, Storage, WeightsError};
use crate::quantize;
use burn::prelude::*;

/// Name suffix of the per-channel scales of an 8-bit weight tensor.
const INT8_SCALE: &str = ".int8_scale";
/// Name suffix of the per-group scales of a 4-bit weight tensor.
const INT4_SCALE: &str = ".int4_scale";
/// Linear weights with at least this many values are stored in 4 bits by `Storage::Int4`.
const INT4_LINEAR: usize = 1 << 16;

/// The tensors of an 8- or 4-bit file as the f32 ones they stand for: every quantized tensor
/// times its scales, the scale tensors dropped.
pub(super) fn dequantize(reader: burn_pack::Reader) -> Result<Vec<burn_pack::Tensor>, WeightsError> {
    let bad = |e: String| WeightsError::Architecture(format!("quantized weights: {e}"));
    let mut scales = std::collections::HashMap::new();
    let mut tensors = Vec::new();
    for tensor in reader.into_tensors().map_err(|e| bad(e.to_string()))? {
        let (name, dtype, shape, id, data) = tensor.into_parts().map_err(|e| bad(e.to_string()))?;
        let scale_of = name.strip_suffix(INT8_SCALE).or_else(|| name.strip_suffix(INT4_SCALE));
        match scale_of {
            Some(weight) => {
                let values = TensorData::from_bytes_vec(data.to_vec(), shape.to_vec(), dtype).convert::<f32>();
                scales.insert(weight.to_string(), values.try_into_vec::<f32>().map_err(|e| bad(format!("{name}: {e:?}")))?);
            }
            None => tensors.push((name, dtype, shape, id, data)),
        }
    }
    let mut out = Vec::with_capacity(tensors.len());
    for (name, dtype, shape, id, data) in tensors {
        let (dims, values) = match dtype {
            burn::tensor::DType::I8 => {
                let scale = scales.get(&name).ok_or_else(|| bad(format!("{name} has no scales")))?;
                let dims = shape.to_vec();
                let channel = quantize::output_channel(&dims, scale.len()).ok_or_else(|| bad(format!("{name}: {} scales", scale.len())))?;
                (dims, data.iter().enumerate().map(|(i, &q)| q as i8 as f32 * scale[channel(i)]).collect())
            }
            // 4 bits: `[in, out / 2]` bytes, two outputs each.
            burn::tensor::DType::U8 if scales.contains_key(&name) => {
                let packed = shape.to_vec();
                let dims = vec![packed[0], packed.get(1).copied().unwrap_or(0) * 2];
                let scale = &scales[&name];
                if !quantize::int4_fits(&dims) || scale.len() != dims[0] / quantize::INT4_GROUP * dims[1] {
                    return Err(bad(format!("{name}: {} scales for {dims:?}", scale.len())));
                }
                (dims.clone(), quantize::dequantize_int4(&data, scale, dims[1]))
            }
            _ => {
                out.push(burn_pack::Tensor::new(name, dtype, shape, id, data));
                continue;
            }
        };
        let bytes = TensorData::new(values, dims.clone()).into_bytes();
        out.push(burn_pack::Tensor::new(name, burn::tensor::DType::F32, burn::tensor::Shape::from(dims), id, bytes));
    }
    Ok(out)
}

/// The burnpack tensors that hold one parameter in `storage` (its values plus any scales).
/// Converted on the host: WebGPU adapters without f16 (SwiftShader) can still export.
pub(super) fn stored(pending: &PendingTensor, data: TensorData, storage: Storage) -> Result<Vec<burn_pack::Tensor>, WeightsError> {
    // `data` is the parameter flattened (`PendingTensor::values`): each tensor names its shape.
    let tensor = |name: String, data: TensorData, shape: &[usize], id: Option<u64>| {
        let (bytes, _, dtype) = data.into_parts();
        burn_pack::Tensor::new(name, dtype, burn::tensor::Shape::from(shape.to_vec()), id, bytes)
    };
    let id = Some(pending.id.val());
    let weight = pending.compressible && pending.path.ends_with(".weight");
    let count: usize = pending.shape.iter().product();
    let large_linear = weight && count >= INT4_LINEAR && quantize::int4_fits(&pending.shape);
    let f32_values = |data: TensorData| data.convert::<f32>().try_into_vec::<f32>().map_err(|e| WeightsError::Write(format!("{e:?}")));
    Ok(match storage {
        Storage::F16 if pending.compressible => {
            vec![tensor(pending.path.clone(), data.convert_dtype(burn::tensor::DType::F16), &pending.shape, id)]
        }
        Storage::Int4 if large_linear => {
            let (packed, scales) = quantize::int4(&f32_values(data)?, &pending.shape);
            let (inputs, outputs) = (pending.shape[0], pending.shape[1]);
            let scale_shape = [inputs / quantize::INT4_GROUP, outputs];
            let scales = TensorData::new(scales, scale_shape).convert_dtype(burn::tensor::DType::F16);
            let packed_shape = [inputs, outputs / 2];
            vec![
                tensor(format!("{}{INT4_SCALE}", pending.path), scales, &scale_shape, None),
                tensor(pending.path.clone(), TensorData::from_bytes_vec(packed, packed_shape.to_vec(), burn::tensor::DType::U8), &packed_shape, id),
            ]
        }
        Storage::Int8 | Storage::Int4 if weight => {
            let (quantized, scales) = quantize::int8(&f32_values(data)?, &pending.shape)
                .ok_or_else(|| WeightsError::Write(format!("{}: cannot quantize shape {:?}", pending.path, pending.shape)))?;
            let channels = scales.len();
            vec![
                tensor(format!("{}{INT8_SCALE}", pending.path), TensorData::new(scales, [channels]), &[channels], None),
                tensor(pending.path.clone(), TensorData::from_bytes_vec(quantized, pending.shape.clone(), burn::tensor::DType::I8), &pending.shape, id),
            ]
        }
        _ => vec![tensor(pending.path.clone(), data, &pending.shape, id)],
    })
}
