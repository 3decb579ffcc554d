//! The Ed25519 batch equation behind [`crate::keys::verify_batch_strict`], with the terms of
//! each signer merged: a sync page holds hundreds of records by the same few originators, and
//! ed25519-dalek's `verify_batch` multiplies the signer's key once per signature, so half of
//! its multiscalar multiplication is the same point again. Summing the coefficients of each
//! key first halves that work and gives the same equation (the keys are torsion-free, checked
//! when they are prepared, so summing their scalars modulo the group order changes nothing).
//!
//! The equation is ed25519-dalek's: for random 128-bit `z_i`,
//! `[-Σ z_i s_i] B + Σ z_i R_i + Σ_A [Σ_{i signed by A} z_i h_i] A = 0`, with `h_i` the
//! SHA-512 of `R_i ‖ A_i ‖ M_i`. As in ed25519-dalek, the `z_i` are derived from the whole
//! batch (every `h_i` and `s_i`, which bind every `R`, key and message) rather than drawn from
//! a random source, so no signer can choose its signatures knowing its coefficients.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha512};

/// Domain of the hash the batch's coefficients are derived from.
const COEFFICIENT_DOMAIN: &[u8] = b"safeport/ed25519-batch-coefficients/v1";

/// One signature of the batch: the signer's key (torsion-free, not of small order), the
/// message, and the signature's `R` and canonical `s`.
pub(crate) struct Term<'a> {
    pub(crate) key: &'a VerifyingKey,
    pub(crate) message: &'a [u8],
    pub(crate) r: [u8; 32],
    pub(crate) s: Scalar,
}

/// Whether the batch equation holds for every term (`true` for none). `false` when any `R`
/// is not a point, or the sum is not the identity.
pub(crate) fn holds(terms: &[Term<'_>]) -> bool {
    let mut transcript = Sha512::new_with_prefix(COEFFICIENT_DOMAIN);
    let hrams: Vec<Scalar> = terms
        .iter()
        .map(|term| {
            let hram: [u8; 64] = Sha512::new()
                .chain_update(term.r)
                .chain_update(term.key.as_bytes())
                .chain_update(term.message)
                .finalize()
                .into();
            transcript.update(hram);
            transcript.update(term.s.as_bytes());
            Scalar::from_bytes_mod_order_wide(&hram)
        })
        .collect();
    let seed = transcript.finalize();
    let mut base_coefficient = Scalar::ZERO;
    let mut r_coefficients = Vec::with_capacity(terms.len());
    // (key, Σ z_i h_i) per distinct signer; a batch has few, so a linear search is cheapest.
    let mut key_coefficients: Vec<(&VerifyingKey, Scalar)> = Vec::new();
    for (index, (term, hram)) in terms.iter().zip(&hrams).enumerate() {
        let z = coefficient(&seed, index);
        base_coefficient += z * term.s;
        r_coefficients.push(z);
        let zh = z * hram;
        match key_coefficients
            .iter_mut()
            .find(|(key, _)| *key == term.key)
        {
            Some((_, sum)) => *sum += zh,
            None => key_coefficients.push((term.key, zh)),
        }
    }
    let scalars = std::iter::once(-base_coefficient)
        .chain(r_coefficients)
        .chain(key_coefficients.iter().map(|(_, sum)| *sum));
    let points = std::iter::once(Some(ED25519_BASEPOINT_POINT))
        .chain(
            terms
                .iter()
                .map(|term| CompressedEdwardsY(term.r).decompress()),
        )
        .chain(
            key_coefficients
                .iter()
                .map(|(key, _)| Some(key.to_edwards())),
        );
    EdwardsPoint::optional_multiscalar_mul(scalars, points).is_some_and(|sum| sum.is_identity())
}

/// The `index`th coefficient: 128 bits of SHA-512 over the batch's seed and the index.
fn coefficient(seed: &[u8], index: usize) -> Scalar {
    let digest = Sha512::new()
        .chain_update(seed)
        .chain_update((index as u64).to_le_bytes())
        .finalize();
    let mut low = [0u8; 16];
    low.copy_from_slice(&digest[..16]);
    Scalar::from(u128::from_le_bytes(low))
}
