//! Numbers written as words, in English and Arabic, read back as digits: a phone number
//! spelt out ("seven seven double oh …", "سبعة سبعة صفر …") and a date written out ("the
//! seventeenth of April nineteen eighty-eight") must be found as surely as in figures.
//!
//! Works on folded words (lowercase, Arabic letter variants and vowel marks folded, so
//! "ثلاثة" arrives as "ثلاثه").

/// The digit a word names when numbers are read out digit by digit.
fn digit_word(word: &str) -> Option<u32> {
    bare_digit_word(word).or_else(|| bare_digit_word(strip_arabic_and(word)))
}

fn bare_digit_word(word: &str) -> Option<u32> {
    Some(match word {
        "zero" | "oh" | "nought" | "nil" | "صفر" => 0,
        "one" | "واحد" | "واحده" => 1,
        "two" | "اثنان" | "اثنين" | "اتنين" | "اثنتان" | "اثنتين" => 2,
        "three" | "ثلاثه" | "ثلاث" | "تلاته" | "تلات" => 3,
        "four" | "اربعه" | "اربع" => 4,
        "five" | "خمسه" | "خمس" => 5,
        "six" | "سته" | "ست" => 6,
        "seven" | "سبعه" | "سبع" => 7,
        "eight" | "ثمانيه" | "ثماني" | "ثمان" | "تمانيه" | "تمنيه" => 8,
        "nine" | "تسعه" | "تسع" => 9,
        _ => return None,
    })
}

/// Arabic joins "and" to the next word: "وسبعة" is "and seven".
fn strip_arabic_and(word: &str) -> &str {
    match word.strip_prefix('و') {
        Some(rest) if rest.chars().count() >= 3 => rest,
        _ => word,
    }
}

/// Runs of digits spelt out, with digits in figures and "double"/"triple" among them, as
/// digit strings: "oh seven seven double oh 900 four six one" → "07700900461".
pub(super) fn spoken_digit_runs(words: &[String]) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    let mut repeat = 1;
    let mut spelt = false;
    for word in words {
        let repeat_next = match word.as_str() {
            "double" => Some(2),
            "triple" => Some(3),
            _ => None,
        };
        if let Some(times) = repeat_next {
            repeat = times;
            continue;
        }
        if let Some(digit) = digit_word(word) {
            spelt = true;
            for _ in 0..repeat {
                current.push(char::from_digit(digit, 10).unwrap_or('0'));
            }
        } else if !word.is_empty() && word.chars().all(|c| c.is_ascii_digit()) {
            current.push_str(word);
        } else {
            if spelt {
                runs.push(std::mem::take(&mut current));
            }
            current.clear();
            spelt = false;
        }
        repeat = 1;
    }
    if spelt {
        runs.push(current);
    }
    runs.retain(|run| run.len() >= 7);
    runs
}

fn unit(word: &str) -> Option<u32> {
    Some(match word {
        "first" => 1,
        "second" => 2,
        "third" => 3,
        "fourth" => 4,
        "fifth" => 5,
        "sixth" => 6,
        "seventh" => 7,
        "eighth" => 8,
        "ninth" => 9,
        "oh" => return None,
        other => return digit_word(other).filter(|d| *d > 0),
    })
}

fn teen(word: &str) -> Option<u32> {
    const TEENS: [(&str, &str); 10] = [
        ("ten", "tenth"),
        ("eleven", "eleventh"),
        ("twelve", "twelfth"),
        ("thirteen", "thirteenth"),
        ("fourteen", "fourteenth"),
        ("fifteen", "fifteenth"),
        ("sixteen", "sixteenth"),
        ("seventeen", "seventeenth"),
        ("eighteen", "eighteenth"),
        ("nineteen", "nineteenth"),
    ];
    TEENS
        .iter()
        .zip(10..)
        .find(|((cardinal, ordinal), _)| word == *cardinal || word == *ordinal)
        .map(|(_, n)| n)
}

fn tens(word: &str) -> Option<u32> {
    const TENS: [(&str, &str); 8] = [
        ("twenty", "twentieth"),
        ("thirty", "thirtieth"),
        ("forty", "fortieth"),
        ("fifty", "fiftieth"),
        ("sixty", "sixtieth"),
        ("seventy", "seventieth"),
        ("eighty", "eightieth"),
        ("ninety", "ninetieth"),
    ];
    TENS.iter()
        .zip((20..).step_by(10))
        .find(|((cardinal, ordinal), _)| word == *cardinal || word == *ordinal)
        .map(|(_, n)| n)
}

fn is_ordinal(word: &str) -> bool {
    word.ends_with("th") || matches!(word, "first" | "second" | "third")
}

/// A number below 100 at the start of `words`, how many words it took, and whether it was
/// an ordinal ("seventeenth", "twenty-first"), which starts no year.
fn below_hundred(words: &[String]) -> Option<(u32, usize, bool)> {
    let first = words.first()?;
    if let Some(t) = tens(first) {
        return Some(match words.get(1).filter(|w| unit(w).is_some()) {
            Some(second) => (t + unit(second).unwrap_or(0), 2, is_ordinal(second)),
            None => (t, 1, is_ordinal(first)),
        });
    }
    teen(first).or_else(|| unit(first)).map(|n| (n, 1, is_ordinal(first)))
}

/// A number at the start of `words`: a year said in pairs ("nineteen eighty-eight", "nineteen
/// oh five"), in thousands ("two thousand and five"), or a number below 100; with how many
/// words it took.
fn number(words: &[String]) -> Option<(u32, usize)> {
    let (first, taken, ordinal) = below_hundred(words)?;
    let rest = &words[taken..];
    if ordinal {
        return Some((first, taken));
    }
    match rest.first().map(String::as_str) {
        Some("thousand") => {
            let after = &rest[1..];
            let skip = usize::from(after.first().is_some_and(|w| w == "and"));
            match below_hundred(&after[skip..]) {
                Some((n, used, _)) => Some((first * 1000 + n, taken + 1 + skip + used)),
                None => Some((first * 1000, taken + 1)),
            }
        }
        Some("oh") if (10..=20).contains(&first) => match rest.get(1).and_then(|w| unit(w)) {
            Some(digit) => Some((first * 100 + digit, taken + 2)),
            None => Some((first, taken)),
        },
        Some(_) if (10..=20).contains(&first) => match below_hundred(rest) {
            Some((n, used, _)) if n >= 10 => Some((first * 100 + n, taken + used)),
            _ => Some((first, taken)),
        },
        _ => Some((first, taken)),
    }
}

/// The words with numbers written out replaced by their figures, and the little words a
/// written date carries ("the", "of", "and") dropped: "the seventeenth of april nineteen
/// eighty eight" → "17 april 1988".
pub(super) fn with_figures(words: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut at = 0;
    while at < words.len() {
        if matches!(words[at].as_str(), "the" | "of" | "and" | "في" | "من") {
            at += 1;
            continue;
        }
        match number(&words[at..]) {
            Some((n, used)) => {
                out.push(n.to_string());
                at += used;
            }
            None => {
                out.push(words[at].clone());
                at += 1;
            }
        }
    }
    out
}

/// Arabic month names (the Gregorian names used in Egypt and the Gulf, and the Levantine
/// names), folded, by month number from 1.
pub(super) const ARABIC_MONTHS: [&[&str]; 12] = [
    &["يناير", "كانون الثاني"],
    &["فبراير", "شباط"],
    &["مارس", "اذار"],
    &["ابريل", "نيسان"],
    &["مايو", "ايار"],
    &["يونيو", "حزيران"],
    &["يوليو", "تموز"],
    &["اغسطس", "اب"],
    &["سبتمبر", "ايلول"],
    &["اكتوبر", "تشرين الاول"],
    &["نوفمبر", "تشرين الثاني"],
    &["ديسمبر", "كانون الاول"],
];

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
    }

    #[test]
    fn digits_spelt_out_are_read_in_both_languages() {
        assert_eq!(
            spoken_digit_runs(&words("call oh seven seven double oh nine oh oh four six one now")),
            ["07700900461"]
        );
        assert_eq!(spoken_digit_runs(&words("seven seven 00 nine zero zero, 461")), ["7700900461"]);
        assert_eq!(
            spoken_digit_runs(&words("صفر سبعه سبعه صفر صفر تسعه صفر صفر اربعه سته واحد")),
            ["07700900461"]
        );
        assert_eq!(
            spoken_digit_runs(&words("سبعه وسبعه صفر صفر تسعه صفر صفر اربعه سته واحد")),
            ["7700900461"]
        );
        assert!(
            spoken_digit_runs(&words("one or two vans, three men and 1234567")).is_empty(),
            "figures alone are digit_runs' job"
        );
    }

    #[test]
    fn written_dates_become_figures() {
        let cases = [
            ("the seventeenth of april nineteen eighty eight", "17 april 1988"),
            ("april seventeenth nineteen eighty eight", "april 17 1988"),
            ("on the twenty first of may two thousand and five", "on 21 may 2005"),
            ("nineteen oh five", "1905"),
            ("twelve men", "12 men"),
        ];
        for (text, expected) in cases {
            assert_eq!(with_figures(&words(text)).join(" "), expected, "{text}");
        }
    }
}
