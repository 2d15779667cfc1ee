//! The vault's cost per record: sealing, opening and re-wrapping one identity.
//! Run with `cargo bench -p tearline-vault`.

use tearline_vault::{open, rewrap, seal, FileKeyring, Identity};

fn main() {
    divan::main();
}

fn identity() -> Identity {
    let mut identity = Identity::default();
    identity.full_name = "Benchmark Person Example".into();
    identity.aliases = vec!["Alias One".into(), "اسم مستعار".into()];
    identity.date_of_birth = Some("1985-03-14".into());
    identity.phone_numbers = vec!["+44 7700 900123".into()];
    identity.addresses = vec!["12 Benchmark Street, Testford".into()];
    identity.family = vec!["Relative (sibling)".into()];
    identity.notes = "Synthetic benchmark identity.".repeat(4);
    identity
}

fn keyring() -> (tempfile::TempDir, FileKeyring) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ring = FileKeyring::create(&dir.path().join("vault.key")).expect("key file");
    (dir, ring)
}

#[divan::bench]
fn seal_one_identity(bencher: divan::Bencher) {
    let (_dir, ring) = keyring();
    let identity = identity();
    bencher.bench_local(|| seal(&ring, &identity, b"SR-AAAA-BBBB"));
}

#[divan::bench]
fn open_one_identity(bencher: divan::Bencher) {
    let (_dir, ring) = keyring();
    let sealed = seal(&ring, &identity(), b"SR-AAAA-BBBB").expect("seal");
    bencher.bench_local(|| open(&ring, &sealed, b"SR-AAAA-BBBB"));
}

#[divan::bench]
fn rewrap_one_data_key(bencher: divan::Bencher) {
    let (_dir, ring) = keyring();
    let sealed = seal(&ring, &identity(), b"SR-AAAA-BBBB").expect("seal");
    bencher.bench_local(|| rewrap(&ring, &sealed, b"SR-AAAA-BBBB"));
}
