//! One image in, one model input out: decoding (with EXIF orientation and a size limit), the one
//! resize rule, [`Planes`] and their conversions, and normalisation.

pub use secnn_archive::{is_heif, looks_like_image};
use image::{DynamicImage, ImageDecoder, RgbImage, imageops::FilterType, metadata::Orientation};

/// Per-channel mean of CIFAR-10 on [0, 1] RGB (the seed's tutorial values).
pub const MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// Per-channel standard deviation used by the seed's tutorial.
pub const STD: [f32; 3] = [0.2023, 0.1994, 0.2010];
/// Largest image we agree to decode: 120 megapixels, above every phone camera of today (48–50 MP
/// are common, 108 MP exist). The header is checked before any pixel is decoded, so a
/// decompression bomb (a 60000x60000 header, a 400 MP all-zero PNG) is refused without
/// allocating it; the decoder's own allocation limit backs this up.
pub const MAX_PIXELS: u64 = 120_000_000;
/// Bytes the decoder may allocate (an RGBA image of [`MAX_PIXELS`], plus room).
const MAX_DECODE_BYTES: u64 = 4 * MAX_PIXELS + (64 << 20);

/// What this build decodes. In the browser, formats beyond JPEG and PNG go to the browser's own
/// decoder (`www/secnn-images.js`), so the module stays small; this error then means neither can.
#[cfg(target_arch = "wasm32")]
const READABLE: &str = "JPEG, PNG and what this browser displays";
#[cfg(not(target_arch = "wasm32"))]
const READABLE: &str = "JPEG, PNG, GIF, BMP and WebP";

/// Why an image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("not a decodable image ({0})")]
    Decode(String),
    /// A known image format this decoder does not read (AVIF, HEIC, TIFF, …), and what to do.
    #[error("{format} images cannot be read here ({READABLE} can): {hint}")]
    Unsupported { format: String, hint: &'static str },
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

/// One square image as three 8-bit channel planes, `[3, side, side]` (CIFAR's own layout, at
/// 32 px there): what the model takes, at its input size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planes {
    side: usize,
    bytes: Vec<u8>,
}

impl Planes {
    /// `bytes` as the planes of a `side`-pixel image; they must be `3 · side · side` bytes.
    pub fn new(side: usize, bytes: Vec<u8>) -> Self {
        assert_eq!(bytes.len(), 3 * side * side, "planes of a {side} px image");
        Self { side, bytes }
    }

    /// A black image of `side` pixels.
    pub fn zeros(side: usize) -> Self {
        Self::new(side, vec![0; 3 * side * side])
    }

    /// Width and height in pixels.
    pub fn side(&self) -> usize {
        self.side
    }

    /// Pixels per channel plane.
    pub fn area(&self) -> usize {
        self.side * self.side
    }

    /// Plane `channel` (0 red, 1 green, 2 blue), row by row.
    pub fn plane(&self, channel: usize) -> &[u8] {
        &self.bytes[channel * self.area()..][..self.area()]
    }

    /// The same image at `side` pixels by the one resize rule ([`to_model_input`]); a copy when
    /// it is that size already.
    pub fn resized(&self, side: usize) -> Planes {
        if side == self.side {
            return self.clone();
        }
        let rgb = RgbImage::from_raw(self.side as u32, self.side as u32, planes_to_rgb(self)).expect("whole planes");
        to_model_input(&DynamicImage::ImageRgb8(rgb), side).expect("a non-empty image")
    }
}

impl std::ops::Deref for Planes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::ops::DerefMut for Planes {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

/// Decodes any supported image file format, turns it upright as its EXIF orientation says
/// (how phones store portrait photos), and applies [`to_model_input`] for a model of `size` px.
pub fn decode_image(bytes: &[u8], size: usize) -> Result<Planes, ImageError> {
    to_model_input(&decode_upright(bytes)?, size)
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

/// The decoder's error, with formats it knows but does not read told apart.
fn decode_error(error: image::ImageError) -> ImageError {
    match error {
        image::ImageError::Unsupported(unsupported) => match unsupported.format_hint() {
            image::error::ImageFormatHint::Exact(format) => ImageError::Unsupported {
                format: format!("{format:?}").to_uppercase(),
                hint: "convert it to JPEG or PNG",
            },
            _ => ImageError::Decode(unsupported.to_string()),
        },
        other => ImageError::Decode(other.to_string()),
    }
}

/// The decoded image, upright.
pub fn decode_upright(bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    let mut decoder = open_decoder(bytes)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// A decoder for `bytes` whose header says the image is within [`MAX_PIXELS`].
fn open_decoder(bytes: &[u8]) -> Result<impl ImageDecoder + '_, ImageError> {
    if is_heif(bytes) {
        return Err(ImageError::Unsupported {
            format: "HEIC (iPhone photo)".into(),
            hint: "export it as JPEG, or share it from the Photos app, which converts it",
        });
    }
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

/// Uses RGBA pixels (as a browser `ImageData` holds them) of any size, for a model of `size` px.
pub fn rgba_to_model_input(rgba: &[u8], width: u32, height: u32, size: usize) -> Result<Planes, ImageError> {
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
    to_model_input(&DynamicImage::ImageRgba8(image), size)
}

/// The one resize rule: short side to `size` px (the model's input size), centre crop to
/// `size`×`size`, RGB planes.
pub fn to_model_input(image: &DynamicImage, size: usize) -> Result<Planes, ImageError> {
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(ImageError::Empty);
    }
    let side = size as u32;
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
    let mut planes = Planes::zeros(size);
    let area = planes.area();
    for (index, pixel) in rgb.pixels().enumerate() {
        for channel in 0..3 {
            planes[channel * area + index] = pixel[channel];
        }
    }
    Ok(planes)
}

/// Planes back to interleaved RGB bytes (for showing what the model sees).
pub fn planes_to_rgb(planes: &Planes) -> Vec<u8> {
    let area = planes.area();
    (0..area)
        .flat_map(|i| [planes[i], planes[area + i], planes[2 * area + i]])
        .collect()
}

/// Normalised floats for a batch of planes of one size, laid out `[batch, 3, side, side]`.
pub fn normalize(batch: &[&Planes]) -> Vec<f32> {
    let mut out = Vec::with_capacity(batch.iter().map(|planes| planes.len()).sum());
    for planes in batch {
        assert_eq!(planes.side(), batch[0].side(), "a batch holds images of one size");
        for channel in 0..3 {
            let (mean, std) = (MEAN[channel], STD[channel]);
            out.extend(planes.plane(channel).iter().map(|&v| (v as f32 / 255.0 - mean) / std));
        }
    }
    out
}
