//! Bounds on untrusted XML, checked in one streaming pass before any tree is built.
//!
//! roxmltree builds its tree recursively, so a 40 KB document nested 8 000 deep overflows
//! the stack and aborts the whole process. quick-xml's reader keeps no stack of its own, so
//! it measures the document first; only a document within the bounds reaches the tree
//! parser.

use quick_xml::events::Event;

/// How large, deep and busy an untrusted XML document may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlBounds {
    pub max_bytes: usize,
    /// Nesting of elements, the root counting as one.
    pub max_depth: usize,
    pub max_elements: usize,
}

/// A partner's CAP alert or Atom feed: CAP nests six deep, an enveloped XML signature a few
/// more; real feeds hold hundreds of entries.
pub const PARTNER_DOCUMENT: XmlBounds =
    XmlBounds { max_bytes: 4 << 20, max_depth: 32, max_elements: 100_000 };

/// Checks `xml` against `bounds`, answering why it is refused.
pub fn check(xml: &str, bounds: XmlBounds) -> Result<(), String> {
    if xml.len() > bounds.max_bytes {
        return Err(format!("the document is larger than {} bytes", bounds.max_bytes));
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut depth, mut elements) = (0usize, 0usize);
    loop {
        let opened = match reader.read_event() {
            Ok(Event::Start(_)) => {
                depth += 1;
                true
            }
            Ok(Event::Empty(_)) => true,
            Ok(Event::End(_)) => {
                depth = depth.saturating_sub(1);
                false
            }
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => false,
            Err(error) => return Err(format!("not well-formed XML: {error}")),
        };
        if opened {
            elements += 1;
            if depth > bounds.max_depth {
                return Err(format!("elements nest deeper than {}", bounds.max_depth));
            }
            if elements > bounds.max_elements {
                return Err(format!("the document has more than {} elements", bounds.max_elements));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth))
    }

    #[test]
    fn depth_elements_and_size_are_bounded() {
        let bounds = XmlBounds { max_bytes: 1 << 20, max_depth: 4, max_elements: 10 };
        assert_eq!(check(&nested(4), bounds), Ok(()));
        assert!(check(&nested(5), bounds).unwrap_err().contains("deeper than 4"));
        assert!(check(&format!("<r>{}</r>", "<e/>".repeat(10)), bounds)
            .unwrap_err()
            .contains("more than 10"));
        let small = XmlBounds { max_bytes: 8, ..bounds };
        assert!(check(&nested(3), small).unwrap_err().contains("larger than 8"));
        assert!(check("<a><b></a>", bounds).unwrap_err().starts_with("not well-formed"));
    }

    /// The document that aborted the server: measured on a thread with a worker's stack.
    #[test]
    fn a_document_nested_eight_thousand_deep_is_refused_without_exhausting_the_stack() {
        let deep = nested(8_000);
        let verdict = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || check(&deep, PARTNER_DOCUMENT))
            .expect("a thread")
            .join()
            .expect("no stack overflow");
        assert!(verdict.unwrap_err().contains("deeper than 32"));
    }
}
