//! Real-world photos through the one decoding path (CLI, wasm, tests): EXIF orientation, phone
//! photos of 48 megapixels, and decompression bombs refused from their header.
#![cfg(not(target_arch = "wasm32"))]

use image::{DynamicImage, ImageEncoder, RgbImage, codecs::jpeg::JpegEncoder, imageops};
use secnn::data::{self, ImageError};
use std::time::Instant;

/// JPEG bytes of `image` (quality 90).
fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(image.as_raw(), image.width(), image.height(), image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// `jpeg` with an EXIF block (APP1) that carries `orientation` (1–8), as cameras write it.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II\x2a\x00"); // little-endian TIFF header
    tiff.extend_from_slice(&8u32.to_le_bytes()); // first IFD right after it
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry:
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes()); // one value
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A portrait test picture: red top half, blue bottom half, a green stripe on the left.
fn portrait(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        if x < width / 5 {
            image::Rgb([20, 200, 40])
        } else if y < height / 2 {
            image::Rgb([220, 30, 30])
        } else {
            image::Rgb([30, 40, 220])
        }
    })
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).abs()).sum::<f64>() / a.len() as f64
}

#[test]
fn exif_orientation_turns_phone_photos_upright() {
    let upright = portrait(48, 96);
    let reference = data::decode_image(&jpeg(&upright), 32).unwrap();
    // Orientation 6: stored turned a quarter counter-clockwise, shown after a clockwise turn
    // (how phones save portrait photos); 3: upside down; 8: the other quarter turn.
    let stored = [
        (6, imageops::rotate270(&upright)),
        (3, imageops::rotate180(&upright)),
        (8, imageops::rotate90(&upright)),
    ];
    for (orientation, pixels) in stored {
        let file = with_exif_orientation(&jpeg(&pixels), orientation);
        assert_eq!(data::image_size(&file).unwrap(), (48, 96), "orientation {orientation}: upright size");
        let seen = data::decode_image(&file, 32).unwrap();
        let diff = mean_abs_diff(&seen, &reference);
        assert!(diff < 3.0, "orientation {orientation}: the model input differs from the upright photo's by {diff:.1}");
        // Without the tag the same pixels give a clearly different input: the test can fail.
        let ignored = data::decode_image(&jpeg(&pixels), 32).unwrap();
        assert!(mean_abs_diff(&ignored, &reference) > 20.0, "orientation {orientation}: test picture is symmetric");
    }
}

#[test]
fn a_48_megapixel_photo_is_accepted() {
    let photo = DynamicImage::ImageRgb8(portrait(200, 150)).resize_exact(8000, 6000, imageops::FilterType::Nearest);
    let file = with_exif_orientation(&jpeg(&photo.to_rgb8()), 6);
    let started = Instant::now();
    let planes = data::decode_image(&file, 32).expect("a 48 MP phone photo decodes");
    eprintln!("48 MP JPEG decoded and resized natively in {:.2} s", started.elapsed().as_secs_f64());
    let small = data::decode_image(&with_exif_orientation(&jpeg(&portrait(200, 150)), 6), 32).unwrap();
    assert!(mean_abs_diff(&planes, &small) < 6.0, "the big photo should look like its small version");
}

#[test]
fn decompression_bombs_are_refused_from_the_header() {
    // A PNG that claims 60000x60000 pixels, and one of 20000x20000 (400 MP): only the header
    // is read, so neither allocates its pixels.
    for side in [60_000u32, 20_000] {
        let mut header = Vec::new();
        header.extend_from_slice(&side.to_be_bytes());
        header.extend_from_slice(&side.to_be_bytes());
        header.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grey
        // The pixel data starts as real data would (a zlib stream: one stored block of zeros);
        // a bomb's would go on for gigabytes.
        let mut zlib = vec![0x78, 0x01, 0x01, 100, 0, !100u8, 0xFF];
        zlib.extend_from_slice(&[0; 100]);
        zlib.extend_from_slice(&0x0064_0001u32.to_be_bytes()); // Adler-32 of 100 zeros
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, body) in [(&b"IHDR"[..], &header[..]), (b"IDAT", &zlib), (b"IEND", &[])] {
            png.extend_from_slice(&(body.len() as u32).to_be_bytes());
            let mut chunk = kind.to_vec();
            chunk.extend_from_slice(body);
            png.extend_from_slice(&chunk);
            png.extend_from_slice(&crc32(&chunk).to_be_bytes());
        }
        let started = Instant::now();
        let error = data::decode_image(&png, 32).unwrap_err();
        assert!(matches!(error, ImageError::TooLarge { .. }), "{side}x{side}: {error}");
        assert!(started.elapsed().as_millis() < 500, "refusing took {:?}", started.elapsed());
        assert!(error.to_string().contains("megapixel limit"));
    }
}

/// CRC-32 (PNG's, polynomial 0xEDB88320).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
