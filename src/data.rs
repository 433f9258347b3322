//! Images in, tensors out: decoding, the one resize rule, normalisation, augmentation, and the
//! two dataset formats (image folders and the official CIFAR-10 binary batches).
//!
//! Every image — from the CLI, a test or the browser — reaches the model through
//! [`to_model_input`]: **resize so the short side is 32 px (triangle filter, which averages
//! over the whole footprint when shrinking), then centre-crop 32x32**. Pixels are then scaled to
//! [0, 1] and normalised per channel with the seed's CIFAR-10 mean and standard deviation.

use crate::model::INPUT_SIZE;
use burn::prelude::*;
use image::{DynamicImage, ImageDecoder, RgbImage, imageops::FilterType, metadata::Orientation};
use rand::{Rng, RngCore};
use std::path::{Path, PathBuf};

/// CIFAR-10 class names in the official label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
/// Per-channel mean of CIFAR-10 on [0, 1] RGB (the seed's tutorial values).
pub const MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// Per-channel standard deviation used by the seed's tutorial.
pub const STD: [f32; 3] = [0.2023, 0.1994, 0.2010];
/// Bytes of one model input: 3 channel planes of 32x32.
pub const IMAGE_BYTES: usize = 3 * INPUT_SIZE * INPUT_SIZE;
/// Largest image we agree to decode: 120 megapixels, above every phone camera of today (48–50 MP
/// are common, 108 MP exist). The header is checked before any pixel is decoded, so a
/// decompression bomb (a 60000x60000 header, a 400 MP all-zero PNG) is refused without
/// allocating it; the decoder's own allocation limit backs this up.
pub const MAX_PIXELS: u64 = 120_000_000;
/// Bytes the decoder may allocate (an RGBA image of [`MAX_PIXELS`], plus room).
const MAX_DECODE_BYTES: u64 = 4 * MAX_PIXELS + (64 << 20);
/// File extensions treated as images when scanning folders.
pub const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "gif", "webp", "jfif"];

/// Why an image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("not a decodable image ({0})")]
    Decode(String),
    #[error("image is {width}x{height} pixels, more than the {} megapixel limit", MAX_PIXELS / 1_000_000)]
    TooLarge { width: u32, height: u32 },
    #[error("image has no pixels")]
    Empty,
    #[error("pixel buffer has {got} bytes, expected {expected} for {width}x{height} RGBA")]
    BadBuffer {
        got: usize,
        expected: usize,
        width: u32,
        height: u32,
    },
}

/// One 32x32 image as three 8-bit channel planes (`[3, 32, 32]`, CIFAR-10's own layout).
pub type Planes = [u8; IMAGE_BYTES];

/// Decodes any supported image file format, turns it upright as its EXIF orientation says
/// (how phones store portrait photos), and applies [`to_model_input`].
pub fn decode_image(bytes: &[u8]) -> Result<Planes, ImageError> {
    to_model_input(&decode_upright(bytes)?)
}

/// Size of the upright image (EXIF orientation applied) from the file's header alone.
pub fn image_size(bytes: &[u8]) -> Result<(u32, u32), ImageError> {
    let mut decoder = open_decoder(bytes)?;
    let (width, height) = decoder.dimensions();
    Ok(match decoder.orientation().unwrap_or(Orientation::NoTransforms) {
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH => {
            (height, width)
        }
        _ => (width, height),
    })
}

/// The decoded image, upright.
pub fn decode_upright(bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    let decode_error = |e: image::ImageError| ImageError::Decode(e.to_string());
    let mut decoder = open_decoder(bytes)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// A decoder for `bytes` whose header says the image is within [`MAX_PIXELS`].
fn open_decoder(bytes: &[u8]) -> Result<impl ImageDecoder + '_, ImageError> {
    let decode_error = |e: image::ImageError| ImageError::Decode(e.to_string());
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if width as u64 * height as u64 > MAX_PIXELS {
        return Err(ImageError::TooLarge { width, height });
    }
    Ok(decoder)
}

/// Uses RGBA pixels (as a browser `ImageData` holds them) of any size.
pub fn rgba_to_model_input(rgba: &[u8], width: u32, height: u32) -> Result<Planes, ImageError> {
    let expected = width as usize * height as usize * 4;
    if rgba.len() != expected {
        return Err(ImageError::BadBuffer {
            got: rgba.len(),
            expected,
            width,
            height,
        });
    }
    let image = image::RgbaImage::from_raw(width, height, rgba.to_vec())
        .ok_or(ImageError::Empty)?;
    to_model_input(&DynamicImage::ImageRgba8(image))
}

/// The one resize rule: short side to 32 px, centre crop to 32x32, RGB planes.
pub fn to_model_input(image: &DynamicImage) -> Result<Planes, ImageError> {
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(ImageError::Empty);
    }
    let side = INPUT_SIZE as u32;
    let rgb: RgbImage = if width == side && height == side {
        image.to_rgb8()
    } else {
        let scale = side as f64 / width.min(height) as f64;
        let new_w = ((width as f64 * scale).round() as u32).max(side);
        let new_h = ((height as f64 * scale).round() as u32).max(side);
        let resized = image.resize_exact(new_w, new_h, FilterType::Triangle);
        resized
            .crop_imm((new_w - side) / 2, (new_h - side) / 2, side, side)
            .to_rgb8()
    };
    let mut planes = [0u8; IMAGE_BYTES];
    let area = INPUT_SIZE * INPUT_SIZE;
    for (index, pixel) in rgb.pixels().enumerate() {
        for channel in 0..3 {
            planes[channel * area + index] = pixel[channel];
        }
    }
    Ok(planes)
}

/// Planes back to interleaved RGB bytes (for showing what the model sees).
pub fn planes_to_rgb(planes: &Planes) -> Vec<u8> {
    let area = INPUT_SIZE * INPUT_SIZE;
    (0..area)
        .flat_map(|i| [planes[i], planes[area + i], planes[2 * area + i]])
        .collect()
}

/// Normalised floats for a batch of planes, laid out `[batch, 3, 32, 32]`.
pub fn normalize(batch: &[&Planes]) -> Vec<f32> {
    let area = INPUT_SIZE * INPUT_SIZE;
    let mut out = Vec::with_capacity(batch.len() * IMAGE_BYTES);
    for planes in batch {
        for channel in 0..3 {
            let (mean, std) = (MEAN[channel], STD[channel]);
            out.extend(
                planes[channel * area..(channel + 1) * area]
                    .iter()
                    .map(|&v| (v as f32 / 255.0 - mean) / std),
            );
        }
    }
    out
}

/// A batch tensor `[batch, 3, 32, 32]` on `device`.
pub fn batch_tensor(batch: &[&Planes], device: &Device) -> Tensor<4> {
    let data = TensorData::new(normalize(batch), [batch.len(), 3, INPUT_SIZE, INPUT_SIZE]);
    Tensor::from_data(data, device)
}

/// The labels `[n]` of `set`'s images at `indices`, on `device`.
pub fn label_tensor(set: &ImageSet, indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = indices.iter().map(|&i| set.labels[i] as i64).collect();
    Tensor::from_data(TensorData::new(labels, [indices.len()]), device)
}

/// Padding (black pixels on every side) of the training augmentation's random crop.
pub const CROP_PAD: i8 = 4;

/// One crop + flip of the training augmentation: the 32x32 window at offset `(dx, dy)` (each
/// in `-CROP_PAD..=CROP_PAD`) of the image padded with black, mirrored when `flip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub dx: i8,
    pub dy: i8,
    pub flip: bool,
}

impl View {
    /// A uniformly random view (offsets first, then a coin for the flip).
    pub fn random(rng: &mut impl RngCore) -> Self {
        let dx = rng.random_range(-CROP_PAD..=CROP_PAD);
        let dy = rng.random_range(-CROP_PAD..=CROP_PAD);
        let flip = rng.random_bool(0.5);
        Self { dx, dy, flip }
    }

    /// The view of `planes`: `out[y][x] = in[y + dy][x + dx]`, or `in[y + dy][31 - (x + dx)]`
    /// when flipped; black outside the image.
    pub fn apply(self, planes: &Planes) -> Planes {
        let size = INPUT_SIZE as i32;
        let (dx, dy) = (self.dx as i32, self.dy as i32);
        let mut out = [0u8; IMAGE_BYTES];
        let area = INPUT_SIZE * INPUT_SIZE;
        for channel in 0..3 {
            for y in 0..size {
                let src_y = y + dy;
                if !(0..size).contains(&src_y) {
                    continue;
                }
                for x in 0..size {
                    let shifted = x + dx;
                    if !(0..size).contains(&shifted) {
                        continue;
                    }
                    let src_x = if self.flip { size - 1 - shifted } else { shifted };
                    out[channel * area + (y * size + x) as usize] =
                        planes[channel * area + (src_y * size + src_x) as usize];
                }
            }
        }
        out
    }
}

/// The training augmentation: a random [`View`] (crop out of the image padded by 4 black
/// pixels, then a horizontal flip with probability 1/2).
pub fn augment(planes: &Planes, rng: &mut impl RngCore) -> Planes {
    View::random(rng).apply(planes)
}

/// A labelled set of 32x32 images held in memory.
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
            target.images.push(images[index]);
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
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no class sub-folders with images found (expected root/<class>/*.jpg)")]
    NoClasses(PathBuf),
    #[error("{0}: no CIFAR-10 binary batches found (data_batch_*.bin / test_batch.bin)")]
    NoCifarBatches(PathBuf),
    #[error("{path}: {len} bytes is not a whole number of 3073-byte CIFAR-10 records")]
    BadCifarFile { path: PathBuf, len: usize },
    #[error("{path}: label {label} is out of range for CIFAR-10")]
    BadCifarLabel { path: PathBuf, label: u8 },
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Class order for a set of folder names: CIFAR-10's official order when the names are exactly
/// its classes, otherwise sorted by name.
pub fn class_order(mut names: Vec<String>) -> Vec<String> {
    let mut cifar: Vec<String> = CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect();
    names.sort();
    cifar.sort();
    if names == cifar {
        CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        names
    }
}

/// Lists `(path, label)` pairs of an image folder `root/<class>/*.<image ext>`, classes ordered
/// by [`class_order`]. Files are sorted so the listing is reproducible.
pub fn list_image_folder(root: &Path) -> Result<(Vec<String>, Vec<(PathBuf, usize)>), DatasetError> {
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

/// Loads an image folder, decoding on all cores. Undecodable files are skipped and reported.
/// `progress` is called with the number of files done so far.
pub fn load_image_folder(
    root: &Path,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Loaded, DatasetError> {
    let (classes, files) = list_image_folder(root)?;
    let total = files.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = total.div_ceil(threads);
    let decode = |(path, label): &(PathBuf, usize)| {
        let result = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| decode_image(&bytes).map_err(|e| e.to_string()));
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if n % 256 == 0 || n == total {
            progress(n, total);
        }
        (path.clone(), *label, result)
    };
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk.max(1))
            .map(|part| scope.spawn(move || part.iter().map(decode).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("decoder thread panicked"))
            .collect()
    });
    let mut loaded = Loaded {
        set: ImageSet { classes, ..Default::default() },
        skipped: Vec::new(),
    };
    for (path, label, result) in results {
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

/// Parses records of the official CIFAR-10 binary format: 1 label byte + 3072 pixel bytes
/// (red, green, blue planes of 32x32) each.
pub fn parse_cifar_records(bytes: &[u8], path: &Path, set: &mut ImageSet) -> Result<(), DatasetError> {
    const RECORD: usize = 1 + IMAGE_BYTES;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(DatasetError::BadCifarFile {
            path: path.to_path_buf(),
            len: bytes.len(),
        });
    }
    for record in bytes.chunks_exact(RECORD) {
        let label = record[0];
        if label as usize >= CIFAR10_CLASSES.len() {
            return Err(DatasetError::BadCifarLabel {
                path: path.to_path_buf(),
                label,
            });
        }
        let mut planes = [0u8; IMAGE_BYTES];
        planes.copy_from_slice(&record[1..]);
        set.images.push(planes);
        set.labels.push(label as usize);
    }
    Ok(())
}

/// Which split of the CIFAR-10 binary release to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Loads the official CIFAR-10 binary batches from `dir` (`data_batch_1..5.bin` for train,
/// `test_batch.bin` for test), also when `dir` holds the `cifar-10-batches-bin` folder.
pub fn load_cifar_binary(dir: &Path, split: Split) -> Result<Loaded, DatasetError> {
    let dir = if dir.join("cifar-10-batches-bin").is_dir() {
        dir.join("cifar-10-batches-bin")
    } else {
        dir.to_path_buf()
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(io_err(&dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            match split {
                Split::Train => name.starts_with("data_batch_") && name.ends_with(".bin"),
                Split::Test => name == "test_batch.bin",
            }
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(DatasetError::NoCifarBatches(dir));
    }
    let mut loaded = Loaded {
        set: ImageSet {
            classes: CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        skipped: Vec::new(),
    };
    for path in names {
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        parse_cifar_records(&bytes, &path, &mut loaded.set)?;
    }
    Ok(loaded)
}

/// Loads either format: a folder with CIFAR-10 binary batches, or an image folder.
/// For an image folder, `split` picks `root/train` or `root/test` when those exist.
pub fn load_dataset(
    root: &Path,
    split: Split,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Loaded, DatasetError> {
    let has_batches = |dir: &Path| {
        dir.join("test_batch.bin").exists()
            || dir.join("data_batch_1.bin").exists()
            || dir.join("cifar-10-batches-bin").is_dir()
    };
    if has_batches(root) {
        return load_cifar_binary(root, split);
    }
    let sub = root.join(match split {
        Split::Train => "train",
        Split::Test => "test",
    });
    if sub.is_dir() {
        load_image_folder(&sub, progress)
    } else {
        load_image_folder(root, progress)
    }
}

/// Draws a random batch index order for one epoch.
pub fn epoch_order(len: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    shuffle(&mut order, rng);
    order
}

/// Four deterministic 32x32 images (gradients, stripes, a disc, noise-like texture) for
/// comparing backends and builds on identical inputs.
pub fn fixed_test_patterns() -> Vec<Planes> {
    let pattern = |f: &dyn Fn(usize, usize, usize) -> u8| {
        let mut planes = [0u8; IMAGE_BYTES];
        for c in 0..3 {
            for y in 0..INPUT_SIZE {
                for x in 0..INPUT_SIZE {
                    planes[c * INPUT_SIZE * INPUT_SIZE + y * INPUT_SIZE + x] = f(c, y, x);
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
        pattern(&|c, y, x| ((x * 37 + y * 91 + c * 53) * 2_654_435_761usize >> 7) as u8),
    ]
}
