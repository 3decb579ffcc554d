//! Admission: deciding whether a connected peer may exchange records with this node.
//!
//! A peer is admitted when the agency certificate it presents verifies against our federation
//! roots and CRL at the current time, names one of the roles that run nodes, certifies the
//! Ed25519 key behind the peer's libp2p `PeerId` (the key the Noise handshake authenticated),
//! and, for a peer we dialled for a given agency, names that agency. This module holds those
//! checks; the exchange itself (dialer sends its certificate, listener answers with its own or
//! a refusal) is driven by the swarm task.

use libp2p::PeerId;
use safeport_protocol::pki::{
    AgencyIdentity, CertError, CertPolicy, Crl, TrustAnchor, verify_agency_certificate,
};
use safeport_protocol::{AgencyId, PublicKey, Role, Timestamp};
use thiserror::Error;

/// Multihash code of the identity hash: a `PeerId` under it carries its public key inline.
const IDENTITY_MULTIHASH: u64 = 0x00;

/// The roles whose nodes are admitted. The federation authority runs no node.
pub(crate) const NODE_ROLES: [Role; 3] = [Role::Hotline, Role::Lea, Role::Interpol];

/// Why a peer was not admitted (or is no longer).
#[derive(Debug, Error)]
pub(crate) enum AdmissionError {
    /// The `PeerId` does not carry an Ed25519 key inline, so no certificate can be matched to
    /// it.
    #[error("the peer id does not carry an inline Ed25519 key")]
    PeerKey,
    /// The presented certificate is not UTF-8 PEM.
    #[error("the presented certificate is not UTF-8")]
    NotUtf8,
    /// The certificate failed verification.
    #[error("certificate refused: {0}")]
    Certificate(#[from] CertError),
    /// The certificate is valid but names another agency than the one this peer was
    /// configured as.
    #[error("certificate names agency {found}, but this peer was configured as {expected}")]
    WrongAgency {
        /// The configured agency.
        expected: AgencyId,
        /// The agency in the certificate.
        found: AgencyId,
    },
    /// The remote refused us, with its reason.
    #[error("refused by the remote: {0}")]
    RefusedByRemote(String),
    /// The admission exchange failed (stream or connection error, unsupported protocol).
    #[error("admission exchange failed: {0}")]
    Exchange(String),
    /// The exchange did not complete in time.
    #[error("admission did not complete within {0:?}")]
    Timeout(std::time::Duration),
}

/// The federation roots and CRL certificates are checked against; replaced by
/// `NetHandle::update_trust`.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    /// The federation roots.
    pub(crate) anchors: Vec<TrustAnchor>,
    /// The CRL in force, if any.
    pub(crate) crl: Option<Crl>,
}

/// The Ed25519 key behind a `PeerId`. Only identity-multihash peer ids (which Ed25519 keys
/// always get) carry the key itself; any other peer id is refused.
pub(crate) fn peer_public_key(peer_id: &PeerId) -> Result<PublicKey, AdmissionError> {
    let multihash = peer_id.as_ref();
    if multihash.code() != IDENTITY_MULTIHASH {
        return Err(AdmissionError::PeerKey);
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(multihash.digest())
        .map_err(|_| AdmissionError::PeerKey)?
        .try_into_ed25519()
        .map_err(|_| AdmissionError::PeerKey)?;
    Ok(PublicKey(key.to_bytes()))
}

/// Verifies the certificate `pem` presented by `peer_id` at time `now`.
pub(crate) fn verify_peer(
    pem: &str,
    peer_id: &PeerId,
    trust: &Trust,
    now: Timestamp,
    expected_agency: Option<&AgencyId>,
) -> Result<AgencyIdentity, AdmissionError> {
    let policy = CertPolicy {
        allowed_roles: NODE_ROLES.to_vec(),
        expected_key: Some(peer_public_key(peer_id)?),
    };
    let identity =
        verify_agency_certificate(pem, &trust.anchors, trust.crl.as_slice(), now, &policy)?;
    if let Some(expected) = expected_agency
        && *expected != identity.subject.agency
    {
        return Err(AdmissionError::WrongAgency {
            expected: expected.clone(),
            found: identity.subject.agency,
        });
    }
    Ok(identity)
}

/// [`verify_peer`] for certificate bytes as received on the wire.
pub(crate) fn verify_peer_bytes(
    pem: &[u8],
    peer_id: &PeerId,
    trust: &Trust,
    now: Timestamp,
    expected_agency: Option<&AgencyId>,
) -> Result<(AgencyIdentity, String), AdmissionError> {
    let pem = std::str::from_utf8(pem).map_err(|_| AdmissionError::NotUtf8)?;
    let identity = verify_peer(pem, peer_id, trust, now, expected_agency)?;
    Ok((identity, pem.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn an_ed25519_peer_id_yields_its_key() {
        let key = safeport_protocol::NodeKey::from_seed([3; 32]);
        let mut seed = key.seed();
        let keypair = libp2p::identity::Keypair::ed25519_from_bytes(&mut seed).unwrap();
        let peer_id = keypair.public().to_peer_id();
        assert_eq!(peer_public_key(&peer_id).unwrap(), key.public());
    }

    #[test]
    fn peer_ids_without_an_inline_ed25519_key_are_refused() {
        type Multihash = libp2p::multihash::Multihash<64>;
        // A SHA-256 peer id (what large keys such as RSA get): no key inside.
        let hashed = PeerId::from_multihash(Multihash::wrap(0x12, &[7; 32]).unwrap()).unwrap();
        // An identity peer id whose bytes are not a protobuf public key.
        let garbage = PeerId::from_multihash(Multihash::wrap(0x00, &[7; 32]).unwrap()).unwrap();
        for peer_id in [hashed, garbage] {
            let error = peer_public_key(&peer_id).unwrap_err();
            assert!(matches!(error, AdmissionError::PeerKey), "{error}");
        }
    }
}
