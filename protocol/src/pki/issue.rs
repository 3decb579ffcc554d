//! Creating the federation root certificate, agency certificates and CRLs with rcgen, signed by
//! the authority's Ed25519 key (no other crypto backend: rcgen calls back into our key).

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, DnValue, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData, RevokedCertParams,
    SanType, SerialNumber, SignatureAlgorithm, SigningKey,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::contact::{Contact, ContactError};
use super::{AgencySubject, MAX_CRL_ENTRIES, RevocationReason, Validity};
use crate::ids::{Role, Timestamp};
use crate::keys::{NodeKey, PublicKey};

/// Why a certificate or CRL could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The authority role is the root itself, never an agency.
    #[error("an agency certificate cannot carry the authority role")]
    AuthorityRole,
    /// A time outside what X.509 can express, or an empty window.
    #[error("invalid validity: {0}")]
    Validity(String),
    /// The issuing root certificate could not be read.
    #[error("the root certificate could not be read: {0}")]
    Root(String),
    /// The organisation name is empty or too long.
    #[error("organisation name must be 1 to 128 characters")]
    Organisation,
    /// A contact field is not plausible or exceeds its bounds.
    #[error(transparent)]
    Contact(#[from] ContactError),
    /// Too many revoked certificates for one CRL.
    #[error("too many revoked certificates ({0}) for one CRL")]
    TooManyRevoked(usize),
    /// rcgen refused the parameters.
    #[error("certificate generation failed: {0}")]
    Generate(String),
}

impl From<rcgen::Error> for IssueError {
    fn from(e: rcgen::Error) -> Self {
        IssueError::Generate(e.to_string())
    }
}

/// Adapts a [`NodeKey`] to rcgen's signing interface.
struct AuthoritySigner<'a> {
    key: &'a NodeKey,
    public: [u8; 32],
}

impl<'a> AuthoritySigner<'a> {
    fn new(key: &'a NodeKey) -> Self {
        Self {
            key,
            public: key.public().0,
        }
    }
}

impl PublicKeyData for AuthoritySigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl SigningKey for AuthoritySigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.key.sign(msg).0.to_vec())
    }
}

/// A subject key that is certified but whose private half is not here.
struct SubjectKey([u8; 32]);

impl PublicKeyData for SubjectKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

/// Subject key identifier: the first 160 bits of SHA-256 over the key (RFC 7093 method 1).
fn key_identifier(key: &PublicKey) -> KeyIdMethod {
    KeyIdMethod::PreSpecified(Sha256::digest(key.0)[..20].to_vec())
}

fn to_datetime(t: Timestamp) -> Result<OffsetDateTime, IssueError> {
    let secs = i64::try_from(t.as_secs()).map_err(|_| IssueError::Validity(t.to_string()))?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| IssueError::Validity(e.to_string()))
}

fn apply_validity(params: &mut CertificateParams, validity: Validity) -> Result<(), IssueError> {
    if validity.not_after <= validity.not_before {
        return Err(IssueError::Validity(
            "not_after is not after not_before".into(),
        ));
    }
    params.not_before = to_datetime(validity.not_before)?;
    params.not_after = to_datetime(validity.not_after)?;
    Ok(())
}

/// A positive serial number from caller-supplied random bytes.
fn serial(random: [u8; 16]) -> SerialNumber {
    let mut bytes = random;
    // Positive and exactly 16 bytes long, so every tool prints the same digits.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// Creates the self-signed federation root certificate (PEM).
pub fn create_root(
    authority: &NodeKey,
    federation_name: &str,
    validity: Validity,
    serial_random: [u8; 16],
) -> Result<String, IssueError> {
    if federation_name.is_empty() || federation_name.chars().count() > 128 {
        return Err(IssueError::Organisation);
    }
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, federation_name);
    name.push(DnType::OrganizationName, "Safeport federation authority");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(serial(serial_random));
    params.key_identifier_method = key_identifier(&authority.public());
    apply_validity(&mut params, validity)?;
    let certificate = params.self_signed(&AuthoritySigner::new(authority))?;
    Ok(certificate.pem())
}

/// The X.520 telephoneNumber attribute type (2.5.4.20), which rcgen has no name for.
const TELEPHONE_NUMBER: [u64; 4] = [2, 5, 4, 20];

/// Issues an agency certificate for `node_key`, signed by the authority (PEM), without
/// contact fields.
pub fn issue_agency_certificate(
    authority: &NodeKey,
    root_pem: &str,
    subject: &AgencySubject,
    node_key: &PublicKey,
    validity: Validity,
    serial_random: [u8; 16],
) -> Result<String, IssueError> {
    issue_agency_certificate_with_contact(
        authority,
        root_pem,
        subject,
        &Contact::default(),
        node_key,
        validity,
        serial_random,
    )
}

/// Adds the contact fields to the certificate parameters: the phone as the subject's
/// telephoneNumber (after C, so the agency fields keep their order), emails and the URL as
/// subjectAltNames. An empty contact adds nothing, so such certificates stay as they were.
fn apply_contact(params: &mut CertificateParams, contact: &Contact) -> Result<(), IssueError> {
    contact.validate()?;
    // The checks above admit only characters these string types hold; a refusal by rcgen
    // here would be a bug in them, reported as a generation failure.
    if let Some(phone) = &contact.phone {
        let value = PrintableString::try_from(phone.as_str())?;
        params.distinguished_name.push(
            DnType::CustomDnType(TELEPHONE_NUMBER.to_vec()),
            DnValue::PrintableString(value),
        );
    }
    for email in &contact.emails {
        let value = Ia5String::try_from(email.as_str())?;
        params.subject_alt_names.push(SanType::Rfc822Name(value));
    }
    if let Some(url) = &contact.url {
        let value = Ia5String::try_from(url.as_str())?;
        params.subject_alt_names.push(SanType::URI(value));
    }
    Ok(())
}

/// Issues an agency certificate for `node_key` with `contact`'s fields, signed by the
/// authority (PEM). Contact values are checked first ([`Contact::validate`]) and refused with
/// [`IssueError::Contact`].
pub fn issue_agency_certificate_with_contact(
    authority: &NodeKey,
    root_pem: &str,
    subject: &AgencySubject,
    contact: &Contact,
    node_key: &PublicKey,
    validity: Validity,
    serial_random: [u8; 16],
) -> Result<String, IssueError> {
    if subject.role == Role::Authority {
        return Err(IssueError::AuthorityRole);
    }
    if subject.organisation.is_empty() || subject.organisation.chars().count() > 128 {
        return Err(IssueError::Organisation);
    }
    let issuer = Issuer::from_ca_cert_pem(root_pem, AuthoritySigner::new(authority))
        .map_err(|e| IssueError::Root(e.to_string()))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, subject.agency.as_str());
    name.push(DnType::OrganizationName, subject.organisation.as_str());
    name.push(DnType::OrganizationalUnitName, subject.role.as_str());
    name.push(DnType::CountryName, subject.country.as_str());
    params.distinguished_name = name;
    apply_contact(&mut params, contact)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(serial(serial_random));
    params.key_identifier_method = key_identifier(node_key);
    apply_validity(&mut params, validity)?;
    let certificate = params.signed_by(&SubjectKey(node_key.0), &issuer)?;
    Ok(certificate.pem())
}

/// A revoked certificate: its serial (hex, as printed by `cert verify`), when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Serial number in hex.
    pub serial: String,
    /// When the authority revoked it.
    pub revoked_at: Timestamp,
    /// Why (written as the entry's reasonCode extension unless unspecified).
    pub reason: RevocationReason,
}

fn crl_reason(reason: RevocationReason) -> Option<rcgen::RevocationReason> {
    match reason {
        RevocationReason::Unspecified => None,
        RevocationReason::KeyCompromise => Some(rcgen::RevocationReason::KeyCompromise),
        RevocationReason::Superseded => Some(rcgen::RevocationReason::Superseded),
        RevocationReason::CessationOfOperation => {
            Some(rcgen::RevocationReason::CessationOfOperation)
        }
    }
}

/// Creates a CRL signed by the authority (PEM).
pub fn create_crl(
    authority: &NodeKey,
    root_pem: &str,
    revoked: &[Revocation],
    crl_number: u64,
    this_update: Timestamp,
    next_update: Timestamp,
) -> Result<String, IssueError> {
    if revoked.len() > MAX_CRL_ENTRIES {
        return Err(IssueError::TooManyRevoked(revoked.len()));
    }
    let issuer = Issuer::from_ca_cert_pem(root_pem, AuthoritySigner::new(authority))
        .map_err(|e| IssueError::Root(e.to_string()))?;
    let revoked_certs = revoked
        .iter()
        .map(|r| {
            let serial = hex::decode(&r.serial)
                .map_err(|_| IssueError::Generate(format!("invalid serial {:?}", r.serial)))?;
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: to_datetime(r.revoked_at)?,
                reason_code: crl_reason(r.reason),
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, IssueError>>()?;
    let params = CertificateRevocationListParams {
        this_update: to_datetime(this_update)?,
        next_update: to_datetime(next_update)?,
        crl_number: SerialNumber::from(crl_number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: key_identifier(&authority.public()),
    };
    let crl = params.signed_by(&issuer)?;
    Ok(crl.pem()?)
}
