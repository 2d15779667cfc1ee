//! The one place where access is decided. Every HTTP handler and CLI path asks
//! [`authorize`]; nothing else grants access.
//!
//! The rules follow the brief's role table. Access is deny-by-default: each role lists what
//! it may do, and anything not listed falls through to [`Denied`]. Units are compartments:
//! a role reaches a source only inside its own unit, and a handler only their own sources.

use crate::{Role, Seniority, UnitId, UserId};

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub unit_id: UnitId,
    pub role: Role,
    pub seniority: Seniority,
}

/// The parts of a source record that access depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceScope {
    pub unit_id: UnitId,
    pub handler_id: UserId,
    pub controller_id: UserId,
}

/// What is being asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See one's own account and role home page.
    ViewOwnAccount,
    /// Open the source list at all; each entry is then checked with `ReadSource`.
    ListSources,
    CreateSource {
        unit_id: UnitId,
    },
    /// Read a source record: code name, reference, assignments. Never the identity.
    ReadSource(SourceScope),
    /// Decrypt the sealed identity. Always audited, always with a reason.
    UnsealIdentity(SourceScope),
    /// Change who handles or controls a source.
    ReassignSource(SourceScope),
    ManageUsers,
    /// Change an account's role, seniority or unit, disable it or enable it again. Nobody
    /// changes their own account.
    ChangeAccount {
        account: UserId,
    },
    /// Let an account whose role reaches identities take effect, or a change that widens
    /// what such an account reaches: the second person of the two it needs (the
    /// administrator who made or changed it is the first). `unit_id` is the unit the account
    /// belongs to once it takes effect; nobody approves their own account.
    ApproveAccount {
        unit_id: UnitId,
        account: UserId,
    },
    RotateVaultKey,
    ReadAuditTrail,
    /// See a unit's threat assessments (on the map and in lists).
    ReadThreats {
        unit_id: UnitId,
    },
    /// Write or revise a threat assessment.
    AssessThreat {
        unit_id: UnitId,
    },
    /// See a unit's warnings, their CAP XML and delivery progress.
    ReadWarnings {
        unit_id: UnitId,
    },
    /// Draft, submit, update and cancel warnings.
    DraftWarning {
        unit_id: UnitId,
    },
    /// Approve another officer's warning (the service also refuses one's own).
    ApproveWarning {
        unit_id: UnitId,
    },
    /// Register, import and retire recipients of warnings.
    ManageRecipients,
    /// Import partner agencies' CAP alerts and subscribe to their feeds.
    ImportPartnerAlerts,
    /// Apply for an authorisation to use a source.
    ApplyForAuthorisation(SourceScope),
    /// Grant, refuse, renew, review or cancel an authorisation. The lifecycle rules also
    /// refuse anyone who applied for, handles or controls the case.
    DecideAuthorisation(SourceScope),
    /// Log contacts, give tasks, record welfare checks and risk assessments.
    RecordSourceActivity(SourceScope),
    /// See a source's payments and ledger, and export them for disclosure.
    ReadPayments(SourceScope),
    /// Request a payment, record it paid with a witness, and its receipt.
    HandlePayment(SourceScope),
    /// Approve or refuse a payment, and correct the ledger by reversal.
    ApprovePayment(SourceScope),
    /// Read the unit's register of authorisations.
    ReadAuthorisationRegister {
        unit_id: UnitId,
    },
    /// Export the register and a source's full record set (reg. 3), for oversight.
    ExportRecords {
        unit_id: UnitId,
    },
    /// Write and read a source's contact reports (above the line).
    WriteContactReport(SourceScope),
    /// Draft, edit and submit intelligence reports from a source's contact reports; the
    /// leak guard runs on submission.
    DraftIntelligence(SourceScope),
    /// Release a submitted report below the line, send it back, or withdraw a released one.
    ReleaseIntelligence(SourceScope),
    /// Validate a source's reliability grade against its track record.
    ValidateSource(SourceScope),
    /// Search and read a unit's released intelligence, its entities and link chart.
    ReadIntelligence {
        unit_id: UnitId,
    },
    /// Tag and correct entities, record disseminations, and share and import STIX.
    AnalyseIntelligence {
        unit_id: UnitId,
    },
}

/// The refusal. It carries no detail on purpose: why something is hidden is itself a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not permitted")]
pub struct Denied;

/// Decides whether `actor` may perform `action`.
pub fn authorize(actor: &Actor, action: Action) -> Result<(), Denied> {
    let in_unit = |unit_id: UnitId| unit_id == actor.unit_id;
    let allowed = match (actor.role, action) {
        (_, Action::ViewOwnAccount) => true,

        (Role::Handler, Action::ListSources) => true,
        (Role::Handler, Action::CreateSource { unit_id }) => in_unit(unit_id),
        (
            Role::Handler,
            Action::ReadSource(s)
            | Action::UnsealIdentity(s)
            | Action::ApplyForAuthorisation(s)
            | Action::RecordSourceActivity(s)
            | Action::ReadPayments(s)
            | Action::HandlePayment(s)
            | Action::WriteContactReport(s)
            | Action::DraftIntelligence(s),
        ) => in_unit(s.unit_id) && s.handler_id == actor.user_id,

        (Role::Controller, Action::ListSources) => true,
        (Role::Controller, Action::CreateSource { unit_id }) => in_unit(unit_id),
        (
            Role::Controller,
            Action::ReadSource(s)
            | Action::UnsealIdentity(s)
            | Action::ReassignSource(s)
            | Action::ApplyForAuthorisation(s)
            | Action::RecordSourceActivity(s)
            | Action::ReadPayments(s)
            | Action::HandlePayment(s)
            | Action::ApprovePayment(s)
            | Action::WriteContactReport(s)
            | Action::DraftIntelligence(s)
            | Action::ReleaseIntelligence(s)
            | Action::ValidateSource(s),
        ) => in_unit(s.unit_id),
        (Role::Controller, Action::ApproveAccount { unit_id, account }) => {
            in_unit(unit_id) && actor.seniority == Seniority::Senior && account != actor.user_id
        }

        // Authorising officers judge a case from its record; they never need the identity.
        (Role::AuthorisingOfficer, Action::ListSources) => true,
        (
            Role::AuthorisingOfficer,
            Action::ReadSource(s) | Action::ApplyForAuthorisation(s) | Action::DecideAuthorisation(s),
        ) => in_unit(s.unit_id),
        (Role::AuthorisingOfficer, Action::ReadAuthorisationRegister { unit_id }) => in_unit(unit_id),

        // Inspectors read everything of the unit they inspect, but never unseal.
        (Role::Inspector, Action::ListSources | Action::ReadAuditTrail) => true,
        (Role::Inspector, Action::ReadSource(s) | Action::ReadPayments(s)) => in_unit(s.unit_id),
        (
            Role::Inspector,
            Action::ReadAuthorisationRegister { unit_id } | Action::ExportRecords { unit_id },
        ) => in_unit(unit_id),

        // Separation of duties: administrators run the system, never read its content.
        (Role::Administrator, Action::ManageUsers | Action::RotateVaultKey) => true,
        (Role::Administrator, Action::ChangeAccount { account }) => account != actor.user_id,

        // Analysts assess threats from sanitised intelligence; they do not issue warnings.
        (
            Role::Analyst,
            Action::ReadThreats { unit_id }
            | Action::AssessThreat { unit_id }
            | Action::ReadIntelligence { unit_id }
            | Action::AnalyseIntelligence { unit_id },
        ) => in_unit(unit_id),

        (
            Role::WarningOfficer,
            Action::ReadThreats { unit_id }
            | Action::ReadWarnings { unit_id }
            | Action::DraftWarning { unit_id }
            | Action::ApproveWarning { unit_id },
        ) => in_unit(unit_id),
        (Role::WarningOfficer, Action::ManageRecipients | Action::ImportPartnerAlerts) => true,

        (
            Role::Inspector,
            Action::ReadThreats { unit_id }
            | Action::ReadWarnings { unit_id }
            | Action::ReadIntelligence { unit_id },
        ) => in_unit(unit_id),

        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UNIT: UnitId = UnitId(1);
    const OTHER_UNIT: UnitId = UnitId(2);

    fn actor(role: Role) -> Actor {
        Actor { user_id: UserId(10), unit_id: UNIT, role, seniority: Seniority::Standard }
    }

    fn scope(unit_id: UnitId, handler: i64) -> SourceScope {
        SourceScope { unit_id, handler_id: UserId(handler), controller_id: UserId(11) }
    }

    #[test]
    fn the_roles_that_reach_identities_are_exactly_those_that_may_unseal() {
        for role in Role::ALL {
            let may = authorize(&actor(role), Action::UnsealIdentity(scope(UNIT, 10))).is_ok();
            assert_eq!(role.reaches_identities(), may, "{role}");
        }
    }

    #[test]
    fn only_a_senior_controller_of_the_unit_approves_an_account() {
        for role in Role::ALL {
            for seniority in [Seniority::Standard, Seniority::Senior] {
                let a = Actor { seniority, ..actor(role) };
                let expected = role == Role::Controller && seniority == Seniority::Senior;
                let approve = |unit_id, account| Action::ApproveAccount { unit_id, account };
                assert_eq!(authorize(&a, approve(UNIT, UserId(99))).is_ok(), expected, "{role}");
                assert_eq!(authorize(&a, approve(OTHER_UNIT, UserId(99))), Err(Denied), "{role}");
                assert_eq!(authorize(&a, approve(UNIT, a.user_id)), Err(Denied), "{role}: not their own");
            }
        }
    }

    #[test]
    fn only_handlers_and_controllers_may_ever_unseal() {
        for role in Role::ALL {
            let own = Action::UnsealIdentity(scope(UNIT, 10));
            let may = authorize(&actor(role), own).is_ok();
            assert_eq!(may, matches!(role, Role::Handler | Role::Controller), "{role}");
        }
    }

    #[test]
    fn a_handler_reaches_only_their_own_sources() {
        let handler = actor(Role::Handler);
        assert!(authorize(&handler, Action::ReadSource(scope(UNIT, 10))).is_ok());
        assert_eq!(authorize(&handler, Action::ReadSource(scope(UNIT, 99))), Err(Denied));
        assert_eq!(authorize(&handler, Action::UnsealIdentity(scope(UNIT, 99))), Err(Denied));
    }

    #[test]
    fn administrators_and_analysts_never_read_source_records() {
        for role in [Role::Administrator, Role::Analyst, Role::WarningOfficer] {
            assert_eq!(authorize(&actor(role), Action::ListSources), Err(Denied));
            assert_eq!(authorize(&actor(role), Action::ReadSource(scope(UNIT, 10))), Err(Denied));
        }
    }

    #[test]
    fn only_administrators_manage_users_and_keys() {
        for role in Role::ALL {
            let admin = role == Role::Administrator;
            assert_eq!(authorize(&actor(role), Action::ManageUsers).is_ok(), admin);
            assert_eq!(authorize(&actor(role), Action::RotateVaultKey).is_ok(), admin);
            let other = Action::ChangeAccount { account: UserId(99) };
            assert_eq!(authorize(&actor(role), other).is_ok(), admin);
            let own = Action::ChangeAccount { account: actor(role).user_id };
            assert_eq!(authorize(&actor(role), own), Err(Denied), "nobody changes their own account");
        }
    }

    #[test]
    fn only_warning_officers_issue_warnings_and_only_analysts_assess_threats() {
        for role in Role::ALL {
            let a = actor(role);
            let officer = role == Role::WarningOfficer;
            assert_eq!(authorize(&a, Action::DraftWarning { unit_id: UNIT }).is_ok(), officer, "{role}");
            assert_eq!(authorize(&a, Action::ApproveWarning { unit_id: UNIT }).is_ok(), officer, "{role}");
            assert_eq!(authorize(&a, Action::ManageRecipients).is_ok(), officer, "{role}");
            assert_eq!(
                authorize(&a, Action::AssessThreat { unit_id: UNIT }).is_ok(),
                role == Role::Analyst,
                "{role}"
            );
            let reads_threats = matches!(role, Role::Analyst | Role::WarningOfficer | Role::Inspector);
            assert_eq!(authorize(&a, Action::ReadThreats { unit_id: UNIT }).is_ok(), reads_threats, "{role}");
            assert_eq!(authorize(&a, Action::ReadThreats { unit_id: OTHER_UNIT }), Err(Denied), "{role}");
            assert_eq!(authorize(&a, Action::DraftWarning { unit_id: OTHER_UNIT }), Err(Denied), "{role}");
        }
    }

    #[test]
    fn only_authorising_officers_decide_authorisations_and_only_controllers_approve_payments() {
        for role in Role::ALL {
            let a = actor(role);
            let own = scope(UNIT, 10);
            assert_eq!(
                authorize(&a, Action::DecideAuthorisation(own)).is_ok(),
                role == Role::AuthorisingOfficer,
                "{role}"
            );
            assert_eq!(
                authorize(&a, Action::ApprovePayment(own)).is_ok(),
                role == Role::Controller,
                "{role}"
            );
            assert_eq!(
                authorize(&a, Action::ExportRecords { unit_id: UNIT }).is_ok(),
                role == Role::Inspector,
                "{role}"
            );
            let reads_payments = matches!(role, Role::Handler | Role::Controller | Role::Inspector);
            assert_eq!(authorize(&a, Action::ReadPayments(own)).is_ok(), reads_payments, "{role}");
        }
        let handler = actor(Role::Handler);
        assert_eq!(authorize(&handler, Action::HandlePayment(scope(UNIT, 99))), Err(Denied));
        assert_eq!(authorize(&handler, Action::RecordSourceActivity(scope(UNIT, 99))), Err(Denied));
    }

    #[test]
    fn contact_reports_stay_with_the_case_and_analysts_see_only_released_intelligence() {
        for role in Role::ALL {
            let a = actor(role);
            let own = scope(UNIT, 10);
            let case_officer = matches!(role, Role::Handler | Role::Controller);
            assert_eq!(authorize(&a, Action::WriteContactReport(own)).is_ok(), case_officer, "{role}");
            assert_eq!(authorize(&a, Action::DraftIntelligence(own)).is_ok(), case_officer, "{role}");
            assert_eq!(
                authorize(&a, Action::ReleaseIntelligence(own)).is_ok(),
                role == Role::Controller,
                "{role}"
            );
            assert_eq!(
                authorize(&a, Action::ValidateSource(own)).is_ok(),
                role == Role::Controller,
                "{role}"
            );
            assert_eq!(
                authorize(&a, Action::ReadIntelligence { unit_id: UNIT }).is_ok(),
                matches!(role, Role::Analyst | Role::Inspector),
                "{role}"
            );
            assert_eq!(
                authorize(&a, Action::AnalyseIntelligence { unit_id: UNIT }).is_ok(),
                role == Role::Analyst,
                "{role}"
            );
            assert_eq!(
                authorize(&a, Action::ReadIntelligence { unit_id: OTHER_UNIT }),
                Err(Denied),
                "{role}"
            );
        }
    }

    fn any_role() -> impl Strategy<Value = Role> {
        proptest::sample::select(Role::ALL.to_vec())
    }

    /// Every action over two units, two accounts and the sources they could handle: the
    /// universe the brute-force twin below searches.
    fn every_action() -> Vec<Action> {
        let units = [UNIT, OTHER_UNIT];
        let accounts = [UserId(10), UserId(99)];
        let scopes: Vec<SourceScope> =
            units.iter().flat_map(|&unit| [scope(unit, 10), scope(unit, 99)]).collect();
        let mut actions = vec![
            Action::ViewOwnAccount,
            Action::ListSources,
            Action::ManageUsers,
            Action::RotateVaultKey,
            Action::ReadAuditTrail,
            Action::ManageRecipients,
            Action::ImportPartnerAlerts,
        ];
        for s in scopes {
            actions.extend([
                Action::ReadSource(s),
                Action::UnsealIdentity(s),
                Action::ReassignSource(s),
                Action::ApplyForAuthorisation(s),
                Action::DecideAuthorisation(s),
                Action::RecordSourceActivity(s),
                Action::ReadPayments(s),
                Action::HandlePayment(s),
                Action::ApprovePayment(s),
                Action::WriteContactReport(s),
                Action::DraftIntelligence(s),
                Action::ReleaseIntelligence(s),
                Action::ValidateSource(s),
            ]);
        }
        for unit_id in units {
            actions.extend([
                Action::CreateSource { unit_id },
                Action::ReadThreats { unit_id },
                Action::AssessThreat { unit_id },
                Action::ReadWarnings { unit_id },
                Action::DraftWarning { unit_id },
                Action::ApproveWarning { unit_id },
                Action::ReadAuthorisationRegister { unit_id },
                Action::ExportRecords { unit_id },
                Action::ReadIntelligence { unit_id },
                Action::AnalyseIntelligence { unit_id },
            ]);
            actions.extend(accounts.map(|account| Action::ApproveAccount { unit_id, account }));
        }
        actions.extend(accounts.map(|account| Action::ChangeAccount { account }));
        actions
    }

    fn any_standing() -> impl Strategy<Value = crate::Standing> {
        let seniority = prop_oneof![Just(Seniority::Standard), Just(Seniority::Senior)];
        (any_role(), seniority, prop_oneof![Just(UNIT), Just(OTHER_UNIT)])
            .prop_map(|(role, seniority, unit_id)| crate::Standing { role, seniority, unit_id })
    }

    proptest! {
        /// Two people deep: a change of account after which the policy grants anything it
        /// did not grant before, to an account that reaches identities, always waits for a
        /// second person (checked by searching every action the policy knows).
        #[test]
        fn a_change_that_widens_an_identity_role_waits_for_a_second_person(
            from in any_standing(),
            to in any_standing(),
        ) {
            let as_actor = |s: crate::Standing| Actor {
                user_id: UserId(10), unit_id: s.unit_id, role: s.role, seniority: s.seniority,
            };
            let widens = every_action().into_iter().any(|action| {
                authorize(&as_actor(to), action).is_ok() && authorize(&as_actor(from), action).is_err()
            });
            if to.role.reaches_identities() && widens {
                prop_assert!(from.change_needs_second_person(to));
            }
            if !to.role.reaches_identities() || from == to {
                prop_assert!(!from.change_needs_second_person(to));
            }
        }

        /// Units are compartments: nothing about a source crosses a unit boundary, whoever asks.
        #[test]
        fn no_role_reaches_a_source_of_another_unit(role in any_role(), handler in 0i64..20) {
            let outside = scope(OTHER_UNIT, handler);
            for action in [
                Action::ReadSource(outside),
                Action::UnsealIdentity(outside),
                Action::ReassignSource(outside),
                Action::CreateSource { unit_id: OTHER_UNIT },
                Action::ApplyForAuthorisation(outside),
                Action::DecideAuthorisation(outside),
                Action::RecordSourceActivity(outside),
                Action::ReadPayments(outside),
                Action::HandlePayment(outside),
                Action::ApprovePayment(outside),
                Action::ReadAuthorisationRegister { unit_id: OTHER_UNIT },
                Action::ExportRecords { unit_id: OTHER_UNIT },
                Action::WriteContactReport(outside),
                Action::DraftIntelligence(outside),
                Action::ReleaseIntelligence(outside),
                Action::ValidateSource(outside),
            ] {
                prop_assert_eq!(authorize(&actor(role), action), Err(Denied));
            }
        }
    }
}
