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

    #[test]
    fn unknown_role_is_rejected_with_the_offending_text() {
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".into())));
    }
}
