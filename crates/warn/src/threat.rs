//! Threat assessments: what an analyst judges may happen, where and when. A warning officer
//! turns one into a CAP warning; the suggested CAP fields come from here.

use serde::{Deserialize, Serialize};
use tearline_domain::Timestamp;

use crate::cap::{Certainty, Severity};
use crate::geo::Area;

/// The UK probability yardstick (PHIA), which analysts already use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Likelihood {
    RemoteChance,
    HighlyUnlikely,
    Unlikely,
    RealisticPossibility,
    Likely,
    HighlyLikely,
    AlmostCertain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Impact {
    Minor,
    Moderate,
    Severe,
    Extreme,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreatStatus {
    Assessing,
    Active,
    Closed,
}

impl ThreatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreatStatus::Assessing => "assessing",
            ThreatStatus::Active => "active",
            ThreatStatus::Closed => "closed",
        }
    }
}

/// What happened once a threat's window closed, as the analyst records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreatOutcome {
    Materialised,
    Prevented,
    DidNotOccur,
    Unknown,
}

impl ThreatOutcome {
    pub const ALL: [ThreatOutcome; 4] = [
        ThreatOutcome::Materialised,
        ThreatOutcome::Prevented,
        ThreatOutcome::DidNotOccur,
        ThreatOutcome::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ThreatOutcome::Materialised => "materialised",
            ThreatOutcome::Prevented => "prevented",
            ThreatOutcome::DidNotOccur => "did-not-occur",
            ThreatOutcome::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<ThreatOutcome> {
        ThreatOutcome::ALL.into_iter().find(|o| o.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            ThreatOutcome::Materialised => "Materialised",
            ThreatOutcome::Prevented => "Prevented",
            ThreatOutcome::DidNotOccur => "Did not occur",
            ThreatOutcome::Unknown => "Unknown",
        }
    }
}

/// A threat assessment as the analyst writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreatAssessment {
    pub title: String,
    pub description: String,
    /// Free classification, e.g. "explosive device", "armed attack", "arson".
    pub threat_type: String,
    pub area: Area,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub likelihood: Likelihood,
    pub impact: Impact,
    pub status: ThreatStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ThreatError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl ThreatAssessment {
    pub fn validate(&self) -> Result<(), ThreatError> {
        let fail = |field, reason| Err(ThreatError { field, reason });
        if self.title.trim().is_empty() || self.title.len() > 200 {
            return fail("title", "must be 1 to 200 characters");
        }
        if self.threat_type.trim().is_empty() {
            return fail("threat_type", "must not be empty");
        }
        if !self.area.has_shape() {
            return fail("area", "needs at least one polygon or circle");
        }
        if self.area.description.trim().is_empty() {
            return fail("area.description", "must not be empty");
        }
        if self.window_end <= self.window_start {
            return fail("window_end", "must be after window_start");
        }
        Ok(())
    }

    /// CAP certainty as a warning officer would first set it from the assessed likelihood.
    pub fn suggested_certainty(&self) -> Certainty {
        match self.likelihood {
            Likelihood::AlmostCertain | Likelihood::HighlyLikely | Likelihood::Likely => Certainty::Likely,
            Likelihood::RealisticPossibility => Certainty::Possible,
            Likelihood::Unlikely | Likelihood::HighlyUnlikely | Likelihood::RemoteChance => {
                Certainty::Unlikely
            }
        }
    }

    pub fn suggested_severity(&self) -> Severity {
        match self.impact {
            Impact::Extreme => Severity::Extreme,
            Impact::Severe => Severity::Severe,
            Impact::Moderate => Severity::Moderate,
            Impact::Minor => Severity::Minor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::{Circle, LatLon};

    fn threat() -> ThreatAssessment {
        ThreatAssessment {
            title: "Device at the market".into(),
            description: "".into(),
            threat_type: "explosive device".into(),
            area: Area {
                description: "Market".into(),
                polygons: vec![],
                circles: vec![Circle::new(LatLon { lat: 1.0, lon: 2.0 }, 1.0).expect("valid")],
            },
            window_start: Timestamp(1_000),
            window_end: Timestamp(2_000),
            likelihood: Likelihood::RealisticPossibility,
            impact: Impact::Severe,
            status: ThreatStatus::Active,
        }
    }

    #[test]
    fn a_threat_needs_a_shape_and_a_forward_window() {
        assert_eq!(threat().validate(), Ok(()));
        let mut backwards = threat();
        backwards.window_end = Timestamp(500);
        assert_eq!(backwards.validate().map_err(|e| e.field), Err("window_end"));
        let mut shapeless = threat();
        shapeless.area.circles.clear();
        assert_eq!(shapeless.validate().map_err(|e| e.field), Err("area"));
    }

    #[test]
    fn likelihood_and_impact_suggest_cap_certainty_and_severity() {
        assert_eq!(threat().suggested_certainty(), Certainty::Possible);
        assert_eq!(threat().suggested_severity(), Severity::Severe);
    }
}
