//! Labelled examples as bytes: how the page hands its collected examples from one model's
//! worker to another's, and keeps them. A small self-describing format:
//!
//! | bytes | what |
//! |---|---|
//! | 8 | the magic `SECNNEXS` |
//! | 2 | format version, little-endian (1) |
//! | 2 | the images' side in pixels, little-endian |
//! | per example: 2 | its label, little-endian |
//! | per example: 3 · side · side | its planes (red, green, blue; rows top to bottom) |
//!
//! Any side and labels up to 65,535 fit; the reader resizes images to the model's input size.

use super::{dataset::ImageSet, image::Planes};

/// The first bytes of an examples file.
pub const EXAMPLES_MAGIC: &[u8; 8] = b"SECNNEXS";
/// The format version written.
pub const EXAMPLES_VERSION: u16 = 1;
const HEADER_BYTES: usize = 12;

/// Why bytes could not be read as examples.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExamplesError {
    #[error("examples format version {0} is newer than this program reads ({EXAMPLES_VERSION})")]
    Version(u16),
    #[error("examples of {side} px: {len} bytes after the header is not a whole number of {record}-byte examples")]
    Size { side: usize, len: usize, record: usize },
    #[error("examples of side 0")]
    NoSide,
    #[error("an examples file cut short in its header")]
    Header,
}

/// Whether `bytes` start like an examples file.
pub fn is_examples(bytes: &[u8]) -> bool {
    bytes.starts_with(EXAMPLES_MAGIC)
}

/// `images` (all of `side` pixels) with their `labels`, as an examples file.
pub fn write_examples(images: &[Planes], labels: &[usize], side: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + images.len() * (2 + 3 * side * side));
    bytes.extend_from_slice(EXAMPLES_MAGIC);
    bytes.extend(EXAMPLES_VERSION.to_le_bytes());
    bytes.extend((side as u16).to_le_bytes());
    for (planes, &label) in images.iter().zip(labels) {
        assert_eq!(planes.side(), side, "examples of one size");
        bytes.extend((label as u16).to_le_bytes());
        bytes.extend_from_slice(planes);
    }
    bytes
}

/// The examples in `bytes` (an examples file), resized to `size` px, with their labels as stored.
pub fn read_examples(bytes: &[u8], size: usize) -> Result<ImageSet, ExamplesError> {
    if bytes.len() < HEADER_BYTES {
        return Err(ExamplesError::Header);
    }
    let field = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let (version, side) = (field(8), field(10) as usize);
    if version > EXAMPLES_VERSION {
        return Err(ExamplesError::Version(version));
    }
    if side == 0 {
        return Err(ExamplesError::NoSide);
    }
    let record = 2 + 3 * side * side;
    let body = &bytes[HEADER_BYTES..];
    if !body.len().is_multiple_of(record) {
        return Err(ExamplesError::Size { side, len: body.len(), record });
    }
    let mut set = ImageSet::default();
    for example in body.chunks_exact(record) {
        set.labels.push(u16::from_le_bytes([example[0], example[1]]) as usize);
        set.images.push(Planes::new(side, example[2..].to_vec()).resized(size));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(side: usize, seed: u8) -> Planes {
        Planes::new(side, (0..3 * side * side).map(|i| (i as u8).wrapping_mul(seed)).collect())
    }

    #[test]
    fn examples_round_trip_with_wide_labels_and_any_side() {
        let images = [image(48, 3), image(48, 7)];
        let bytes = write_examples(&images, &[300, 7], 48);
        assert!(is_examples(&bytes));
        assert_eq!(bytes.len(), 12 + 2 * (2 + 3 * 48 * 48));
        let back = read_examples(&bytes, 48).unwrap();
        assert_eq!((back.labels, back.images), (vec![300, 7], images.to_vec()));
        assert_eq!(read_examples(&bytes, 32).unwrap().images[0].side(), 32, "resized to the model's size");
    }

    #[test]
    fn damaged_or_newer_examples_are_refused_by_name() {
        let bytes = write_examples(&[image(8, 1)], &[1], 8);
        assert_eq!(read_examples(&bytes[..bytes.len() - 1], 8).unwrap_err(), ExamplesError::Size { side: 8, len: 193, record: 194 });
        let mut newer = bytes.clone();
        newer[8] = 2;
        assert_eq!(read_examples(&newer, 8).unwrap_err(), ExamplesError::Version(2));
        assert!(!is_examples(&[0; 3073]), "a CIFAR-10 record starts with its label");
    }
}
