use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A source's true identity, in plaintext. It exists only between an audited unseal and the
/// response that carries it, and is wiped on drop. `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Identity {
    pub full_name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub date_of_birth: Option<String>,
    #[serde(default)]
    pub phone_numbers: Vec<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Where the addresses are, `[latitude, longitude]` each: a report, threat or warning
    /// placed near one is flagged to whoever releases or issues it (`leak::places_near`).
    #[serde(default)]
    pub address_points: Vec<[f64; 2]>,
    #[serde(default)]
    pub family: Vec<String>,
    /// How the source stands to a member of the group ("wife of the cell's leader"): why
    /// their access exists, and why exposure would single them out.
    #[serde(default)]
    pub relation_to_group: String,
    /// Why the source helps ("to protect her sons and stay alive"): what the handler must
    /// keep in view, and what a change in their situation can turn.
    #[serde(default)]
    pub motivation: String,
    #[serde(default)]
    pub notes: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity { <sealed> }")
    }
}

impl Identity {
    pub(crate) fn to_json(&self) -> Zeroizing<Vec<u8>> {
        // Sized up front so the buffer is not reallocated, which would leave copies behind.
        let mut buffer = Zeroizing::new(Vec::with_capacity(self.approximate_len() * 2 + 256));
        // Serialising owned strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buffer, self);
        buffer
    }

    pub(crate) fn from_json(bytes: &[u8]) -> Option<Identity> {
        serde_json::from_slice(bytes).ok()
    }

    fn approximate_len(&self) -> usize {
        let lists = [&self.aliases, &self.phone_numbers, &self.addresses, &self.family];
        self.full_name.len()
            + self.notes.len()
            + self.relation_to_group.len()
            + self.motivation.len()
            + self.date_of_birth.as_ref().map_or(0, String::len)
            + lists.iter().flat_map(|l| l.iter()).map(|s| s.len() + 8).sum::<usize>()
            + self.address_points.len() * 48
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_reveals_nothing() {
        let mut identity = Identity::default();
        identity.full_name = "Secret Name".into();
        assert!(!format!("{identity:?}").contains("Secret"));
    }
}
