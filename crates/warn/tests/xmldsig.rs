//! Enveloped XML Signatures on partners' CAP alerts, verified as libxmlsec1 verifies them.
//!
//! The fixtures in `tests/xmldsig/` were signed by Debian's `xmlsec1` with throwaway test
//! keys (their private halves are there so the differential test can sign more). The
//! differential test signs generated alerts with `xmlsec1` and fails, never skips, when it
//! is missing (Debian package `xmlsec1`; `scripts/test` installs it).

use std::path::PathBuf;
use std::process::Command;

use proptest::prelude::*;
use tearline_warn::cap::Alert;
use tearline_warn::xmldsig::{check, KeyError, PartnerKey, Signature};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).expect("fixture present")
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/xmldsig")
}

fn key(name: &str) -> PartnerKey {
    PartnerKey::from_pem(&fixture(name)).expect("a usable test key")
}

fn reason(signature: Signature) -> String {
    match signature {
        Signature::Failed { reason } => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn signatures_made_by_libxmlsec1_verify_and_are_read_as_cap() {
    let rsa = fixture("signed-rsa-exc.xml");
    let ec = fixture("signed-ec-inclusive.xml");
    let rsa_key = key("rsa-test-public.pem");
    let ec_key = key("ec-test-public.pem");
    assert_eq!(
        check(&rsa, std::slice::from_ref(&rsa_key)),
        Signature::Verified { fingerprint: rsa_key.fingerprint().to_owned() }
    );
    assert_eq!(
        check(&ec, std::slice::from_ref(&ec_key)),
        Signature::Verified { fingerprint: ec_key.fingerprint().to_owned() }
    );
    // The partner's certificate registers the same key as its bare public key.
    let from_certificate = key("rsa-test-cert.pem");
    assert_eq!(from_certificate, rsa_key);
    assert_eq!((rsa_key.kind(), ec_key.kind()), ("RSA", "ECDSA P-256"));
    // Any registered key of the sender may be the one that signed.
    assert!(matches!(check(&ec, &[rsa_key.clone(), ec_key]), Signature::Verified { .. }));
    for signed in [&rsa, &ec] {
        Alert::from_xml(signed).expect("a signed alert is valid CAP");
        assert_eq!(check(signed, &[]), Signature::Signed, "no key registered: signed, not verified");
    }
    assert_eq!(
        check(
            &fixture("template-rsa-exc.xml")
                .replace("<Signature", "<NotSignature")
                .replace("</Signature", "</NotSignature"),
            &[rsa_key]
        ),
        Signature::Unsigned
    );
}

#[test]
fn a_changed_alert_a_changed_signature_or_another_key_fail() {
    let rsa = fixture("signed-rsa-exc.xml");
    let rsa_key = key("rsa-test-public.pem");
    let ec_key = key("ec-test-public.pem");
    let changed = rsa.replace("Leave the market area now", "Stay in the market area");
    assert!(reason(check(&changed, std::slice::from_ref(&rsa_key))).contains("changed after it was signed"));
    // Reformatting what the signature covers changes it; reformatting the signature does not.
    let spaced = rsa.replace("<status>Actual</status>", "<status>Actual</status>\n");
    assert!(reason(check(&spaced, std::slice::from_ref(&rsa_key))).contains("changed after it was signed"));
    assert!(matches!(
        check(&rsa.replace("<SignatureValue>", "<SignatureValue>\n"), std::slice::from_ref(&rsa_key)),
        Signature::Verified { .. }
    ));
    // A digest forged to match a changed alert breaks the signature over SignedInfo.
    let forged = rsa.replace("<DigestValue>", "<DigestValue>AAAA");
    assert!(!matches!(check(&forged, std::slice::from_ref(&rsa_key)), Signature::Verified { .. }));
    assert!(reason(check(&rsa, std::slice::from_ref(&ec_key)))
        .contains("does not fit the registered ECDSA P-256 key"));
    let other = PartnerKey::from_pem(&openssl_public_key("rsa")).expect("usable");
    assert!(reason(check(&rsa, &[other])).contains("does not verify with the registered key"));
}

/// Signature wrapping presents a signed fragment while the reader takes the rest; only a
/// reference to the whole alert, with the enveloped-signature transform, is verified.
#[test]
fn only_the_whole_alert_profile_is_verified() {
    let rsa = fixture("signed-rsa-exc.xml");
    let rsa_key = key("rsa-test-public.pem");
    let cases = [
        (rsa.replace("<Reference URI=\"\">", "<Reference URI=\"#part\">"), "Reference URI=\"\""),
        (rsa.replace("xmldsig#enveloped-signature", "xmldsig#base64"), "enveloped-signature"),
        (rsa.replace("xmlenc#sha256", "xmldsig#sha1"), "is not accepted"),
        (
            rsa.replace(
                "<CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
                "<CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\"",
            ),
            "not supported",
        ),
        (rsa.replace("</Reference>", "</Reference><Reference URI=\"\"/>"), "exactly one Reference"),
    ];
    for (document, expected) in cases {
        let why = reason(check(&document, std::slice::from_ref(&rsa_key)));
        assert!(why.contains(expected), "{why}");
    }
}

#[test]
fn keys_that_cannot_verify_are_refused_when_registered() {
    assert_eq!(PartnerKey::from_pem("not a key"), Err(KeyError::NotPem));
    assert_eq!(
        PartnerKey::from_pem(&fixture("rsa-test-key.pem")),
        Err(KeyError::NotPem),
        "a private key is not registered"
    );
    let small = openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]);
    assert_eq!(PartnerKey::from_pem(&to_public(&small)), Err(KeyError::Unsupported));
    let ed25519 = openssl(&["genpkey", "-algorithm", "ed25519"]);
    assert_eq!(PartnerKey::from_pem(&to_public(&ed25519)), Err(KeyError::Unsupported));
    let p384 = openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
    assert_eq!(PartnerKey::from_pem(&to_public(&p384)).map(|k| k.kind()), Ok("ECDSA P-384"));
    let garbled = fixture("rsa-test-public.pem").replacen("MII", "MIJ", 1);
    assert!(PartnerKey::from_pem(&garbled).is_err());
}

fn openssl(args: &[&str]) -> String {
    let output = Command::new("openssl").args(args).output().expect("openssl runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("PEM is text")
}

fn to_public(private_pem: &str) -> String {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), private_pem).expect("written");
    openssl(&["pkey", "-in", file.path().to_str().expect("UTF-8 path"), "-pubout"])
}

fn openssl_public_key(algorithm: &str) -> String {
    to_public(&openssl(&["genpkey", "-algorithm", algorithm, "-pkeyopt", "rsa_keygen_bits:2048"]))
}

/// Signs `xml` (holding a signature template) with libxmlsec1.
fn xmlsec1_sign(xml: &str, private_key: &str) -> String {
    let input = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(input.path(), xml).expect("written");
    let output = Command::new("xmlsec1")
        .args(["sign", "--privkey-pem"])
        .arg(dir().join(private_key))
        .arg(input.path())
        .output()
        .expect("xmlsec1 must be installed (Debian package xmlsec1; scripts/test installs it)");
    assert!(output.status.success(), "xmlsec1: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Text as a partner's system might write it: escaped, as character references or in CDATA.
fn written(text: &str, style: u8) -> String {
    if style == 2 && !text.contains("]]>") && !text.contains('\r') {
        return format!("<![CDATA[{text}]]>");
    }
    text.chars()
        .map(|c| match (c, style) {
            ('&', _) => "&amp;".to_owned(),
            ('<', _) => "&lt;".to_owned(),
            ('\r', _) => "&#xD;".to_owned(),
            ('>', 1) | ('"', 1) | ('é', 1) => format!("&#{};", u32::from(c)),
            (c, _) => c.to_string(),
        })
        .collect()
}

fn template(
    headline: &str,
    description: &str,
    style: u8,
    exclusive: bool,
    prefixed: bool,
    ecdsa: bool,
) -> String {
    let (open, close, ns) = if prefixed {
        ("cap:", "cap:", "xmlns:cap=\"urn:oasis:names:tc:emergency:cap:1.2\" xmlns:x=\"urn:example:x\"")
    } else {
        ("", "", "xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"")
    };
    let body = format!(
        "<{open}identifier>P-1</{close}identifier><{open}sender>s@partner.example</{close}sender>\
         <{open}sent>2026-11-26T09:30:00-00:00</{close}sent><{open}status>Test</{close}status>\
         <{open}msgType>Alert</{close}msgType><{open}scope>Public</{close}scope>\n  <{open}info>\
         <{open}category>Safety</{close}category><{open}event>Drill</{close}event>\
         <{open}urgency>Past</{close}urgency><{open}severity>Minor</{close}severity>\
         <{open}certainty>Unlikely</{close}certainty>\
         <{open}headline>{}</{close}headline><{open}description>{}</{close}description></{close}info>\n",
        written(headline, style),
        written(description, style.wrapping_add(1) % 3),
    );
    let c14n = if exclusive {
        "http://www.w3.org/2001/10/xml-exc-c14n#"
    } else {
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    };
    let method = if ecdsa { "ecdsa-sha256" } else { "rsa-sha512" };
    let digest = if exclusive {
        "http://www.w3.org/2001/04/xmldsig-more#sha384"
    } else {
        "http://www.w3.org/2001/04/xmlenc#sha256"
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{open}alert {ns}>\n  {body}\
         <Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><SignedInfo>\
         <CanonicalizationMethod Algorithm=\"{c14n}\"/>\
         <SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#{method}\"/>\
         <Reference URI=\"\"><Transforms><Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
         <Transform Algorithm=\"{c14n}\"/></Transforms><DigestMethod Algorithm=\"{digest}\"/><DigestValue/></Reference>\
         </SignedInfo><SignatureValue/></Signature></{close}alert>\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Whatever text, escaping, namespace style, canonicalisation and algorithm a partner
    /// uses, what libxmlsec1 signs verifies here, and one changed character fails.
    #[test]
    fn what_libxmlsec1_signs_verifies_here_and_a_change_does_not(
        headline in "[a-zA-Z0-9 &<>\"'\r\n\té漢\u{1F30A}]{1,40}",
        description in "[a-z &<>\"\r\n\t\u{A0}]{0,60}",
        style in 0u8..3,
        exclusive: bool,
        prefixed: bool,
        ecdsa: bool,
    ) {
        let (private, public) = if ecdsa { ("ec-test-key.pem", "ec-test-public.pem") } else { ("rsa-test-key.pem", "rsa-test-public.pem") };
        let signed = xmlsec1_sign(&template(&headline, &description, style, exclusive, prefixed, ecdsa), private);
        let key = key(public);
        prop_assert_eq!(check(&signed, std::slice::from_ref(&key)), Signature::Verified { fingerprint: key.fingerprint().to_owned() });
        let changed = signed.replacen("<cap:event>Drill<", "<cap:event>Drilk<", 1).replacen("<event>Drill<", "<event>Drilk<", 1);
        let failed = matches!(check(&changed, std::slice::from_ref(&key)), Signature::Failed { .. });
        prop_assert!(failed, "a changed alert must fail");
    }
}
