//! Phrasing that narrows a source down without naming them: a relationship that only a
//! few people have ("the wife of", "the driver of"), or the source speaking in the first
//! person. These are warnings the controller must acknowledge before release, not refusals:
//! only the controller can judge whether "the driver of" points at one person or fifty.

use serde::Serialize;

/// One risky phrase, where it is, and why it matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhrasingWarning {
    pub field: String,
    /// The phrase as found, lowercased.
    pub phrase: String,
    pub reason: &'static str,
}

/// Relationships that single out a small circle of people.
const RELATIONS: &[&str] = &[
    "wife",
    "husband",
    "partner",
    "son",
    "daughter",
    "brother",
    "sister",
    "mother",
    "father",
    "cousin",
    "uncle",
    "aunt",
    "nephew",
    "niece",
    "driver",
    "bodyguard",
    "secretary",
    "assistant",
    "cleaner",
    "neighbour",
    "neighbor",
    "landlord",
    "tenant",
    "lodger",
    "girlfriend",
    "boyfriend",
    "fiancee",
    "fiance",
    "accountant",
    "lawyer",
    "doctor",
    "nurse",
    "employee",
    "colleague",
    "friend",
];

/// Words of a speaker talking about themselves.
const FIRST_PERSON: &[&str] = &["i", "me", "my", "mine", "myself", "we", "us", "our", "ours"];

/// Other phrasing that says how few could know.
const NARROWING: &[(&str, &str)] = &[
    ("the only", "\"the only\" person or one of very few who could know"),
    ("only person", "\"only person\" who could know"),
    ("one of two", "a circle of two or three narrows to one quickly"),
    ("one of three", "a circle of two or three narrows to one quickly"),
    ("lives next door", "where the source lives relative to the subject"),
    ("present at the meeting", "who was in the room"),
    ("told me", "the source speaking in the first person"),
];

/// Every risky phrase in each `(field, text)`.
pub fn warnings(fields: &[(&str, &str)]) -> Vec<PhrasingWarning> {
    let mut found = Vec::new();
    for (field, text) in fields {
        let words: Vec<String> = text
            .to_lowercase()
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|w| !w.is_empty())
            .map(|w| w.trim_matches('\'').to_owned())
            .collect();
        let mut push = |phrase: String, reason: &'static str| {
            if !found.iter().any(|w: &PhrasingWarning| w.field == *field && w.phrase == phrase) {
                found.push(PhrasingWarning { field: (*field).to_owned(), phrase, reason });
            }
        };
        for window in words.windows(3) {
            if matches!(window[0].as_str(), "the" | "a" | "his" | "her" | "their")
                && RELATIONS.contains(&window[1].as_str())
                && window[2] == "of"
            {
                push(window.join(" "), "a relationship that only a few people have points at the source");
            }
        }
        for word in &words {
            if FIRST_PERSON.contains(&word.as_str()) {
                push(word.clone(), "the source speaking in the first person: rewrite in the third person");
            }
        }
        let joined = words.join(" ");
        for (phrase, reason) in NARROWING {
            if contains_phrase(&joined, phrase) {
                push((*phrase).to_owned(), reason);
            }
        }
    }
    found
}

fn contains_phrase(joined: &str, phrase: &str) -> bool {
    joined.match_indices(phrase).any(|(at, _)| {
        let before = joined[..at].chars().next_back();
        let after = joined[at + phrase.len()..].chars().next();
        before.is_none_or(|c| c == ' ') && after.is_none_or(|c| c == ' ')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn phrases(text: &str) -> Vec<String> {
        warnings(&[("text", text)]).into_iter().map(|w| w.phrase).collect()
    }

    #[test]
    fn relationships_and_first_person_are_flagged() {
        assert_eq!(phrases("Information from the wife of the harbour master."), ["the wife of"]);
        assert_eq!(phrases("The driver of the van said so"), ["the driver of"]);
        assert_eq!(phrases("I saw the crates and my cousin counted them"), ["i", "my"]);
        assert_eq!(phrases("He told me on Friday"), ["me", "told me"]);
        assert_eq!(phrases("She is the only one with keys"), ["the only"]);
    }

    #[test]
    fn plain_reporting_passes() {
        for text in [
            "Crates were moved from the quay to a van after midnight.",
            "Two men unloaded boxes; one of them limped.",
            "The onlyx warehouse is irrelevant.",
            "Imports via the Iberian route continue.",
        ] {
            assert!(phrases(text).is_empty(), "{text}: {:?}", phrases(text));
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in ".{0,300}") {
            let _ = warnings(&[("text", &text)]);
        }
    }
}
