//! Entities in released text, found by rules an analyst then confirms or corrects: persons,
//! organisations, places, vehicles (UK registrations) and phone numbers; and corroboration —
//! the same entity reported by independent sources, meaning distinct pseudonymous
//! references, never the same source twice.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::grading::Credibility;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityKind {
    Person,
    Organisation,
    Place,
    Vehicle,
    Phone,
}

impl EntityKind {
    pub const ALL: [EntityKind; 5] = [
        EntityKind::Person,
        EntityKind::Organisation,
        EntityKind::Place,
        EntityKind::Vehicle,
        EntityKind::Phone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Person => "person",
            EntityKind::Organisation => "organisation",
            EntityKind::Place => "place",
            EntityKind::Vehicle => "vehicle",
            EntityKind::Phone => "phone",
        }
    }

    pub fn parse(s: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An entity as found: its kind, the name as written, and the key that links mentions of
/// the same thing across reports ("AB12 CDE" and "ab12cde" are one vehicle).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub name: String,
    pub key: String,
}

impl Entity {
    pub fn new(kind: EntityKind, name: &str) -> Entity {
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        let key = match kind {
            EntityKind::Phone => {
                let digits: String = name.chars().filter(char::is_ascii_digit).collect();
                digits[digits.len().saturating_sub(9)..].to_owned()
            }
            EntityKind::Vehicle => {
                name.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_uppercase()
            }
            _ => name.to_lowercase(),
        };
        Entity { kind, name, key }
    }
}

const ORGANISATION_ENDINGS: &[&str] = &[
    "Ltd",
    "Limited",
    "LLC",
    "Inc",
    "Group",
    "Company",
    "Co",
    "Holdings",
    "Freight",
    "Logistics",
    "Services",
    "Bank",
    "Trust",
];
const PLACE_PREPOSITIONS: &[&str] = &["at", "in", "near", "from", "to", "outside", "behind", "towards"];
/// Capitalised words that start sentences or name times, not things.
const NOT_NAMES: &[&str] = &[
    "The",
    "A",
    "An",
    "He",
    "She",
    "They",
    "It",
    "This",
    "That",
    "On",
    "At",
    "In",
    "Two",
    "Three",
    "One",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn capitalised(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase) && !NOT_NAMES.contains(&word)
}

/// The entities the rules find in a text, each once.
pub fn extract(text: &str) -> Vec<Entity> {
    let mut found = BTreeSet::new();
    let raw: Vec<&str> = text.split_whitespace().collect();
    let tokens: Vec<&str> = raw
        .iter()
        .map(|t| t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '+' || c == '\'')))
        .collect();
    let sentence_start = |i: usize| i == 0 || raw[i - 1].ends_with(['.', '!', '?', ':', ';']);
    let mut i = 0;
    while i < tokens.len() {
        // Vehicles: a current UK registration, two letters, two digits, three letters.
        if let Some(next) = tokens.get(i + 1) {
            let joined = format!("{}{}", tokens[i], next);
            if is_registration(&joined) {
                found.insert(Entity::new(EntityKind::Vehicle, &format!("{} {}", tokens[i], next)));
                i += 2;
                continue;
            }
        }
        if is_registration(tokens[i]) {
            found.insert(Entity::new(EntityKind::Vehicle, tokens[i]));
        }
        // A run of capitalised words: an organisation, a place or a person.
        let start = i;
        while i < tokens.len() && capitalised(tokens[i]) && !(i > start && sentence_start(i)) {
            i += 1;
        }
        if i > start {
            let run = &tokens[start..i];
            let name = run.join(" ");
            let after_preposition =
                start > 0 && PLACE_PREPOSITIONS.contains(&tokens[start - 1].to_lowercase().as_str());
            if run.last().is_some_and(|w| ORGANISATION_ENDINGS.contains(w)) && run.len() >= 2 {
                found.insert(Entity::new(EntityKind::Organisation, &name));
            } else if after_preposition {
                found.insert(Entity::new(EntityKind::Place, &name));
            } else if (2..=3).contains(&run.len()) {
                found.insert(Entity::new(EntityKind::Person, &name));
            }
            continue;
        }
        i += 1;
    }
    for run in phone_runs(text) {
        found.insert(Entity::new(EntityKind::Phone, &run));
    }
    found.into_iter().collect()
}

fn is_registration(token: &str) -> bool {
    let chars: Vec<char> = token.chars().collect();
    chars.len() == 7
        && chars[..2].iter().all(char::is_ascii_uppercase)
        && chars[2..4].iter().all(char::is_ascii_digit)
        && chars[4..].iter().all(char::is_ascii_uppercase)
}

/// Phone numbers as written: runs of digits and separators holding 9 to 15 digits.
fn phone_runs(text: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    for c in text.chars().chain(std::iter::once('\n')) {
        if c.is_ascii_digit()
            || (matches!(c, ' ' | '-' | '.' | '(' | ')' | '+') && !current.is_empty())
            || (c == '+' && current.is_empty())
        {
            current.push(c);
        } else {
            let run = current.trim().trim_end_matches(['-', '.', '(', ' ']).to_owned();
            let digits = run.chars().filter(char::is_ascii_digit).count();
            if (9..=15).contains(&digits) {
                runs.push(run);
            }
            current.clear();
        }
    }
    runs
}

/// One mention of an entity in a released report, with the report's source reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub report: i64,
    pub source_reference: String,
    pub entity: Entity,
}

/// An entity reported by more than one independent source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Corroboration {
    pub entity: Entity,
    /// Distinct sources: the same source reporting twice counts once.
    pub sources: usize,
    pub reports: Vec<i64>,
}

/// The sources and reports that mention one entity.
struct Reported<'a> {
    entity: &'a Entity,
    sources: BTreeSet<&'a str>,
    reports: BTreeSet<i64>,
}

/// Every entity reported by two or more distinct sources.
pub fn corroborations(mentions: &[Mention]) -> Vec<Corroboration> {
    let mut by_entity: BTreeMap<(EntityKind, &str), Reported> = BTreeMap::new();
    for mention in mentions {
        let entry =
            by_entity.entry((mention.entity.kind, mention.entity.key.as_str())).or_insert_with(|| Reported {
                entity: &mention.entity,
                sources: BTreeSet::new(),
                reports: BTreeSet::new(),
            });
        entry.sources.insert(mention.source_reference.as_str());
        entry.reports.insert(mention.report);
    }
    by_entity
        .into_values()
        .filter(|reported| reported.sources.len() >= 2)
        .map(|reported| Corroboration {
            entity: reported.entity.clone(),
            sources: reported.sources.len(),
            reports: reported.reports.into_iter().collect(),
        })
        .collect()
}

/// The credibility to suggest for a report whose content another source corroborates:
/// "confirmed by other sources", unless it is already graded so.
pub fn suggested_credibility(current: Credibility, corroborated: bool) -> Option<Credibility> {
    (corroborated && current != Credibility::Confirmed).then_some(Credibility::Confirmed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds(text: &str) -> Vec<(EntityKind, String)> {
        extract(text).into_iter().map(|e| (e.kind, e.name)).collect()
    }

    #[test]
    fn rules_find_each_kind() {
        let found = kinds(
            "Viktor Marsh met a buyer from Saltford Freight Ltd at Eastmarsh Quay. \
             They left in a grey van, AB12 CDE, and called +44 7700 900123.",
        );
        assert!(found.contains(&(EntityKind::Person, "Viktor Marsh".into())), "{found:?}");
        assert!(found.contains(&(EntityKind::Organisation, "Saltford Freight Ltd".into())), "{found:?}");
        assert!(found.contains(&(EntityKind::Place, "Eastmarsh Quay".into())), "{found:?}");
        assert!(found.contains(&(EntityKind::Vehicle, "AB12 CDE".into())), "{found:?}");
        assert!(found.contains(&(EntityKind::Phone, "+44 7700 900123".into())), "{found:?}");
    }

    #[test]
    fn keys_link_differently_written_mentions() {
        assert_eq!(
            Entity::new(EntityKind::Vehicle, "ab12 cde").key,
            Entity::new(EntityKind::Vehicle, "AB12CDE").key
        );
        assert_eq!(
            Entity::new(EntityKind::Phone, "07700 900123").key,
            Entity::new(EntityKind::Phone, "+44 (0)7700-900-123").key
        );
        assert_eq!(Entity::new(EntityKind::Person, "Viktor  Marsh").key, "viktor marsh");
    }

    #[test]
    fn the_same_source_twice_is_not_corroboration() {
        let van = Entity::new(EntityKind::Vehicle, "AB12 CDE");
        let mention =
            |report, source: &str| Mention { report, source_reference: source.into(), entity: van.clone() };
        assert!(corroborations(&[mention(1, "SR-AAAA-AAAA"), mention(2, "SR-AAAA-AAAA")]).is_empty());
        let corroborated = corroborations(&[
            mention(1, "SR-AAAA-AAAA"),
            mention(2, "SR-AAAA-AAAA"),
            mention(3, "SR-BBBB-BBBB"),
        ]);
        assert_eq!(corroborated.len(), 1);
        assert_eq!((corroborated[0].sources, corroborated[0].reports.clone()), (2, vec![1, 2, 3]));
        assert_eq!(suggested_credibility(Credibility::PossiblyTrue, true), Some(Credibility::Confirmed));
        assert_eq!(suggested_credibility(Credibility::Confirmed, true), None);
        assert_eq!(suggested_credibility(Credibility::PossiblyTrue, false), None);
    }

    proptest! {
        #[test]
        fn extraction_never_panics(text in ".{0,300}") {
            let _ = extract(&text);
        }

        /// Corroboration counts distinct sources: never more than there are, and an entity
        /// is corroborated exactly when two or more distinct sources mention it.
        #[test]
        fn corroboration_counts_distinct_sources(mentions in proptest::collection::vec((0i64..6, 0u8..4, 0u8..3), 0..30)) {
            let mentions: Vec<Mention> = mentions
                .into_iter()
                .map(|(report, source, entity)| Mention {
                    report,
                    source_reference: format!("SR-{source}"),
                    entity: Entity::new(EntityKind::Person, &format!("Person {entity}")),
                })
                .collect();
            let found = corroborations(&mentions);
            for entity in 0..3u8 {
                let key = format!("person {entity}");
                let sources: BTreeSet<&str> = mentions.iter().filter(|m| m.entity.key == key).map(|m| m.source_reference.as_str()).collect();
                let reported = found.iter().find(|c| c.entity.key == key);
                prop_assert_eq!(reported.is_some(), sources.len() >= 2);
                if let Some(c) = reported {
                    prop_assert_eq!(c.sources, sources.len());
                }
            }
        }
    }
}
