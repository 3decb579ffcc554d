//! An agency's contact fields, carried in its certificate where every X.509 tool shows them:
//! email addresses as subjectAltName `rfc822Name`s, a website or contact page as one
//! subjectAltName `uniformResourceIdentifier` (https only), and a phone number as the subject
//! attribute `telephoneNumber` (2.5.4.20, a PrintableString).
//!
//! The same checks run when the authority issues a certificate and when anyone verifies one,
//! so a value that could not have been issued is refused on reading, too. Everything is ASCII
//! and bounded: these fields end up in police officers' screens and in other tools' output,
//! and a certificate is no place for free text.

use serde::Serialize;

/// Most contact email addresses in one certificate.
pub const MAX_CONTACT_EMAILS: usize = 4;
/// Longest email address (RFC 5321's 256-octet path, less its angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest local part of an email address (RFC 5321).
pub const MAX_EMAIL_LOCAL_LEN: usize = 64;
/// Longest phone number (X.520's upper bound for telephoneNumber, ub-telephone-number).
pub const MAX_PHONE_LEN: usize = 32;
/// Longest contact URL. A contact page needs no more; it keeps certificates small.
pub const MAX_URL_LEN: usize = 256;
/// Longest host name (RFC 1035, without the trailing dot).
const MAX_HOST_LEN: usize = 253;
/// How much of a refused value an error message repeats.
const SHOWN_LEN: usize = 80;

/// How an agency can be reached, as its certificate states it. Every field is optional; a
/// certificate without any of them is exactly what certificates were before contact fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// Email addresses (subjectAltName rfc822Name), in the order issued; at most
    /// [`MAX_CONTACT_EMAILS`], no duplicates (compared without case).
    pub emails: Vec<String>,
    /// A phone number (subject telephoneNumber), e.g. `+31 20 555 0100`.
    pub phone: Option<String>,
    /// A website or contact page (subjectAltName URI), `https://` only.
    pub url: Option<String>,
}

/// Why a contact value was refused (at issue time, or when reading a certificate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContactError {
    /// More email addresses than [`MAX_CONTACT_EMAILS`].
    #[error("{count} contact email addresses given, at most {MAX_CONTACT_EMAILS} are allowed")]
    TooManyEmails {
        /// How many were given.
        count: usize,
    },
    /// The same email address twice.
    #[error("contact email {0} is given twice")]
    DuplicateEmail(String),
    /// An email address that is not plausible.
    #[error("contact email {value} is refused: {reason}")]
    Email {
        /// The value (shortened if long), quoted.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A phone number that is not plausible.
    #[error("contact phone {value} is refused: {reason}")]
    Phone {
        /// The value (shortened if long), quoted.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A contact URL that is not an https URL.
    #[error("contact URL {value} is refused: {reason}")]
    Url {
        /// The value (shortened if long), quoted.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A refused value as an error message repeats it: quoted with escapes (so control characters
/// cannot forge log lines) and cut short (an operator's typo can be long).
fn shown(value: &str) -> String {
    if value.chars().count() <= SHOWN_LEN {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(SHOWN_LEN).collect();
        format!("{head:?}…")
    }
}

impl Contact {
    /// Whether no contact field is set.
    pub fn is_empty(&self) -> bool {
        self.emails.is_empty() && self.phone.is_none() && self.url.is_none()
    }

    /// Checks every field and the counts; the first problem is the error.
    pub fn validate(&self) -> Result<(), ContactError> {
        if self.emails.len() > MAX_CONTACT_EMAILS {
            return Err(ContactError::TooManyEmails {
                count: self.emails.len(),
            });
        }
        for (i, email) in self.emails.iter().enumerate() {
            check_email(email)?;
            if self.emails[..i]
                .iter()
                .any(|earlier| earlier.eq_ignore_ascii_case(email))
            {
                return Err(ContactError::DuplicateEmail(shown(email)));
            }
        }
        if let Some(phone) = &self.phone {
            check_phone(phone)?;
        }
        if let Some(url) = &self.url {
            check_url(url)?;
        }
        Ok(())
    }
}

/// A DNS host name: ASCII letters, digits and hyphens in dot-separated labels of 1 to 63
/// characters, not starting or ending with a hyphen, at least two labels, and a last label
/// that is not numeric (so no IP address passes as a host). IDNs must come as A-labels.
fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("the host name is empty");
    }
    if host.len() > MAX_HOST_LEN {
        return Err("the host name is too long");
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Err("the host name needs at least two labels (e.g. agency.example)");
    }
    let valid = labels.iter().all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if !valid {
        return Err("the host name is not a valid DNS name");
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("the host name ends in a numeric label (an IP address is not a host name)");
    }
    Ok(())
}

/// Characters of an unquoted local part (RFC 5322 `atext`), besides letters and digits.
const LOCAL_SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";

fn check_email(email: &str) -> Result<(), ContactError> {
    let refuse = |reason| ContactError::Email {
        value: shown(email),
        reason,
    };
    if email.len() > MAX_EMAIL_LEN {
        return Err(refuse("longer than 254 characters"));
    }
    if !email.is_ascii() {
        return Err(refuse("only ASCII addresses can be certified (rfc822Name)"));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(refuse("no @"));
    };
    if local.is_empty() || local.len() > MAX_EMAIL_LOCAL_LEN {
        return Err(refuse("the part before @ must be 1 to 64 characters"));
    }
    // Dot-atom only: quoted local parts are legal but never needed for an agency's address,
    // and would let spaces, quotes and backslashes into the certificate.
    let local_ok = local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || LOCAL_SPECIALS.contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err(refuse(
            "the part before @ has characters or dots not allowed in an address",
        ));
    }
    check_host(domain).map_err(refuse)
}

/// Characters of an ASN.1 PrintableString (X.680), which X.520 prescribes for telephoneNumber.
fn is_printable_string_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

fn check_phone(phone: &str) -> Result<(), ContactError> {
    let refuse = |reason| ContactError::Phone {
        value: shown(phone),
        reason,
    };
    if phone.is_empty() {
        return Err(refuse("empty"));
    }
    if phone.chars().count() > MAX_PHONE_LEN {
        return Err(refuse("longer than 32 characters"));
    }
    if !phone.chars().all(is_printable_string_char) {
        return Err(refuse(
            "only letters, digits, spaces and ' ( ) + , - . / : = ? are allowed",
        ));
    }
    if phone.starts_with(' ') || phone.ends_with(' ') || phone.contains("  ") {
        return Err(refuse("leading, trailing or repeated spaces"));
    }
    if !phone.chars().any(|c| c.is_ascii_digit()) {
        return Err(refuse("no digits"));
    }
    Ok(())
}

/// Characters allowed in a URL's path, query and fragment: printable ASCII except those RFC
/// 3986 never allows unescaped (space, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`).
fn is_url_char(b: u8) -> bool {
    b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b)
}

fn check_url(url: &str) -> Result<(), ContactError> {
    let refuse = |reason| ContactError::Url {
        value: shown(url),
        reason,
    };
    if url.len() > MAX_URL_LEN {
        return Err(refuse("longer than 256 characters"));
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(refuse("only https:// URLs are allowed"));
    };
    if !rest.bytes().all(is_url_char) {
        return Err(refuse(
            "spaces, non-ASCII or characters not allowed in a URL",
        ));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // User information in a URL only ever serves to disguise the real host.
    if authority.contains('@') {
        return Err(refuse("user names or passwords in the URL are not allowed"));
    }
    let host = match authority.split_once(':') {
        Some((host, port)) => {
            let port_ok = !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok_and(|p| p > 0);
            if !port_ok {
                return Err(refuse("the port is not a number from 1 to 65535"));
            }
            host
        }
        None => authority,
    };
    check_host(host).map_err(refuse)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;

    fn full() -> Contact {
        Contact {
            emails: vec![
                "hotline@nl-hotline.example".into(),
                "duty.officer+24h@nl-hotline.example".into(),
            ],
            phone: Some("+31 20 555 0100".into()),
            url: Some("https://nl-hotline.example/contact?lang=en#form".into()),
        }
    }

    #[test]
    fn plausible_values_and_no_contact_at_all_are_accepted() {
        assert_eq!(full().validate(), Ok(()));
        assert_eq!(Contact::default().validate(), Ok(()));
        assert!(Contact::default().is_empty());
        assert!(!full().is_empty());
        let with_port = Contact {
            url: Some("https://xn--bcher-kva.example:8443".into()),
            ..Contact::default()
        };
        assert_eq!(with_port.validate(), Ok(()));
    }

    #[test]
    fn implausible_emails_are_refused_with_the_reason() {
        for bad in [
            "",
            "no-at-sign.example",
            "@nl-hotline.example",
            "hotline@",
            "hotline@localhost",
            "hotline@@nl-hotline.example",
            "hot line@nl-hotline.example",
            ".hotline@nl-hotline.example",
            "hot..line@nl-hotline.example",
            "\"quoted\"@nl-hotline.example",
            "hotline@nl_hotline.example",
            "hotline@-nl.example",
            "hotline@nl-hotline..example",
            "hotline@192.0.2.1",
            "hotline@[192.0.2.1]",
            "meldpunt@bücher.example",
            "hotline@nl-hotline.example\n",
        ] {
            let contact = Contact {
                emails: vec![bad.into()],
                ..Contact::default()
            };
            assert!(
                matches!(contact.validate(), Err(ContactError::Email { .. })),
                "{bad:?} was accepted"
            );
        }
        let long_local = format!("{}@nl-hotline.example", "a".repeat(65));
        let long_total = format!("a@{}.example", "b.".repeat(125));
        for bad in [long_local, long_total] {
            let contact = Contact {
                emails: vec![bad],
                ..Contact::default()
            };
            assert!(matches!(
                contact.validate(),
                Err(ContactError::Email { .. })
            ));
        }
    }

    #[test]
    fn too_many_or_duplicate_emails_are_refused() {
        let five = Contact {
            emails: (0..5)
                .map(|i| format!("desk{i}@nl-hotline.example"))
                .collect(),
            ..Contact::default()
        };
        assert_eq!(
            five.validate(),
            Err(ContactError::TooManyEmails { count: 5 })
        );
        let twice = Contact {
            emails: vec![
                "hotline@nl-hotline.example".into(),
                "Hotline@NL-hotline.example".into(),
            ],
            ..Contact::default()
        };
        assert!(matches!(
            twice.validate(),
            Err(ContactError::DuplicateEmail(_))
        ));
    }

    #[test]
    fn implausible_phones_are_refused() {
        for bad in [
            "",
            " +31 20 555 0100",
            "+31 20 555 0100 ",
            "+31  20 555 0100",
            "call us",
            "+31 20 555 0100; DROP",
            "+31 20 555 0100\u{7}",
            "+31 (0)20 555 0100 ext 123456789012",
            "+31 20 555 0100 ☎",
        ] {
            let contact = Contact {
                phone: Some(bad.into()),
                ..Contact::default()
            };
            assert!(
                matches!(contact.validate(), Err(ContactError::Phone { .. })),
                "{bad:?} was accepted"
            );
        }
        let ok = Contact {
            phone: Some("+31 (0)20 555 0100 ext. 12".into()),
            ..Contact::default()
        };
        assert_eq!(ok.validate(), Ok(()));
    }

    #[test]
    fn urls_other_than_plain_https_are_refused() {
        for bad in [
            "http://nl-hotline.example/",
            "HTTPS://nl-hotline.example/",
            "ftp://nl-hotline.example/",
            "javascript:alert(1)",
            "https://",
            "https:///contact",
            "https://nl-hotline/contact",
            "https://user:secret@nl-hotline.example/",
            "https://nl-hotline.example:0/",
            "https://nl-hotline.example:65536/",
            "https://nl-hotline.example:/",
            "https://192.0.2.1/",
            "https://[2001:db8::1]/",
            "https://nl-hotline.example/a b",
            "https://nl-hotline.example/<script>",
            "https://bücher.example/",
        ] {
            let contact = Contact {
                url: Some(bad.into()),
                ..Contact::default()
            };
            assert!(
                matches!(contact.validate(), Err(ContactError::Url { .. })),
                "{bad:?} was accepted"
            );
        }
        let long = Contact {
            url: Some(format!("https://nl-hotline.example/{}", "a".repeat(240))),
            ..Contact::default()
        };
        assert!(matches!(long.validate(), Err(ContactError::Url { .. })));
    }

    #[test]
    fn error_messages_quote_and_shorten_the_value() {
        let contact = Contact {
            emails: vec![format!("{}\n@x", "a".repeat(300))],
            ..Contact::default()
        };
        let message = contact.validate().unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
        let forged_line = Contact {
            phone: Some("+31 20\nERROR forged".into()),
            ..Contact::default()
        };
        let message = forged_line.validate().unwrap_err().to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains("\\n"), "{message}");
    }

    proptest::proptest! {
        /// Whatever a person types, validation answers without panicking, and whatever it
        /// accepts is ASCII and within the bounds.
        #[test]
        fn validation_is_total_and_accepts_only_bounded_ascii(
            email in "\\PC{0,80}",
            phone in "\\PC{0,40}",
            url in "(https://)?\\PC{0,60}",
        ) {
            let contact = Contact { emails: vec![email], phone: Some(phone), url: Some(url) };
            if contact.validate().is_ok() {
                proptest::prop_assert!(contact.emails[0].is_ascii() && contact.emails[0].len() <= MAX_EMAIL_LEN);
                let phone = contact.phone.unwrap_or_default();
                proptest::prop_assert!(phone.is_ascii() && phone.len() <= MAX_PHONE_LEN);
                let url = contact.url.unwrap_or_default();
                proptest::prop_assert!(url.starts_with("https://") && url.len() <= MAX_URL_LEN);
            }
        }

        /// Generated plausible addresses, phones and URLs are accepted.
        #[test]
        fn plausible_generated_values_are_accepted(
            local in "[a-z0-9]{1,20}([._+-][a-z0-9]{1,10}){0,2}",
            host in "[a-z0-9]{1,20}(-[a-z0-9]{1,10})?",
            tld in "(example|test)",
            phone in "\\+[1-9][0-9]{1,3}( [0-9]{2,4}){1,4}",
            path in "(/[a-zA-Z0-9._~-]{1,20}){0,3}",
        ) {
            let contact = Contact {
                emails: vec![format!("{local}@{host}.{tld}")],
                phone: Some(phone),
                url: Some(format!("https://{host}.{tld}{path}")),
            };
            proptest::prop_assert_eq!(contact.validate(), Ok(()));
        }
    }
}
