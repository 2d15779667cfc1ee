//! XML canonicalisation, as XML Signature needs it to compute what was signed: Canonical
//! XML 1.0 and Exclusive XML Canonicalization 1.0, each with or without comments.
//!
//! Written here rather than taken from a crate: the narrow need (an enveloped signature over
//! one document, and its `SignedInfo`) is a few hundred lines over the roxmltree tree the CAP
//! reader already builds, while the pure-Rust XML security crates bring hundreds of
//! dependencies for encryption, PKCS#11 and more. It is checked against libxmlsec1 in tests.
//!
//! roxmltree has already done what canonical XML takes from the parser: entities and
//! character references expanded, CDATA sections merged into text, line ends normalised and
//! attribute values normalised. The input must come through `bounded::check`, which limits
//! how deep the recursion here goes.

use std::collections::BTreeMap;

use roxmltree::{Document, Node, NodeId, NodeType, NS_XML_URI};

/// Which canonicalisation to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// Exclusive canonicalisation: only namespaces an element or its attributes use are
    /// written, so a signed fragment's form does not depend on where it sits.
    pub exclusive: bool,
    pub with_comments: bool,
    /// Exclusive only: prefixes written as inclusive canonicalisation would
    /// (`InclusiveNamespaces PrefixList`); the default namespace is `""`.
    pub inclusive_prefixes: Vec<String>,
}

impl Method {
    /// The method an algorithm URI names, when it is one of the four supported.
    pub fn from_uri(uri: &str) -> Option<Method> {
        let (exclusive, with_comments) = match uri {
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315" => (false, false),
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments" => (false, true),
            "http://www.w3.org/2001/10/xml-exc-c14n#" => (true, false),
            "http://www.w3.org/2001/10/xml-exc-c14n#WithComments" => (true, true),
            _ => return None,
        };
        Some(Method { exclusive, with_comments, inclusive_prefixes: Vec::new() })
    }

    /// The canonical form of a whole document (a same-document reference `URI=""`), without
    /// `omit` and its descendants (the enveloped-signature transform). A document reference
    /// never carries comments, whatever the method says (XML Signature §4.4.3.3).
    pub fn document(&self, document: &Document, omit: Option<NodeId>) -> Vec<u8> {
        let method = Method { with_comments: false, ..self.clone() };
        let mut out = Vec::new();
        let mut before_root = true;
        for child in document.root().children() {
            if child.is_element() {
                method.element(child, &Rendered::new(), true, omit, &mut out);
                before_root = false;
                continue;
            }
            let mut leaf = Vec::new();
            method.leaf(child, &mut leaf);
            if leaf.is_empty() {
                continue;
            }
            if !before_root {
                out.push(b'\n');
            }
            out.extend_from_slice(&leaf);
            if before_root {
                out.push(b'\n');
            }
        }
        out
    }

    /// The canonical form of the subtree at `apex` (a `SignedInfo`), in its document's context.
    pub fn subtree(&self, apex: Node) -> Vec<u8> {
        let mut out = Vec::new();
        self.element(apex, &Rendered::new(), true, None, &mut out);
        out
    }

    fn element(&self, node: Node, rendered: &Rendered, apex: bool, omit: Option<NodeId>, out: &mut Vec<u8>) {
        let qname = element_qname(node);
        let mut rendered = rendered.clone();
        let declarations = self.declarations(node, qname, &mut rendered);
        out.push(b'<');
        out.extend_from_slice(qname.as_bytes());
        for (prefix, uri) in &declarations {
            out.extend_from_slice(if prefix.is_empty() { b" xmlns" } else { b" xmlns:" });
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_attribute(uri, out);
            out.push(b'"');
        }
        for (_, qname, value) in self.attributes(node, apex) {
            out.push(b' ');
            out.extend_from_slice(qname.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_attribute(value, out);
            out.push(b'"');
        }
        out.push(b'>');
        for child in node.children() {
            match child.node_type() {
                NodeType::Element if Some(child.id()) != omit => {
                    self.element(child, &rendered, false, omit, out)
                }
                NodeType::Text => escape_text(child.text().unwrap_or_default(), out),
                NodeType::PI | NodeType::Comment => self.leaf(child, out),
                _ => {}
            }
        }
        out.extend_from_slice(b"</");
        out.extend_from_slice(qname.as_bytes());
        out.push(b'>');
    }

    /// A processing instruction, or a comment when comments are kept.
    fn leaf(&self, node: Node, out: &mut Vec<u8>) {
        if let Some(pi) = node.pi() {
            out.extend_from_slice(b"<?");
            out.extend_from_slice(pi.target.as_bytes());
            if let Some(value) = pi.value.filter(|value| !value.is_empty()) {
                out.push(b' ');
                out.extend_from_slice(value.as_bytes());
            }
            out.extend_from_slice(b"?>");
        } else if self.with_comments && node.is_comment() {
            out.extend_from_slice(b"<!--");
            out.extend_from_slice(node.text().unwrap_or_default().as_bytes());
            out.extend_from_slice(b"-->");
        }
    }

    /// The namespace declarations written on `node`, sorted by prefix (the default first),
    /// and what its children inherit as rendered.
    fn declarations(&self, node: Node, qname: &str, rendered: &mut Rendered) -> Vec<(String, String)> {
        let in_scope = in_scope(node);
        let wanted: Vec<&str> = if self.exclusive {
            let mut used = vec![prefix_of(qname)];
            for attribute in node.attributes() {
                let prefix = prefix_of(attribute_qname(node, &attribute));
                if !prefix.is_empty() && prefix != "xml" {
                    used.push(prefix);
                }
            }
            for prefix in &self.inclusive_prefixes {
                if prefix.is_empty() || in_scope.contains_key(prefix.as_str()) {
                    used.push(prefix);
                }
            }
            used
        } else {
            // Every namespace in scope, and the default even when none is (to undeclare one
            // rendered above).
            std::iter::once("").chain(in_scope.keys().copied()).collect()
        };
        let mut declarations = BTreeMap::new();
        for prefix in wanted {
            let uri = in_scope.get(prefix).copied().unwrap_or_default();
            let shown = rendered.get(prefix).map(String::as_str).unwrap_or_default();
            // An unprefixed element without a default namespace needs `xmlns=""` only when an
            // output ancestor declared one; a prefix is never undeclared in XML 1.0.
            if uri != shown && (prefix.is_empty() || !uri.is_empty()) {
                declarations.insert(prefix.to_owned(), uri.to_owned());
                rendered.insert(prefix.to_owned(), uri.to_owned());
            }
        }
        declarations.into_iter().collect()
    }

    /// The attributes written on `node` as (sort key, qualified name, value), sorted by
    /// namespace URI and then local name. Inclusive canonicalisation of a subtree also gives
    /// its apex the `xml:` attributes it inherits from ancestors outside it.
    fn attributes<'a>(&self, node: Node<'a, 'a>, apex: bool) -> Vec<((&'a str, &'a str), &'a str, &'a str)> {
        let mut attributes: Vec<_> = node
            .attributes()
            .map(|a| ((a.namespace().unwrap_or_default(), a.name()), attribute_qname(node, &a), a.value()))
            .collect();
        if apex && !self.exclusive {
            for ancestor in node.ancestors().skip(1).filter(Node::is_element) {
                for inherited in ancestor.attributes().filter(|a| a.namespace() == Some(NS_XML_URI)) {
                    let key = (NS_XML_URI, inherited.name());
                    if !attributes.iter().any(|(present, _, _)| *present == key) {
                        attributes.push((key, attribute_qname(ancestor, &inherited), inherited.value()));
                    }
                }
            }
        }
        attributes.sort_by(|a, b| a.0.cmp(&b.0));
        attributes
    }
}

/// Namespace declarations rendered by output ancestors: prefix (`""` for the default) to URI.
type Rendered = BTreeMap<String, String>;

/// The namespaces in scope at `node`, by prefix (`""` for the default); `xml` is implicit.
fn in_scope<'a>(node: Node<'a, 'a>) -> BTreeMap<&'a str, &'a str> {
    node.namespaces()
        .filter(|namespace| namespace.name() != Some("xml") && !namespace.uri().is_empty())
        .map(|namespace| (namespace.name().unwrap_or_default(), namespace.uri()))
        .collect()
}

/// The element's name as written, prefix included (roxmltree keeps only the resolved name).
fn element_qname<'a>(node: Node<'a, 'a>) -> &'a str {
    let input = node.document().input_text();
    let start = node.range().start + 1;
    let rest = input.get(start..).unwrap_or_default();
    let end = rest.find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>').unwrap_or(rest.len());
    &rest[..end]
}

fn attribute_qname<'a>(node: Node<'a, 'a>, attribute: &roxmltree::Attribute<'a, 'a>) -> &'a str {
    node.document().input_text().get(attribute.range_qname()).unwrap_or_else(|| attribute.name())
}

fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map_or("", |(prefix, _)| prefix)
}

fn escape_text(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '\r' => out.extend_from_slice(b"&#xD;"),
            c => push_char(c, out),
        }
    }
}

fn escape_attribute(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\t' => out.extend_from_slice(b"&#x9;"),
            '\n' => out.extend_from_slice(b"&#xA;"),
            '\r' => out.extend_from_slice(b"&#xD;"),
            c => push_char(c, out),
        }
    }
}

fn push_char(c: char, out: &mut Vec<u8>) {
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(xml: &str, method: &Method) -> String {
        let document = Document::parse(xml).expect("well-formed");
        String::from_utf8(method.document(&document, None)).expect("UTF-8")
    }

    fn inclusive() -> Method {
        Method::from_uri("http://www.w3.org/TR/2001/REC-xml-c14n-20010315").expect("known")
    }

    fn exclusive() -> Method {
        Method::from_uri("http://www.w3.org/2001/10/xml-exc-c14n#").expect("known")
    }

    /// Canonical XML 1.0 §3.2 (whitespace in document content), §3.3 (start and end tags)
    /// and §3.4 (character modifications and character references), as the spec writes them.
    #[test]
    fn the_specifications_examples_come_out_as_written() {
        let tags = r#"<!DOCTYPE doc []>
<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>"#;
        let expected = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6 xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9 xmlns:a="http://www.ietf.org"></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
        let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
        let document = Document::parse_with_options(tags, options).expect("well-formed");
        assert_eq!(String::from_utf8(inclusive().document(&document, None)).expect("UTF-8"), expected);

        let characters =
            "<doc>\r\n   <text>First line&#x0d;&#10;Second line</text>\n   <value>&#x32;</value>\n   \
            <compute><![CDATA[value>\"0\" && value<\"10\" ?\"valid\":\"error\"]]></compute>\n   \
            <compute expr='value>\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"'>valid</compute>\n   \
            <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>\n</doc>";
        let expected = "<doc>\n   <text>First line&#xD;\nSecond line</text>\n   <value>2</value>\n   \
            <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>\n   \
            <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>\n   \
            <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>\n</doc>";
        assert_eq!(canonical(characters, &inclusive()), expected);
    }

    /// Processing instructions around the document element keep their place, one line
    /// apart; comments go unless asked for (and never in a document reference).
    #[test]
    fn document_level_nodes_are_placed_on_their_own_lines() {
        let xml = "<?xml version=\"1.0\"?>\n<?pi before?>\n<!--c--><a><?inner  x?><!--kept?--></a><?after?>";
        assert_eq!(canonical(xml, &inclusive()), "<?pi before?>\n<a><?inner x?></a>\n<?after?>");
    }

    /// Exclusive canonicalisation writes only the namespaces an element uses, so a subtree
    /// reads the same wherever it is placed; inclusive writes all in scope at the apex.
    #[test]
    fn exclusive_writes_only_the_namespaces_used_where_they_are_used() {
        let xml = r#"<r xmlns="urn:d" xmlns:u="urn:unused" xmlns:p="urn:p" xml:lang="en"><p:s a="1"><t p:b="2"/></p:s></r>"#;
        let document = Document::parse(xml).expect("well-formed");
        let apex = document.descendants().find(|n| n.has_tag_name(("urn:p", "s"))).expect("present");
        assert_eq!(
            String::from_utf8(exclusive().subtree(apex)).expect("UTF-8"),
            r#"<p:s xmlns:p="urn:p" a="1"><t xmlns="urn:d" p:b="2"></t></p:s>"#
        );
        assert_eq!(
            String::from_utf8(inclusive().subtree(apex)).expect("UTF-8"),
            r#"<p:s xmlns="urn:d" xmlns:p="urn:p" xmlns:u="urn:unused" a="1" xml:lang="en"><t p:b="2"></t></p:s>"#
        );
        let listed = Method { inclusive_prefixes: vec!["u".into()], ..exclusive() };
        assert_eq!(
            String::from_utf8(listed.subtree(apex)).expect("UTF-8"),
            r#"<p:s xmlns:p="urn:p" xmlns:u="urn:unused" a="1"><t xmlns="urn:d" p:b="2"></t></p:s>"#
        );
    }

    #[test]
    fn an_omitted_element_leaves_its_surroundings() {
        let xml = "<a>\n <b>x</b>\n <sig><c/></sig>\n</a>";
        let document = Document::parse(xml).expect("well-formed");
        let sig = document.descendants().find(|n| n.has_tag_name("sig")).map(|n| n.id());
        assert_eq!(
            String::from_utf8(exclusive().document(&document, sig)).expect("UTF-8"),
            "<a>\n <b>x</b>\n \n</a>"
        );
    }
}
