//! The leak guard: does text about to leave the tearline name the source?
//!
//! It runs inside the vault boundary: [`check_sealed`] opens the identity, compares, and
//! drops it; callers learn only which field matched which kind of identity detail, never the
//! detail itself.
//!
//! Matching is deliberately generous — a refused release costs the handler a rephrasing, a
//! leak can cost a life:
//! - names, aliases and family names: case-, diacritic- and spacing-insensitive, Latin and
//!   Arabic script (hamza forms of alef, ta marbuta, alef maqsura, tashkeel and tatweel are
//!   normalised away); the whole name, any two or more consecutive parts, or any single part
//!   of four letters or more;
//! - phone numbers in any formatting (spaces, dashes, dots, brackets, `+44`/`0044`/`0`
//!   prefixes, Arabic-Indic digits): the last nine digits;
//! - addresses: the house-and-street part, with common abbreviations (Rd, St, Ln, Ave …);
//! - the date of birth in numeric (d/m/y, y-m-d, m/d/y, with any separator) and written
//!   (17 April 1988, April 17th, 1988, 17 Apr 1988) forms;
//! - the source's handles, which tie text to the source record for anyone who has seen both:
//!   its code name (as a word, in any case) and its pseudonymous reference (in any case, with
//!   or without its dashes).
//!
//! Before matching, text is folded: compatibility forms (full-width letters, ligatures) to
//! their plain letters, and every default-ignorable character (zero-width spaces and joiners,
//! soft hyphens, word joiners, byte-order marks, variation selectors, tags) removed, so a
//! name broken up by them is still found. Words are then compared by their Unicode TR39
//! confusable skeletons (`unicode-security`), so a name spelt with Cyrillic or Greek
//! look-alike letters, or with digits for letters ("N1GHTJAR"), is the same name. Beyond that:
//! - names are also matched across scripts, Latin against Arabic, by the consonants a
//!   transliteration keeps ([`script`]): "سميرة حداد" names Samira Haddad;
//! - numbers written as words, in English and Arabic, are read as figures ([`spoken`]): a
//!   phone number spelt out digit by digit, a date of birth written out in words.
//!
//! The identity's details are held only in [`Targets`], which is zeroised when dropped.

mod script;
mod spoken;

use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{open, Identity, KeyProvider, Sealed, VaultError};

/// Which kind of identity detail a field gave away. Never the detail itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Detail {
    Name,
    Alias,
    FamilyName,
    PhoneNumber,
    Address,
    DateOfBirth,
    CodeName,
    Reference,
}

/// What names a source besides its identity: the code name and the pseudonymous reference
/// its record carries.
#[derive(Debug, Clone, Copy)]
pub struct Handles<'a> {
    pub code_name: &'a str,
    pub reference: &'a str,
}

/// One field of a report that names the source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Leak {
    pub field: String,
    pub detail: Detail,
}

/// Opens the identity, checks every `(field, text)` against it, and drops it. The caller
/// must have audited the check first, as for any unseal.
pub fn check_sealed(
    keys: &dyn KeyProvider,
    sealed: &Sealed,
    binding: &[u8],
    handles: Handles<'_>,
    fields: &[(&str, &str)],
) -> Result<Vec<Leak>, VaultError> {
    let identity = open(keys, sealed, binding)?;
    Ok(leaks(&identity, handles, fields))
}

/// A place a text puts on the map, as a test of a point: "is this address point within the
/// distance that singles the source out?" (inside a warning's area, or near a report's
/// location). The caller supplies the geometry; the points never leave the vault but as
/// arguments of these tests.
pub type PlaceTest<'a> = (&'a str, &'a (dyn Fn(f64, f64) -> bool + Sync));

/// Opens the identity and names the fields whose place lies near one of the source's
/// addresses (`Identity::address_points`), never which address or where; drops the identity.
/// The caller must have audited the check first, as for any unseal.
pub fn places_near(
    keys: &dyn KeyProvider,
    sealed: &Sealed,
    binding: &[u8],
    places: &[PlaceTest<'_>],
) -> Result<Vec<String>, VaultError> {
    let identity = open(keys, sealed, binding)?;
    Ok(places
        .iter()
        .filter(|(_, near)| identity.address_points.iter().any(|[lat, lon]| near(*lat, *lon)))
        .map(|(field, _)| (*field).to_owned())
        .collect())
}

/// Every field that names the source, by its identity or by its handles, and how.
pub fn leaks(identity: &Identity, handles: Handles<'_>, fields: &[(&str, &str)]) -> Vec<Leak> {
    let targets = Targets::of(identity);
    let code_name = words(handles.code_name);
    let reference = squeezed(handles.reference);
    let mut found = Vec::new();
    for (field, text) in fields {
        let plain = plain_words(text);
        let words: Vec<String> = plain.iter().map(|w| key(w)).collect();
        let dated: Vec<String> = spoken::with_figures(&plain).iter().map(|w| key(w)).collect();
        let mut digits = digit_runs(text);
        digits.extend(spoken::spoken_digit_runs(&plain));
        let handle_details = [
            (!code_name.is_empty() && contains_sequence(&words, &code_name)).then_some(Detail::CodeName),
            (reference.chars().count() >= 6 && squeezed(text).contains(&reference))
                .then_some(Detail::Reference),
        ];
        let mut details: Vec<Detail> = targets
            .names
            .iter()
            .filter(|target| target.name.found_in(&words) || target.name.found_across_scripts(&plain))
            .map(|target| target.detail)
            .chain(
                targets
                    .phones
                    .iter()
                    .filter(|p| digits.iter().any(|run| run.contains(p.as_str())))
                    .map(|_| Detail::PhoneNumber),
            )
            .chain(
                targets
                    .addresses
                    .iter()
                    .filter(|a| contains_sequence(&words, a) || contains_sequence(&dated, a))
                    .map(|_| Detail::Address),
            )
            .chain(
                targets
                    .birthdays
                    .iter()
                    .filter(|d| contains_sequence(&dated, d))
                    .map(|_| Detail::DateOfBirth),
            )
            .chain(handle_details.into_iter().flatten())
            .collect();
        details.sort_unstable();
        details.dedup();
        found.extend(details.into_iter().map(|detail| Leak { field: (*field).to_owned(), detail }));
    }
    found
}

/// A word's confusable skeleton (Unicode TR39), lowercased, so that look-alike letters of
/// other scripts, and digits standing for letters, compare equal. Numbers stay as written:
/// a date or a house number is compared digit for digit.
fn key(word: &str) -> String {
    if !word.chars().any(char::is_alphabetic) {
        return word.to_owned();
    }
    unicode_security::skeleton(word)
        .flat_map(char::to_lowercase)
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        // TR39 writes "I" and "1" as "l" but leaves "i"; text is lowercased before, so the
        // three must meet here.
        .map(|c| if c == 'l' { 'i' } else { c })
        .collect()
}

/// The text's letters and digits only, folded and keyed as one word: how a reference is
/// found however it is spaced or punctuated.
fn squeezed(text: &str) -> String {
    key(&fold(text).chars().filter(|c| c.is_alphanumeric()).collect::<String>())
}

/// Lowercase, without diacritics or Arabic vowel marks, Arabic letter variants folded,
/// Arabic-Indic digits as ASCII.
fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_invisible(*c))
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .filter(|c| !matches!(c, '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}'))
        .map(|c| match c {
            'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
            'ة' => 'ه',
            'ى' => 'ي',
            '٠'..='٩' => char::from(b'0' + (c as u32 - 0x0660) as u8),
            '۰'..='۹' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
            other => other,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Characters that show nothing but can split a word for a naive matcher: Unicode's
/// Default_Ignorable_Code_Point (soft hyphen, combining grapheme joiner, Arabic letter mark,
/// Hangul fillers, Khmer inherent vowels, Mongolian selectors, zero-width space, joiners
/// and directional marks, word joiner and invisible operators, variation selectors, the
/// byte-order mark, shorthand format controls, musical formatting, tags), and the
/// deprecated Mongolian vowel separator.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// The words of a text, keyed for comparison.
fn words(text: &str) -> Vec<String> {
    plain_words(text).iter().map(|w| key(w)).collect()
}

/// The words of a text: runs of letters and digits after folding, with ordinal suffixes
/// dropped from numbers ("17th" → "17") and street abbreviations written out.
fn plain_words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|word| {
            let digits = word.trim_end_matches(|c: char| c.is_alphabetic());
            if !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_digit())
                && ["st", "nd", "rd", "th"].contains(&&word[digits.len()..])
            {
                return digits.to_owned();
            }
            expand_abbreviation(word).to_owned()
        })
        .collect()
}

/// The words that make a part of an address a street.
const STREET_WORDS: &[&str] = &[
    "road", "street", "lane", "avenue", "terrace", "crescent", "close", "square", "place", "drive", "court",
    "way", "row", "walk", "hill", "gardens", "mews", "parade", "quay", "steps",
];

fn expand_abbreviation(word: &str) -> &str {
    match word {
        "rd" => "road",
        "st" => "street",
        "ln" => "lane",
        "ave" | "av" => "avenue",
        "terr" | "ter" => "terrace",
        "cres" => "crescent",
        "cl" => "close",
        "sq" => "square",
        "pl" => "place",
        "dr" => "drive",
        "ct" => "court",
        other => other,
    }
}

fn contains_sequence(words: &[String], sequence: &[String]) -> bool {
    !sequence.is_empty() && words.windows(sequence.len()).any(|window| window == sequence)
}

/// A name to look for: its parts, so that "Haddad-Okafor", "Haddad Okafor" and
/// "HaddadOkafor" all match; keyed for comparison, and as written (folded) for matching
/// across scripts.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Name {
    parts: Vec<String>,
    plain: Vec<String>,
}

impl Name {
    fn new(text: &str) -> Name {
        // "Yusuf Haddad-Okafor (son)": the relationship is not part of the name.
        let bare = text.split('(').next().unwrap_or(text);
        let plain = plain_words(bare);
        Name { parts: plain.iter().map(|w| key(w)).collect(), plain }
    }

    /// The name in the other script: two consecutive parts whose consonants agree with two
    /// consecutive words written in the other script (at least four consonants between
    /// them), or one long part (four consonants or more) with one such word.
    fn found_across_scripts(&self, plain_words: &[String]) -> bool {
        let keyed = |words: &[String]| -> Vec<(bool, String)> {
            words.iter().map(|w| (script::is_arabic(w), script::consonant_key(w))).collect()
        };
        let (parts, text) = (keyed(&self.plain), keyed(plain_words));
        let agree = |part: &(bool, String), word: &(bool, String)| {
            part.0 != word.0 && !part.1.is_empty() && part.1 == word.1
        };
        let pair = parts.windows(2).any(|two| {
            two[0].1.len() + two[1].1.len() >= 4
                && text.windows(2).any(|words| agree(&two[0], &words[0]) && agree(&two[1], &words[1]))
        });
        pair || parts
            .iter()
            .filter(|part| part.1.len() >= 4)
            .any(|part| text.iter().any(|word| agree(part, word)))
    }

    fn found_in(&self, words: &[String]) -> bool {
        let squashed = |parts: &[String]| parts.concat();
        // Any run of two or more consecutive parts, written with or without spaces.
        for length in (2..=self.parts.len()).rev() {
            for part_run in self.parts.windows(length) {
                let wanted = squashed(part_run);
                for text_run_length in 1..=length {
                    if words.windows(text_run_length).any(|run| squashed(run) == wanted) {
                        return true;
                    }
                }
            }
        }
        // A single distinctive part: four letters or more, and not one of the everyday words
        // nicknames are made with ("Little Wen" is not named by "a little late").
        // Lengths are counted as written: a skeleton is longer ("m" reads "rn").
        self.parts
            .iter()
            .zip(&self.plain)
            .filter(|(_, written)| {
                written.chars().count() >= 4 && !NICKNAME_WORDS.contains(&written.as_str())
            })
            .any(|(part, _)| words.iter().any(|w| w == part))
            || (self.parts.len() == 1 && words.iter().any(|w| *w == self.parts[0]))
    }
}

/// Everyday words that make nicknames and titles; alone they name nobody.
const NICKNAME_WORDS: &[&str] = &[
    "little", "young", "older", "small", "great", "junior", "senior", "uncle", "auntie", "aunty", "mister",
    "lady", "doctor", "brother", "sister", "cousin", "father", "mother", "grandad", "granny",
];

/// The identity's details as the guard looks for them. They are copies of sealed text, so
/// they are zeroised when the check is done, like `Identity`.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Targets {
    names: Vec<NameTarget>,
    phones: Vec<String>,
    addresses: Vec<Vec<String>>,
    birthdays: Vec<Vec<String>>,
}

#[derive(Zeroize, ZeroizeOnDrop)]
struct NameTarget {
    #[zeroize(skip)]
    detail: Detail,
    name: Name,
}

impl Targets {
    fn of(identity: &Identity) -> Targets {
        let target = |detail: Detail, text: &str| NameTarget { detail, name: Name::new(text) };
        let mut names = vec![target(Detail::Name, &identity.full_name)];
        names.extend(identity.aliases.iter().map(|a| target(Detail::Alias, a)));
        names.extend(identity.family.iter().map(|f| target(Detail::FamilyName, f)));
        names.retain(|t| !t.name.parts.is_empty());
        let phones = identity
            .phone_numbers
            .iter()
            .map(|p| fold(p).chars().filter(char::is_ascii_digit).collect::<String>())
            .filter(|digits| digits.len() >= 7)
            .map(|digits| digits[digits.len().saturating_sub(9)..].to_owned())
            .collect();
        let mut addresses = Vec::new();
        for address in &identity.addresses {
            // The house and street: the comma-separated part that names a street, else the
            // first of two words or more ("Flat 3, 88 Gullwing Road" is the road; a town on
            // its own says too little to refuse a release over).
            let parts: Vec<Vec<String>> =
                address.split(',').map(plain_words).filter(|w| w.len() >= 2).collect();
            let names_street = |part: &Vec<String>| part.iter().any(|w| STREET_WORDS.contains(&w.as_str()));
            let Some(part) = parts
                .iter()
                .find(|p| names_street(p))
                .or_else(|| parts.iter().find(|p| p.iter().any(|w| w.chars().any(char::is_alphabetic))))
            else {
                continue;
            };
            addresses.push(part.iter().map(|w| key(w)).collect());
            // The street alone names it too ("drug supply on Ropewalk Terrace"): the part
            // without its house number, when a street word and another word remain.
            let street: Vec<&String> =
                part.iter().skip_while(|w| w.chars().all(|c| c.is_ascii_digit())).collect();
            if street.len() >= 2 && street.len() < part.len() && names_street(part) {
                addresses.push(street.iter().map(|w| key(w)).collect());
            }
        }
        let birthdays = identity.date_of_birth.as_deref().map(birthday_forms).unwrap_or_default();
        Targets { names, phones, addresses, birthdays }
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Every way the date of birth may be written, as word sequences.
fn birthday_forms(date: &str) -> Vec<Vec<String>> {
    let numbers: Vec<u32> =
        date.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    let &[year, month, day] = numbers.as_slice() else {
        return Vec::new();
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Vec::new();
    }
    let month_name = MONTHS[month as usize - 1];
    let days = [day.to_string(), format!("{day:02}")];
    let mut months: Vec<Vec<String>> =
        [month.to_string(), format!("{month:02}"), month_name.to_owned(), month_name[..3].to_owned()]
            .into_iter()
            .map(|m| vec![m])
            .collect();
    months.extend(spoken::ARABIC_MONTHS[month as usize - 1].iter().map(|name| plain_words(name)));
    let year = vec![year.to_string()];
    let mut forms = Vec::new();
    for d in &days {
        let d = vec![d.clone()];
        for m in &months {
            forms.push([d.as_slice(), m, &year].concat());
            forms.push([m.as_slice(), &d, &year].concat());
            forms.push([year.as_slice(), m, &d].concat());
        }
    }
    for form in &mut forms {
        for word in form.iter_mut() {
            *word = key(word);
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Runs of digits in a text, read across the separators phone numbers are written with.
fn digit_runs(text: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    for c in fold(text).chars() {
        if c.is_ascii_digit() {
            current.push(c);
        } else if !matches!(c, ' ' | '-' | '.' | '(' | ')' | '/' | '+' | '\u{a0}') {
            runs.push(std::mem::take(&mut current));
        }
    }
    runs.push(current);
    runs.retain(|run| run.len() >= 7);
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn samira() -> Identity {
        let mut identity = Identity::default();
        identity.full_name = "Samira Haddad-Okafor".into();
        identity.aliases =
            vec!["Umm Yusuf".into(), "سميرة حداد".into(), "Little Sam".into(), "Doctor Samira".into()];
        identity.date_of_birth = Some("1988-04-17".into());
        identity.phone_numbers = vec!["+44 7700 900461".into()];
        identity.addresses =
            vec!["14 Tannery Lane, Eastmarsh".into(), "Flat 3, 88 Gullwing Road, Saltford".into()];
        identity.family = vec!["Yusuf Haddad-Okafor (son)".into()];
        identity
    }

    const HANDLES: Handles<'static> = Handles { code_name: "NIGHTJAR", reference: "SR-BQCR-CMQC" };

    fn detail(text: &str) -> Vec<Detail> {
        leaks(&samira(), HANDLES, &[("text", text)]).into_iter().map(|l| l.detail).collect()
    }

    #[test]
    fn every_identity_detail_is_caught_in_every_formatting() {
        let table: &[(&str, Detail)] = &[
            ("Samira Haddad-Okafor was at the quay", Detail::Name),
            ("SAMIRA HADDAD OKAFOR was at the quay", Detail::Name),
            ("samira haddadokafor was there", Detail::Name),
            ("Sámíra Háddad-Ökafor", Detail::Name),
            ("a woman called Samira", Detail::Name),
            ("the Okafor family", Detail::Name),
            ("Haddad Okafor's car", Detail::Name),
            ("known locally as Umm Yusuf", Detail::Alias),
            ("known locally as umm-yusuf", Detail::Alias),
            ("المصدر سميرة حداد في الميناء", Detail::Alias),
            ("المصدر سَمِيرَة حَدّاد", Detail::Alias),
            ("her son Yusuf was present", Detail::FamilyName),
            ("call +44 7700 900461", Detail::PhoneNumber),
            ("call 07700 900461", Detail::PhoneNumber),
            ("call 07700-900-461", Detail::PhoneNumber),
            ("call (0)7700.900.461", Detail::PhoneNumber),
            ("call 00447700900461", Detail::PhoneNumber),
            ("call +44 (0) 7700 900 461", Detail::PhoneNumber),
            ("call ٠٧٧٠٠٩٠٠٤٦١", Detail::PhoneNumber),
            ("met at 14 Tannery Lane", Detail::Address),
            ("met at 14 tannery ln.", Detail::Address),
            ("met at 14, Tannery Lane", Detail::Address),
            ("seen at 88 Gullwing Rd", Detail::Address),
            ("born 1988-04-17", Detail::DateOfBirth),
            ("born 17/04/1988", Detail::DateOfBirth),
            ("born 17.4.1988", Detail::DateOfBirth),
            ("born 17 April 1988", Detail::DateOfBirth),
            ("born April 17th, 1988", Detail::DateOfBirth),
            ("born 17th Apr 1988", Detail::DateOfBirth),
            ("born 04/17/1988", Detail::DateOfBirth),
            ("NIGHTJAR reports crates moving at night", Detail::CodeName),
            ("nightjar update", Detail::CodeName),
            ("as Nightjar said", Detail::CodeName),
            ("source SR-BQCR-CMQC", Detail::Reference),
            ("source sr bqcr cmqc", Detail::Reference),
            ("source SRBQCRCMQC", Detail::Reference),
            // Disguised with invisible characters and compatibility forms.
            ("S\u{200B}a\u{200B}m\u{200B}i\u{200B}r\u{200B}a Haddad", Detail::Name),
            ("Sam\u{00AD}ira Had\u{2060}dad-Oka\u{FEFF}for", Detail::Name),
            ("ＳＡＭＩＲＡ ＨＡＤＤＡＤ", Detail::Name),
            ("N\u{200D}IGHTJAR was there", Detail::CodeName),
            // Every default-ignorable character: variation selectors, the combining grapheme
            // joiner, tags, the Arabic letter mark, Hangul fillers.
            ("Sa\u{FE0F}mi\u{034F}ra Had\u{E0041}dad", Detail::Name),
            ("سمي\u{061C}رة حد\u{3164}اد", Detail::Alias),
            // Confusables (TR39 skeletons): Cyrillic and Greek look-alikes, digits for letters.
            ("\u{0405}\u{0430}m\u{0456}r\u{0430} Haddad", Detail::Name),
            ("NIGHTJ\u{0391}R reports", Detail::CodeName),
            ("N1GHTJAR reports", Detail::CodeName),
            ("nightj\u{0430}r reports", Detail::CodeName),
            ("source \u{0405}R-BQ\u{0421}R-CMQC", Detail::Reference),
            ("met at 14 T\u{0430}nnery Lane", Detail::Address),
            // Across scripts: the Latin name in Arabic, the Arabic alias in Latin letters.
            ("المصدر سميرة حداد في الميناء", Detail::Name),
            ("شوهدت سميره حداد اوكافور", Detail::Name),
            ("the woman Samira Haddad", Detail::Alias),
            ("ابنها يوسف حداد", Detail::FamilyName),
            // Digits as words, English and Arabic, for the phone number and the date.
            ("call oh seven seven double oh nine oh oh four six one", Detail::PhoneNumber),
            ("call seven seven zero zero, nine zero zero, four six one", Detail::PhoneNumber),
            ("اتصل صفر سبعة سبعة صفر صفر تسعة صفر صفر أربعة ستة واحد", Detail::PhoneNumber),
            ("اتصل ٠٧٧٠٠ تسعة صفر صفر ٤٦١", Detail::PhoneNumber),
            ("born on the seventeenth of April nineteen eighty-eight", Detail::DateOfBirth),
            ("born April seventeenth, nineteen eighty eight", Detail::DateOfBirth),
            ("born the 17th of April 1988", Detail::DateOfBirth),
            ("ولدت في ١٧ أبريل ١٩٨٨", Detail::DateOfBirth),
            ("ولدت ١٧ نيسان ١٩٨٨", Detail::DateOfBirth),
            ("met at fourteen Tannery Lane", Detail::Address),
            ("supply runs along Tannery Lane", Detail::Address),
            ("seen on Gullwing Rd", Detail::Address),
        ];
        for (text, expected) in table {
            assert!(
                detail(text).contains(expected),
                "{text:?} should reveal {expected:?}, got {:?}",
                detail(text)
            );
        }
    }

    #[test]
    fn harmless_text_passes() {
        for text in [
            "Crates are moved from the quay to a van after midnight on Saturdays.",
            "Two men in their thirties, one with a limp, unloaded boxes at 23:40.",
            "The van's registration ends in 461.",
            "Reported on 18 April 1988's anniversary of the harbour fire.",
            "Tannery workers gather on Fridays.",
            "Flat 3 of the harbour block was empty.",
            "سيارة بيضاء في الميناء بعد منتصف الليل",
            "Nightjars nest on the heath.",
            "One or two vans, three men, seven crates; back at nine.",
            "Nineteen eighty-nine was the year of the harbour strike.",
            "On the seventeenth of April the market closed early.",
            "Sam and Mira met at the hardware shop.",
            "سوف يصل الرجال في السابعة مساء",
            "رأى سائق الشاحنة حادثا قرب السوق",
            "The sender's code is 0770 and the crate count nine hundred.",
            "Summary of the haddock catch at the quay.",
            "Collateral intrusion: little. The doctor was not told.",
        ] {
            assert_eq!(detail(text), Vec::<Detail>::new(), "{text:?}");
        }
    }

    #[test]
    fn the_field_is_named_and_the_value_never_returned() {
        let found = leaks(
            &samira(),
            HANDLES,
            &[("title", "Quay deliveries"), ("text", "Umm Yusuf saw it"), ("place", "14 Tannery Lane")],
        );
        assert_eq!(
            found,
            vec![
                Leak { field: "text".into(), detail: Detail::Alias },
                // Her son's name is in the alias too, and is caught as such.
                Leak { field: "text".into(), detail: Detail::FamilyName },
                Leak { field: "place".into(), detail: Detail::Address },
            ]
        );
        assert!(!format!("{found:?}").contains("Yusuf"));
    }

    #[test]
    fn the_sealed_check_opens_inside_and_answers_only_with_fields() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let keys = crate::FileKeyring::create(&dir.path().join("vault.key")).expect("key file");
        let sealed = crate::seal(&keys, &samira(), b"SR-TEST-0001").expect("sealed");
        let found =
            check_sealed(&keys, &sealed, b"SR-TEST-0001", HANDLES, &[("text", "the driver 07700 900461")]);
        assert_eq!(found.expect("opened"), vec![Leak { field: "text".into(), detail: Detail::PhoneNumber }]);
        assert!(
            check_sealed(&keys, &sealed, b"SR-OTHER-0002", HANDLES, &[("text", "x")]).is_err(),
            "bound to its record"
        );
    }

    #[test]
    fn places_near_an_address_are_named_by_field_only() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let keys = crate::FileKeyring::create(&dir.path().join("vault.key")).expect("key file");
        let mut identity = samira();
        identity.address_points = vec![[52.9552, 1.2151]];
        let sealed = crate::seal(&keys, &identity, b"SR-TEST-0001").expect("sealed");
        let near = |lat: f64, lon: f64| (lat - 52.9552).abs() < 0.001 && (lon - 1.2151).abs() < 0.001;
        let far = |lat: f64, _lon: f64| lat < 0.0;
        let places: [PlaceTest<'_>; 2] = [("place", &near), ("area", &far)];
        let flagged = places_near(&keys, &sealed, b"SR-TEST-0001", &places).expect("opened");
        assert_eq!(flagged, vec!["place".to_owned()]);
        assert!(places_near(&keys, &sealed, b"SR-OTHER-0002", &places).is_err(), "bound to its record");
    }

    proptest! {
        #[test]
        fn the_guard_never_panics(text in ".{0,200}", name in ".{0,40}", dob in ".{0,12}") {
            let mut identity = samira();
            identity.full_name = name;
            identity.date_of_birth = Some(dob);
            let _ = leaks(&identity, HANDLES, &[("text", &text)]);
        }

        /// The full name is caught however it is spaced or cased.
        #[test]
        fn the_name_is_caught_in_any_case_and_spacing(upper in any::<bool>(), separator in prop_oneof![Just(" "), Just("-"), Just(""), Just("  ")]) {
            let name = format!("Samira Haddad{separator}Okafor");
            let text = if upper { name.to_uppercase() } else { name };
            let sentence = format!("seen: {text}.");
            prop_assert!(detail(&sentence).contains(&Detail::Name));
        }
    }
}
