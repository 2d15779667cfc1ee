//! What is said about a source above the line: the free text of contacts, contact reports,
//! welfare records, risk assessments and authorisation applications. Each kind is sealed in
//! the vault under a data key of its own record (`tearline_service::above_line`), so the
//! database — its files, its WAL, a dump — holds none of it; only the roles the policy lets
//! read a source's case open it, after the read is recorded.
//!
//! The types wipe themselves when dropped and print nothing in `Debug`, like `Identity`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Text sealed as one record of one kind.
pub trait AboveLine: Serialize + DeserializeOwned {
    /// Names the kind in the seal's binding (`contact/SR-…`): text sealed as one kind of
    /// record, or for one source, opens as no other.
    const KIND: &'static str;
}

macro_rules! above_line {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$field_doc:meta])* $field:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
        pub struct $name {
            $($(#[$field_doc])* pub $field: String,)+
        }

        impl AboveLine for $name {
            const KIND: &'static str = $kind;
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), " { <sealed> }"))
            }
        }
    };
}

above_line!(
    /// Where a contact took place and what passed.
    ContactNotes, "contact" { place, summary }
);

above_line!(
    /// What a welfare check or concern found.
    WelfareNotes, "welfare" { notes }
);

above_line!(
    /// A risk assessment's narrative; its level stays in the clear for the due items.
    RiskNarrative, "risk" { summary, mitigations }
);

above_line!(
    /// The case an application sets out; its kind and vulnerability stay in the clear,
    /// since the rules on who may authorise turn on them.
    CaseDetails, "application" {
        necessity,
        proportionality,
        purpose,
        /// The intended tasking.
        tasking,
        collateral_intrusion,
        /// The confidential information the source is likely to obtain.
        confidential_information,
    }
);

above_line!(
    /// A contact report in full: where, who was there, what the source said, the tasks
    /// given and their welfare. Never searched, never shared below the line.
    ContactReportText, "contact-report" { place, present, account, tasks_given, welfare }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_no_text() {
        let notes = ContactNotes { place: "Harbour Row café".into(), summary: "named the courier".into() };
        assert_eq!(format!("{notes:?}"), "ContactNotes { <sealed> }");
    }

    #[test]
    fn every_kind_has_its_own_binding() {
        let kinds = [
            ContactNotes::KIND,
            WelfareNotes::KIND,
            RiskNarrative::KIND,
            CaseDetails::KIND,
            ContactReportText::KIND,
        ];
        let distinct: std::collections::BTreeSet<_> = kinds.iter().collect();
        assert_eq!(distinct.len(), kinds.len());
    }
}
