//! The fictional demo unit `serve --demo` seeds: one user per role and a handful of sources
//! with sealed identities. Every name, number and address here is invented; phone numbers
//! come from the ranges Ofcom reserves for drama.

use tearline_domain::source::SourceStatus;
use tearline_domain::{Role, Timestamp};
use tearline_store::Store;
use tearline_vault::Identity;
use zeroize::Zeroizing;

use crate::accounts::{create_user, NewUserRequest};
use crate::error::ApiError;
use crate::sources::{register_sealed, SourceDraft};
use crate::state::VaultKeys;

pub const DEMO_UNIT: &str = "Harbour District Unit";

/// The demo accounts: (role, username, display name, password).
pub const DEMO_USERS: [(Role, &str, &str, &str); 7] = [
    (Role::Handler, "hana", "Hana Brightwater", "demo-handler-pass"),
    (Role::Controller, "conrad", "Conrad Ilves", "demo-controller-pass"),
    (Role::AuthorisingOfficer, "aurelia", "Aurelia Stone", "demo-authorising-pass"),
    (Role::Analyst, "anders", "Anders Lykke", "demo-analyst-pass"),
    (Role::WarningOfficer, "wren", "Wren Okonkwo", "demo-warning-pass"),
    (Role::Inspector, "ines", "Ines Marchetti", "demo-inspector-pass"),
    (Role::Administrator, "adam", "Adam Reyes", "demo-admin-pass-1"),
];

/// The demo sources: code name, status, and the identity that is sealed for it.
pub struct DemoSource {
    pub code_name: &'static str,
    pub full_name: &'static str,
    pub aliases: &'static [&'static str],
    pub date_of_birth: &'static str,
    pub phone_numbers: &'static [&'static str],
    pub addresses: &'static [&'static str],
    pub family: &'static [&'static str],
}

pub const DEMO_SOURCES: [DemoSource; 4] = [
    DemoSource {
        code_name: "NIGHTJAR",
        full_name: "Samira Haddad-Okafor",
        aliases: &["Umm Yusuf", "سميرة حداد"],
        date_of_birth: "1988-04-17",
        phone_numbers: &["+44 7700 900461"],
        addresses: &["14 Tannery Lane, Eastmarsh"],
        family: &["Yusuf Haddad-Okafor (son)"],
    },
    DemoSource {
        code_name: "KESTREL",
        full_name: "Dmitri Valentin Oyelaran",
        aliases: &["Dima the Welder"],
        date_of_birth: "1979-11-02",
        phone_numbers: &["+44 7700 900872", "+44 20 7946 0318"],
        addresses: &["Flat 3, 88 Gullwing Road, Saltford"],
        family: &["Irina Oyelaran (wife)"],
    },
    DemoSource {
        code_name: "HERON",
        full_name: "Wen Castellanos-Pike",
        aliases: &["Little Wen"],
        date_of_birth: "1995-06-30",
        phone_numbers: &["+44 7700 900239"],
        addresses: &["The Old Chandlery, Quay Steps, Eastmarsh"],
        family: &[],
    },
    DemoSource {
        code_name: "OSPREY",
        full_name: "Tariq Benhadda Lindqvist",
        aliases: &["Abu Rami", "طارق بن حدة"],
        date_of_birth: "1983-01-21",
        phone_numbers: &["+44 7700 900655"],
        addresses: &["27 Ropewalk Terrace, Saltford"],
        family: &["Rami Lindqvist (son)", "Leila Benhadda (sister)"],
    },
];

/// Seeds the demo unit into an empty store. Returns false, changing nothing, if the store
/// already holds users.
pub async fn seed(store: &Store, keys: &VaultKeys, now: Timestamp) -> Result<bool, ApiError> {
    if !store.users().await?.is_empty() {
        return Ok(false);
    }
    let mut handler = None;
    let mut controller = None;
    for (role, username, display_name, password) in DEMO_USERS {
        let request = NewUserRequest {
            username: username.into(),
            display_name: Some(display_name.into()),
            role,
            unit: DEMO_UNIT.into(),
            password: Zeroizing::new(password.into()),
        };
        let user = create_user(store, &request, now).await?;
        match role {
            Role::Handler => handler = Some(user),
            Role::Controller => controller = Some(user),
            _ => {}
        }
    }
    let (Some(handler), Some(controller)) = (handler, controller) else {
        return Err(ApiError::internal("demo", &"the demo needs a handler and a controller"));
    };
    let keys = keys.provider();
    for (index, demo) in DEMO_SOURCES.iter().enumerate() {
        let mut identity = Identity::default();
        identity.full_name = demo.full_name.into();
        identity.aliases = demo.aliases.iter().map(|a| a.to_string()).collect();
        identity.date_of_birth = Some(demo.date_of_birth.into());
        identity.phone_numbers = demo.phone_numbers.iter().map(|p| p.to_string()).collect();
        identity.addresses = demo.addresses.iter().map(|a| a.to_string()).collect();
        identity.family = demo.family.iter().map(|f| f.to_string()).collect();
        identity.notes = "Fictional demo source.".into();
        let draft = SourceDraft {
            code_name: demo.code_name,
            unit_id: handler.unit_id,
            handler_id: handler.id,
            controller_id: controller.id,
            status: if index == 3 { SourceStatus::Prospective } else { SourceStatus::Active },
            recruited_at: now.plus_millis(-(index as i64 + 1) * 90 * 86_400_000),
        };
        register_sealed(store, keys.as_ref(), draft, &identity, now).await?;
    }
    Ok(true)
}
