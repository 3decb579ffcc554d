//! Media hashing: the digests Safeport records for every media item (MD5, SHA-1, SHA-256) and,
//! for images, the PDQ perceptual hash. Used by the crawler, by classification's hash-list
//! matching and by `safeport-admin media hash`, so a file hashes the same everywhere.

pub mod pdq;

use std::io::Cursor;

use image::{ImageReader, Limits, RgbImage};
use md5::Md5;
use safeport_protocol::hashes::PdqHash;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Largest image side decoded for PDQ; larger images keep their digests but get no PDQ.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Most memory one image decode may allocate.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// Everything computed from one media item's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaHashes {
    /// MD5 digest.
    pub md5: [u8; 16],
    /// SHA-1 digest.
    pub sha1: [u8; 20],
    /// SHA-256 digest (also the item's blob address).
    pub sha256: [u8; 32],
    /// Size in bytes.
    pub size: u64,
    /// Media type sniffed from the bytes (not from what a server claimed).
    pub mime_type: String,
    /// Width and height, for images that decoded.
    pub dimensions: Option<(u32, u32)>,
    /// PDQ hash and quality, for images that decoded and are large enough.
    pub pdq: Option<PdqHash>,
    /// Why an image got no PDQ hash (it failed to decode, or is too small).
    pub pdq_error: Option<String>,
}

impl MediaHashes {
    /// Whether the bytes are an image (by their sniffed type).
    pub fn is_image(&self) -> bool {
        self.mime_type.starts_with("image/")
    }
}

/// Hashes one media item. Never fails: bytes that are not a decodable image still get their
/// digests, and `pdq_error` says why there is no PDQ.
pub fn hash_media(bytes: &[u8]) -> MediaHashes {
    let mime_type = infer::get(bytes)
        .map(|kind| kind.mime_type().to_owned())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let mut hashes = MediaHashes {
        md5: Md5::digest(bytes).into(),
        sha1: Sha1::digest(bytes).into(),
        sha256: Sha256::digest(bytes).into(),
        size: bytes.len() as u64,
        mime_type,
        dimensions: None,
        pdq: None,
        pdq_error: None,
    };
    if !hashes.is_image() {
        return hashes;
    }
    match perceptual(bytes) {
        Ok((dimensions, pdq)) => {
            hashes.dimensions = Some(dimensions);
            hashes.pdq = pdq;
            if pdq.is_none() {
                hashes.pdq_error = Some(format!(
                    "image is smaller than {0}x{0} pixels",
                    pdq::MIN_DIMENSION
                ));
            }
        }
        Err(reason) => hashes.pdq_error = Some(reason),
    }
    hashes
}

/// The PDQ hashes of an image's eight dihedral forms (see [`pdq::hash_rgb_dihedral`]), for
/// finding a rotated or mirrored copy of a known picture.
pub fn pdq_dihedral(bytes: &[u8]) -> Result<Option<[PdqHash; 8]>, String> {
    let rgb = decode_shrunk(bytes)?.1;
    Ok(pdq::hash_rgb_dihedral(&rgb))
}

/// Decodes an image within bounds, and hashes it at most [`pdq::DOWNSAMPLE_TO`] a side.
fn perceptual(bytes: &[u8]) -> Result<((u32, u32), Option<PdqHash>), String> {
    let (dimensions, rgb) = decode_shrunk(bytes)?;
    Ok((dimensions, pdq::hash_rgb(&rgb)))
}

/// Decodes an image within bounds and shrinks it to at most [`pdq::DOWNSAMPLE_TO`] a side;
/// also returns its original dimensions.
fn decode_shrunk(bytes: &[u8]) -> Result<((u32, u32), RgbImage), String> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("image format: {e}"))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| format!("image does not decode: {e}"))?;
    let dimensions = (image.width(), image.height());
    let rgb = image.to_rgb8();
    drop(image);
    Ok((dimensions, shrink_to_fit(rgb, pdq::DOWNSAMPLE_TO)?))
}

/// Shrinks an image to fit a `side`-pixel square, keeping its aspect ratio (bilinear, with
/// SIMD: resizing is most of the cost of hashing a large picture).
fn shrink_to_fit(image: RgbImage, side: u32) -> Result<RgbImage, String> {
    let (width, height) = image.dimensions();
    if width <= side && height <= side {
        return Ok(image);
    }
    let ratio = f64::from(side) / f64::from(width.max(height));
    let scaled = |d: u32| ((f64::from(d) * ratio).round() as u32).clamp(1, side);
    let (new_width, new_height) = (scaled(width), scaled(height));
    let mut target = fast_image_resize::images::Image::new(
        new_width,
        new_height,
        fast_image_resize::PixelType::U8x3,
    );
    let options = fast_image_resize::ResizeOptions::new().resize_alg(
        fast_image_resize::ResizeAlg::Convolution(fast_image_resize::FilterType::Bilinear),
    );
    fast_image_resize::Resizer::new()
        .resize(&image, &mut target, &options)
        .map_err(|e| format!("image does not resize: {e}"))?;
    RgbImage::from_raw(new_width, new_height, target.into_vec())
        .ok_or_else(|| "resized image has the wrong size".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, RgbImage};

    fn png(image: &RgbImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes
    }

    #[test]
    fn digests_match_the_standard_test_vectors() {
        let hashes = hash_media(b"abc");
        assert_eq!(hex::encode(hashes.md5), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex::encode(hashes.sha1),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(hashes.sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hashes.size, 3);
        assert_eq!(hashes.mime_type, "application/octet-stream");
        assert!(hashes.pdq.is_none() && hashes.pdq_error.is_none());
    }

    #[test]
    fn images_get_pdq_and_broken_ones_a_reason() {
        let picture = RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8])
        });
        let hashes = hash_media(&png(&picture));
        assert_eq!(hashes.mime_type, "image/png");
        assert_eq!(hashes.dimensions, Some((640, 480)));
        assert!(hashes.pdq.unwrap().quality() > 0);

        // A featureless image hashes, but with quality 0: never matched on.
        let flat = hash_media(&png(&RgbImage::from_pixel(64, 64, image::Rgb([90; 3]))));
        assert_eq!(flat.pdq.unwrap().quality(), 0);

        let tiny = hash_media(&png(&RgbImage::new(3, 3)));
        assert!(tiny.pdq.is_none());
        assert!(tiny.pdq_error.unwrap().contains("smaller"));

        let mut truncated = png(&picture);
        truncated.truncate(truncated.len() / 2);
        let broken = hash_media(&truncated);
        assert_eq!(broken.mime_type, "image/png");
        assert!(broken.pdq.is_none());
        assert!(broken.pdq_error.unwrap().contains("does not decode"));
        assert_eq!(broken.size, truncated.len() as u64);
    }

    #[test]
    fn a_decode_bomb_is_refused_within_bounds() {
        // A PNG header that claims 100000 x 100000 pixels.
        let mut bomb = png(&RgbImage::new(8, 8));
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let hashes = hash_media(&bomb);
        assert!(hashes.pdq.is_none());
        assert!(hashes.pdq_error.is_some());
    }
}
