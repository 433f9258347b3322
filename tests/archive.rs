//! Archives (`src/data/archive.rs`, `src/data/project.rs`): a project the page saves and a zip
//! of class folders, read from bytes, and every refusal by name. The zips are made here with
//! the zip crate's writer; the bad ones are patched by hand where a writer would not lie.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use secnn::{
    data::{self, ArchiveError, ArchiveKind},
    workbench::WorkbenchError,
};
use serde_json::json;
use std::io::{Cursor, Write};
use zip::{CompressionMethod, ZipWriter, write::SimpleFileOptions};

/// A zip of `entries` (name, bytes; a name ending in `/` is a folder), deflated or stored.
fn zip_of(entries: &[(&str, Vec<u8>)], method: CompressionMethod) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        match name.strip_suffix('/') {
            Some(folder) => zip.add_directory(folder, options).unwrap(),
            None => {
                zip.start_file(*name, options).unwrap();
                zip.write_all(bytes).unwrap();
            }
        }
    }
    zip.finish().unwrap().into_inner()
}

fn zipped(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    zip_of(entries, CompressionMethod::Deflated)
}

/// A small PNG of one colour.
fn png(rgb: [u8; 3]) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(8, 6, image::Rgb(rgb)).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

fn refusal(bytes: &[u8]) -> ArchiveError {
    data::read_archive(bytes).expect_err("the archive is refused")
}

/// Overwrites the sizes of `entry` in its local header and its central directory record.
fn patch_sizes(zip: &mut [u8], entry: &str, compressed: Option<u32>, uncompressed: u32) {
    let mut patched = 0;
    for at in 0..zip.len().saturating_sub(46) {
        let (signature, sizes_at, name_at) = match &zip[at..at + 4] {
            b"PK\x03\x04" => ("local", at + 18, at + 30),
            b"PK\x01\x02" => ("central", at + 20, at + 46),
            _ => continue,
        };
        let name_length = u16::from_le_bytes([zip[at + if signature == "local" { 26 } else { 28 }], zip[at + if signature == "local" { 27 } else { 29 }]]) as usize;
        if zip.get(name_at..name_at + name_length) != Some(entry.as_bytes()) {
            continue;
        }
        if let Some(compressed) = compressed {
            zip[sizes_at..sizes_at + 4].copy_from_slice(&compressed.to_le_bytes());
        }
        zip[sizes_at + 4..sizes_at + 8].copy_from_slice(&uncompressed.to_le_bytes());
        patched += 1;
    }
    assert_eq!(patched, 2, "{entry}: local header and central record");
}

#[test]
fn a_zip_of_class_folders_is_a_dataset_and_what_systems_add_is_ignored() {
    let bytes = zipped(&[
        ("dog/1.png", png([200, 10, 10])),
        ("cat/1.png", png([10, 10, 200])),
        ("cat/2.png", png([10, 20, 200])),
        ("cat/notes.txt", b"fluffy".to_vec()),
        ("README.md", b"# my cats and dogs".to_vec()),
        ("__MACOSX/cat/._1.png", b"resource fork".to_vec()),
        ("cat/.DS_Store", b"finder".to_vec()),
        ("dog/Thumbs.db", b"thumbnails".to_vec()),
    ]);
    let archive = data::read_archive(&bytes).unwrap();
    assert_eq!(archive.kind, ArchiveKind::Folders);
    assert_eq!(archive.project, None);
    assert_eq!(archive.weights, None);
    let names: Vec<&str> = archive.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cat", "dog"], "sorted by name, as image folders are");
    let cat: Vec<&str> = archive.classes[0].files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(cat, ["1.png", "2.png"]);
    assert_eq!(archive.classes[1].files[0].bytes, png([200, 10, 10]));
    let skipped: Vec<(&str, &str)> = archive.skipped.iter().map(|s| (s.name.as_str(), s.reason)).collect();
    assert_eq!(skipped, [("README.md", "not-in-a-class"), ("cat/notes.txt", "not-an-image")]);
}

#[test]
fn class_folders_inside_one_top_folder_and_split_into_train_and_test() {
    let bytes = zipped(&[
        ("mydata/", vec![]),
        ("mydata/train/cat/a.png", png([1, 2, 3])),
        ("mydata/train/dog/b.png", png([4, 5, 6])),
        ("mydata/train/dog/c.png", png([4, 5, 7])),
        ("mydata/test/cat/d.png", png([7, 8, 9])),
        ("mydata/test/dog/e.png", png([9, 8, 7])),
    ]);
    let train = data::read_archive(&bytes).unwrap();
    assert_eq!(train.classes.iter().map(|c| c.files.len()).collect::<Vec<_>>(), [1, 2], "train, as the image-folder loader");
    let test = data::read_archive_split(&bytes, "test").unwrap();
    assert_eq!(test.classes[0].files[0].name, "d.png");
    // One top folder holding the class folders, no split, a README beside it.
    let bytes = zipped(&[("photos/cat/a.png", png([1, 2, 3])), ("photos/dog/b.png", png([4, 5, 6])), ("README.txt", b"hi".to_vec())]);
    let archive = data::read_archive(&bytes).unwrap();
    assert_eq!(archive.classes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["cat", "dog"]);
    assert_eq!(archive.skipped[0].name, "README.txt");
}

#[test]
fn what_is_not_a_zip_is_refused_by_name() {
    for bytes in [b"just some text".to_vec(), png([1, 2, 3]), Vec::new(), b"PK\x03\x04 cut short".to_vec()] {
        let error = refusal(&bytes);
        assert_eq!(error.reason(), "not-a-zip", "{error}");
        assert!(error.to_string().contains("not a ZIP archive"), "{error}");
    }
}

#[test]
fn zip_bombs_are_refused_from_their_declared_sizes_before_anything_is_inflated() {
    // An entry that declares more than 128 MiB (its data is 10 bytes: nothing could inflate).
    let mut big = zipped(&[("cat/a.png", png([1, 2, 3])), ("dog/huge.png", vec![0; 10])]);
    patch_sizes(&mut big, "dog/huge.png", Some(200 << 20), 200 << 20);
    let error = refusal(&big);
    assert_eq!((error.reason(), error.entry()), ("zip-bomb", Some("dog/huge.png")), "{error}");

    // A real one: 4 MiB of zeros deflate a thousandfold.
    let ratio = zipped(&[("cat/a.png", png([1, 2, 3])), ("dog/zeros.png", vec![0; 4 << 20])]);
    let error = refusal(&ratio);
    assert_eq!((error.reason(), error.entry()), ("zip-bomb", Some("dog/zeros.png")), "{error}");
    assert!(error.to_string().contains("100 to 1"), "{error}");

    // Entries that each stay under the limits but declare more than 1 GiB in all.
    let names: Vec<String> = (0..9).map(|i| format!("cat/{i}.png")).collect();
    let entries: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (n.as_str(), vec![1; 16])).collect();
    let mut many = zip_of(&entries, CompressionMethod::Stored);
    for name in &names {
        patch_sizes(&mut many, name, Some(120 << 20), 120 << 20);
    }
    let error = refusal(&many);
    assert_eq!((error.reason(), error.entry()), ("zip-bomb", None), "{error}");
    assert!(error.to_string().contains("in all"), "{error}");
}

#[test]
fn a_zip_bomb_with_a_lying_header_is_stopped_while_inflating() {
    // 1 MiB of zeros whose headers claim 1000 bytes: the ratio check passes, the inflating stops.
    let mut liar = zipped(&[("cat/a.png", png([1, 2, 3])), ("dog/zeros.png", vec![0; 1 << 20])]);
    patch_sizes(&mut liar, "dog/zeros.png", None, 1000);
    let error = refusal(&liar);
    assert_eq!((error.reason(), error.entry()), ("zip-bomb", Some("dog/zeros.png")), "{error}");
    assert!(error.to_string().contains("inflates past"), "{error}");
}

#[test]
fn paths_that_lead_out_are_refused() {
    for evil in ["../evil.png", "cat/../../evil.png", "/etc/evil.png", "C:/evil.png", "..\\evil.png", "cat\\..\\..\\evil.png"] {
        let bytes = zipped(&[("cat/a.png", png([1, 2, 3])), ("dog/b.png", png([4, 5, 6])), (evil, png([7, 8, 9]))]);
        let error = refusal(&bytes);
        assert_eq!((error.reason(), error.entry()), ("path-escapes", Some(evil)), "{evil}: {error}");
        assert!(error.to_string().contains("leads out"), "{error}");
    }
    // Backslashes that stay inside are folder separators (as Windows tools write them).
    let windows = zipped(&[("cat\\a.png", png([1, 2, 3])), ("dog\\b.png", png([4, 5, 6]))]);
    assert_eq!(data::read_archive(&windows).unwrap().classes.len(), 2);
}

#[test]
fn empty_classes_classes_of_non_images_and_too_few_classes_are_refused() {
    let empty = zipped(&[("cat/a.png", png([1, 2, 3])), ("dog/", vec![]), ("dog/.DS_Store", b"x".to_vec())]);
    let error = refusal(&empty);
    assert_eq!((error.reason(), error.class()), ("empty-class", Some("dog")), "{error}");

    let text = zipped(&[("cat/a.png", png([1, 2, 3])), ("dog/a.txt", b"woof".to_vec()), ("dog/b.jpg", b"not really".to_vec())]);
    let error = refusal(&text);
    assert_eq!((error.reason(), error.class()), ("not-images", Some("dog")), "{error}");

    let one = zipped(&[("cat/a.png", png([1, 2, 3])), ("cat/b.png", png([3, 2, 1]))]);
    let error = refusal(&one);
    assert_eq!(error, ArchiveError::TooFewClasses { found: 1 });
    assert_eq!(error.reason(), "too-few-classes");
}

#[test]
fn a_corrupted_entry_is_refused_by_its_crc32() {
    let photo = png([1, 2, 3]);
    let mut bytes = zip_of(&[("cat/a.png", photo.clone()), ("dog/b.png", png([4, 5, 6]))], CompressionMethod::Stored);
    let at = bytes.windows(photo.len()).position(|w| w == photo).unwrap() + photo.len() - 5;
    bytes[at] ^= 0x40;
    let error = refusal(&bytes);
    assert_eq!((error.reason(), error.entry()), ("corrupted", Some("cat/a.png")), "{error}");
    assert!(error.to_string().contains("CRC-32"), "{error}");
}

fn project(classes: serde_json::Value) -> serde_json::Value {
    json!({ "format": "secnn-project", "version": 1, "classes": classes, "settings": { "epochs": 3 } })
}

#[test]
fn a_project_round_trips_with_its_description_photos_and_weights() {
    let description = json!({ "settings": { "epochs": 3, "lr": 0.01 }, "history": [1, 2, 3], "classes": [{ "color": "red" }] });
    let names = ["Cat", "cat", "a/b: c?", "..hidden", "con\u{7}trol"];
    let classes: Vec<(String, Vec<Vec<u8>>)> =
        names.iter().enumerate().map(|(i, n)| (n.to_string(), vec![png([i as u8, 0, 0]), png([i as u8, 1, 0])])).collect();
    let weights = b"safetensors bytes".to_vec();
    let bytes = data::write_project(&description, &classes, Some(&weights));

    let archive = data::read_archive(&bytes).unwrap();
    assert_eq!(archive.kind, ArchiveKind::Project);
    assert_eq!(archive.weights.as_deref(), Some(&weights[..]));
    assert!(archive.skipped.is_empty(), "{:?}", archive.skipped);
    let read: Vec<(String, Vec<Vec<u8>>)> =
        archive.classes.iter().map(|c| (c.name.clone(), c.files.iter().map(|f| f.bytes.clone()).collect())).collect();
    assert_eq!(read, classes, "the classes in order, with their photos");
    assert_eq!(archive.classes[0].files[1].name, "0002.png");
    let project = archive.project.unwrap();
    assert_eq!(project["settings"], description["settings"], "the page's own fields come back untouched");
    assert_eq!(project["history"], description["history"]);
    assert_eq!(project["format"], "secnn-project");
    assert_eq!(project["classes"][0]["color"], "red", "what a class entry said is kept");
    let folders: Vec<&str> = project["classes"].as_array().unwrap().iter().map(|c| c["folder"].as_str().unwrap()).collect();
    assert_eq!(folders, ["Cat", "cat-2", "a_b_ c_", "hidden", "con_trol"], "safe and unique where case is ignored");

    // Without weights, and opened again from a copy inside a top folder.
    let plain = data::read_archive(&data::write_project(&json!({}), &classes[..2], None)).unwrap();
    assert_eq!(plain.weights, None);
    assert_eq!(plain.classes.len(), 2);
}

#[test]
fn a_bad_project_json_is_refused_by_name() {
    let photos = |folder: &str| vec![(format!("classes/{folder}/0001.png"), png([1, 2, 3]))];
    let with = |json: Vec<u8>| {
        let mut entries = vec![("project.json".to_string(), json)];
        entries.extend(photos("cat"));
        entries.extend(photos("dog"));
        let entries: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        zipped(&entries)
    };
    let two = json!([{ "name": "cat", "folder": "cat" }, { "name": "dog", "folder": "dog" }]);
    assert!(data::read_archive(&with(serde_json::to_vec(&project(two.clone())).unwrap())).is_ok());

    let bad = [
        b"{ not json".to_vec(),
        serde_json::to_vec(&json!({ "format": "other", "version": 1, "classes": two })).unwrap(),
        serde_json::to_vec(&json!({ "format": "secnn-project", "version": 2, "classes": two })).unwrap(),
        serde_json::to_vec(&json!({ "format": "secnn-project", "version": 1 })).unwrap(),
        serde_json::to_vec(&project(json!([{ "name": "cat", "folder": "cat" }, { "name": "dog", "folder": "../dog" }]))).unwrap(),
        serde_json::to_vec(&project(json!([{ "name": "cat", "folder": "cat" }, { "name": "dog", "folder": "Cat" }]))).unwrap(),
        serde_json::to_vec(&project(json!([{ "name": "cat", "folder": "cat" }, { "folder": "dog" }]))).unwrap(),
    ];
    for json in bad {
        let error = refusal(&with(json.clone()));
        assert_eq!((error.reason(), error.entry()), ("bad-project", Some("project.json")), "{}: {error}", String::from_utf8_lossy(&json));
    }
    // Its classes obey the same rules as folders: one with no photos is refused by name.
    let three = project(json!([{ "name": "cat", "folder": "cat" }, { "name": "dog", "folder": "dog" }, { "name": "bird", "folder": "bird" }]));
    let error = refusal(&with(serde_json::to_vec(&three).unwrap()));
    assert_eq!((error.reason(), error.class()), ("empty-class", Some("bird")), "{error}");
}

#[test]
fn refusals_cross_to_the_page_as_invalid_file_with_their_reason() {
    let error = WorkbenchError::from(refusal(&zipped(&[("cat/a.png", png([1, 2, 3])), ("dog/a.txt", b"woof".to_vec())])));
    assert_eq!(error.code(), "invalid-file");
    assert_eq!(error.details().unwrap(), json!({ "reason": "not-images", "entry": null, "class": "dog" }));
    let error = WorkbenchError::from(refusal(&zipped(&[("cat/a.png", png([1, 2, 3])), ("../x.png", png([1, 2, 3]))])));
    assert_eq!(error.details().unwrap(), json!({ "reason": "path-escapes", "entry": "../x.png", "class": null }));
}

#[test]
fn an_archive_is_a_dataset_decoded_with_the_one_input_rule() {
    let dir = TempDir::new("archive-dataset");
    let path = dir.path().join("classes.zip");
    std::fs::write(&path, zipped(&[("b/1.png", png([200, 0, 0])), ("a/1.png", png([0, 0, 200])), ("a/2.txt", b"x".to_vec())])).unwrap();
    let loaded = data::load_dataset(&path, data::Split::Train, 32, &|_, _| {}).unwrap();
    assert_eq!(loaded.set.classes, ["a", "b"]);
    assert_eq!(loaded.set.labels, [0, 1]);
    assert_eq!(loaded.set.names, ["a/1.png", "b/1.png"]);
    assert_eq!(loaded.set.images[1], data::decode_image(&png([200, 0, 0]), 32).unwrap());
    assert_eq!(loaded.skipped.len(), 1);
    // A refused archive names the file and the rule.
    std::fs::write(&path, zipped(&[("a/1.png", png([0, 0, 200]))])).unwrap();
    let error = data::load_dataset(&path, data::Split::Train, 32, &|_, _| {}).err().unwrap();
    assert!(matches!(&error, data::DatasetError::Archive { source: ArchiveError::TooFewClasses { found: 1 }, .. }), "{error}");
}
