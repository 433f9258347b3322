//! The browser's ONNX module (`www/secnn/pkg-onnx`): marshalling only. The model's worker
//! imports it when a visitor exports ONNX; a refusal crosses as an Error with `code`
//! 'invalid-weights' (or 'invalid-argument' for a bad input rule) and `details`
//! `{ reason, tensor }`, as the page's other errors do.

use crate::{InputRule, OnnxError, to_onnx as write};
use wasm_bindgen::prelude::*;

/// An Error with `code` and `details`, as secnn's runtime raises them.
fn refused(error: OnnxError) -> JsValue {
    let js_error = js_sys::Error::new(&error.to_string());
    let code = if error.is_input_rule() { "invalid-argument" } else { "invalid-weights" };
    let details = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&details, &"reason".into(), &error.reason().into());
    let _ = js_sys::Reflect::set(&details, &"tensor".into(), &error.tensor().map_or(JsValue::NULL, JsValue::from));
    let _ = js_sys::Reflect::set(&js_error, &"code".into(), &code.into());
    let _ = js_sys::Reflect::set(&js_error, &"details".into(), &details);
    js_error.into()
}

/// The ONNX file of the model in `safetensors` (as `exportWeights({ format: 'safetensors' })`
/// writes it); `input_rule_json` is `{"size": 32, "mean": [r, g, b], "std": [r, g, b]}`, its
/// `size` optional (the weights imply it).
#[wasm_bindgen(js_name = toOnnx)]
pub fn to_onnx(safetensors: &[u8], input_rule_json: &str) -> Result<Vec<u8>, JsValue> {
    let rule = InputRule::from_json(input_rule_json).map_err(refused)?;
    write(safetensors, &rule).map_err(refused)
}
