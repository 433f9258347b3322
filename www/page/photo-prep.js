// A photo as the page keeps it: small, but not at the model's 32 px, so a larger input size later
// still has pixels to use. Short side at most 256 px, upright (EXIF applied), as a JPEG, plus a
// 64 px thumbnail for the class rows. Images already that small, as JPEG or PNG, are kept byte
// for byte. The 12 MP original is never stored.

const KEPT_SIDE = 256;
const THUMB_SIDE = 64;
const JPEG_QUALITY = 0.9;
/** A file the browser cannot draw (a format only the Rust decoder reads) is kept as it is, up to this size. */
const MAX_UNDRAWABLE_BYTES = 4 << 20;

/** `{ width, height }` scaled so the short side is at most `side`. */
function fitted(width, height, side) {
  const scale = Math.min(1, side / Math.min(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

async function encode(bitmap, size, type, quality) {
  const canvas = new OffscreenCanvas(size.width, size.height);
  const context = canvas.getContext('2d');
  context.imageSmoothingQuality = 'high';
  context.drawImage(bitmap, 0, 0, size.width, size.height);
  return canvas.convertToBlob({ type, quality });
}

/** `bitmap` scaled by the browser's decoder-quality resampler (sharper than one drawImage of a large image). */
async function scaled(source, size) {
  return createImageBitmap(source, { resizeWidth: size.width, resizeHeight: size.height, resizeQuality: 'high' });
}

/**
 * `{ photo: Blob, thumb: Blob, width, height }` for `file`. Throws when the browser cannot read it
 * and it is too large to keep as it is.
 */
export async function keptPhoto(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch (error) {
    if (file.size > MAX_UNDRAWABLE_BYTES) throw new Error(`this browser cannot read ${file.name || 'the file'} (${error.message})`);
    return { photo: file, thumb: null, width: 0, height: 0 };
  }
  try {
    const size = fitted(bitmap.width, bitmap.height, KEPT_SIDE);
    const small = size.width === bitmap.width && ['image/jpeg', 'image/png'].includes(file.type);
    const photo = small ? file : await encode(await scaled(bitmap, size), size, 'image/jpeg', JPEG_QUALITY);
    const thumbSize = fitted(size.width, size.height, THUMB_SIDE);
    const thumb = await encode(await scaled(bitmap, thumbSize), thumbSize, 'image/jpeg', 0.8);
    return { photo, thumb, width: size.width, height: size.height };
  } finally {
    bitmap.close();
  }
}

/** The photo as PNG bytes (what a project file holds): decoded and encoded again unless it is a PNG already. */
export async function pngBytes(blob) {
  if (blob.type === 'image/png') return new Uint8Array(await blob.arrayBuffer());
  const bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image' });
  try {
    const png = await encode(bitmap, { width: bitmap.width, height: bitmap.height }, 'image/png');
    return new Uint8Array(await png.arrayBuffer());
  } finally {
    bitmap.close();
  }
}
