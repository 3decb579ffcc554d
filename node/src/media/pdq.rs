//! Meta's PDQ perceptual hash, after the reference implementation in ThreatExchange: luminance,
//! two passes of Jarosz box filters, decimation to 64x64, a gradient-based quality score, the
//! 16x16 low-frequency block of the DCT, and one bit per coefficient above the median.
//!
//! Written here rather than taken from the `pdqhash` crate: that crate is unmaintained and ties
//! in `image` 0.23, and this node decodes hostile images from the internet, so it decodes with
//! a current `image` and hashes the pixels itself.

use image::RgbImage;
use safeport_protocol::hashes::PdqHash;

/// Images are first shrunk to fit this square, as the reference hasher does (for speed; the
/// hash depends on the 64x64 decimation only).
pub const DOWNSAMPLE_TO: u32 = 512;
/// Smaller images carry too little structure for a meaningful hash.
pub const MIN_DIMENSION: u32 = 5;
/// Distance at or below which two hashes match (Meta's recommendation).
pub const MATCH_DISTANCE: u32 = 31;
/// Quality below which a hash is too unreliable to match on (Meta's recommendation).
pub const MIN_MATCH_QUALITY: u8 = 50;

const LUMA_R: f32 = 0.299;
const LUMA_G: f32 = 0.587;
const LUMA_B: f32 = 0.114;
const JAROSZ_PASSES: usize = 2;
/// Window size divisor: 64 output cells, two passes, so half a cell per pass.
const JAROSZ_WINDOW_DIVISOR: usize = 128;

/// The hash of an image already shrunk to at most [`DOWNSAMPLE_TO`] pixels a side, or `None`
/// when it is smaller than [`MIN_DIMENSION`] in either direction.
pub fn hash_rgb(image: &RgbImage) -> Option<PdqHash> {
    let (dct, quality) = dct_and_quality(image)?;
    PdqHash::new(bits_above_median(&dct), quality).ok()
}

/// The hashes of the image's eight dihedral forms, in the reference's order: original,
/// rotated 90, 180 and 270 degrees (anticlockwise), flipped about the x axis, about the y
/// axis, about the main diagonal and about the other diagonal. One DCT serves all eight: each
/// form is a sign pattern and possibly a transposition of the original's coefficients.
pub fn hash_rgb_dihedral(image: &RgbImage) -> Option<[PdqHash; 8]> {
    let (dct, quality) = dct_and_quality(image)?;
    // (transpose, whether coefficient (i, j) keeps its sign) per form.
    let forms: [(bool, SignRule); 8] = [
        (false, |_, _| true),
        (true, |_, j| j % 2 == 1),
        (false, |i, j| (i + j) % 2 == 0),
        (true, |i, _| i % 2 == 1),
        (false, |i, _| i % 2 == 1),
        (false, |_, j| j % 2 == 1),
        (true, |_, _| true),
        (true, |i, j| (i + j) % 2 == 0),
    ];
    let hashes = forms.map(|(transpose, positive)| {
        let mut form = [[0f32; 16]; 16];
        for (i, row) in dct.iter().enumerate() {
            for (j, &value) in row.iter().enumerate() {
                let value = if positive(i, j) { value } else { -value };
                if transpose {
                    form[j][i] = value;
                } else {
                    form[i][j] = value;
                }
            }
        }
        PdqHash::new(bits_above_median(&form), quality).ok()
    });
    let [a, b, c, d, e, f, g, h] = hashes;
    Some([a?, b?, c?, d?, e?, f?, g?, h?])
}

/// Whether DCT coefficient (row, column) keeps its sign in a dihedral form.
type SignRule = fn(usize, usize) -> bool;

/// Luminance, Jarosz filters, 64x64 decimation: the DCT block and the quality score.
fn dct_and_quality(image: &RgbImage) -> Option<([[f32; 16]; 16], u8)> {
    let (width, height) = image.dimensions();
    if width < MIN_DIMENSION || height < MIN_DIMENSION {
        return None;
    }
    let (cols, rows) = (width as usize, height as usize);
    let mut luma: Vec<f32> = image
        .pixels()
        .map(|p| LUMA_R * f32::from(p[0]) + LUMA_G * f32::from(p[1]) + LUMA_B * f32::from(p[2]))
        .collect();
    let mut scratch = vec![0f32; luma.len()];
    let window_along_rows = jarosz_window(cols);
    let window_along_cols = jarosz_window(rows);
    for _ in 0..JAROSZ_PASSES {
        for row in 0..rows {
            box_1d(&luma, &mut scratch, row * cols, cols, 1, window_along_rows);
        }
        for col in 0..cols {
            box_1d(&scratch, &mut luma, col, rows, cols, window_along_cols);
        }
    }
    let block = decimate(&luma, rows, cols);
    Some((dct_64_to_16(&block), quality(&block)))
}

fn jarosz_window(dimension: usize) -> usize {
    dimension.div_ceil(JAROSZ_WINDOW_DIVISOR)
}

/// One box-filter pass over `length` values starting at `start` with `stride`: each output is
/// the mean of a window centred on it, the window shrinking at both edges (the reference's four
/// phases). `window <= length` always holds, since windows are `length / 128` rounded up.
fn box_1d(
    input: &[f32],
    output: &mut [f32],
    start: usize,
    length: usize,
    stride: usize,
    window: usize,
) {
    let half = (window + 2) / 2;
    let leading = half - 1;
    let growing = window + 1 - half;
    let full = length - window;
    let at = |i: usize| start + i * stride;
    let (mut sum, mut count) = (0f32, 0f32);
    let (mut left, mut right, mut out) = (0, 0, 0);
    for _ in 0..leading {
        sum += input[at(right)];
        count += 1.0;
        right += 1;
    }
    for _ in 0..growing {
        sum += input[at(right)];
        count += 1.0;
        output[at(out)] = sum / count;
        right += 1;
        out += 1;
    }
    for _ in 0..full {
        sum += input[at(right)];
        sum -= input[at(left)];
        output[at(out)] = sum / count;
        left += 1;
        right += 1;
        out += 1;
    }
    for _ in 0..leading {
        sum -= input[at(left)];
        count -= 1.0;
        output[at(out)] = sum / count;
        left += 1;
        out += 1;
    }
}

/// Samples the 64x64 grid of cell centres.
fn decimate(buffer: &[f32], rows: usize, cols: usize) -> [[f32; 64]; 64] {
    let mut out = [[0f32; 64]; 64];
    for (i, out_row) in out.iter_mut().enumerate() {
        let row = ((i as f64 + 0.5) * rows as f64 / 64.0) as usize;
        for (j, cell) in out_row.iter_mut().enumerate() {
            let col = ((j as f64 + 0.5) * cols as f64 / 64.0) as usize;
            *cell = buffer[row * cols + col];
        }
    }
    out
}

/// The reference's heuristic: the sum of quantized gradients, scaled to 0..=100.
fn quality(block: &[[f32; 64]; 64]) -> u8 {
    let step = |u: f32, v: f32| (((u - v) * 100.0) / 255.0).trunc().abs() as u64;
    let mut sum = 0u64;
    for (upper, lower) in block.iter().zip(&block[1..]) {
        for (u, v) in upper.iter().zip(lower) {
            sum += step(*u, *v);
        }
    }
    for row in block {
        for pair in row.windows(2) {
            sum += step(pair[0], pair[1]);
        }
    }
    (sum / 90).min(100) as u8
}

/// Rows 1..=16 of the 64-point DCT-II matrix (the DC row is skipped).
fn dct_matrix() -> [[f32; 64]; 16] {
    let mut d = [[0f32; 64]; 16];
    let scale = (2.0f64 / 64.0).sqrt();
    for (i, row) in d.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            let angle =
                std::f64::consts::PI / 2.0 / 64.0 * (i as f64 + 1.0) * (2.0 * j as f64 + 1.0);
            *cell = (scale * angle.cos()) as f32;
        }
    }
    d
}

/// `D · A · Dᵀ` for the 16 lowest non-DC frequencies in each direction.
fn dct_64_to_16(block: &[[f32; 64]; 64]) -> [[f32; 16]; 16] {
    let d = dct_matrix();
    let mut t = [[0f32; 64]; 16];
    for i in 0..16 {
        for k in 0..64 {
            let dik = d[i][k];
            for j in 0..64 {
                t[i][j] += dik * block[k][j];
            }
        }
    }
    let mut out = [[0f32; 16]; 16];
    for i in 0..16 {
        for j in 0..16 {
            out[i][j] = (0..64).map(|k| t[i][k] * d[j][k]).sum();
        }
    }
    out
}

/// Bit `16·i + j` is set when coefficient (i, j) exceeds the median, in PDQ's hex order: the
/// hash is sixteen 16-bit words printed from word 15 down to word 0.
fn bits_above_median(dct: &[[f32; 16]; 16]) -> [u8; 32] {
    let mut values: Vec<f32> = dct.iter().flatten().copied().collect();
    values.sort_by(f32::total_cmp);
    // Torben's median of an even count is the lower middle value.
    let median = values[127];
    let mut bits = [0u8; 32];
    for (k, value) in dct.iter().flatten().enumerate() {
        if *value > median {
            let word = k / 16;
            let bit = k % 16;
            let byte = (15 - word) * 2 + usize::from(bit < 8);
            bits[byte] |= 1 << (bit % 8);
        }
    }
    bits
}
