//! Architecture invariants checked by the build rather than by prose (rust-analyzer's
//! tidy habit): each test reads the source tree and fails when an invariant is broken.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The production sources of every crate (not tests, benches or fuzz targets).
fn production_sources() -> Vec<(String, String)> {
    let crates = workspace().join("crates");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(&crates).expect("crates/") {
        let src = entry.expect("crate").path().join("src");
        if src.is_dir() {
            for file in rust_files(&src) {
                let name = file.strip_prefix(&crates).expect("under crates/").display().to_string();
                sources.push((name, read(&file)));
            }
        }
    }
    sources.sort();
    sources
}

#[test]
fn pure_crates_have_no_io_dependency() {
    const PURE: [&str; 6] = ["domain", "vault", "auditlog", "warn", "lifecycle", "intel"];
    const IO: [&str; 13] = [
        "tokio",
        "sqlx",
        "axum",
        "reqwest",
        "hyper",
        "tower",
        "tantivy",
        "tracing",
        "tearline-store",
        "tearline-kernel",
        "tearline-server",
        "tearline-service",
        "tearline-search",
    ];
    for name in PURE {
        let manifest: toml::Table = read(&workspace().join("crates").join(name).join("Cargo.toml"))
            .parse()
            .unwrap_or_else(|e| panic!("crates/{name}/Cargo.toml: {e}"));
        let dependencies =
            manifest.get("dependencies").and_then(|d| d.as_table()).cloned().unwrap_or_default();
        for dependency in dependencies.keys() {
            assert!(
                !IO.contains(&dependency.as_str()),
                "crates/{name} is pure domain logic but depends on {dependency}, which does I/O"
            );
        }
    }
}

/// The demo seed and its fake receiver are for the binary and for tests: no library crate
/// that runs in production may depend on them.
#[test]
fn no_library_crate_depends_on_the_demo() {
    for entry in std::fs::read_dir(workspace().join("crates")).expect("crates/") {
        let dir = entry.expect("crate").path();
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if ["cli", "demo"].contains(&name.as_str()) {
            continue;
        }
        let manifest: toml::Table =
            read(&dir.join("Cargo.toml")).parse().unwrap_or_else(|e| panic!("crates/{name}/Cargo.toml: {e}"));
        let dependencies =
            manifest.get("dependencies").and_then(|d| d.as_table()).cloned().unwrap_or_default();
        assert!(
            !dependencies.contains_key("tearline-demo"),
            "crates/{name} depends on the demo outside its tests"
        );
    }
}

fn dependencies_of(name: &str) -> toml::Table {
    let manifest: toml::Table = read(&workspace().join("crates").join(name).join("Cargo.toml"))
        .parse()
        .unwrap_or_else(|e| panic!("crates/{name}/Cargo.toml: {e}"));
    manifest.get("dependencies").and_then(|d| d.as_table()).cloned().unwrap_or_default()
}

/// The operations speak no HTTP: they return typed errors, and only the HTTP crate gives
/// them a status. Nothing below the HTTP crate depends on a web framework.
#[test]
fn only_the_http_crate_knows_http() {
    const HTTP: [&str; 6] = ["axum", "askama", "tower", "hyper", "http", "tearline-server"];
    for name in
        ["service", "kernel", "store", "search", "vault", "auditlog", "domain", "warn", "lifecycle", "intel"]
    {
        for dependency in dependencies_of(name).keys() {
            assert!(
                !HTTP.contains(&dependency.as_str()),
                "crates/{name} depends on {dependency}; only crates/server speaks HTTP"
            );
        }
    }
    for (file, text) in production_sources() {
        if !file.starts_with("server/src/") && !file.starts_with("cli/src/") && !file.starts_with("demo/src/")
        {
            assert!(
                !text.contains("StatusCode"),
                "{file} names an HTTP status; return a typed error instead"
            );
        }
    }
}

/// The HTTP crate holds routes, the API and the UI: it calls operations and never reads or
/// writes the store, or writes the audit trail, itself. (It reads the verifiable log, which
/// anyone may check, to serve it.)
#[test]
fn the_http_crate_only_calls_operations() {
    for (file, text) in production_sources() {
        if !file.starts_with("server/src/") {
            continue;
        }
        for forbidden in
            [".change(", ".change_with(", ".bookkeeping()", "kernel.record(", ".store.", ".store\n"]
        {
            assert!(
                !text.contains(forbidden),
                "{file} calls `{forbidden}`: changes and audit entries belong to an operation in crates/service"
            );
        }
    }
}

/// Sealed text is opened in one place, which asks for the recorded read
/// (`tearline_service::above_line::open`); nothing else decrypts it.
#[test]
fn only_the_above_line_module_opens_sealed_text() {
    for (file, text) in production_sources() {
        if file != "service/src/above_line.rs" && !file.starts_with("vault/src/") {
            assert!(
                !text.contains("open_record"),
                "{file} opens sealed text; call above_line::open with the recorded read"
            );
        }
    }
}

#[test]
fn only_the_kernel_hands_out_audited_writers() {
    for (file, text) in production_sources() {
        let allowed = file.starts_with("kernel/src/") || file == "store/src/audit.rs";
        assert!(
            allowed || !text.contains(".audited("),
            "{file} makes an audited writer itself; changes go through tearline_kernel::Kernel::change"
        );
    }
}

/// The store's own bookkeeping, not audited entry by entry (see `Store::bookkeeping`): each
/// use is listed here with why, so a new one is a reviewed decision.
const BOOKKEEPING: [(&str, usize, &str); 7] = [
    (
        "service/src/auth.rs",
        6,
        "login attempts per account and per address, sessions (logins and refusals are audited by record)",
    ),
    ("service/src/sources.rs", 1, "the new key's check, remembered by an audited rotation"),
    ("service/src/state.rs", 1, "the key file's checks remembered at start"),
    ("service/src/warn/dispatch.rs", 2, "delivery claims and attempts of an audited issue"),
    ("service/src/warn/mod.rs", 1, "the acknowledgement-link key made at first start"),
    ("service/src/warn/partners.rs", 1, "a partner feed's last poll and error"),
    ("service/src/warn/public.rs", 1, "a recipient's acknowledgement, idempotent and anonymous"),
];

#[test]
fn unaudited_writes_are_only_the_listed_bookkeeping() {
    for (file, text) in production_sources() {
        if file.starts_with("store/src/") {
            continue;
        }
        let uses = text.matches(".bookkeeping()").count();
        let listed = BOOKKEEPING.iter().find(|(name, ..)| *name == file).map_or(0, |(_, count, _)| *count);
        assert_eq!(
            uses, listed,
            "{file} writes to the store without an audit entry {uses} times ({listed} listed in BOOKKEEPING); \
             a change goes through the kernel"
        );
    }
}

#[test]
fn store_writes_live_only_on_the_writer() {
    for (file, text) in production_sources() {
        if !file.starts_with("store/src/")
            || ["store/src/lib.rs", "store/src/audit.rs", "store/src/migrate.rs"].contains(&file.as_str())
        {
            continue;
        }
        let writer_block = text.find("impl Writer<'_> {").unwrap_or(text.len());
        assert!(
            !text[..writer_block].contains("begin_write()"),
            "{file} opens a write transaction outside `impl Writer`, where no audit entry rides along"
        );
    }
}
