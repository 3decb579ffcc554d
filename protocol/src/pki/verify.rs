//! Verifying agency certificates against the federation root(s) and CRLs, with the time passed
//! in. Signatures are checked with the same strict Ed25519 verification as records, over the
//! exact signed bytes (`tbsCertificate`, `tbsCertList`) that x509-parser hands back.

use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{OID_SIG_ED25519, Oid};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use super::contact::{Contact, ContactError};
use super::crl::Crl;
use super::{
    AgencyIdentity, AgencySubject, MAX_CRL_ENTRIES, MAX_PEM_BYTES, Validity, VerifiedAgency,
    serial_hex,
};
use crate::ids::{AgencyId, Country, Role, Timestamp};
use crate::keys::{PublicKey, Signature};

/// Why a certificate, root or CRL was refused. Each failure has its own variant so callers
/// (and logs) can tell an expired certificate from a revoked one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The input is not PEM of the expected kind, or is too large.
    #[error("not a PEM {expected}: {detail}")]
    Pem {
        /// "CERTIFICATE" or "X509 CRL".
        expected: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The DER inside the PEM is not a valid certificate or CRL.
    #[error("malformed {0}")]
    Malformed(String),
    /// Only Ed25519 keys and signatures are used in a Safeport federation.
    #[error("{0} does not use Ed25519")]
    NotEd25519(&'static str),
    /// No configured root issued the certificate (a foreign federation or a self-signed one).
    #[error("issuer {issuer:?} is not a configured federation root")]
    UnknownIssuer {
        /// The issuer named in the certificate.
        issuer: String,
    },
    /// The signature does not verify under the root's key.
    #[error("the {0} signature does not verify under the federation root's key")]
    BadSignature(&'static str),
    /// Past its validity.
    #[error("certificate expired at {not_after} (checked at {now})")]
    Expired {
        /// End of validity.
        not_after: Timestamp,
        /// The time of the check.
        now: Timestamp,
    },
    /// Before its validity.
    #[error("certificate is not valid before {not_before} (checked at {now})")]
    NotYetValid {
        /// Start of validity.
        not_before: Timestamp,
        /// The time of the check.
        now: Timestamp,
    },
    /// The serial is on the CRL.
    #[error("certificate {serial} was revoked at {revoked_at}")]
    Revoked {
        /// The serial number.
        serial: String,
        /// When it was revoked.
        revoked_at: Timestamp,
    },
    /// The certified role is not one the caller accepts.
    #[error("certificate role {found} is not allowed here (expected one of: {allowed})")]
    WrongRole {
        /// The role in the certificate.
        found: Role,
        /// The accepted roles, comma separated.
        allowed: String,
    },
    /// The certificate certifies another key than the one presented.
    #[error("certificate certifies key {certified}, but the node's key is {presented}")]
    KeyMismatch {
        /// The key in the certificate.
        certified: PublicKey,
        /// The key that was presented.
        presented: PublicKey,
    },
    /// A required subject field is missing or malformed.
    #[error("certificate field {field}: {detail}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A contact value in the certificate is not one the authority could have issued.
    #[error("certificate contact: {0}")]
    Contact(ContactError),
    /// A root that is not a CA, or an agency certificate that is one.
    #[error("{0}")]
    BasicConstraints(&'static str),
    /// The CRL's next update has passed: revocations may be missing, so fail closed.
    #[error("the CRL is stale: its next update was due at {next_update} (checked at {now})")]
    CrlStale {
        /// When the next CRL was due.
        next_update: Timestamp,
        /// The time of the check.
        now: Timestamp,
    },
    /// The CRL is larger than accepted.
    #[error("the CRL lists more than {MAX_CRL_ENTRIES} certificates")]
    CrlTooLarge,
}

/// A configured federation root certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    name_der: Vec<u8>,
    common_name: String,
    pub(super) key: PublicKey,
    validity: Validity,
}

/// What a verification accepts.
#[derive(Debug, Clone, Default)]
pub struct CertPolicy {
    /// Roles accepted (empty: any agency role).
    pub allowed_roles: Vec<Role>,
    /// The key the certificate must certify (e.g. the key behind a libp2p PeerId).
    pub expected_key: Option<PublicKey>,
}

pub(super) fn pem_der(pem: &str, expected: &'static str) -> Result<Vec<u8>, CertError> {
    let bad = |detail: String| CertError::Pem { expected, detail };
    if pem.len() > MAX_PEM_BYTES {
        return Err(bad(format!("larger than {MAX_PEM_BYTES} bytes")));
    }
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| bad(format!("cannot read PEM ({e})")))?;
    if parsed.label != expected {
        return Err(bad(format!("found a PEM labelled {:?}", parsed.label)));
    }
    Ok(parsed.contents)
}

pub(super) fn time_of(t: x509_parser::time::ASN1Time) -> Timestamp {
    Timestamp::from_secs(u64::try_from(t.timestamp()).unwrap_or(0))
}

fn first_attr(
    values: impl Iterator<Item = Result<String, ()>>,
    field: &'static str,
) -> Result<String, CertError> {
    match values.take(2).collect::<Vec<_>>().as_slice() {
        [Ok(value)] => Ok(value.clone()),
        [] => Err(CertError::Field {
            field,
            detail: "missing".into(),
        }),
        _ => Err(CertError::Field {
            field,
            detail: "present more than once or not text".into(),
        }),
    }
}

fn attrs<'a>(
    iter: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
) -> impl Iterator<Item = Result<String, ()>> {
    iter.map(|a| a.as_str().map(str::to_owned).map_err(|_| ()))
}

fn common_name(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("(no common name)")
        .to_owned()
}

pub(super) fn check_ed25519(algorithm: &Oid<'_>, what: &'static str) -> Result<(), CertError> {
    if *algorithm == OID_SIG_ED25519 {
        Ok(())
    } else {
        Err(CertError::NotEd25519(what))
    }
}

pub(super) fn ed25519_key(
    cert: &X509Certificate<'_>,
    what: &'static str,
) -> Result<PublicKey, CertError> {
    let spki = cert.public_key();
    check_ed25519(&spki.algorithm.algorithm, what)?;
    let bytes: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| CertError::NotEd25519(what))?;
    Ok(PublicKey(bytes))
}

pub(super) fn signature_of(bytes: &[u8], what: &'static str) -> Result<Signature, CertError> {
    let bytes: [u8; 64] = bytes
        .try_into()
        .map_err(|_| CertError::BadSignature(what))?;
    Ok(Signature(bytes))
}

pub(super) fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| CertError::Malformed(format!("certificate ({e})")))?;
    if !rest.is_empty() {
        return Err(CertError::Malformed(
            "certificate has trailing bytes".into(),
        ));
    }
    Ok(cert)
}

fn is_ca(cert: &X509Certificate<'_>) -> Result<bool, CertError> {
    let constraints = cert
        .basic_constraints()
        .map_err(|e| CertError::Malformed(format!("basic constraints ({e})")))?;
    Ok(constraints.is_some_and(|ext| ext.value.ca))
}

impl TrustAnchor {
    /// Reads a federation root certificate: self-signed, a CA, Ed25519.
    pub fn from_pem(pem: &str) -> Result<Self, CertError> {
        let der = pem_der(pem, "CERTIFICATE")?;
        let cert = parse_certificate(&der)?;
        let key = ed25519_key(&cert, "root certificate")?;
        check_ed25519(&cert.signature_algorithm.algorithm, "root certificate")?;
        if !is_ca(&cert)? {
            return Err(CertError::BasicConstraints(
                "the root certificate is not a CA certificate",
            ));
        }
        if cert.subject().as_raw() != cert.issuer().as_raw() {
            return Err(CertError::BasicConstraints(
                "the root certificate is not self-signed",
            ));
        }
        let signature = signature_of(&cert.signature_value.data, "root certificate")?;
        key.verify(cert.tbs_certificate.as_ref(), &signature)
            .map_err(|_| CertError::BadSignature("root certificate"))?;
        Ok(Self {
            name_der: cert.subject().as_raw().to_vec(),
            common_name: common_name(cert.subject()),
            key,
            validity: Validity {
                not_before: time_of(cert.validity().not_before),
                not_after: time_of(cert.validity().not_after),
            },
        })
    }

    /// The root's key.
    pub fn key(&self) -> PublicKey {
        self.key
    }

    /// The root's common name (the federation's name).
    pub fn name(&self) -> &str {
        &self.common_name
    }

    /// The root's validity.
    pub fn validity(&self) -> Validity {
        self.validity
    }
}

pub(super) fn find_anchor<'a>(
    anchors: &'a [TrustAnchor],
    issuer: &X509Name<'_>,
) -> Result<&'a TrustAnchor, CertError> {
    anchors
        .iter()
        .find(|anchor| anchor.name_der == issuer.as_raw())
        .ok_or_else(|| CertError::UnknownIssuer {
            issuer: issuer.to_string(),
        })
}

pub(super) fn check_time(validity: Validity, now: Timestamp) -> Result<(), CertError> {
    // X.509 validity is inclusive at both ends, in whole seconds.
    let now_secs = Timestamp::from_secs(now.as_secs());
    if now_secs < validity.not_before {
        return Err(CertError::NotYetValid {
            not_before: validity.not_before,
            now,
        });
    }
    if now_secs > validity.not_after {
        return Err(CertError::Expired {
            not_after: validity.not_after,
            now,
        });
    }
    Ok(())
}

fn subject_of(cert: &X509Certificate<'_>) -> Result<AgencySubject, CertError> {
    let subject = cert.subject();
    let field = |field: &'static str, detail: String| CertError::Field { field, detail };
    let agency = first_attr(attrs(subject.iter_common_name()), "agency id (CN)")?;
    let role = first_attr(attrs(subject.iter_organizational_unit()), "role (OU)")?;
    let country = first_attr(attrs(subject.iter_country()), "country (C)")?;
    let organisation = first_attr(attrs(subject.iter_organization()), "organisation (O)")?;
    let role: Role = role
        .parse()
        .map_err(|e| field("role (OU)", format!("{e}")))?;
    if role == Role::Authority {
        return Err(field("role (OU)", "agencies cannot be authorities".into()));
    }
    Ok(AgencySubject {
        agency: AgencyId::new(&agency).map_err(|e| field("agency id (CN)", e.to_string()))?,
        role,
        country: Country::new(&country).map_err(|e| field("country (C)", e.to_string()))?,
        organisation,
    })
}

/// The X.520 telephoneNumber attribute type (2.5.4.20), which the OID registry has no name for.
const OID_TELEPHONE_NUMBER: Oid<'static> = x509_parser::asn1_rs::oid!(2.5.4.20);
const PHONE_FIELD: &str = "contact phone (telephoneNumber)";
const SAN_FIELD: &str = "contacts (subjectAltName)";

/// What kind of subjectAltName entry an unexpected one is, for the error message.
fn general_name_kind(name: &GeneralName<'_>) -> &'static str {
    match name {
        GeneralName::RFC822Name(_) => "an email address",
        GeneralName::URI(_) => "a URI",
        GeneralName::DNSName(_) => "a DNS name",
        GeneralName::IPAddress(_) => "an IP address",
        GeneralName::DirectoryName(_) => "a directory name",
        GeneralName::OtherName(..) => "an otherName",
        GeneralName::X400Address(_) => "an X.400 address",
        GeneralName::EDIPartyName(_) => "an EDI party name",
        GeneralName::RegisteredID(_) => "a registered id",
        GeneralName::Invalid(..) => "a malformed entry",
    }
}

/// Reads the contact fields. Only what [`super::issue`] writes is accepted: at most one
/// PrintableString telephoneNumber, and a subjectAltName of email addresses and at most one
/// URI; anything else there (a DNS name, an IP address, a second URI) is refused rather than
/// ignored, and every value passes the same checks as at issue time.
fn contact_of(cert: &X509Certificate<'_>) -> Result<Contact, CertError> {
    let field = |field: &'static str, detail: String| CertError::Field { field, detail };
    let mut contact = Contact::default();
    let mut phones = cert.subject().iter_by_oid(&OID_TELEPHONE_NUMBER);
    if let Some(phone) = phones.next() {
        if phones.next().is_some() {
            return Err(field(PHONE_FIELD, "present more than once".into()));
        }
        if phone.attr_value().tag() != Tag::PrintableString {
            return Err(field(PHONE_FIELD, "not a PrintableString".into()));
        }
        let text = phone
            .as_str()
            .map_err(|e| field(PHONE_FIELD, format!("not text ({e})")))?;
        contact.phone = Some(text.to_owned());
    }
    // Errors here include a repeated extension, which x509-parser refuses to choose from.
    let alt_names = cert
        .subject_alternative_name()
        .map_err(|e| field(SAN_FIELD, format!("malformed or repeated ({e})")))?;
    if let Some(alt_names) = alt_names {
        let names = &alt_names.value.general_names;
        if names.is_empty() {
            return Err(field(SAN_FIELD, "present but empty".into()));
        }
        // The entries are already in memory, bounded by the PEM size; `validate` bounds the
        // number of emails below.
        for name in names {
            match name {
                GeneralName::RFC822Name(email) => contact.emails.push((*email).to_owned()),
                GeneralName::URI(url) if contact.url.is_none() => {
                    contact.url = Some((*url).to_owned());
                }
                GeneralName::URI(_) => {
                    return Err(field(SAN_FIELD, "more than one URI".into()));
                }
                other => {
                    return Err(field(
                        SAN_FIELD,
                        format!(
                            "holds {}; agency certificates carry only email and URI contacts",
                            general_name_kind(other)
                        ),
                    ));
                }
            }
        }
    }
    contact.validate().map_err(CertError::Contact)?;
    Ok(contact)
}

/// Verifies an agency certificate (PEM) against the roots and CRLs at time `now`, and returns
/// what it certifies. Checks, in order: format, issuer among the roots, signature, the root's
/// and the certificate's validity, revocation (every CRL of that root must be current), that
/// it is not a CA, its subject and contact fields, role and key policy.
///
/// The contact fields are checked but not returned; see
/// [`verify_agency_certificate_with_contact`].
pub fn verify_agency_certificate(
    pem: &str,
    anchors: &[TrustAnchor],
    crls: &[Crl],
    now: Timestamp,
    policy: &CertPolicy,
) -> Result<AgencyIdentity, CertError> {
    verify_agency_certificate_with_contact(pem, anchors, crls, now, policy)
        .map(|verified| verified.identity)
}

/// [`verify_agency_certificate`], also returning the certificate's contact fields.
pub fn verify_agency_certificate_with_contact(
    pem: &str,
    anchors: &[TrustAnchor],
    crls: &[Crl],
    now: Timestamp,
    policy: &CertPolicy,
) -> Result<VerifiedAgency, CertError> {
    verify_certificate_at(pem, anchors, crls, now, Some(now), policy).map(|(verified, _)| verified)
}

/// The one certificate check behind every public verification: everything is judged at `now`
/// except the certificate's own validity window, which is checked at `valid_at` when given.
/// `None` verifies a signer of records ([`super::signer`]): the caller checks the window against
/// each record's creation time, and a certificate revoked for a reason that keeps earlier
/// signatures is accepted with its revocation time returned (the caller counts only records
/// made before it).
pub(super) fn verify_certificate_at(
    pem: &str,
    anchors: &[TrustAnchor],
    crls: &[Crl],
    now: Timestamp,
    valid_at: Option<Timestamp>,
    policy: &CertPolicy,
) -> Result<(VerifiedAgency, Option<Timestamp>), CertError> {
    let der = pem_der(pem, "CERTIFICATE")?;
    let cert = parse_certificate(&der)?;
    check_ed25519(&cert.signature_algorithm.algorithm, "agency certificate")?;
    let anchor = find_anchor(anchors, cert.issuer())?;
    let signature = signature_of(&cert.signature_value.data, "agency certificate")?;
    anchor
        .key
        .verify(cert.tbs_certificate.as_ref(), &signature)
        .map_err(|_| CertError::BadSignature("agency certificate"))?;
    check_time(anchor.validity, now)?;
    let validity = Validity {
        not_before: time_of(cert.validity().not_before),
        not_after: time_of(cert.validity().not_after),
    };
    if let Some(at) = valid_at {
        check_time(validity, at)?;
    }
    let serial = serial_hex(cert.raw_serial());
    let mut retired_at = None;
    for crl in crls.iter().filter(|crl| crl.issuer_der == anchor.name_der) {
        if let Some(next_update) = crl.next_update
            && now > next_update
        {
            return Err(CertError::CrlStale { next_update, now });
        }
        match crl.revocation_of(&serial) {
            None => {}
            Some((revoked_at, reason))
                if valid_at.is_none() && reason.keeps_earlier_signatures() =>
            {
                retired_at =
                    Some(retired_at.map_or(revoked_at, |at: Timestamp| at.min(revoked_at)));
            }
            Some((revoked_at, _)) => return Err(CertError::Revoked { serial, revoked_at }),
        }
    }
    if is_ca(&cert)? {
        return Err(CertError::BasicConstraints(
            "an agency certificate must not be a CA certificate",
        ));
    }
    let subject = subject_of(&cert)?;
    let contact = contact_of(&cert)?;
    if !policy.allowed_roles.is_empty() && !policy.allowed_roles.contains(&subject.role) {
        let allowed: Vec<&str> = policy.allowed_roles.iter().map(|r| r.as_str()).collect();
        return Err(CertError::WrongRole {
            found: subject.role,
            allowed: allowed.join(", "),
        });
    }
    let key = ed25519_key(&cert, "agency certificate")?;
    if let Some(presented) = policy.expected_key
        && presented != key
    {
        return Err(CertError::KeyMismatch {
            certified: key,
            presented,
        });
    }
    let verified = VerifiedAgency {
        identity: AgencyIdentity {
            subject,
            key,
            serial,
            validity,
            issuer: anchor.common_name.clone(),
        },
        contact,
    };
    Ok((verified, retired_at))
}

/// The serial number (hex) of a certificate, without verifying it (for `ca revoke --cert`).
pub fn certificate_serial(pem: &str) -> Result<String, CertError> {
    let der = pem_der(pem, "CERTIFICATE")?;
    let cert = parse_certificate(&der)?;
    Ok(serial_hex(cert.raw_serial()))
}

/// The contact fields of a certificate, without verifying it: for a certificate that has just
/// passed [`verify_agency_certificate`] (which checks them the same way), or for display.
pub fn certificate_contact(pem: &str) -> Result<Contact, CertError> {
    let der = pem_der(pem, "CERTIFICATE")?;
    let cert = parse_certificate(&der)?;
    contact_of(&cert)
}
