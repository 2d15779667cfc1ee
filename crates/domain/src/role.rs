//! The roles of the brief, spelled as they appear on the wire and in the CLI.

use std::fmt;
use std::str::FromStr;

/// What a person does in Tearline; decides, with their unit, what they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Handler,
    Controller,
    AuthorisingOfficer,
    Analyst,
    WarningOfficer,
    Inspector,
    Administrator,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Handler,
        Role::Controller,
        Role::AuthorisingOfficer,
        Role::Analyst,
        Role::WarningOfficer,
        Role::Inspector,
        Role::Administrator,
    ];

    /// Whether the role may unseal identities (the policy's rule, restated so that account
    /// management can ask it of a role before any source is involved; a policy test keeps
    /// the two equal). An account with such a role needs a second person's approval.
    pub fn reaches_identities(self) -> bool {
        matches!(self, Role::Handler | Role::Controller)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Handler => "handler",
            Role::Controller => "controller",
            Role::AuthorisingOfficer => "authorising-officer",
            Role::Analyst => "analyst",
            Role::WarningOfficer => "warning-officer",
            Role::Inspector => "inspector",
            Role::Administrator => "administrator",
        }
    }

    /// The label people read in the UI.
    pub fn title(self) -> &'static str {
        match self {
            Role::Handler => "Handler",
            Role::Controller => "Controller",
            Role::AuthorisingOfficer => "Authorising officer",
            Role::Analyst => "Analyst",
            Role::WarningOfficer => "Warning officer",
            Role::Inspector => "Inspector",
            Role::Administrator => "Administrator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How senior an officer is. Some decisions need the higher level: authorising a juvenile or
/// vulnerable source, and approving a payment above the unit's thresholds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Seniority {
    #[default]
    Standard,
    Senior,
}

impl Seniority {
    pub fn as_str(self) -> &'static str {
        match self {
            Seniority::Standard => "standard",
            Seniority::Senior => "senior",
        }
    }

    pub fn parse(s: &str) -> Option<Seniority> {
        [Seniority::Standard, Seniority::Senior].into_iter().find(|level| level.as_str() == s)
    }
}

/// What decides what an account reaches: its role, its seniority and its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Standing {
    pub role: Role,
    pub seniority: Seniority,
    pub unit_id: crate::UnitId,
}

impl Standing {
    /// Whether an account moving from `self` to `to` needs a second person — a senior
    /// controller of `to`'s unit — before the move takes effect: when it will reach
    /// identities and the move may widen what it reaches. A move that stays in the unit and
    /// only narrows (a controller made a handler, a senior made standard, or nothing at all)
    /// takes effect at once; so does every move to a role that reaches no identity.
    pub fn change_needs_second_person(self, to: Standing) -> bool {
        to.role.reaches_identities() && !to.within(self)
    }

    /// Whether `self` reaches nothing that `wider` does not: the same unit, the same role or
    /// a handler's within a controller's, and no higher seniority.
    fn within(self, wider: Standing) -> bool {
        let role_within =
            self.role == wider.role || (self.role == Role::Handler && wider.role == Role::Controller);
        self.unit_id == wider.unit_id && role_within && self.seniority <= wider.seniority
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role {0:?}; expected one of handler, controller, authorising-officer, analyst, warning-officer, inspector, administrator")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|role| role.as_str() == s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_wire_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
    }

    fn standing(role: Role, seniority: Seniority, unit: i64) -> Standing {
        Standing { role, seniority, unit_id: crate::UnitId(unit) }
    }

    #[test]
    fn a_move_that_only_narrows_within_the_unit_takes_effect_at_once() {
        use Seniority::{Senior, Standard};
        let senior_controller = standing(Role::Controller, Senior, 1);
        for narrower in [
            senior_controller,
            standing(Role::Controller, Standard, 1),
            standing(Role::Handler, Senior, 1),
            standing(Role::Handler, Standard, 1),
            standing(Role::Analyst, Standard, 1),
            standing(Role::Administrator, Senior, 2),
        ] {
            assert!(!senior_controller.change_needs_second_person(narrower), "{narrower:?}");
        }
        let handler = standing(Role::Handler, Standard, 1);
        for wider in [
            standing(Role::Controller, Standard, 1),
            standing(Role::Handler, Senior, 1),
            standing(Role::Handler, Standard, 2),
        ] {
            assert!(handler.change_needs_second_person(wider), "{wider:?}");
        }
        assert!(standing(Role::Administrator, Standard, 1).change_needs_second_person(handler));
    }

    #[test]
    fn unknown_role_is_rejected_with_the_offending_text() {
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".into())));
    }
}
