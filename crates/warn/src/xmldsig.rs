//! Verifying the enveloped XML Signature a partner's CAP alert may carry (CAP 1.2 §3.3.4.1),
//! against the keys registered for its sender.
//!
//! One profile is accepted, the one CAP describes and partners such as FEMA IPAWS use: a
//! signature that is a child of `<alert>`, with exactly one `Reference URI=""` to the whole
//! document, the enveloped-signature transform (optionally followed by a canonicalisation),
//! a SHA-2 digest, and an RSA PKCS#1 v1.5 or ECDSA signature over SHA-2. Anything else
//! (references to parts of the document, XPath or XSLT transforms, SHA-1, HMAC) is not
//! verified: references to fragments are how signature-wrapping attacks present a signed
//! part while the reader takes another, and SHA-1 no longer resists collisions.
//!
//! The key comes from the registry, never from the document's `KeyInfo`: a certificate
//! the document carries proves only that someone signed it.

use base64::Engine as _;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use roxmltree::{Document, Node};
use sha2::Digest as _;
use spki::der::{Decode as _, Encode as _, Tagged as _};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use crate::c14n;

/// XML Signature, whose elements the CAP 1.2 schema admits after the last `<info>`.
pub const XMLDSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// A partner's public key as registered, from a PEM public key or certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct PartnerKey {
    kind: KeyKind,
    /// The SubjectPublicKeyInfo's key bits: an RSAPublicKey, or an uncompressed EC point.
    key: Vec<u8>,
    fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
}

/// Why a registered key could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("expected a PEM \"PUBLIC KEY\" or \"CERTIFICATE\"")]
    NotPem,
    #[error("the {0} is not valid DER")]
    Malformed(&'static str),
    #[error("only RSA (2048 bits or more) and ECDSA P-256 or P-384 keys are accepted")]
    Unsupported,
}

impl PartnerKey {
    /// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or `CERTIFICATE` (its subject's key).
    pub fn from_pem(text: &str) -> Result<PartnerKey, KeyError> {
        let (label, der) =
            spki::der::pem::decode_vec(text.trim().as_bytes()).map_err(|_| KeyError::NotPem)?;
        match label {
            "CERTIFICATE" => {
                Self::from_spki(&certificate_key(&der).ok_or(KeyError::Malformed("certificate"))?)
            }
            "PUBLIC KEY" => Self::from_spki(&der),
            _ => Err(KeyError::NotPem),
        }
    }

    fn from_spki(der: &[u8]) -> Result<PartnerKey, KeyError> {
        let info = SubjectPublicKeyInfoRef::from_der(der).map_err(|_| KeyError::Malformed("public key"))?;
        let curve = info.algorithm.parameters_oid().ok();
        let kind = match (info.algorithm.oid, curve) {
            (RSA_ENCRYPTION, _) => KeyKind::Rsa,
            (EC_PUBLIC_KEY, Some(P256)) => KeyKind::EcP256,
            (EC_PUBLIC_KEY, Some(P384)) => KeyKind::EcP384,
            _ => return Err(KeyError::Unsupported),
        };
        let key = info.subject_public_key.as_bytes().ok_or(KeyError::Malformed("public key"))?.to_vec();
        let fingerprint = sha2::Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect();
        let key = PartnerKey { kind, key, fingerprint };
        // A key ring cannot use (RSA under 2048 bits, a point off the curve) is refused now,
        // not discovered when the first alert fails to verify.
        key.usable().then_some(key).ok_or(KeyError::Unsupported)
    }

    /// SHA-256 of the key's SubjectPublicKeyInfo, in hex: what a partner reads out to
    /// confirm the key registered is theirs.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// "RSA", "ECDSA P-256" or "ECDSA P-384".
    pub fn kind(&self) -> &'static str {
        match self.kind {
            KeyKind::Rsa => "RSA",
            KeyKind::EcP256 => "ECDSA P-256",
            KeyKind::EcP384 => "ECDSA P-384",
        }
    }

    fn usable(&self) -> bool {
        match self.kind {
            KeyKind::Rsa => rsa_modulus_bits(&self.key).is_some_and(|bits| (2048..=8192).contains(&bits)),
            KeyKind::EcP256 => self.key.len() == 65 && self.key.first() == Some(&4),
            KeyKind::EcP384 => self.key.len() == 97 && self.key.first() == Some(&4),
        }
    }

    fn algorithm(&self, method: &str) -> Option<&'static dyn VerificationAlgorithm> {
        let algorithm: &'static dyn VerificationAlgorithm = match (self.kind, method) {
            (KeyKind::Rsa, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256") => {
                &signature::RSA_PKCS1_2048_8192_SHA256
            }
            (KeyKind::Rsa, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384") => {
                &signature::RSA_PKCS1_2048_8192_SHA384
            }
            (KeyKind::Rsa, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512") => {
                &signature::RSA_PKCS1_2048_8192_SHA512
            }
            (KeyKind::EcP256, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256") => {
                &signature::ECDSA_P256_SHA256_FIXED
            }
            (KeyKind::EcP384, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384") => {
                &signature::ECDSA_P384_SHA384_FIXED
            }
            _ => return None,
        };
        Some(algorithm)
    }
}

impl std::fmt::Debug for PartnerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PartnerKey({} {})", self.kind(), self.fingerprint)
    }
}

/// The size of an RSAPublicKey's modulus (PKCS#1: a sequence of modulus and exponent).
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    use spki::der::{asn1::AnyRef, asn1::UintRef, SliceReader};
    let key = AnyRef::from_der(der).ok()?;
    let mut fields = SliceReader::new(key.value()).ok()?;
    let modulus = UintRef::decode(&mut fields).ok()?;
    UintRef::decode(&mut fields).ok()?;
    let modulus = modulus.as_bytes();
    let leading = modulus.first().map_or(8, |b| b.leading_zeros() as usize);
    Some(modulus.len() * 8 - leading)
}

/// The SubjectPublicKeyInfo of an X.509 certificate: the seventh field of `tbsCertificate`
/// when the explicit version is present (always, for the v3 certificates partners use).
fn certificate_key(der: &[u8]) -> Option<Vec<u8>> {
    use spki::der::{asn1::AnyRef, SliceReader};
    let certificate = AnyRef::from_der(der).ok()?;
    let tbs = AnyRef::decode(&mut SliceReader::new(certificate.value()).ok()?).ok()?;
    let mut fields = SliceReader::new(tbs.value()).ok()?;
    let mut field = AnyRef::decode(&mut fields).ok()?;
    if field.tag().is_context_specific() {
        field = AnyRef::decode(&mut fields).ok()?; // the serial number, after the [0] version
    }
    let _serial = field;
    for _ in 0..4 {
        AnyRef::decode(&mut fields).ok()?; // signature, issuer, validity, subject
    }
    AnyRef::decode(&mut fields).ok()?.to_der().ok()
}

/// What can be said of an alert's signature, given the keys registered for its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// The alert carries no XML Signature.
    Unsigned,
    /// Signed, but no key is registered for its sender, so nothing was verified.
    Signed,
    /// A signature verifies with the registered key of this fingerprint.
    Verified { fingerprint: String },
    /// A key is registered, and no signature verifies with it: why.
    Failed { reason: String },
}

impl Signature {
    /// What an alert list shows beside the alert.
    pub fn label(&self) -> &'static str {
        match self {
            Signature::Unsigned => "unsigned",
            Signature::Signed => "signed, not verified",
            Signature::Verified { .. } => "verified",
            Signature::Failed { .. } => "signature does not verify",
        }
    }

    /// The machine-readable state: `unsigned`, `signed`, `verified` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Signature::Unsigned => "unsigned",
            Signature::Signed => "signed",
            Signature::Verified { .. } => "verified",
            Signature::Failed { .. } => "failed",
        }
    }
}

/// Checks the enveloped signatures of an alert document (already read by the CAP reader,
/// so within `bounded::PARTNER_DOCUMENT`) against `keys`, the keys registered for its sender.
pub fn check(xml: &str, keys: &[PartnerKey]) -> Signature {
    let options = roxmltree::ParsingOptions { allow_dtd: false, ..Default::default() };
    let Some(document) = crate::bounded::check(xml, crate::bounded::PARTNER_DOCUMENT)
        .ok()
        .and_then(|()| Document::parse_with_options(xml, options).ok())
    else {
        return Signature::Unsigned;
    };
    let signatures: Vec<Node> = document
        .root_element()
        .children()
        .filter(|child| child.has_tag_name((XMLDSIG, "Signature")))
        .collect();
    if signatures.is_empty() {
        return Signature::Unsigned;
    }
    if keys.is_empty() {
        return Signature::Signed;
    }
    let mut first_failure = None;
    for signature in &signatures {
        for key in keys {
            match verify(&document, *signature, key) {
                Ok(()) => return Signature::Verified { fingerprint: key.fingerprint.clone() },
                Err(reason) => {
                    first_failure.get_or_insert(reason);
                }
            }
        }
    }
    Signature::Failed { reason: first_failure.unwrap_or_default() }
}

/// Verifies one `<Signature>` child of the document's root with one key.
fn verify(document: &Document, signature: Node, key: &PartnerKey) -> Result<(), String> {
    let mut parts = signature.children().filter(Node::is_element);
    let signed_info =
        parts.next().filter(|n| n.has_tag_name((XMLDSIG, "SignedInfo"))).ok_or("no SignedInfo")?;
    let value =
        parts.next().filter(|n| n.has_tag_name((XMLDSIG, "SignatureValue"))).ok_or("no SignatureValue")?;
    let mut info = signed_info.children().filter(Node::is_element);
    let canonicalization = info
        .next()
        .filter(|n| n.has_tag_name((XMLDSIG, "CanonicalizationMethod")))
        .ok_or("no CanonicalizationMethod")?;
    let method =
        info.next().filter(|n| n.has_tag_name((XMLDSIG, "SignatureMethod"))).ok_or("no SignatureMethod")?;
    let references: Vec<Node> = info.collect();
    let [reference] = references.as_slice() else {
        return Err("a signature over the whole alert has exactly one Reference".into());
    };
    if !reference.has_tag_name((XMLDSIG, "Reference")) || reference.attribute("URI") != Some("") {
        return Err("only a Reference URI=\"\" (the whole alert) is accepted".into());
    }
    check_digest(document, signature, *reference)?;

    let method_uri = method.attribute("Algorithm").unwrap_or_default();
    let algorithm = key.algorithm(method_uri).ok_or_else(|| {
        format!("the signature method {method_uri} does not fit the registered {} key", key.kind())
    })?;
    let signed = canonicalization_method(canonicalization)?.subtree(signed_info);
    let value = decode_base64(value.text().unwrap_or_default()).ok_or("SignatureValue is not base64")?;
    UnparsedPublicKey::new(algorithm, &key.key)
        .verify(&signed, &value)
        .map_err(|_| "the signature value does not verify with the registered key".to_owned())
}

/// Recomputes the reference's digest over the alert without this signature.
fn check_digest(document: &Document, signature: Node, reference: Node) -> Result<(), String> {
    let mut parts = reference.children().filter(Node::is_element).peekable();
    let transforms: Vec<Node> = match parts.peek() {
        Some(node) if node.has_tag_name((XMLDSIG, "Transforms")) => {
            let node = parts.next().ok_or("no Transforms")?;
            node.children().filter(Node::is_element).collect()
        }
        _ => Vec::new(),
    };
    let (enveloped, canonicalization) = match transforms.as_slice() {
        [enveloped] => (enveloped, None),
        [enveloped, canonicalization] => (enveloped, Some(canonicalization)),
        _ => return Err("expected the enveloped-signature transform and at most a canonicalisation".into()),
    };
    if enveloped.attribute("Algorithm") != Some(ENVELOPED) {
        return Err("the first transform must be enveloped-signature".into());
    }
    // Without a canonicalisation the node set becomes octets by Canonical XML 1.0.
    let method = match canonicalization {
        Some(node) => canonicalization_method(*node)?,
        None => c14n::Method { exclusive: false, with_comments: false, inclusive_prefixes: Vec::new() },
    };
    let digest_method =
        parts.next().filter(|n| n.has_tag_name((XMLDSIG, "DigestMethod"))).ok_or("no DigestMethod")?;
    let expected =
        parts.next().filter(|n| n.has_tag_name((XMLDSIG, "DigestValue"))).ok_or("no DigestValue")?;
    let expected = decode_base64(expected.text().unwrap_or_default()).ok_or("DigestValue is not base64")?;
    let canonical = method.document(document, Some(signature.id()));
    let actual = match digest_method.attribute("Algorithm").unwrap_or_default() {
        "http://www.w3.org/2001/04/xmlenc#sha256" => sha2::Sha256::digest(&canonical).to_vec(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => sha2::Sha384::digest(&canonical).to_vec(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => sha2::Sha512::digest(&canonical).to_vec(),
        other => return Err(format!("the digest method {other} is not accepted (SHA-256, -384 or -512)")),
    };
    if actual == expected {
        Ok(())
    } else {
        Err("the alert's digest does not match: it was changed after it was signed".into())
    }
}

fn canonicalization_method(node: Node) -> Result<c14n::Method, String> {
    let uri = node.attribute("Algorithm").unwrap_or_default();
    let mut method =
        c14n::Method::from_uri(uri).ok_or_else(|| format!("the canonicalisation {uri} is not supported"))?;
    if method.exclusive {
        let listed = node.children().find(|n| n.has_tag_name((EXC_C14N, "InclusiveNamespaces")));
        method.inclusive_prefixes = listed
            .and_then(|n| n.attribute("PrefixList"))
            .unwrap_or_default()
            .split_ascii_whitespace()
            .map(|prefix| if prefix == "#default" { String::new() } else { prefix.to_owned() })
            .collect();
    }
    Ok(method)
}

/// base64 as XML Signature writes it: whitespace (line breaks) between characters allowed.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact).ok()
}
