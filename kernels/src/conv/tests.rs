//! The convolution's tests: im2col and Winograd against the definition, values and gradients.

use super::*;

/// The definition, one multiply-add at a time.
fn reference(shape: &ConvShape, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let [oh, ow] = shape.output_size().unwrap();
    let [kh, kw] = shape.kernel;
    let [top, _, left, _] = shape.padding;
    let mut out = vec![0.0; shape.batch * shape.c_out * oh * ow];
    for b in 0..shape.batch {
        for o in 0..shape.c_out {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut sum = bias[o];
                    for c in 0..shape.c_in {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (y + ky) as isize - top as isize;
                                let ix = (xx + kx) as isize - left as isize;
                                if iy < 0 || ix < 0 || iy >= shape.height as isize || ix >= shape.width as isize {
                                    continue;
                                }
                                let input = ((b * shape.c_in + c) * shape.height + iy as usize) * shape.width + ix as usize;
                                sum += x[input] * weight[((o * shape.c_in + c) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    out[((b * shape.c_out + o) * oh + y) * ow + xx] = sum;
                }
            }
        }
    }
    out
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n).map(|i| (((i as u32 * 2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0).collect()
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (i, (a, b)) in a.iter().zip(b).enumerate() {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "index {i}: {a} vs {b}");
    }
}

fn shapes() -> Vec<ConvShape> {
    let shape = |batch, c_in, c_out, height, width, kernel, padding| ConvShape { batch, c_in, c_out, height, width, kernel, padding };
    vec![
        shape(3, 3, 5, 7, 6, [3, 3], [1, 1, 1, 1]),
        shape(1, 2, 4, 5, 5, [3, 3], [1, 1, 1, 1]),
        shape(4, 2, 3, 6, 5, [3, 2], [0, 2, 1, 0]),
        shape(2, 1, 2, 2, 3, [3, 3], [2, 2, 2, 2]),
        shape(5, 4, 2, 4, 4, [1, 1], [0, 0, 0, 0]),
        shape(2, 3, 2, 4, 6, [5, 3], [2, 2, 1, 1]),
        shape(2, 2, 3, 1, 5, [3, 3], [1, 1, 1, 1]),
    ]
}

#[test]
fn forward_matches_the_definition() {
    forward_matches_the_definition_at(shapes(), 1);
}

/// The forward pass against [`reference`] at each shape, on values seeded from `seed`.
fn forward_matches_the_definition_at(shapes: Vec<ConvShape>, seed: u32) {
    for shape in shapes {
        let [kh, kw] = shape.kernel;
        let x = values(shape.batch * shape.image_len(), seed);
        let w = values(shape.c_out * shape.c_in * kh * kw, seed + 1);
        let bias = values(shape.c_out, seed + 2);
        assert_close(&forward(&shape, &x, &w, &bias), &reference(&shape, &x, &w, &bias));
    }
}

/// Every width a member of the model family may have (one channel, odd counts, fewer
/// channels than an SE reduction ratio) at spatial sizes other than the seed's 32, 16, 8.
fn edge_shapes() -> Vec<ConvShape> {
    let model_layer = |batch, c_in, c_out, height, width| ConvShape { batch, c_in, c_out, height, width, kernel: [3, 3], padding: [1, 1, 1, 1] };
    vec![
        model_layer(2, 3, 1, 64, 64),
        model_layer(3, 1, 3, 12, 12),
        model_layer(2, 3, 5, 7, 7),
        model_layer(2, 5, 13, 2, 2),
        model_layer(4, 13, 20, 1, 1),
        model_layer(2, 20, 5, 6, 10),
        model_layer(1, 5, 20, 24, 24),
        model_layer(5, 20, 13, 3, 3),
        // More output channels than taps: the weight gradient's product is not transposed.
        model_layer(2, 1, 12, 5, 5),
    ]
}

#[test]
fn edge_widths_and_sizes_match_the_definition() {
    forward_matches_the_definition_at(edge_shapes(), 11);
}

/// Without bias the convolution is bilinear in `x` and `w`, so for any output gradient `g`
/// `<g, conv(x, w)> = <∂x, x> = <∂w, w>`, and `<g, conv(0, 0) + bias> = <∂bias, bias>`:
/// an exact check of all three gradients that stays cheap at 64×64.
#[test]
fn edge_widths_and_sizes_have_adjoint_gradients() {
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>();
    let scale = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum::<f64>();
    for shape in edge_shapes() {
        let [kh, kw] = shape.kernel;
        let x = values(shape.batch * shape.image_len(), 21);
        let w = values(shape.c_out * shape.c_in * kh * kw, 22);
        let out = forward(&shape, &x, &w, &vec![0.0; shape.c_out]);
        let grad = values(out.len(), 23);
        let got = backward(&shape, &x, &w, &grad, true);
        let (value, size) = (dot(&grad, &out), scale(&grad, &out) + 1.0);
        let grad_x = got.x.as_deref().unwrap();
        assert!((dot(grad_x, &x) - value).abs() <= 1e-5 * size, "{shape:?}: input gradient");
        assert!((dot(&got.weight, &w) - value).abs() <= 1e-5 * size, "{shape:?}: weight gradient");
        let bias = values(shape.c_out, 24);
        let bias_out = forward(&shape, &vec![0.0; x.len()], &vec![0.0; w.len()], &bias);
        assert!((dot(&got.bias, &bias) - dot(&grad, &bias_out)).abs() <= 1e-5 * (scale(&grad, &bias_out) + 1.0), "{shape:?}: bias gradient");
    }
}

/// 3×3 "same" layers that take the Winograd path (enough channels on both sides): even and
/// odd sizes, tiles hanging over the edge, planes smaller than a tile, and batches spanning
/// several groups of images.
fn winograd_shapes() -> Vec<ConvShape> {
    let layer = |batch, c_in, c_out, height, width| ConvShape { batch, c_in, c_out, height, width, kernel: [3, 3], padding: [1, 1, 1, 1] };
    vec![layer(2, 8, 9, 5, 7), layer(1, 9, 8, 1, 1), layer(3, 8, 8, 2, 3), layer(9, 8, 10, 6, 6), layer(1, 10, 8, 9, 4), layer(5, 8, 8, 16, 2), layer(2, 8, 8, 13, 11)]
}

#[test]
fn winograd_applies_to_the_model_layers_with_enough_channels() {
    let layer = |c_in, c_out, size| ConvShape { batch: 1, c_in, c_out, height: size, width: size, kernel: [3, 3], padding: [1, 1, 1, 1] };
    assert!(winograd::applies(&layer(32, 64, 16)) && winograd::applies(&layer(64, 128, 8)));
    assert!(!winograd::applies(&layer(3, 32, 32)), "three input channels stay on im2col");
    assert!(!winograd::applies(&ConvShape { kernel: [5, 5], ..layer(32, 64, 16) }));
    assert!(!winograd::applies(&ConvShape { padding: [0; 4], ..layer(32, 64, 16) }));
    assert!(winograd_shapes().iter().all(winograd::applies));
    // Taken in the browser's modules always, natively from a group's tiles on (see `winograd::suits`).
    assert_eq!(winograd::suits(&layer(32, 64, 16)), cfg!(target_arch = "wasm32"));
    assert!(winograd::suits(&ConvShape { batch: 4, ..layer(32, 64, 16) }) && winograd::suits(&ConvShape { batch: 16, ..layer(64, 128, 8) }));
    assert_eq!(winograd::suits(&ConvShape { batch: 15, ..layer(64, 128, 8) }), cfg!(target_arch = "wasm32"));
}

/// The Winograd path's gradients, whichever path the target's dispatch takes.
fn winograd_backward(shape: &ConvShape, x: &[f32], weight: &[f32], grad: &[f32], want_x: bool) -> Gradients {
    let (weight_grad, bias) = winograd::parameter_gradients(shape, x, grad);
    Gradients { x: want_x.then(|| winograd::input_gradient(shape, weight, grad)), weight: weight_grad, bias }
}

/// The forward pass against the definition, at odd sizes and at the model's (whole groups of
/// tiles, the runs the transforms take).
#[test]
fn winograd_forward_matches_the_definition() {
    let layer = |batch, c_in, c_out, size| ConvShape { batch, c_in, c_out, height: size, width: size, kernel: [3, 3], padding: [1, 1, 1, 1] };
    for shape in winograd_shapes() {
        let x = values(shape.batch * shape.image_len(), 31);
        let w = values(shape.c_out * shape.c_in * 9, 32);
        let bias = values(shape.c_out, 33);
        assert_close(&winograd::forward(&shape, &x, &w, &bias), &reference(&shape, &x, &w, &bias));
    }
    // Hundreds of terms an output: each output's error measured against its terms' magnitudes.
    for shape in [layer(5, 32, 64, 16), layer(17, 64, 128, 8)] {
        let (x, w, bias) = (values(shape.batch * shape.image_len(), 31), values(shape.c_out * shape.c_in * 9, 32), values(shape.c_out, 33));
        let magnitude = |v: &[f32]| v.iter().map(|v| v.abs()).collect::<Vec<_>>();
        let scale = reference(&shape, &magnitude(&x), &magnitude(&w), &magnitude(&bias));
        let (got, want) = (winograd::forward(&shape, &x, &w, &bias), reference(&shape, &x, &w, &bias));
        for (i, ((got, want), scale)) in got.iter().zip(&want).zip(&scale).enumerate() {
            assert!((got - want).abs() <= 1e-5 * scale, "{shape:?}, index {i}: {got} vs {want} (terms' magnitudes {scale})");
        }
    }
    // Fewer channels than the dispatch asks for: the transforms themselves, one channel each.
    let single = ConvShape { batch: 2, c_in: 1, c_out: 1, height: 3, width: 4, kernel: [3, 3], padding: [1, 1, 1, 1] };
    let (x, w, bias) = (values(24, 34), values(9, 35), values(1, 36));
    assert_close(&winograd::forward(&single, &x, &w, &bias), &reference(&single, &x, &w, &bias));
}

/// Each gradient of the Winograd path against the definition, one probe per input value
/// (as in [`gradients_match_the_definition`]).
#[test]
fn winograd_gradients_match_the_definition() {
    let layer = |batch, c_in, c_out, height, width| ConvShape { batch, c_in, c_out, height, width, kernel: [3, 3], padding: [1, 1, 1, 1] };
    for shape in [layer(2, 8, 9, 3, 5), layer(1, 9, 8, 4, 4), layer(9, 8, 8, 1, 2), layer(3, 2, 3, 5, 6), layer(1, 8, 8, 9, 6)] {
        check_gradients_against_probes(&shape, 41, winograd_backward);
    }
}

/// The adjoint check of [`edge_widths_and_sizes_have_adjoint_gradients`] on the Winograd
/// path at the seed's own layer sizes, with a batch spanning several groups of images.
#[test]
fn winograd_gradients_are_adjoint_at_the_model_sizes() {
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>();
    let scale = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum::<f64>();
    let layer = |batch, c_in, c_out, size| ConvShape { batch, c_in, c_out, height: size, width: size, kernel: [3, 3], padding: [1, 1, 1, 1] };
    for shape in [layer(5, 32, 64, 16), layer(17, 64, 128, 8)] {
        let x = values(shape.batch * shape.image_len(), 51);
        let w = values(shape.c_out * shape.c_in * 9, 52);
        let out = winograd::forward(&shape, &x, &w, &vec![0.0; shape.c_out]);
        let grad = values(out.len(), 53);
        let got = winograd_backward(&shape, &x, &w, &grad, true);
        let (value, size) = (dot(&grad, &out), scale(&grad, &out) + 1.0);
        assert!((dot(got.x.as_deref().unwrap(), &x) - value).abs() <= 1e-5 * size, "{shape:?}: input gradient");
        assert!((dot(&got.weight, &w) - value).abs() <= 1e-5 * size, "{shape:?}: weight gradient");
        let im2col = backward(&shape, &x, &w, &grad, true);
        assert_close(&got.bias, &im2col.bias);
    }
}

#[test]
fn gradients_match_the_definition() {
    for shape in shapes() {
        check_gradients_against_probes(&shape, 4, backward);
    }
}

/// A backward pass: [`backward`] or the Winograd path's.
type BackwardPass = fn(&ConvShape, &[f32], &[f32], &[f32], bool) -> Gradients;

fn check_gradients_against_probes(shape: &ConvShape, seed: u32, backward: BackwardPass) {
    let shape = *shape;
    let [kh, kw] = shape.kernel;
    let x = values(shape.batch * shape.image_len(), seed);
    let w = values(shape.c_out * shape.c_in * kh * kw, seed + 1);
    let zero_bias = vec![0.0; shape.c_out];
    let grad = values(forward(&shape, &x, &w, &zero_bias).len(), seed + 2);
    let got = backward(&shape, &x, &w, &grad, true);
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f32>();
    let basis = |n: usize, i: usize| (0..n).map(|j| if j == i { 1.0 } else { 0.0 }).collect::<Vec<f32>>();
    let grad_x: Vec<f32> = (0..x.len()).map(|i| dot(&grad, &reference(&shape, &basis(x.len(), i), &w, &zero_bias))).collect();
    let grad_w: Vec<f32> = (0..w.len()).map(|i| dot(&grad, &reference(&shape, &x, &basis(w.len(), i), &zero_bias))).collect();
    let pixels = grad.len() / (shape.batch * shape.c_out);
    let grad_b: Vec<f32> = (0..shape.c_out)
        .map(|o| (0..shape.batch).map(|b| grad[(b * shape.c_out + o) * pixels..][..pixels].iter().sum::<f32>()).sum())
        .collect();
    assert_close(got.x.as_ref().unwrap(), &grad_x);
    assert_close(&got.weight, &grad_w);
    assert_close(&got.bias, &grad_b);
    assert!(backward(&shape, &x, &w, &grad, false).x.is_none());
}
