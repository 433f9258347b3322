//! Low-precision storage of weight tensors for the weights file: 8 bits per value with one scale
//! per output channel, or 4 bits with one scale per group of inputs of each output (for the
//! classifier's large linear weight, which holds most of the parameters). Plain arithmetic on
//! host vectors; `weights` decides which tensor gets which.

use burn::tensor::f16;

/// Inputs sharing one 4-bit scale, per output (a linear weight `[in, out]` needs `in % 64 == 0`).
pub const INT4_GROUP: usize = 64;

/// Output channel of the `i`-th value of a weight: dim 0 of a convolution kernel
/// `[out, in, h, w]`, dim 1 of a linear weight `[in, out]`. `None` if `channels` does not fit.
pub fn output_channel(dims: &[usize], channels: usize) -> Option<impl Fn(usize) -> usize + use<>> {
    let count: usize = dims.iter().product();
    let (per_channel, outputs) = match dims.len() {
        4 if dims[0] == channels => (count / channels, 0),
        2 if dims[1] == channels => (1, channels),
        _ => return None,
    };
    Some(move |i: usize| if outputs > 0 { i % outputs } else { i / per_channel })
}

/// Per-output-channel symmetric 8-bit values of `values` and their scales (`max|w| / 127`).
pub fn int8(values: &[f32], dims: &[usize]) -> Option<(Vec<u8>, Vec<f32>)> {
    let channels = match dims.len() {
        4 => dims[0],
        2 => dims[1],
        _ => return None,
    };
    let channel = output_channel(dims, channels)?;
    let mut scales = vec![0.0f32; channels];
    values.iter().enumerate().for_each(|(i, v)| scales[channel(i)] = scales[channel(i)].max(v.abs() / 127.0));
    scales.iter_mut().filter(|s| **s == 0.0).for_each(|s| *s = 1.0);
    let quantized = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v / scales[channel(i)]).round().clamp(-127.0, 127.0) as i8 as u8)
        .collect();
    Some((quantized, scales))
}

/// Whether a linear weight `[in, out]` can be stored in 4 bits (whole groups, whole bytes).
pub fn int4_fits(dims: &[usize]) -> bool {
    dims.len() == 2 && dims[0].is_multiple_of(INT4_GROUP) && dims[1].is_multiple_of(2)
}

/// A linear weight `[in, out]` (`int4_fits`) as 4-bit values, two per byte (output `2k` in the
/// low nibble, `2k + 1` in the high one), and its scales `[in / INT4_GROUP, out]` (f16 values). Each group's
/// scale is the one, among clippings of its largest value, with the least squared error: a
/// few clipped outliers cost less than coarser steps for every other value.
pub fn int4(values: &[f32], dims: &[usize]) -> (Vec<u8>, Vec<f32>) {
    let (inputs, outputs) = (dims[0], dims[1]);
    let groups = inputs / INT4_GROUP;
    let mut scales = vec![0.0f32; groups * outputs];
    let mut codes = vec![0i8; values.len()];
    for group in 0..groups {
        for output in 0..outputs {
            let rows = group * INT4_GROUP..(group + 1) * INT4_GROUP;
            let column: Vec<f32> = rows.clone().map(|row| values[row * outputs + output]).collect();
            let scale = best_int4_scale(&column);
            scales[group * outputs + output] = scale;
            rows.for_each(|row| codes[row * outputs + output] = int4_code(values[row * outputs + output], scale));
        }
    }
    let packed = codes.chunks_exact(2).map(|pair| (pair[0] as u8 & 0x0f) | ((pair[1] as u8) << 4)).collect();
    (packed, scales)
}

/// The values `int4` stored, `[in, out]` flattened.
pub fn dequantize_int4(packed: &[u8], scales: &[f32], outputs: usize) -> Vec<f32> {
    let nibble = |code: u8| ((code << 4) as i8 >> 4) as f32; // sign-extends the low 4 bits
    packed
        .iter()
        .flat_map(|&byte| [nibble(byte & 0x0f), nibble(byte >> 4)])
        .enumerate()
        .map(|(i, code)| {
            let (row, output) = (i / outputs, i % outputs);
            code * scales[(row / INT4_GROUP) * outputs + output]
        })
        .collect()
}

fn int4_code(value: f32, scale: f32) -> i8 {
    (value / scale).round().clamp(-8.0, 7.0) as i8
}

fn best_int4_scale(values: &[f32]) -> f32 {
    let largest = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    if largest == 0.0 {
        return 1.0;
    }
    let error = |scale: f32| values.iter().map(|&v| (v - int4_code(v, scale) as f32 * scale).powi(2)).sum::<f32>();
    // Scales are stored in f16, so each candidate is chosen as f16 will give it back.
    let stored = |scale: f32| match f16::from_f32(scale).to_f32() {
        0.0 => 1.0, // the group is zero at f16's resolution: its codes are 0 either way
        rounded => rounded,
    };
    // `largest / 8` maps a negative extreme onto -8 exactly, so stored values quantize to themselves.
    (0..=12)
        .map(|step| largest * (1.0 - 0.04 * step as f32) / 7.0)
        .chain([largest / 8.0])
        .map(stored)
        .min_by(|a, b| error(*a).total_cmp(&error(*b)))
        .expect("fourteen candidates")
}
