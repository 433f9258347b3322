//! The CIFAR binary formats, as their authors distribute them: CIFAR-10's batches
//! (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`: per image a label byte, then
//! 3072 pixel bytes, the red, green and blue planes of 32x32) and CIFAR-100's files
//! (`train.bin`, `test.bin`: per image a coarse label byte, which is skipped, a fine label byte,
//! then the same 3072 bytes; the fine labels' names in `fine_label_names.txt` beside them).
//! Images are resized to the model's input size by the one rule.

use super::{
    dataset::{DatasetError, ImageSet, Loaded, Split, io_err},
    image::Planes,
};
use secnn_archive::CIFAR10_CLASSES;
use std::path::{Path, PathBuf};

/// Side of a CIFAR image.
pub const CIFAR_SIDE: usize = 32;
/// Pixel bytes of one CIFAR image: three planes of 32x32.
pub const CIFAR_IMAGE_BYTES: usize = 3 * CIFAR_SIDE * CIFAR_SIDE;
/// The file beside CIFAR-100's `train.bin` naming its fine labels, one a line.
pub const CIFAR100_NAMES_FILE: &str = "fine_label_names.txt";
/// The folder CIFAR-100's binary archive unpacks to.
const CIFAR100_FOLDER: &str = "cifar-100-binary";
/// The folder CIFAR-10's binary archive unpacks to.
const CIFAR10_FOLDER: &str = "cifar-10-batches-bin";

/// Which of the two binary formats a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarFormat {
    /// A label byte per image, labels 0–9.
    Cifar10,
    /// A coarse and a fine label byte per image (the fine one is the class), labels 0–99.
    Cifar100,
}

impl CifarFormat {
    /// Bytes before an image's pixels.
    fn label_bytes(self) -> usize {
        match self {
            Self::Cifar10 => 1,
            Self::Cifar100 => 2,
        }
    }

    /// Bytes of one record.
    pub fn record_bytes(self) -> usize {
        self.label_bytes() + CIFAR_IMAGE_BYTES
    }

    /// Number of classes.
    pub fn classes(self) -> usize {
        match self {
            Self::Cifar10 => CIFAR10_CLASSES.len(),
            Self::Cifar100 => 100,
        }
    }

    /// The class names when nothing names them: CIFAR-10's own, or `class 0` … `class 99`.
    pub fn default_names(self) -> Vec<String> {
        match self {
            Self::Cifar10 => CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect(),
            Self::Cifar100 => (0..self.classes()).map(|i| format!("class {i}")).collect(),
        }
    }

    /// The format of a file called `name` (a path's last part counts) holding `len` bytes:
    /// CIFAR-100 for `train.bin` and `test.bin`, CIFAR-10 for its batches' names; any other name
    /// by the record size that divides `len` (`None` when neither or both do).
    pub fn of_file(name: &str, len: usize) -> Option<Self> {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        if base == "train.bin" || base == "test.bin" {
            return Some(Self::Cifar100);
        }
        if base == "test_batch.bin" || (base.starts_with("data_batch_") && base.ends_with(".bin")) {
            return Some(Self::Cifar10);
        }
        let fits = |format: Self| len > 0 && len.is_multiple_of(format.record_bytes());
        match (fits(Self::Cifar10), fits(Self::Cifar100)) {
            (true, false) => Some(Self::Cifar10),
            (false, true) => Some(Self::Cifar100),
            _ => None,
        }
    }
}

/// Appends the records of `bytes` (a file in `format`, named `path` in errors) to `set`, each
/// image resized to `size` px. Every label must be one of the format's classes.
pub fn parse_cifar_records(bytes: &[u8], path: &Path, format: CifarFormat, size: usize, set: &mut ImageSet) -> Result<(), DatasetError> {
    let record = format.record_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(DatasetError::BadCifarFile { path: path.to_path_buf(), len: bytes.len() });
    }
    let labels = format.label_bytes();
    // The fine label comes last: CIFAR-100's coarse one is skipped.
    if let Some(label) = bytes.chunks_exact(record).map(|r| r[labels - 1]).find(|&l| l as usize >= format.classes()) {
        return Err(DatasetError::BadCifarLabel { path: path.to_path_buf(), label, classes: format.classes() });
    }
    for record in bytes.chunks_exact(record) {
        let planes = Planes::new(CIFAR_SIDE, record[labels..].to_vec());
        set.images.push(planes.resized(size));
        set.labels.push(record[labels - 1] as usize);
    }
    Ok(())
}

/// Class names from a label-names file (`fine_label_names.txt`): one per non-empty line.
pub fn read_label_names(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_string).collect()
}

/// Whether `dir` holds CIFAR binaries (either format, or the folder either archive unpacks to).
pub fn has_cifar_binaries(dir: &Path) -> bool {
    ["test_batch.bin", "data_batch_1.bin", "train.bin", "test.bin", CIFAR10_FOLDER, CIFAR100_FOLDER]
        .iter()
        .any(|name| dir.join(name).exists())
}

/// The split's files in `dir` and their format: CIFAR-10's batches when there are any, else
/// CIFAR-100's file; also when `dir` holds the folder either archive unpacks to.
fn split_files(dir: &Path, split: Split) -> Result<(PathBuf, CifarFormat, Vec<PathBuf>), DatasetError> {
    for (folder, format) in [(CIFAR10_FOLDER, CifarFormat::Cifar10), (CIFAR100_FOLDER, CifarFormat::Cifar100)] {
        if dir.join(folder).is_dir() {
            return split_files(&dir.join(folder), split).map(|found| (found.0, format, found.2));
        }
    }
    let mut batches: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            match split {
                Split::Train => name.starts_with("data_batch_") && name.ends_with(".bin"),
                Split::Test => name == "test_batch.bin",
            }
        })
        .collect();
    batches.sort();
    if !batches.is_empty() {
        return Ok((dir.to_path_buf(), CifarFormat::Cifar10, batches));
    }
    let file = dir.join(format!("{}.bin", split.folder()));
    match file.is_file() {
        true => Ok((dir.to_path_buf(), CifarFormat::Cifar100, vec![file])),
        false => Err(DatasetError::NoCifarBatches(dir.to_path_buf())),
    }
}

/// Loads a split of CIFAR-10's batches (`data_batch_1..5.bin` for train, `test_batch.bin` for
/// test) or of CIFAR-100's files (`train.bin`, `test.bin`, named by `fine_label_names.txt`
/// when it is there, else `class 0` … `class 99`) from `dir`, resized to `size` px.
pub fn load_cifar_binary(dir: &Path, split: Split, size: usize) -> Result<Loaded, DatasetError> {
    let (dir, format, files) = split_files(dir, split)?;
    let names_file = dir.join(CIFAR100_NAMES_FILE);
    let classes = match format == CifarFormat::Cifar100 && names_file.is_file() {
        true => {
            let text = std::fs::read_to_string(&names_file).map_err(io_err(&names_file))?;
            let names = read_label_names(&text);
            if names.len() != format.classes() {
                return Err(DatasetError::BadLabelNames { path: names_file, found: names.len(), expected: format.classes() });
            }
            names
        }
        false => format.default_names(),
    };
    let mut loaded = Loaded { set: ImageSet { classes, ..Default::default() }, skipped: Vec::new() };
    for path in files {
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        parse_cifar_records(&bytes, &path, format, size, &mut loaded.set)?;
    }
    Ok(loaded)
}
