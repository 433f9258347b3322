//! The browser's archive module (`www/secnn/pkg-archive`): marshalling only. The model's worker
//! imports it on first use; a refusal crosses as an Error with `code` 'invalid-file' and
//! `details` `{ reason, entry, class }`, as the page's other errors do.

use crate::{Archive, ArchiveClass, ArchiveError, ArchiveFile, read_archive as read, write_project as write};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

/// An archive as it crosses: file bytes as `Uint8Array`s, `project` and `weights` null when absent.
#[derive(Serialize)]
struct ArchiveReply {
    kind: &'static str,
    project: Option<serde_json::Value>,
    classes: Vec<ClassReply>,
    weights: Option<serde_bytes::ByteBuf>,
    skipped: Vec<SkippedReply>,
}

#[derive(Serialize)]
struct ClassReply {
    name: String,
    files: Vec<FileReply>,
}

#[derive(Serialize)]
struct FileReply {
    name: String,
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
}

#[derive(Serialize)]
struct SkippedReply {
    name: String,
    reason: &'static str,
}

impl From<Archive> for ArchiveReply {
    fn from(archive: Archive) -> Self {
        let file = |f: ArchiveFile| FileReply { name: f.name, bytes: f.bytes };
        let class = |c: ArchiveClass| ClassReply { name: c.name, files: c.files.into_iter().map(file).collect() };
        Self {
            kind: archive.kind.as_str(),
            project: archive.project,
            classes: archive.classes.into_iter().map(class).collect(),
            weights: archive.weights.map(serde_bytes::ByteBuf::from),
            skipped: archive.skipped.into_iter().map(|s| SkippedReply { name: s.name, reason: s.reason }).collect(),
        }
    }
}

/// A class of `writeProject`'s argument: `{ name, files: [Uint8Array, …] }`.
#[derive(Deserialize)]
struct ClassArg {
    name: String,
    files: Vec<serde_bytes::ByteBuf>,
}

/// Plain JS objects (maps as objects, `None` as null); byte fields become `Uint8Array`s.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible().serialize_bytes_as_arrays(false))
        .map_err(|e| js_sys::Error::new(&e.to_string()).into())
}

/// An Error with the module's `code` (and `details`), as secnn's runtime raises them.
fn coded(message: &str, code: &str, details: Option<serde_json::Value>) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    if let Some(details) = details.and_then(|d| to_js(&d).ok()) {
        let _ = js_sys::Reflect::set(&error, &"details".into(), &details);
    }
    error.into()
}

fn refused(error: ArchiveError) -> JsValue {
    let details = serde_json::json!({ "reason": error.reason(), "entry": error.entry(), "class": error.class() });
    coded(&error.to_string(), "invalid-file", Some(details))
}

fn invalid_argument(why: impl std::fmt::Display) -> JsValue {
    coded(&format!("writeProject: {why}"), "invalid-argument", None)
}

/// Reads a project or a zip of class folders: `{ kind: 'project' | 'folders', project,
/// classes: [{ name, files: [{ name, bytes }] }], weights, skipped: [{ name, reason }] }`.
#[wasm_bindgen(js_name = readArchive)]
pub fn read_archive(bytes: &[u8]) -> Result<JsValue, JsValue> {
    to_js(&ArchiveReply::from(read(bytes).map_err(refused)?))
}

/// A project file: `project_json` (the page's description; each class's `name` and `folder`
/// are filled in), `classes` (`[{ name, files: [PNG bytes, …] }]`) and the weights (a
/// `.safetensors`), if any.
#[wasm_bindgen(js_name = writeProject)]
pub fn write_project(project_json: &str, classes: JsValue, weights: Option<Vec<u8>>) -> Result<Vec<u8>, JsValue> {
    let project: serde_json::Value = serde_json::from_str(project_json).map_err(invalid_argument)?;
    let classes: Vec<ClassArg> = serde_wasm_bindgen::from_value(classes).map_err(invalid_argument)?;
    let classes: Vec<(String, Vec<Vec<u8>>)> =
        classes.into_iter().map(|c| (c.name, c.files.into_iter().map(serde_bytes::ByteBuf::into_vec).collect())).collect();
    Ok(write(&project, &classes, weights.as_deref()))
}
