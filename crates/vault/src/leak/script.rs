//! Names across scripts: a source named in Latin letters may be written about in Arabic, and
//! an Arabic alias in Latin letters. Both are reduced to the consonants a transliteration
//! keeps — short vowels are not written in Arabic, long vowels and the weak letters (alef,
//! waw, ya, ayn, hamza) are spelt many ways in Latin — so "Haddad" and "حداد" both read
//! "hd", "Samira" and "سميرة" "smr".
//!
//! Keys this short collide easily, so the guard compares them only across scripts and only
//! where enough of a name agrees (see `Name::found_across_scripts`).

/// Whether a (folded) word is written in Arabic letters.
pub(super) fn is_arabic(word: &str) -> bool {
    word.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
}

/// The consonant key of a folded word in Latin or Arabic letters.
pub(super) fn consonant_key(word: &str) -> String {
    let mut key = String::new();
    if is_arabic(word) {
        for c in word.chars() {
            let mapped = match c {
                'ب' => "b",
                'ت' | 'ط' | 'ث' => "t",
                'ج' => "j",
                'ح' | 'ه' => "h",
                'خ' | 'ك' | 'ق' => "k",
                'د' | 'ض' | 'ذ' => "d",
                'ر' => "r",
                'ز' | 'ظ' => "z",
                'س' | 'ص' | 'ش' => "s",
                'غ' => "g",
                'ف' => "f",
                'ل' => "l",
                'م' => "m",
                'ن' => "n",
                'پ' => "b",
                'گ' => "g",
                'چ' => "j",
                'ڤ' => "f",
                _ => "", // alef, waw, ya, ayn, hamza and ta marbuta (folded to ha at a word's end)
            };
            push_collapsed(&mut key, mapped);
        }
    } else {
        let letters: Vec<char> = word.chars().collect();
        let mut at = 0;
        while at < letters.len() {
            let pair: String = letters[at..letters.len().min(at + 2)].iter().collect();
            let (mapped, used) = match pair.as_str() {
                "sh" => ("s", 2),
                "kh" => ("k", 2),
                "th" => ("t", 2),
                "dh" => ("d", 2),
                "gh" => ("g", 2),
                "ph" => ("f", 2),
                "ch" => ("j", 2),
                _ => (
                    match letters[at] {
                        'b' | 'p' => "b",
                        't' => "t",
                        'j' | 'g' => "j",
                        'h' => "h",
                        'k' | 'q' | 'c' => "k",
                        'd' => "d",
                        'r' => "r",
                        'z' => "z",
                        's' | 'x' => "s",
                        'f' | 'v' => "f",
                        'l' => "l",
                        'm' => "m",
                        'n' => "n",
                        _ => "", // vowels, w, y and apostrophes for ayn and hamza
                    },
                    1,
                ),
            };
            push_collapsed(&mut key, mapped);
            at += used;
        }
    }
    // A final h is often no consonant at all: a folded ta marbuta in Arabic ("فاطمة"), a
    // spelling of a final vowel in Latin ("Fatimah"); both sides drop it.
    if key.len() > 1 && key.ends_with('h') {
        key.pop();
    }
    key
}

/// Appends a consonant unless it repeats the last (doubled letters and shadda read once).
fn push_collapsed(key: &mut String, consonant: &str) {
    if !consonant.is_empty() && !key.ends_with(consonant) {
        key.push_str(consonant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transliterations_share_their_consonants() {
        for (latin, arabic) in [
            ("samira", "سميره"),
            ("haddad", "حداد"),
            ("yusuf", "يوسف"),
            ("okafor", "اوكافور"),
            ("khalid", "خالد"),
            ("rashid", "راشد"),
            ("fatima", "فاطمه"),
            ("abdullah", "عبدالله"),
        ] {
            assert_eq!(consonant_key(latin), consonant_key(arabic), "{latin} / {arabic}");
        }
        assert_ne!(consonant_key("samira"), consonant_key("سمير حسن"));
    }
}
