//! Warnings as text messages: the GSM 03.38 7-bit alphabet where the text allows it (160
//! characters in one message, 153 per part when concatenated) and UCS-2 otherwise (70, or 67
//! per part), in at most a configured number of parts, cut at a word boundary, the
//! instruction first — what to do matters more than the rest when the message is cut.

/// The GSM 03.38 default alphabet, one septet each.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
    ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: two septets each (an escape and the character).
const GSM_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// How a message's characters are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    /// Units one message holds alone, and per part of a concatenated message (the rest of
    /// each part carries the concatenation header).
    fn capacity(self) -> (usize, usize) {
        match self {
            Encoding::Gsm7 => (160, 153),
            Encoding::Ucs2 => (70, 67),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm-7",
            Encoding::Ucs2 => "ucs-2",
        }
    }
}

/// The units `c` takes: septets in GSM-7, UTF-16 code units in UCS-2 (a character outside
/// the Basic Multilingual Plane takes two, as gateways send it).
fn units(c: char, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 if GSM_EXTENSION.contains(c) => 2,
        Encoding::Gsm7 => 1,
        Encoding::Ucs2 => c.len_utf16(),
    }
}

/// GSM-7 when every character is in the default alphabet or its extension, else UCS-2.
pub fn encoding_of(text: &str) -> Encoding {
    if text.chars().all(|c| GSM_BASIC.contains(c) || GSM_EXTENSION.contains(c)) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// How many parts `text` is sent in. A character is never split between parts (an escape
/// and its character, or a surrogate pair, stay together), which is why this walks the
/// text rather than dividing its length.
pub fn parts(text: &str) -> usize {
    parts_with(text, 0)
}

/// How many parts `text` followed by `reserve` more ASCII characters (a link appended per
/// recipient, one unit each in either encoding) is sent in.
fn parts_with(text: &str, reserve: usize) -> usize {
    let encoding = encoding_of(text);
    let (single, per_part) = encoding.capacity();
    let sizes = text.chars().map(|c| units(c, encoding)).chain(std::iter::repeat_n(1, reserve));
    let total: usize = sizes.clone().sum();
    if total <= single {
        return 1;
    }
    let (mut count, mut used) = (1, 0);
    for size in sizes {
        if used + size > per_part {
            count += 1;
            used = 0;
        }
        used += size;
    }
    count
}

/// A warning as one text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMessage {
    pub text: String,
    pub encoding: Encoding,
    pub parts: usize,
    /// Whether the text had to be cut to fit.
    pub cut: bool,
}

/// The text of a warning — the instruction first, then the headline and the area — whole.
pub fn warning_text(instruction: Option<&str>, headline: &str, area: Option<&str>) -> String {
    let mut full = String::new();
    for piece in
        [instruction, Some(headline), area.map(|a| a.trim()).filter(|a| !a.is_empty())].into_iter().flatten()
    {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        if !full.is_empty() {
            full.push_str(if full.ends_with(['.', '!', '?', '۔', '؟']) { " " } else { ". " });
        }
        full.push_str(piece);
    }
    full
}

/// `text` whole if it fits in `max_parts` (at least one) with room for `reserve` more ASCII
/// characters after it (a space and the recipient's link), else its longest word-boundary
/// prefix that fits with "..." after it. `parts` counts the reserve.
pub fn fit(text: &str, reserve: usize, max_parts: usize) -> TextMessage {
    let max_parts = max_parts.max(1);
    let encoding = encoding_of(text);
    let parts = |text: &str| parts_with(text, reserve);
    let whole = parts(text);
    if whole <= max_parts {
        return TextMessage { text: text.to_owned(), encoding, parts: whole, cut: false };
    }
    let marker = "...";
    // Cut points: after each word, before the whitespace that follows it; longest first.
    let mut boundaries: Vec<usize> =
        text.char_indices().filter(|(_, c)| c.is_whitespace()).map(|(at, _)| at).collect();
    boundaries.reverse();
    for end in boundaries {
        let candidate = format!("{}{marker}", text[..end].trim_end());
        if parts(&candidate) <= max_parts {
            return TextMessage {
                encoding: encoding_of(&candidate),
                parts: parts(&candidate),
                text: candidate,
                cut: true,
            };
        }
    }
    // One word longer than the room: cut inside it, by character.
    let mut candidate = String::new();
    for c in text.chars() {
        let next = format!("{candidate}{c}{marker}");
        if parts(&next) > max_parts {
            break;
        }
        candidate.push(c);
    }
    candidate.push_str(marker);
    TextMessage { encoding: encoding_of(&candidate), parts: parts(&candidate), text: candidate, cut: true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_alphabets_and_their_sizes() {
        assert_eq!(encoding_of("Leave the quay now! Go east @ 23:40 (£5)"), Encoding::Gsm7);
        assert_eq!(encoding_of("Brackets [and] {braces} €"), Encoding::Gsm7, "the extension table is GSM-7");
        assert_eq!(encoding_of("غادروا المنطقة"), Encoding::Ucs2);
        assert_eq!(encoding_of("naïve"), Encoding::Ucs2, "ï is not in the GSM alphabet");
        assert_eq!(parts(&"a".repeat(160)), 1);
        assert_eq!(parts(&"a".repeat(161)), 2);
        assert_eq!(parts(&"a".repeat(306)), 2);
        assert_eq!(parts(&"a".repeat(307)), 3);
        assert_eq!(parts(&"€".repeat(80)), 1, "two septets each: 160");
        assert_eq!(parts(&"€".repeat(81)), 2);
        assert_eq!(parts(&"ع".repeat(70)), 1);
        assert_eq!(parts(&"ع".repeat(71)), 2);
        assert_eq!(parts(&"🌊".repeat(35)), 1, "two UTF-16 units each: 70");
        assert_eq!(parts(&"🌊".repeat(36)), 2);
    }

    #[test]
    fn the_instruction_comes_first_and_a_long_text_is_cut_at_a_word() {
        let text = warning_text(
            Some("Leave the market now, go east."),
            "Security threat at the quay",
            Some("Market quarter"),
        );
        assert_eq!(text, "Leave the market now, go east. Security threat at the quay. Market quarter");
        let message = fit(&text, 0, 3);
        assert_eq!((message.encoding, message.parts, message.cut), (Encoding::Gsm7, 1, false));
        let long = warning_text(Some(&"word ".repeat(100)), "Headline", None);
        let cut = fit(&long, 0, 1);
        assert!(cut.cut && cut.text.ends_with("word...") && cut.parts == 1, "{cut:?}");
        let with_link = fit(&long, 60, 1);
        assert!(with_link.text.len() + 60 <= 160 && with_link.parts == 1, "room is kept for the link");
        let arabic = fit(&warning_text(Some("غادروا السوق الآن"), "تهديد أمني", None), 0, 1);
        assert_eq!((arabic.encoding, arabic.parts), (Encoding::Ucs2, 1));
    }

    /// The brute-force twin of `parts`: split greedily into the parts a gateway would send.
    fn split_greedily(text: &str) -> Vec<String> {
        let encoding = encoding_of(text);
        let (single, per_part) = encoding.capacity();
        if text.chars().map(|c| units(c, encoding)).sum::<usize>() <= single {
            return vec![text.to_owned()];
        }
        let mut out = vec![String::new()];
        for c in text.chars() {
            let used: usize = out.last().map_or(0, |p| p.chars().map(|c| units(c, encoding)).sum());
            if used + units(c, encoding) > per_part {
                out.push(String::new());
            }
            if let Some(part) = out.last_mut() {
                part.push(c);
            }
        }
        out
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 .,!?@£$_-]{0,600}",
            "[a-z {}\\[\\]~|€^ ]{0,400}",
            "[ا-ي ٠-٩]{0,300}",
            "[a-z 🌊é漢]{0,300}",
        ]
    }

    proptest! {
        #[test]
        fn parts_count_what_a_greedy_split_sends(text in text_strategy()) {
            let split = split_greedily(&text);
            prop_assert_eq!(parts(&text), split.len());
            prop_assert_eq!(split.concat(), text);
        }

        #[test]
        fn a_composed_message_fits_and_is_a_word_prefix(text in text_strategy(), max_parts in 1usize..5, reserve in 0usize..80) {
            let message = fit(&text, reserve, max_parts);
            prop_assert!(message.parts <= max_parts, "{message:?}");
            prop_assert_eq!(message.parts, parts(&format!("{}{}", message.text, "x".repeat(reserve))));
            prop_assert_eq!(message.encoding, encoding_of(&message.text));
            if message.cut {
                let kept = message.text.strip_suffix("...").unwrap_or_default();
                prop_assert!(text.starts_with(kept), "a prefix of the text");
            } else {
                prop_assert_eq!(&message.text, &text);
            }
        }
    }
}
