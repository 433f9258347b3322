//! What a file is, from its first bytes: the image formats people photograph in.

/// HEIC/HEIF (how iPhones store photos): an ISO media file whose brand the decoder cannot guess.
pub fn is_heif(bytes: &[u8]) -> bool {
    const BRANDS: [&[u8; 4]; 9] = [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1"];
    bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && BRANDS.iter().any(|brand| &bytes[8..12] == *brand)
}

/// Whether `bytes` start like an image file of a format people photograph in: JPEG, PNG, GIF,
/// BMP, WebP, AVIF or HEIC (by their magic bytes; whether this build decodes it is another
/// question, which secnn's decoder answers by name).
pub fn looks_like_image(bytes: &[u8]) -> bool {
    const MAGIC: [&[u8]; 5] = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM"];
    let webp = bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP";
    let avif = bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && matches!(&bytes[8..12], b"avif" | b"avis");
    MAGIC.iter().any(|magic| bytes.starts_with(magic)) || webp || avif || is_heif(bytes)
}
