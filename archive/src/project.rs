//! The project file that carries a visitor's work between the page, other browsers and the CLI:
//! a ZIP holding `project.json`, the photos as `classes/<folder>/0001.png`… and, once trained,
//! the weights as `model.safetensors`. `project.json` is the page's own (settings, history, …);
//! the rule here is only its `format`, `version` and `classes` (`[{ name, folder }, …]`, in
//! the model's order). Reading a project is [`crate::archive`]'s; writing one is here.

use serde_json::{Map, Value, json};
use std::{
    collections::HashSet,
    io::{Cursor, Write},
};
use zip::{CompressionMethod, ZipWriter, write::SimpleFileOptions};

/// `project.json`'s `format`, and the `version` this program writes and reads.
pub const FORMAT: &str = "secnn-project";
pub const VERSION: u64 = 1;
/// Where a project keeps its description, its photos and its weights.
pub const PROJECT_FILE: &str = "project.json";
pub const CLASSES_FOLDER: &str = "classes";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// The classes a project's description names, as `(name, folder)`, or why it is not one.
pub fn classes_of(project: &Value) -> Result<Vec<(String, String)>, String> {
    if project["format"] != FORMAT {
        return Err(format!("its format is {}, not {FORMAT:?}", project["format"]));
    }
    match project["version"].as_u64() {
        Some(VERSION) => {}
        Some(newer) if newer > VERSION => return Err(format!("version {newer} is newer than this program reads ({VERSION})")),
        _ => return Err(format!("its version is {}, not {VERSION}", project["version"])),
    }
    let classes = project["classes"].as_array().ok_or("it has no classes list")?;
    let mut folders = HashSet::new();
    let mut named = Vec::with_capacity(classes.len());
    for (index, class) in classes.iter().enumerate() {
        let name = class["name"].as_str().filter(|name| !name.trim().is_empty()).ok_or(format!("classes[{index}] has no name"))?;
        let folder = class["folder"].as_str().filter(|folder| folder_name(folder) == *folder);
        let folder = folder.ok_or(format!("classes[{index}] ({name:?}) has no usable folder name"))?;
        if !folders.insert(folder.to_lowercase()) {
            return Err(format!("two classes keep their photos in the folder {folder:?}"));
        }
        named.push((name.to_string(), folder.to_string()));
    }
    Ok(named)
}

/// A project file: `project` (the page's description; its `format`, `version` and each
/// class's `name` and `folder` are filled in here), each class's photos (PNG bytes) and the
/// weights (a `.safetensors`), if any. Entries are stored: photos and weights do not compress.
pub fn write_project(project: &Value, classes: &[(String, Vec<Vec<u8>>)], weights: Option<&[u8]>) -> Vec<u8> {
    let folders = class_folders(classes.iter().map(|(name, _)| name.as_str()));
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let description = serde_json::to_vec_pretty(&described(project, classes, &folders)).expect("JSON values serialise");
    add(&mut zip, PROJECT_FILE, &description);
    for ((_, photos), folder) in classes.iter().zip(&folders) {
        for (index, photo) in photos.iter().enumerate() {
            add(&mut zip, &format!("{CLASSES_FOLDER}/{folder}/{:04}.png", index + 1), photo);
        }
    }
    if let Some(weights) = weights {
        add(&mut zip, WEIGHTS_FILE, weights);
    }
    // In memory and with unique names, writing cannot fail.
    zip.finish().expect("a zip written to memory").into_inner()
}

/// One stored entry.
fn add(zip: &mut ZipWriter<Cursor<Vec<u8>>>, name: &str, bytes: &[u8]) {
    let large = bytes.len() as u64 >= u32::MAX as u64;
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored).large_file(large);
    zip.start_file(name, options).expect("a unique entry name");
    zip.write_all(bytes).expect("a zip written to memory");
}

/// `project` with this program's `format` and `version`, and `classes` named with their folders
/// (whatever else its class entries say is kept, by position).
fn described(project: &Value, classes: &[(String, Vec<Vec<u8>>)], folders: &[String]) -> Value {
    let mut description = project.as_object().cloned().unwrap_or_default();
    let given = description.get("classes").and_then(Value::as_array).cloned().unwrap_or_default();
    let entries = classes.iter().zip(folders).enumerate().map(|(index, ((name, _), folder))| {
        let mut entry: Map<String, Value> = given.get(index).and_then(Value::as_object).cloned().unwrap_or_default();
        entry.insert("name".into(), json!(name));
        entry.insert("folder".into(), json!(folder));
        Value::Object(entry)
    });
    description.insert("format".into(), json!(FORMAT));
    description.insert("version".into(), json!(VERSION));
    description.insert("classes".into(), Value::Array(entries.collect()));
    Value::Object(description)
}

/// A folder for each class name, unique even where file systems ignore case (`cat`, `Cat-2`).
fn class_folders<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut taken = HashSet::new();
    names
        .map(|name| {
            let base = folder_name(name);
            let candidates = std::iter::once(base.clone()).chain((2..).map(|n| format!("{base}-{n}")));
            candidates.into_iter().find(|folder| taken.insert(folder.to_lowercase())).expect("an unused name")
        })
        .collect()
}

/// A class name made safe as a folder name on every system: `/ \ : * ? " < > |` and control
/// characters become `_`, leading dots and trailing dots and spaces go (Windows drops those),
/// and nothing left is `class`.
pub fn folder_name(name: &str) -> String {
    let replaced: String = name.chars().map(|c| if c.is_control() || r#"/\:*?"<>|"#.contains(c) { '_' } else { c }).collect();
    let trimmed = replaced.trim_start_matches('.').trim_end_matches(['.', ' ']).trim_start();
    match trimmed.is_empty() {
        true => "class".into(),
        false => trimmed.into(),
    }
}
