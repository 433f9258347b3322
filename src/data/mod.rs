//! Images in, tensors out: decoding, the one resize rule, normalisation, augmentation, and the
//! two dataset formats (image folders and the official CIFAR-10 binary batches).
//!
//! Every image — from the CLI, a test or the browser — reaches the model through
//! [`to_model_input`]: **resize so the short side is 32 px (triangle filter, which averages
//! over the whole footprint when shrinking), then centre-crop 32x32**. Pixels are then scaled to
//! [0, 1] and normalised per channel with the seed's CIFAR-10 mean and standard deviation.
//!
//! - `image`: decoding, EXIF orientation, the resize rule, [`Planes`], normalisation;
//! - `augment`: the training augmentation's crop + flip ([`CropFlip`]);
//! - `dataset`: [`ImageSet`], loading folders and CIFAR-10 batches, shuffles, batch tensors.
//!
//! The modules stay private; every item is re-exported here, so callers name `crate::data::X`
//! whatever file it lives in. Dependencies run one way: `image` ← `augment`, `image` ← `dataset`.

mod augment;
mod dataset;
mod image;

pub use self::augment::{CROP_PAD, CropFlip, augment};
pub use self::dataset::{
    CIFAR10_CLASSES, DatasetError, IMAGE_EXTENSIONS, ImageSet, Loaded, Skipped, Split, batch_tensor, class_order,
    epoch_order, fixed_test_patterns, label_tensor, list_image_folder, load_cifar_binary, load_dataset,
    load_image_folder, parse_cifar_records, shuffle,
};
// `self::`: `image` alone would also name the image crate.
pub use self::image::{
    IMAGE_BYTES, ImageError, MAX_PIXELS, MEAN, Planes, STD, decode_image, decode_upright, image_size, normalize,
    planes_to_rgb, rgba_to_model_input, to_model_input,
};
