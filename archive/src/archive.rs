//! ZIP archives of labelled images, read from bytes (so the browser reads them too), in two
//! layouts:
//!
//! - a *project*, as the page saves one: `project.json` (see [`crate::project`]), the photos
//!   under `classes/<folder>/NNNN.png` and, if trained, the weights at `model.safetensors`;
//! - a plain zip of class folders, `<class>/*.jpg` (the layout of every image-classification
//!   dataset), also inside one top folder (`mydata/<class>/…`) and split as `train/<class>/…`.
//!
//! Bad archives are refused by name before anything in them is used: not a zip; a zip bomb
//! (decided from the sizes the central directory declares, before anything is inflated, and
//! enforced while inflating); a path that leads out (`..`, absolute, a drive letter); an empty
//! class; a class of non-images; fewer than two classes; an entry that does not match its
//! CRC-32; a bad `project.json`. `__MACOSX/`, dotfiles, `Thumbs.db` and `desktop.ini` are
//! ignored.

use crate::{
    classes::class_order,
    project::{self, CLASSES_FOLDER, PROJECT_FILE, WEIGHTS_FILE},
    sniff::looks_like_image,
};
use std::{
    collections::BTreeMap,
    io::{Cursor, Read},
};

/// The most an archive may inflate to, in all.
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// The most one entry may inflate to.
pub const MAX_ENTRY_BYTES: u64 = 128 << 20;
/// The highest compression ratio an entry over [`RATIO_CHECKED_FROM`] bytes may declare:
/// photos and weights barely compress; a bomb compresses a thousandfold.
pub const MAX_RATIO: u64 = 100;
/// Entries smaller than this may compress as well as they like (a text file of spaces).
pub const RATIO_CHECKED_FROM: u64 = 1 << 20;

/// Why an archive was refused. Each has a stable [`reason`](Self::reason) for callers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a ZIP archive ({0})")]
    NotAZip(String),
    #[error("{entry} cannot be read here ({why}); zip it again with the usual settings (deflate, no password)")]
    Unsupported { entry: String, why: String },
    #[error("refused as a zip bomb: {}{why}", entry.as_deref().map(|e| format!("{e} ")).unwrap_or_default())]
    ZipBomb { entry: Option<String>, why: String },
    #[error("{entry}: the path leads out of the archive's folder")]
    PathEscapes { entry: String },
    #[error("the class {class:?} has no images")]
    EmptyClass { class: String },
    #[error("the class {class:?} holds files but no images (JPEG, PNG, GIF, BMP, WebP, AVIF or HEIC)")]
    NotImages { class: String },
    #[error("{found} class(es) found; at least 2 are needed, each a folder of images")]
    TooFewClasses { found: usize },
    #[error("{entry} is corrupted: {why}")]
    Corrupted { entry: String, why: String },
    #[error("{PROJECT_FILE}: {0}")]
    BadProject(String),
}

impl ArchiveError {
    /// A stable name for the kind of refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotAZip(_) => "not-a-zip",
            Self::Unsupported { .. } => "unsupported",
            Self::ZipBomb { .. } => "zip-bomb",
            Self::PathEscapes { .. } => "path-escapes",
            Self::EmptyClass { .. } => "empty-class",
            Self::NotImages { .. } => "not-images",
            Self::TooFewClasses { .. } => "too-few-classes",
            Self::Corrupted { .. } => "corrupted",
            Self::BadProject(_) => "bad-project",
        }
    }

    /// The entry the refusal names, as the archive spells it.
    pub fn entry(&self) -> Option<&str> {
        match self {
            Self::Unsupported { entry, .. } | Self::PathEscapes { entry } | Self::Corrupted { entry, .. } => Some(entry),
            Self::ZipBomb { entry, .. } => entry.as_deref(),
            Self::BadProject(_) => Some(PROJECT_FILE),
            _ => None,
        }
    }

    /// The class the refusal names.
    pub fn class(&self) -> Option<&str> {
        match self {
            Self::EmptyClass { class } | Self::NotImages { class } => Some(class),
            _ => None,
        }
    }
}

/// Which layout an archive has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Project,
    Folders,
}

impl ArchiveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::Folders => "folders",
        }
    }
}

/// One file of a class: its name inside the class folder, and its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A class and its image files, in archive order.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveClass {
    pub name: String,
    pub files: Vec<ArchiveFile>,
}

/// A file that was left out, by its name in the archive: `not-an-image` (in a class folder) or
/// `not-in-a-class` (anywhere else).
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedEntry {
    pub name: String,
    pub reason: &'static str,
}

/// What an archive holds, once every rule has passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    pub kind: ArchiveKind,
    /// A project's `project.json`, as written (its `classes` checked, the rest untouched).
    pub project: Option<serde_json::Value>,
    /// The classes in order: `project.json`'s, or the folders' (see `class_order`).
    pub classes: Vec<ArchiveClass>,
    /// A project's `model.safetensors`.
    pub weights: Option<Vec<u8>>,
    pub skipped: Vec<SkippedEntry>,
}

type Zip<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// One entry of the central directory that is not ignored.
#[derive(Debug, Clone)]
struct Entry {
    index: usize,
    /// As the archive spells it.
    name: String,
    /// Its folders and file name, below the top folders taken off.
    path: Vec<String>,
    is_dir: bool,
}

/// Reads an archive of either layout; where class folders are split, the `train` ones.
pub fn read_archive(bytes: &[u8]) -> Result<Archive, ArchiveError> {
    read_archive_split(bytes, "train")
}

/// As [`read_archive`], with the class folders under `split/` where the archive has that folder
/// (else under `train/`, else at its root).
pub fn read_archive_split(bytes: &[u8], split: &str) -> Result<Archive, ArchiveError> {
    let mut zip = Zip::new(Cursor::new(bytes)).map_err(|e| ArchiveError::NotAZip(e.to_string()))?;
    let mut skipped = Vec::new();
    let entries = without_top_folders(listing(&zip)?, &mut skipped);
    let mut archive = match entries.iter().any(|e| !e.is_dir && e.path == [PROJECT_FILE]) {
        true => read_project(&mut zip, entries)?,
        false => read_folders(&mut zip, entries, split)?,
    };
    archive.skipped.splice(0..0, skipped);
    Ok(archive)
}

/// The central directory's entries that are not ignored, once every path and declared size has
/// been checked (nothing is inflated here).
fn listing(zip: &Zip) -> Result<Vec<Entry>, ArchiveError> {
    let mut entries = Vec::new();
    let mut total = 0u64;
    for index in 0..zip.len() {
        let entry = zip.by_index_data(index).map_err(|e| ArchiveError::NotAZip(e.to_string()))?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| String::from_utf8_lossy(entry.name_raw()).into_owned());
        let path = safe_path(&name).ok_or_else(|| ArchiveError::PathEscapes { entry: name.clone() })?;
        check_declared_size(&name, entry.size(), entry.compressed_size())?;
        total = total.saturating_add(entry.size());
        if total > MAX_TOTAL_BYTES {
            return Err(ArchiveError::ZipBomb { entry: None, why: format!("its entries declare more than {} MiB in all", MAX_TOTAL_BYTES >> 20) });
        }
        if !entry.is_dir() && !matches!(entry.compression(), zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated) {
            return Err(ArchiveError::Unsupported { entry: name, why: format!("compressed with {}", entry.compression()) });
        }
        if entry.encrypted() {
            return Err(ArchiveError::Unsupported { entry: name, why: "encrypted".into() });
        }
        if !path.is_empty() && !is_ignored(&path) {
            entries.push(Entry { index, name, path, is_dir: entry.is_dir() });
        }
    }
    Ok(entries)
}

/// `name`'s folders and file name, or `None` when it leads out: `..`, an absolute path or a
/// drive letter (backslashes count as the separators Windows tools write them as).
fn safe_path(name: &str) -> Option<Vec<String>> {
    let name = name.replace('\\', "/");
    let parts: Vec<&str> = name.split('/').filter(|part| !part.is_empty() && *part != ".").collect();
    let drive = parts.first().is_some_and(|first| first.len() >= 2 && first.as_bytes()[0].is_ascii_alphabetic() && first.as_bytes()[1] == b':');
    let escapes = name.starts_with('/') || name.contains('\0') || drive || parts.contains(&"..");
    (!escapes).then(|| parts.into_iter().map(String::from).collect())
}

/// What operating systems add to a zip: macOS's resource forks and `.DS_Store`, dotfiles,
/// Windows's thumbnail caches and folder settings.
fn is_ignored(path: &[String]) -> bool {
    let file = path.last().map(|f| f.to_ascii_lowercase()).unwrap_or_default();
    path.iter().any(|part| part == "__MACOSX" || part.starts_with('.')) || file == "thumbs.db" || file == "desktop.ini"
}

/// Refuses an entry whose declared size is a bomb's.
fn check_declared_size(name: &str, size: u64, compressed: u64) -> Result<(), ArchiveError> {
    let bomb = |why: String| Err(ArchiveError::ZipBomb { entry: Some(name.to_string()), why });
    if size > MAX_ENTRY_BYTES {
        return bomb(format!("declares {size} bytes, more than {} MiB", MAX_ENTRY_BYTES >> 20));
    }
    if size > RATIO_CHECKED_FROM && size / compressed.max(1) > MAX_RATIO {
        return bomb(format!("declares {size} bytes from {compressed}, more than {MAX_RATIO} to 1"));
    }
    Ok(())
}

/// The entries below the only top folder (repeatedly), where that folder holds folders of its
/// own: `mydata/cat/1.jpg` is `cat/1.jpg`, while `cat/1.jpg` stays itself. Loose files beside
/// the top folder (a README) are skipped; a `project.json` beside it is a project's root.
fn without_top_folders(mut entries: Vec<Entry>, skipped: &mut Vec<SkippedEntry>) -> Vec<Entry> {
    while has_single_top_folder(&entries) {
        let (inside, loose): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| e.path.len() > 1);
        skipped.extend(loose.into_iter().filter(|e| !e.is_dir).map(|e| SkippedEntry { name: e.name, reason: "not-in-a-class" }));
        entries = inside.into_iter().map(|mut e| { e.path.remove(0); e }).collect();
    }
    entries
}

fn has_single_top_folder(entries: &[Entry]) -> bool {
    let mut folders = entries.iter().filter(|e| e.path.len() > 1 || e.is_dir).map(|e| &e.path[0]);
    let Some(top) = folders.next() else { return false };
    let single = folders.all(|folder| folder == top);
    let project = entries.iter().any(|e| !e.is_dir && e.path == [PROJECT_FILE]);
    single && !project && entries.iter().any(|e| e.path.len() > 2 || (e.path.len() == 2 && e.is_dir))
}

/// A plain zip of class folders: each folder below the root (or below `split/`) is a class.
fn read_folders(zip: &mut Zip, entries: Vec<Entry>, split: &str) -> Result<Archive, ArchiveError> {
    let entries = match [split, "train"].into_iter().find(|folder| entries.iter().any(|e| e.path.len() > 1 && e.path[0] == *folder)) {
        Some(folder) => inside(entries, folder),
        None => entries,
    };
    let mut folders: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for entry in entries {
        match (entry.path.len(), entry.is_dir) {
            (1, false) => skipped.push(SkippedEntry { name: entry.name, reason: "not-in-a-class" }),
            (_, true) => drop(folders.entry(entry.path[0].clone()).or_default()),
            _ => folders.entry(entry.path[0].clone()).or_default().push(entry),
        }
    }
    if folders.len() < 2 {
        return Err(ArchiveError::TooFewClasses { found: folders.len() });
    }
    let mut classes = Vec::new();
    for name in class_order(folders.keys().cloned().collect()) {
        let files = folders.remove(&name).unwrap_or_default();
        classes.push(read_class(zip, name, files, 1, &mut skipped)?);
    }
    Ok(Archive { kind: ArchiveKind::Folders, project: None, classes, weights: None, skipped })
}

/// The entries inside `folder`, with paths from there.
fn inside(entries: Vec<Entry>, folder: &str) -> Vec<Entry> {
    let below = entries.into_iter().filter(|e| e.path.len() > 1 && e.path[0] == folder);
    below.map(|mut e| { e.path.remove(0); e }).collect()
}

/// A project: the classes `project.json` names, their photos, and the weights if it has them.
fn read_project(zip: &mut Zip, entries: Vec<Entry>) -> Result<Archive, ArchiveError> {
    let json = entries.iter().find(|e| !e.is_dir && e.path == [PROJECT_FILE]).expect("read_archive found it");
    let project: serde_json::Value = serde_json::from_slice(&inflate(zip, json)?).map_err(|e| ArchiveError::BadProject(e.to_string()))?;
    let declared = project::classes_of(&project).map_err(ArchiveError::BadProject)?;
    if declared.len() < 2 {
        return Err(ArchiveError::TooFewClasses { found: declared.len() });
    }
    let mut folders: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let (mut weights, mut skipped) = (None, Vec::new());
    for entry in entries {
        match (entry.path.iter().map(String::as_str).collect::<Vec<_>>().as_slice(), entry.is_dir) {
            ([PROJECT_FILE], false) => {}
            ([WEIGHTS_FILE], false) => weights = Some(inflate(zip, &entry)?),
            ([CLASSES_FOLDER, folder], true) => drop(folders.entry(folder.to_string()).or_default()),
            ([CLASSES_FOLDER, folder, _, ..], false) => folders.entry(folder.to_string()).or_default().push(entry),
            (_, false) => skipped.push(SkippedEntry { name: entry.name, reason: "not-in-a-class" }),
            (_, true) => {}
        }
    }
    let mut classes = Vec::new();
    for (name, folder) in declared {
        let files = folders.remove(&folder).unwrap_or_default();
        classes.push(read_class(zip, name, files, 2, &mut skipped)?);
    }
    let strays = folders.into_values().flatten();
    skipped.extend(strays.map(|e| SkippedEntry { name: e.name, reason: "not-in-a-class" }));
    Ok(Archive { kind: ArchiveKind::Project, project: Some(project), classes, weights, skipped })
}

/// The class `name` from its folder's `files` (each named below the `depth` folders that hold
/// it: 1 for `<class>/`, 2 for `classes/<folder>/`): refused when it has none, or no image among
/// them; its other files are skipped.
fn read_class(zip: &mut Zip, name: String, files: Vec<Entry>, depth: usize, skipped: &mut Vec<SkippedEntry>) -> Result<ArchiveClass, ArchiveError> {
    if files.is_empty() {
        return Err(ArchiveError::EmptyClass { class: name });
    }
    let mut images = Vec::new();
    for entry in files {
        let bytes = inflate(zip, &entry)?;
        match looks_like_image(&bytes) {
            true => images.push(ArchiveFile { name: entry.path[depth..].join("/"), bytes }),
            false => skipped.push(SkippedEntry { name: entry.name, reason: "not-an-image" }),
        }
    }
    if images.is_empty() {
        return Err(ArchiveError::NotImages { class: name });
    }
    Ok(ArchiveClass { name, files: images })
}

/// An entry's bytes, inflated no further than its declared size and checked against its CRC-32
/// (the zip crate compares the two when the entry ends).
fn inflate(zip: &mut Zip, entry: &Entry) -> Result<Vec<u8>, ArchiveError> {
    let corrupted = |why: String| ArchiveError::Corrupted { entry: entry.name.clone(), why };
    let mut file = zip.by_index(entry.index).map_err(|e| corrupted(e.to_string()))?;
    let declared = file.size(); // at most MAX_ENTRY_BYTES: `listing` checked it
    let mut data = Vec::with_capacity(declared as usize);
    let read = file.by_ref().take(declared + 1).read_to_end(&mut data);
    let bomb = || ArchiveError::ZipBomb { entry: Some(entry.name.clone()), why: format!("inflates past the {declared} bytes it declares") };
    match read {
        // The zip crate stops an entry that grows past its declared size with this error.
        Err(error) if error.to_string().contains("declared") => Err(bomb()),
        Err(error) if error.to_string().contains("checksum") => Err(corrupted(format!("its contents do not match its CRC-32 ({:08x})", file.crc32()))),
        Err(error) => Err(corrupted(error.to_string())),
        Ok(_) if data.len() as u64 > declared => Err(bomb()),
        Ok(_) if (data.len() as u64) < declared => Err(corrupted(format!("{} of its {declared} bytes are there", data.len()))),
        Ok(_) => Ok(data),
    }
}
