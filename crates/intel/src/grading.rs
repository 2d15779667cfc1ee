//! Grading, each scale separate: the Admiralty code (NATO STANAG 2511 / AJP-2.1), the UK
//! 3x5x2 (College of Policing APP), TLP 2.0 (FIRST), and the STIX 2.1 confidence that the
//! Admiralty credibility maps to.
//!
//! Tearline keeps the richer Admiralty grading; [`to_3x5x2`] derives the 3x5x2 evaluation
//! where a partner asks for it, and [`stix_confidence`] follows the STIX 2.1 "Admiralty
//! Credibility" scale (appendix A of the specification).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Admiralty source reliability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Reliability {
    /// Completely reliable.
    A,
    /// Usually reliable.
    B,
    /// Fairly reliable.
    C,
    /// Not usually reliable.
    D,
    /// Unreliable.
    E,
    /// Reliability cannot be judged.
    F,
}

/// Admiralty information credibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Credibility {
    Confirmed = 1,
    ProbablyTrue = 2,
    PossiblyTrue = 3,
    Doubtful = 4,
    Improbable = 5,
    CannotBeJudged = 6,
}

/// 3x5x2 source evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum SourceEvaluation {
    Reliable = 1,
    Untested = 2,
    NotReliable = 3,
}

/// 3x5x2 intelligence assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IntelligenceAssessment {
    /// Known directly to the source.
    A,
    /// Known indirectly but corroborated.
    B,
    /// Known indirectly.
    C,
    /// Not known.
    D,
    /// Suspected to be false.
    E,
}

/// 3x5x2 handling code: may it be shared, and on what conditions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "code", content = "conditions")]
pub enum HandlingCode {
    /// Lawful sharing permitted.
    P,
    /// Lawful sharing permitted with conditions, which travel with the report.
    C(String),
}

/// TLP 2.0, most restrictive first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tlp {
    #[serde(rename = "TLP:RED")]
    Red,
    #[serde(rename = "TLP:AMBER+STRICT")]
    AmberStrict,
    #[serde(rename = "TLP:AMBER")]
    Amber,
    #[serde(rename = "TLP:GREEN")]
    Green,
    #[serde(rename = "TLP:CLEAR")]
    Clear,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GradingError {
    #[error("{0:?} is not an Admiralty grade: a reliability A-F then a credibility 1-6, such as B2")]
    Admiralty(String),
    #[error("{0} is not on the scale")]
    OutOfScale(u8),
    #[error("{0:?} is not a TLP 2.0 marking: TLP:RED, TLP:AMBER+STRICT, TLP:AMBER, TLP:GREEN or TLP:CLEAR")]
    Tlp(String),
    #[error("handling code C needs its conditions stated")]
    MissingConditions,
}

impl Reliability {
    pub const ALL: [Reliability; 6] =
        [Reliability::A, Reliability::B, Reliability::C, Reliability::D, Reliability::E, Reliability::F];

    pub fn meaning(self) -> &'static str {
        match self {
            Reliability::A => "completely reliable",
            Reliability::B => "usually reliable",
            Reliability::C => "fairly reliable",
            Reliability::D => "not usually reliable",
            Reliability::E => "unreliable",
            Reliability::F => "reliability cannot be judged",
        }
    }

    pub fn letter(self) -> char {
        match self {
            Reliability::A => 'A',
            Reliability::B => 'B',
            Reliability::C => 'C',
            Reliability::D => 'D',
            Reliability::E => 'E',
            Reliability::F => 'F',
        }
    }

    pub fn from_letter(letter: &str) -> Option<Reliability> {
        Reliability::ALL.into_iter().find(|r| letter.len() == 1 && letter.starts_with(r.letter()))
    }
}

impl Credibility {
    pub const ALL: [Credibility; 6] = [
        Credibility::Confirmed,
        Credibility::ProbablyTrue,
        Credibility::PossiblyTrue,
        Credibility::Doubtful,
        Credibility::Improbable,
        Credibility::CannotBeJudged,
    ];

    pub fn meaning(self) -> &'static str {
        match self {
            Credibility::Confirmed => "confirmed by other sources",
            Credibility::ProbablyTrue => "probably true",
            Credibility::PossiblyTrue => "possibly true",
            Credibility::Doubtful => "doubtful",
            Credibility::Improbable => "improbable",
            Credibility::CannotBeJudged => "truth cannot be judged",
        }
    }
}

impl From<Credibility> for u8 {
    fn from(value: Credibility) -> u8 {
        value as u8
    }
}

impl TryFrom<u8> for Credibility {
    type Error = GradingError;
    fn try_from(value: u8) -> Result<Self, GradingError> {
        Credibility::ALL.into_iter().find(|c| *c as u8 == value).ok_or(GradingError::OutOfScale(value))
    }
}

impl From<SourceEvaluation> for u8 {
    fn from(value: SourceEvaluation) -> u8 {
        value as u8
    }
}

impl TryFrom<u8> for SourceEvaluation {
    type Error = GradingError;
    fn try_from(value: u8) -> Result<Self, GradingError> {
        [SourceEvaluation::Reliable, SourceEvaluation::Untested, SourceEvaluation::NotReliable]
            .into_iter()
            .find(|s| *s as u8 == value)
            .ok_or(GradingError::OutOfScale(value))
    }
}

/// An Admiralty grade such as `B2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Admiralty {
    pub reliability: Reliability,
    pub credibility: Credibility,
}

impl Admiralty {
    /// What partners' intelligence is graded until an analyst assesses it.
    pub const UNJUDGED: Admiralty =
        Admiralty { reliability: Reliability::F, credibility: Credibility::CannotBeJudged };

    pub fn parse(text: &str) -> Result<Admiralty, GradingError> {
        let invalid = || GradingError::Admiralty(text.to_owned());
        let mut chars = text.trim().chars();
        let (Some(letter), Some(digit), None) = (chars.next(), chars.next(), chars.next()) else {
            return Err(invalid());
        };
        let reliability = Reliability::ALL
            .into_iter()
            .find(|r| r.letter() == letter.to_ascii_uppercase())
            .ok_or_else(invalid)?;
        let digit = digit.to_digit(10).and_then(|d| u8::try_from(d).ok()).ok_or_else(invalid)?;
        let credibility = Credibility::try_from(digit).map_err(|_| invalid())?;
        Ok(Admiralty { reliability, credibility })
    }
}

impl fmt::Display for Admiralty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.reliability.letter(), self.credibility as u8)
    }
}

impl Tlp {
    pub const ALL: [Tlp; 5] = [Tlp::Red, Tlp::AmberStrict, Tlp::Amber, Tlp::Green, Tlp::Clear];

    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Red => "TLP:RED",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Amber => "TLP:AMBER",
            Tlp::Green => "TLP:GREEN",
            Tlp::Clear => "TLP:CLEAR",
        }
    }

    pub fn parse(text: &str) -> Result<Tlp, GradingError> {
        let wanted = text.trim().to_ascii_uppercase();
        Tlp::ALL.into_iter().find(|t| t.as_str() == wanted).ok_or_else(|| GradingError::Tlp(text.to_owned()))
    }

    /// Whether a report so marked may leave Tearline at all: TLP:RED is for the named
    /// recipients in the room, never for export.
    pub fn may_leave(self) -> bool {
        self != Tlp::Red
    }
}

impl HandlingCode {
    /// A handling code as entered: `P`, or `C` with its conditions.
    pub fn new(code: &str, conditions: &str) -> Result<HandlingCode, GradingError> {
        match (code.trim(), conditions.trim()) {
            ("P" | "p", _) => Ok(HandlingCode::P),
            ("C" | "c", "") => Err(GradingError::MissingConditions),
            ("C" | "c", conditions) => Ok(HandlingCode::C(conditions.to_owned())),
            (other, _) => Err(GradingError::Admiralty(other.to_owned())),
        }
    }
}

/// The 3x5x2 source evaluation and intelligence assessment an Admiralty grade stands for.
///
/// Reliability: A and B are "reliable"; C and F (a source with some or no history) are
/// "untested"; D and E are "not reliable". Credibility: confirmed by other sources is
/// "known indirectly but corroborated"; probably and possibly true are "known indirectly";
/// doubtful and cannot-be-judged are "not known"; improbable is "suspected to be false".
/// "Known directly to the source" (A) is a fact about how the source knows, which the
/// Admiralty code does not carry: the handler records it on the report instead.
pub fn to_3x5x2(grade: Admiralty) -> (SourceEvaluation, IntelligenceAssessment) {
    let evaluation = match grade.reliability {
        Reliability::A | Reliability::B => SourceEvaluation::Reliable,
        Reliability::C | Reliability::F => SourceEvaluation::Untested,
        Reliability::D | Reliability::E => SourceEvaluation::NotReliable,
    };
    let assessment = match grade.credibility {
        Credibility::Confirmed => IntelligenceAssessment::B,
        Credibility::ProbablyTrue | Credibility::PossiblyTrue => IntelligenceAssessment::C,
        Credibility::Doubtful | Credibility::CannotBeJudged => IntelligenceAssessment::D,
        Credibility::Improbable => IntelligenceAssessment::E,
    };
    (evaluation, assessment)
}

/// STIX 2.1's confidence (0-100) for an information credibility, per the specification's
/// Admiralty Credibility scale; "cannot be judged" has no confidence and is left out.
pub fn stix_confidence(credibility: Credibility) -> Option<u8> {
    match credibility {
        Credibility::Confirmed => Some(90),
        Credibility::ProbablyTrue => Some(70),
        Credibility::PossiblyTrue => Some(50),
        Credibility::Doubtful => Some(30),
        Credibility::Improbable => Some(10),
        Credibility::CannotBeJudged => None,
    }
}

/// The credibility a STIX confidence stands for (the inverse of [`stix_confidence`], by
/// the scale's bands: 80-100 confirmed, 60-79 probably, 40-59 possibly, 20-39 doubtful,
/// 0-19 improbable).
pub fn credibility_of_confidence(confidence: u8) -> Option<Credibility> {
    match confidence {
        80..=100 => Some(Credibility::Confirmed),
        60..=79 => Some(Credibility::ProbablyTrue),
        40..=59 => Some(Credibility::PossiblyTrue),
        20..=39 => Some(Credibility::Doubtful),
        0..=19 => Some(Credibility::Improbable),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_grade() -> impl Strategy<Value = Admiralty> {
        (
            proptest::sample::select(Reliability::ALL.to_vec()),
            proptest::sample::select(Credibility::ALL.to_vec()),
        )
            .prop_map(|(reliability, credibility)| Admiralty { reliability, credibility })
    }

    proptest! {
        /// Every grade prints and parses back to itself, in either case.
        #[test]
        fn grades_round_trip(grade in any_grade()) {
            prop_assert_eq!(Admiralty::parse(&grade.to_string()), Ok(grade));
            prop_assert_eq!(Admiralty::parse(&grade.to_string().to_lowercase()), Ok(grade));
        }

        /// The 3x5x2 mapping never makes a worse Admiralty grade look better: a less
        /// reliable source (F aside) never maps to a better evaluation, and less credible
        /// information (6 aside) never to a better assessment.
        #[test]
        fn the_3x5x2_map_is_monotone(a in any_grade(), b in any_grade()) {
            let (ea, ia) = to_3x5x2(a);
            let (eb, ib) = to_3x5x2(b);
            let judged_r = |g: Admiralty| g.reliability != Reliability::F;
            let judged_c = |g: Admiralty| g.credibility != Credibility::CannotBeJudged;
            if judged_r(a) && judged_r(b) && a.reliability <= b.reliability {
                prop_assert!(ea <= eb);
            }
            if judged_c(a) && judged_c(b) && a.credibility <= b.credibility {
                prop_assert!(ia <= ib);
            }
        }

        /// Confidence goes down as credibility does, and maps back to the same credibility.
        #[test]
        fn stix_confidence_round_trips_and_is_monotone(a in any_grade(), b in any_grade()) {
            if let Some(confidence) = stix_confidence(a.credibility) {
                prop_assert_eq!(credibility_of_confidence(confidence), Some(a.credibility));
                if let Some(other) = stix_confidence(b.credibility) {
                    prop_assert_eq!(a.credibility <= b.credibility, confidence >= other);
                }
            }
        }

        #[test]
        fn parsing_never_panics(text in ".{0,8}", value in any::<u8>()) {
            let _ = Admiralty::parse(&text);
            let _ = Tlp::parse(&text);
            let _ = Credibility::try_from(value);
            let _ = credibility_of_confidence(value);
        }
    }

    #[test]
    fn bad_grades_are_named() {
        for bad in ["", "B", "B7", "G2", "B22", "2B"] {
            assert_eq!(Admiralty::parse(bad), Err(GradingError::Admiralty(bad.to_owned())), "{bad}");
        }
        assert_eq!(Tlp::parse("tlp:amber+strict"), Ok(Tlp::AmberStrict));
        assert!(Tlp::parse("TLP:WHITE").is_err(), "TLP 1.0's WHITE is TLP 2.0's CLEAR");
        assert_eq!(HandlingCode::new("C", " "), Err(GradingError::MissingConditions));
        assert_eq!(HandlingCode::new("C", "police use only"), Ok(HandlingCode::C("police use only".into())));
        assert!(!Tlp::Red.may_leave() && Tlp::AmberStrict.may_leave());
    }

    #[test]
    fn the_maps_follow_the_documented_tables() {
        let grade = |text| Admiralty::parse(text).expect("valid");
        assert_eq!(to_3x5x2(grade("A1")), (SourceEvaluation::Reliable, IntelligenceAssessment::B));
        assert_eq!(to_3x5x2(grade("C3")), (SourceEvaluation::Untested, IntelligenceAssessment::C));
        assert_eq!(to_3x5x2(grade("E5")), (SourceEvaluation::NotReliable, IntelligenceAssessment::E));
        assert_eq!(to_3x5x2(Admiralty::UNJUDGED), (SourceEvaluation::Untested, IntelligenceAssessment::D));
        assert_eq!(stix_confidence(Credibility::ProbablyTrue), Some(70));
        assert_eq!(stix_confidence(Credibility::CannotBeJudged), None);
    }
}
