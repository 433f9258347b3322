//! Images in, tensors out: decoding, the one resize rule, normalisation, augmentation, and the
//! dataset formats (image folders, archives of them and projects, and the CIFAR-10 and
//! CIFAR-100 binaries).
//!
//! Every image — from the CLI, a test or the browser — reaches the model through
//! [`to_model_input`]: **resize so the short side is the model's input size (32 px for the
//! seed; triangle filter, which averages over the whole footprint when shrinking), then
//! centre-crop a square of that size**. Pixels are then scaled to [0, 1] and normalised per
//! channel with the seed's CIFAR-10 mean and standard deviation.
//!
//! - `image`: decoding, EXIF orientation, the resize rule, [`Planes`], normalisation;
//! - `augment`: the training augmentation's crop + flip ([`CropFlip`]);
//! - `classes`: CIFAR-10's class names and the order of classes found as folders;
//! - `project`: the project file's description (`project.json`) and its writer;
//! - `archive`: ZIP archives read from bytes (a project, or a zip of class folders), with
//!   every refusal named ([`ArchiveError`]);
//! - `cifar`: CIFAR-10's batches and CIFAR-100's files ([`CifarFormat`]);
//! - `examples`: labelled examples as bytes, the page's hand-over between its workers;
//! - `dataset`: [`ImageSet`], loading folders, archives and CIFAR binaries, shuffles, batch tensors.
//!
//! The modules stay private; every item is re-exported here, so callers name `crate::data::X`
//! whatever file (or crate) it lives in. Dependencies run one way: secnn-archive ← `image` ←
//! `augment`; secnn-archive, `image` ← `examples`, `cifar` ↔ `dataset` (the set type and
//! errors in `dataset`, which reads `cifar`'s folders).

mod augment;
mod cifar;
mod dataset;
mod examples;
mod image;

// Archives, projects, class names and file sniffing live in the secnn-archive crate (the page
// loads its zip code as a module of its own); named here like the rest of the data layer.
pub use secnn_archive::{
    Archive, ArchiveClass, ArchiveError, ArchiveFile, ArchiveKind, CIFAR10_CLASSES, MAX_ENTRY_BYTES, MAX_RATIO,
    MAX_TOTAL_BYTES, PROJECT_FORMAT, PROJECT_VERSION, RATIO_CHECKED_FROM, SkippedEntry, class_order, folder_name,
    read_archive, read_archive_split, write_project,
};
pub use self::augment::{CROP_PAD, CropFlip, augment};
pub use self::cifar::{
    CIFAR_IMAGE_BYTES, CIFAR_SIDE, CIFAR100_NAMES_FILE, CifarFormat, has_cifar_binaries, load_cifar_binary,
    parse_cifar_records, read_label_names,
};
pub use self::dataset::{
    DatasetError, IMAGE_EXTENSIONS, ImageSet, Loaded, Skipped, Split, archive_set, batch_tensor, epoch_order,
    fixed_test_patterns, is_archive, label_tensor, list_image_folder, load_archive, load_dataset, load_image_folder,
    shuffle,
};
pub use self::examples::{EXAMPLES_MAGIC, EXAMPLES_VERSION, ExamplesError, is_examples, read_examples, write_examples};
// `self::`: `image` alone would also name the image crate.
pub use self::image::{
    ImageError, MAX_PIXELS, MEAN, Planes, STD, decode_image, decode_upright, image_size, looks_like_image,
    normalize, planes_to_rgb, rgba_to_model_input, to_model_input,
};
