//! Labelled sets of images: [`ImageSet`] in memory, the formats it is read from (image folders
//! `root/<class>/*`, archives of them or projects (`.zip`), and the CIFAR binaries, `cifar`),
//! splits, shuffles and batch tensors. Images are read at the model's input size.

use super::{
    cifar::{has_cifar_binaries, load_cifar_binary},
    examples::ExamplesError,
    image::{Planes, decode_image, normalize},
};
use secnn_archive::{Archive, ArchiveError, class_order, read_archive_split};
use burn::prelude::*;
use rand::{Rng, RngCore};
use std::path::{Path, PathBuf};

/// File extensions treated as images when scanning folders.
pub const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "gif", "webp", "jfif"];

/// A labelled set of images of one size (the model's input size) held in memory.
#[derive(Debug, Clone, Default)]
pub struct ImageSet {
    pub images: Vec<Planes>,
    pub labels: Vec<usize>,
    pub classes: Vec<String>,
    /// Where each image came from, relative to the dataset folder (`cat/0001.jpg`); empty for
    /// sets that were not read from an image folder.
    pub names: Vec<String>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// `n` images of `side` px of random pixels, labelled round `classes`: what speed is timed on.
    pub fn noise(n: usize, side: usize, classes: Vec<String>, rng: &mut impl RngCore) -> ImageSet {
        let pixels = |rng: &mut dyn RngCore| {
            let mut bytes = vec![0; 3 * side * side];
            rng.fill_bytes(&mut bytes);
            Planes::new(side, bytes)
        };
        ImageSet {
            images: (0..n).map(|_| pixels(rng)).collect(),
            labels: (0..n).map(|i| i % classes.len()).collect(),
            classes,
            names: vec![],
        }
    }

    /// Splits off the last `fraction` of a shuffled copy as a validation set (stratified per class).
    pub fn split(mut self, fraction: f64, rng: &mut impl RngCore) -> (ImageSet, ImageSet) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        shuffle(&mut order, rng);
        let mut per_class_seen = vec![0usize; self.classes.len()];
        let per_class_total = self.labels.iter().fold(vec![0usize; self.classes.len()], |mut c, &l| {
            c[l] += 1;
            c
        });
        let mut train = ImageSet { classes: self.classes.clone(), ..Default::default() };
        let mut valid = ImageSet { classes: self.classes.clone(), ..Default::default() };
        let images = std::mem::take(&mut self.images);
        for index in order {
            let label = self.labels[index];
            let want_valid = (per_class_total[label] as f64 * fraction).round() as usize;
            let target = if per_class_seen[label] < want_valid { &mut valid } else { &mut train };
            per_class_seen[label] += 1;
            target.images.push(images[index].clone());
            target.labels.push(label);
            if let Some(name) = self.names.get(index) {
                target.names.push(name.clone());
            }
        }
        (train, valid)
    }
}

/// Fisher–Yates shuffle driven by our own RNG (so resumed runs replay it exactly).
pub fn shuffle<T>(items: &mut [T], rng: &mut impl RngCore) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

/// Why a dataset could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    // The cause is the source: printed after the path by whoever shows the chain (the CLI).
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no class sub-folders with images found (expected root/<class>/*.jpg)")]
    NoClasses(PathBuf),
    #[error("{0}: no CIFAR binaries found (CIFAR-10's data_batch_*.bin / test_batch.bin, or CIFAR-100's train.bin / test.bin)")]
    NoCifarBatches(PathBuf),
    #[error("{path}: {len} bytes is not a whole number of CIFAR-10 (3073-byte) or CIFAR-100 (3074-byte) records")]
    BadCifarFile { path: PathBuf, len: usize },
    #[error("{path}: label {label} is out of range for {classes} classes")]
    BadCifarLabel { path: PathBuf, label: u8, classes: usize },
    #[error("{path}: {found} class names where the data has {expected} classes")]
    BadLabelNames { path: PathBuf, found: usize, expected: usize },
    /// Examples handed back by the page (`examples`) that do not read.
    #[error("{path}: {source}")]
    BadExamples { path: PathBuf, source: ExamplesError },
    // As `Io`: the archive's refusal is the source, printed after the path.
    #[error("{}", path.display())]
    Archive { path: PathBuf, source: ArchiveError },
}

/// A file skipped while loading, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// Result of loading a dataset: the images plus every file that was skipped.
#[derive(Debug, Default)]
pub struct Loaded {
    pub set: ImageSet,
    pub skipped: Vec<Skipped>,
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An image folder's class names, and its files as `(path, label)` pairs.
pub type FolderListing = (Vec<String>, Vec<(PathBuf, usize)>);

/// Lists `(path, label)` pairs of an image folder `root/<class>/*.<image ext>`, classes ordered
/// by [`class_order`]. Files are sorted so the listing is reproducible.
pub fn list_image_folder(root: &Path) -> Result<FolderListing, DatasetError> {
    let mut class_dirs = Vec::new();
    for entry in std::fs::read_dir(root).map_err(io_err(root))? {
        let entry = entry.map_err(io_err(root))?;
        if entry.path().is_dir() {
            class_dirs.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    let classes = class_order(class_dirs);
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let dir = root.join(class);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && !is_hidden(p))
            .collect();
        paths.sort();
        files.extend(paths.into_iter().map(|p| (p, label)));
    }
    if files.is_empty() {
        return Err(DatasetError::NoClasses(root.to_path_buf()));
    }
    Ok((classes, files))
}

/// `path` relative to `root` with `/` separators, the name a teacher's logits file uses.
fn relative_name(path: &Path, root: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<_> = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    parts.join("/")
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy().starts_with('.'))
        .unwrap_or(false)
}

/// Loads an image folder at `size` px, decoding on all cores. Undecodable files are skipped and
/// reported. `progress` is called with the number of files done so far.
pub fn load_image_folder(
    root: &Path,
    size: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Loaded, DatasetError> {
    let (classes, files) = list_image_folder(root)?;
    let read = |(path, _): &(PathBuf, usize)| std::fs::read(path).map_err(|e| e.to_string());
    let results = decode_all(&files, size, read, progress);
    let mut loaded = Loaded {
        set: ImageSet { classes, ..Default::default() },
        skipped: Vec::new(),
    };
    for ((path, label), result) in files.into_iter().zip(results) {
        match result {
            Ok(planes) => {
                loaded.set.images.push(planes);
                loaded.set.labels.push(label);
                loaded.set.names.push(relative_name(&path, root));
            }
            Err(reason) => loaded.skipped.push(Skipped { path, reason }),
        }
    }
    Ok(loaded)
}

/// Decodes `items` at `size` px on all cores, in order: `read` gives each one's file bytes.
fn decode_all<T: Sync>(
    items: &[T],
    size: usize,
    read: impl Fn(&T) -> Result<Vec<u8>, String> + Sync,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Result<Planes, String>> {
    let total = items.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let decode = |item: &T| {
        let result = read(item).and_then(|bytes| decode_image(&bytes, size).map_err(|e| e.to_string()));
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if n.is_multiple_of(256) || n == total {
            progress(n, total);
        }
        result
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(total.div_ceil(threads).max(1))
            .map(|part| scope.spawn(|| part.iter().map(decode).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("decoder thread panicked")).collect()
    })
}

/// Loads an archive (`.zip`): a project's photos, or a zip of class folders (the `split`
/// folders where it is split so), decoded at `size` px on all cores. The archive's skipped
/// entries and undecodable images are reported.
pub fn load_archive(path: &Path, split: Split, size: usize, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<Loaded, DatasetError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let archive = read_archive_split(&bytes, split.folder())
        .map_err(|source| DatasetError::Archive { path: path.to_path_buf(), source })?;
    Ok(archive_set(archive, size, progress))
}

/// An archive's images as a set with its class names: each decoded at `size` px with the one
/// input rule.
pub fn archive_set(archive: Archive, size: usize, progress: &(dyn Fn(usize, usize) + Sync)) -> Loaded {
    let classes: Vec<String> = archive.classes.iter().map(|c| c.name.clone()).collect();
    let files: Vec<(String, usize, Vec<u8>)> = archive.classes.into_iter().enumerate()
        .flat_map(|(label, class)| class.files.into_iter().map(move |file| (format!("{}/{}", class.name, file.name), label, file.bytes)))
        .collect();
    let results = decode_all(&files, size, |(_, _, bytes)| Ok(bytes.clone()), progress);
    let mut loaded = Loaded { set: ImageSet { classes, ..Default::default() }, skipped: Vec::new() };
    loaded.skipped.extend(archive.skipped.into_iter().map(|s| Skipped { path: s.name.into(), reason: s.reason.to_string() }));
    for ((name, label, _), result) in files.into_iter().zip(results) {
        match result {
            Ok(planes) => {
                loaded.set.images.push(planes);
                loaded.set.labels.push(label);
                loaded.set.names.push(name);
            }
            Err(reason) => loaded.skipped.push(Skipped { path: name.into(), reason }),
        }
    }
    loaded
}

/// Which split of the CIFAR binaries (or of a split image folder) to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// The split's sub-folder in an image folder or archive.
    pub fn folder(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Loads any format at `size` px: a folder with CIFAR-10 or CIFAR-100 binaries, an image
/// folder, or an archive (`.zip`: a project or a zip of class folders). For an image folder,
/// `split` picks `root/train` or `root/test` when those exist.
pub fn load_dataset(
    root: &Path,
    split: Split,
    size: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Loaded, DatasetError> {
    if is_archive(root) {
        return load_archive(root, split, size, progress);
    }
    if has_cifar_binaries(root) {
        return load_cifar_binary(root, split, size);
    }
    let sub = root.join(split.folder());
    if sub.is_dir() {
        load_image_folder(&sub, size, progress)
    } else {
        load_image_folder(root, size, progress)
    }
}

/// Whether `path` names an archive (a `.zip` file) rather than a folder.
pub fn is_archive(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// A batch tensor `[batch, 3, side, side]` on `device` (every image of one side).
pub fn batch_tensor(batch: &[&Planes], device: &Device) -> Tensor<4> {
    let side = batch.first().map_or(0, |planes| planes.side());
    let data = TensorData::new(normalize(batch), [batch.len(), 3, side, side]);
    Tensor::from_data(data, device)
}

/// The labels `[n]` of `set`'s images at `indices`, on `device`.
pub fn label_tensor(set: &ImageSet, indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = indices.iter().map(|&i| set.labels[i] as i64).collect();
    Tensor::from_data(TensorData::new(labels, [indices.len()]), device)
}

/// Draws a random batch index order for one epoch.
pub fn epoch_order(len: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    shuffle(&mut order, rng);
    order
}

/// Four deterministic images of `side` px (gradients, stripes, a disc, noise-like texture) for
/// comparing backends and builds on identical inputs: the 32 px patterns, scaled by nearest
/// neighbour to other sides.
pub fn fixed_test_patterns(side: usize) -> Vec<Planes> {
    let pattern = |f: &dyn Fn(usize, usize, usize) -> u8| {
        let mut planes = Planes::zeros(side);
        let at_32 = |v: usize| v * 32 / side;
        for c in 0..3 {
            for y in 0..side {
                for x in 0..side {
                    planes[c * side * side + y * side + x] = f(c, at_32(y), at_32(x));
                }
            }
        }
        planes
    };
    vec![
        pattern(&|c, y, x| ((x * 8 + y * 2 + c * 40) % 256) as u8),
        pattern(&|c, _, x| if (x / 4) % 2 == 0 { 220 - c as u8 * 60 } else { 30 + c as u8 * 50 }),
        pattern(&|c, y, x| {
            let (dx, dy) = (x as i32 - 16, y as i32 - 16);
            if dx * dx + dy * dy < 100 { [250, 180, 20][c] } else { [20, 90, 200][c] }
        }),
        pattern(&|c, y, x| (((x * 37 + y * 91 + c * 53) * 2_654_435_761usize) >> 7) as u8),
    ]
}
