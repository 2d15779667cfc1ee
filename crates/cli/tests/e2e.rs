//! End to end: the real binary, started as a user would start it, over HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tearline_store::testing::fresh_database;
use tearline_store::Backend;

/// A running `tearline serve`, its URL, and everything it printed.
struct Server {
    child: Child,
    url: String,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tearline"))
            .args(args)
            .env("TEARLINE_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tearline");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buffer = Vec::new();
            let _ = stderr.read_to_end(&mut buffer);
            sink.lock().unwrap().extend(buffer);
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut url = None;
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            output.lock().unwrap().extend(line.as_bytes());
            if let Some(rest) = line.strip_prefix("Tearline is running at ") {
                url = Some(rest.trim().trim_end_matches('/').to_owned());
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
            line.clear();
        }
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut rest = Vec::new();
            let _ = stdout.read_to_end(&mut rest);
            sink.lock().unwrap().extend(rest);
        });
        let url = url.unwrap_or_else(|| {
            panic!("the server did not start: {}", String::from_utf8_lossy(&output.lock().unwrap()))
        });
        Server { child, url, output }
    }

    fn printed(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    fn stop(mut self) -> Vec<u8> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let output = self.output.lock().unwrap().clone();
        output
    }
}

/// A temporary directory, and the path of a data directory inside it.
fn data_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

/// `tearline serve --demo` on `data`, on a free port, with any `extra` arguments.
fn serve_demo(data: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["serve", "--demo", "--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

async fn login(client: &reqwest::Client, server: &Server, username: &str, password: &str) -> String {
    let reply: Value = client
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["token"].as_str().unwrap_or_else(|| panic!("login failed: {reply}")).to_owned()
}

/// Logs in as the demo handler and controller and unseals every demo source, as an attacker
/// would hope someone had before the database was copied.
async fn exercise_unseals(server: &Server) {
    let client = reqwest::Client::new();
    for (username, password) in [("hana", "demo-handler-pass"), ("conrad", "demo-controller-pass")] {
        let token = login(&client, server, username, password).await;
        let sources = source_ids(&client, server, &token).await;
        assert_eq!(sources.len(), 4);
        for id in sources.values() {
            let reply = client
                .post(format!("{}/api/v1/sources/{}/unseal", server.url, id))
                .bearer_auth(&token)
                .json(&json!({"reason": "end-to-end check of the vault"}))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
            let body: Value = reply.json().await.unwrap();
            assert!(!body["identity"]["full_name"].as_str().unwrap().is_empty());
        }
    }
}

/// Marks text written above the line that names no identity value (the leak guard refuses
/// those in contact summaries and applications), so the scan can still find it.
const ABOVE_THE_LINE: &str = "ABOVE-THE-LINE";

/// Writes, as the demo handler, everything that is said about a source above the line:
/// a contact report, a contact, a welfare note, a risk assessment and an application,
/// naming the source's name, address and phone where the guard allows it (contact reports,
/// welfare, risk) and carrying a marker everywhere; then reads them back through the
/// lifecycle and case pages, which must open them.
async fn write_above_the_line(server: &Server) {
    let client = reqwest::Client::new();
    let token = login(&client, server, "hana", "demo-handler-pass").await;
    let ids = source_ids(&client, server, &token).await;
    let id_of = |code_name: &str| ids[code_name];
    let nightjar = &tearline_demo::DEMO_SOURCES[0];
    let (name, address, phone) = (nightjar.full_name, nightjar.addresses[0], nightjar.phone_numbers[0]);
    let mark = |what: &str| format!("{ABOVE_THE_LINE} {what}");
    let writes = [
        (
            "NIGHTJAR",
            "contact-reports",
            json!({"place": format!("outside {address}"), "present": format!("{name} and handler"),
            "method": "meeting", "account": mark(&format!("{name} rang from {phone} about crates")),
            "tasks_given": mark("tasks"), "welfare": mark(&format!("{name} is anxious"))}),
        ),
        (
            "NIGHTJAR",
            "contacts",
            json!({"method": "meeting", "place": mark("the lay-by"), "summary": mark("contact summary")}),
        ),
        (
            "NIGHTJAR",
            "welfare",
            json!({"kind": "concern", "notes": mark(&format!("visited {address}; called {phone}"))}),
        ),
        (
            "NIGHTJAR",
            "risk-assessments",
            json!({"risk_level": "high", "summary": mark(&format!("{name} seen near {address}")),
            "mitigations": mark("mitigations"), "explained_and_understood": true}),
        ),
        (
            "OSPREY",
            "authorisations",
            json!({"kind": "adult-written", "necessity": mark("necessity"),
            "proportionality": mark("proportionality"), "purpose": mark("purpose"), "tasking": mark("tasking"),
            "collateral_intrusion": mark("collateral"), "confidential_information": mark("confidential")}),
        ),
    ];
    for (code_name, path, body) in writes {
        let reply = client
            .post(format!("{}/api/v1/sources/{}/{path}", server.url, id_of(code_name)))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201, "{path}: {}", reply.text().await.unwrap());
    }
    for (code_name, path) in
        [("NIGHTJAR", "lifecycle"), ("NIGHTJAR", "contact-reports"), ("OSPREY", "lifecycle")]
    {
        let page = client
            .get(format!("{}/api/v1/sources/{}/{path}", server.url, id_of(code_name)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains(ABOVE_THE_LINE), "{path} of {code_name} opens what was sealed: {page}");
    }
}

/// The ids of the sources `token` may list, by code name.
async fn source_ids(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
) -> std::collections::HashMap<String, i64> {
    let listed = get_json(client, format!("{}/api/v1/sources", server.url), token).await;
    let sources = listed["sources"].as_array().unwrap();
    sources.iter().map(|s| (s["code_name"].as_str().unwrap().to_owned(), s["id"].as_i64().unwrap())).collect()
}

/// Every identity value of the demo, and everything the demo and [`write_above_the_line`]
/// say about a source above the line, as it would appear in bytes.
fn identity_values() -> Vec<String> {
    let mut values = vec![
        ABOVE_THE_LINE.to_owned(),
        // What the demo seeds above the line.
        "Car park, Saltford retail park".to_owned(),
        "the harbour café".to_owned(),
        "Well; no concerns raised.".to_owned(),
        "Reported deliveries at the quay after dark.".to_owned(),
        "Meetings away from the source's neighbourhood".to_owned(),
        "Harbour weapons supply".to_owned(),
        "Full account kept above the line.".to_owned(),
    ];
    for source in tearline_demo::DEMO_SOURCES.iter() {
        values.push(source.full_name.to_owned());
        values.extend(source.full_name.split(' ').filter(|part| part.len() > 4).map(str::to_owned));
        values.extend(source.aliases.iter().map(|a| a.to_string()));
        values.extend(source.phone_numbers.iter().map(|p| p.to_string()));
        values.extend(source.phone_numbers.iter().map(|p| p.replace(' ', "")));
        values.extend(source.addresses.iter().map(|a| a.to_string()));
        values.extend(source.family.iter().map(|f| f.to_string()));
        values.push(source.relation_to_group.to_owned());
        values.push(source.motivation.to_owned());
    }
    values
}

fn assert_reveals_no_identity(what: &str, bytes: &[u8]) {
    for value in identity_values() {
        let needle = value.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|window| window == needle),
            "{what} contains {value:?} in plaintext"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_sqlite_database_and_the_server_log_reveal_no_identity() {
    let (_dir, data) = data_dir();
    let server = serve_demo(&data, &[]);
    assert!(server.printed().contains("login: handler hana demo-handler-pass"), "{}", server.printed());
    exercise_unseals(&server).await;
    write_above_the_line(&server).await;
    let output = server.stop();
    assert_reveals_no_identity("the server's output", &output);
    // The database, its WAL, the search index: every file but the keys.
    let mut scanned = 0;
    let mut pending = vec![data.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_none_or(|ext| ext != "key") {
                let bytes = std::fs::read(&path).unwrap();
                assert_reveals_no_identity(&path.display().to_string(), &bytes);
                scanned += bytes.len();
            }
        }
    }
    assert!(scanned > 10_000, "the database files were found and read");
    assert_key_file_is_private(&data.join("vault.key"));
}

#[cfg(unix)]
fn assert_key_file_is_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the vault key file is readable by its owner only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_dump_reveals_no_identity() {
    let database = fresh_database(Backend::Postgres).await;
    let (_dir, data) = data_dir();
    let server = serve_demo(&data, &["--database", &database.url]);
    exercise_unseals(&server).await;
    write_above_the_line(&server).await;
    let output = server.stop();
    assert_reveals_no_identity("the server's output", &output);
    let base = tearline_store::testing::postgres_url();
    let schema = database.schema.as_deref().unwrap();
    let dump = Command::new("pg_dump")
        .args(["--dbname", &base, "--schema", schema, "--data-only"])
        .output()
        .expect("pg_dump must be installed for the PostgreSQL tests");
    assert!(dump.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&dump.stderr));
    assert!(String::from_utf8_lossy(&dump.stdout).contains("NIGHTJAR"), "the dump holds the demo data");
    assert_reveals_no_identity("the pg_dump", &dump.stdout);
}

/// Runs the binary to completion with `stdin` as its input.
fn tearline(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tearline"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tearline");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_empty_start_explains_how_to_create_the_first_administrator() {
    let (_dir, data) = data_dir();
    let data_arg = data.to_str().unwrap();
    let server = Server::start(&["serve", "--data", data_arg, "--listen", "127.0.0.1:0"]);
    assert!(server.printed().contains("tearline admin create-user"), "{}", server.printed());
    server.stop();
    let create = |username: &str, role: &str, password: &[u8]| {
        let args = [
            "admin",
            "create-user",
            "--data",
            data_arg,
            "--username",
            username,
            "--role",
            role,
            "--unit",
            "HQ",
        ];
        tearline(&args, password)
    };
    let created = create("root", "administrator", b"a fine long password\n");
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("created administrator root"));
    let weak = create("weak", "analyst", b"short\n");
    assert!(!weak.status.success());
    assert!(text(&weak.stderr).contains("12 to 256 characters"));
    // The installation can lock out any account at once, the only administrator's too.
    let admin = |command: &str, username: &str| {
        tearline(&["admin", command, "--data", data_arg, "--username", username], b"")
    };
    let disabled = admin("disable-user", "root");
    assert!(disabled.status.success(), "{}", text(&disabled.stderr));
    assert!(text(&disabled.stdout).contains("disabled root"));
    let again = admin("disable-user", "root");
    assert!(
        !again.status.success() && text(&again.stderr).contains("disabled already"),
        "{}",
        text(&again.stderr)
    );
    let nobody = admin("disable-user", "nobody");
    assert!(!nobody.status.success() && text(&nobody.stderr).contains("no account is named"));
    let enabled = admin("enable-user", "root");
    assert!(enabled.status.success(), "{}", text(&enabled.stderr));
}

#[test]
fn a_wrong_key_file_stops_the_server_with_a_clear_message() {
    let (dir, data) = data_dir();
    let data_arg = data.to_str().unwrap();
    serve_demo(&data, &[]).stop();
    let other = dir.path().join("other.key");
    let fresh = dir.path().join("fresh");
    // Another installation, with its own key file.
    Server::start(&[
        "serve",
        "--data",
        fresh.to_str().unwrap(),
        "--key-file",
        other.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ])
    .stop();
    assert!(other.exists(), "a fresh data directory gets its own key file");
    let refused = tearline(
        &["serve", "--data", data_arg, "--key-file", other.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        b"",
    );
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("does not match"), "{}", text(&refused.stderr));
    let nowhere = dir.path().join("nowhere.key");
    let missing = tearline(&["serve", "--data", data_arg, "--key-file", nowhere.to_str().unwrap()], b"");
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("is missing"));
}

#[test]
fn rotating_the_key_from_the_command_line_keeps_every_identity() {
    let (_dir, data) = data_dir();
    let data_arg = data.to_str().unwrap();
    serve_demo(&data, &[]).stop();
    let rotated = tearline(&["admin", "rotate-key", "--data", data_arg], b"");
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    // The four identities and every record of sealed text the demo wrote.
    let printed = text(&rotated.stdout);
    let rewrapped: usize = printed
        .split("vault key 2 is now active; ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("{printed}"));
    assert!(rewrapped > 4 + 10, "{printed}");
    let server = Server::start(&["serve", "--data", data_arg, "--listen", "127.0.0.1:0"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(exercise_unseals(&server));
    // Sealed text re-wrapped under key 2 still opens, beside text sealed after the rotation.
    runtime.block_on(write_above_the_line(&server));
    server.stop();
}

fn inspector_token(runtime: &tokio::runtime::Runtime, server: &Server) -> String {
    runtime.block_on(login(&reqwest::Client::new(), server, "ines", "demo-inspector-pass"))
}

#[test]
fn an_exported_log_verifies_and_a_tampered_database_is_named_by_entry() {
    let (dir, data) = data_dir();
    let data_arg = data.to_str().unwrap();
    let bundle = dir.path().join("audit.bundle");
    let kept = dir.path().join("kept.checkpoint");
    let server = serve_demo(&data, &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(exercise_unseals(&server));
    let token = inspector_token(&runtime, &server);

    let key = tearline(&["audit", "key", "--data", data_arg], b"");
    assert!(key.status.success(), "{}", text(&key.stderr));
    let key = text(&key.stdout).trim().to_owned();
    assert!(server.printed().contains(&key), "serve prints the same verifier key");

    let exported = tearline(
        &["audit", "export", "--out", bundle.to_str().unwrap(), "--server", &server.url, "--token", &token],
        b"",
    );
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let verified = tearline(
        &[
            "audit",
            "verify",
            bundle.to_str().unwrap(),
            "--key",
            &key,
            "--save-checkpoint",
            kept.to_str().unwrap(),
        ],
        b"",
    );
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert!(text(&verified.stdout).contains("verified: "));
    let public = runtime.block_on(async {
        reqwest::get(format!("{}/api/v1/audit/checkpoint", server.url)).await.unwrap().text().await.unwrap()
    });
    assert!(public.starts_with(key.split('+').next().unwrap()), "the public checkpoint is the log's");
    server.stop();

    // An attacker with the database file rewrites entry 5 (a login) and disables the guard.
    runtime.block_on(async {
        let url = format!("sqlite://{}?mode=rw", data.join("tearline.db").display());
        let store = tearline_store::Store::open(&url).await.unwrap();
        store.execute_unchecked(tearline_store::testing::disable_append_only_guards(store.backend())).await.unwrap();
        let changed = store
            .execute_unchecked("UPDATE audit_entries SET data = CAST(REPLACE(CAST(data AS TEXT), 'outcome: allowed', 'outcome: denied') AS BLOB) WHERE idx = 5")
            .await
            .unwrap();
        assert_eq!(changed, 1);
        store.close().await;
    });

    let exported = tearline(&["audit", "export", "--out", bundle.to_str().unwrap(), "--data", data_arg], b"");
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let refused = tearline(
        &["audit", "verify", bundle.to_str().unwrap(), "--key", &key, "--trusted", kept.to_str().unwrap()],
        b"",
    );
    assert!(!refused.status.success());
    // The bundle locates the damage between two signed checkpoints: entry 5 exactly when a
    // checkpoint was signed at size 5, a range holding it when the appender batched entries
    // 4 and 5 together (it does under load).
    let stderr = text(&refused.stderr);
    let number_after = |marker: &str| -> u64 {
        let rest = &stderr[stderr.find(marker).unwrap_or_else(|| panic!("{stderr}")) + marker.len()..];
        rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
    };
    let first_bad = number_after("FAILED at entry ");
    assert!(first_bad <= 5, "{stderr}");
    if first_bad < 5 && !stderr.contains(&format!("entries from {first_bad} on")) {
        assert!(number_after(&format!("entries {first_bad}..")) > 5, "{stderr}");
    }
    let checked = tearline(&["audit", "check", "--data", data_arg], b"");
    assert!(!checked.status.success());
    assert!(text(&checked.stderr).contains("damaged at entry 5"), "{}", text(&checked.stderr));
}

#[test]
fn killing_the_server_during_heavy_appends_loses_no_acknowledged_entry() {
    let (_dir, data) = data_dir();
    let data_arg = data.to_str().unwrap();
    let server = serve_demo(&data, &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let token = runtime.block_on(login(&client, &server, "hana", "demo-handler-pass"));
    let acknowledged = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let url = server.url.clone();
    for _ in 0..16 {
        let (client, token, url, acknowledged) =
            (client.clone(), token.clone(), url.clone(), Arc::clone(&acknowledged));
        runtime.spawn(async move {
            loop {
                let reply = client.get(format!("{url}/api/v1/sources")).bearer_auth(&token).send().await;
                match reply {
                    Ok(reply) if reply.status() == 200 => {
                        acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => break,
                }
            }
        });
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut child = server.child;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let acknowledged = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
    runtime.shutdown_background();
    assert!(acknowledged > 50, "the load ran ({acknowledged} acknowledged)");

    let checked = tearline(&["audit", "check", "--data", data_arg], b"");
    assert!(checked.status.success(), "the log verifies after the crash: {}", text(&checked.stderr));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listed = runtime.block_on(async {
        let url = format!("sqlite://{}?mode=rw", data.join("tearline.db").display());
        let store = tearline_store::Store::open(&url).await.unwrap();
        let log = tearline_service::open_audit_log(&store, &data.join("audit-signing.key")).await.unwrap();
        let size = tearline_domain::audit::AuditLog::size(&log).await.unwrap();
        let events = tearline_domain::audit::AuditLog::read(&log, 0, size).await.unwrap();
        events.iter().filter(|r| r.event.action == "source.list").count() as u64
    });
    assert!(listed >= acknowledged, "{listed} list entries stored, {acknowledged} acknowledged");
}

/// Two `tearline serve` processes on one PostgreSQL database: the first seeds the demo, the
/// second shares its key files. Returns the temporary directory, the first's data
/// directory, and both servers.
fn two_servers(database: &str) -> (tempfile::TempDir, std::path::PathBuf, Server, Server) {
    let (dir, data) = data_dir();
    let first = serve_demo(&data, &["--database", database]);
    let (vault_key, audit_key) = (data.join("vault.key"), data.join("audit-signing.key"));
    let second = Server::start(&[
        "serve",
        "--data",
        dir.path().join("second").to_str().unwrap(),
        "--database",
        database,
        "--key-file",
        vault_key.to_str().unwrap(),
        "--audit-key-file",
        audit_key.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    (dir, data, first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_one_postgres_database_keep_one_linear_log() {
    let database = fresh_database(Backend::Postgres).await;
    let (_dir, data, first, second) = two_servers(&database.url);
    let audit_key = data.join("audit-signing.key");
    let client = reqwest::Client::new();
    let token = login(&client, &first, "hana", "demo-handler-pass").await;
    let mut load = Vec::new();
    for n in 0..16 {
        let url = if n % 2 == 0 { first.url.clone() } else { second.url.clone() };
        let (client, token) = (client.clone(), token.clone());
        load.push(tokio::spawn(async move {
            let mut acknowledged = 0u64;
            for _ in 0..25 {
                let reply =
                    client.get(format!("{url}/api/v1/sources")).bearer_auth(&token).send().await.unwrap();
                assert_eq!(reply.status(), 200);
                acknowledged += 1;
            }
            acknowledged
        }));
    }
    let mut acknowledged = 0;
    for task in load {
        acknowledged += task.await.unwrap();
    }
    first.stop();
    second.stop();
    assert_eq!(acknowledged, 400);
    let data_arg = data.to_str().unwrap();
    let checked = tearline(&["audit", "check", "--data", data_arg, "--database", &database.url], b"");
    assert!(checked.status.success(), "one linear, intact log: {}", text(&checked.stderr));
    let store = tearline_store::Store::open(&database.url).await.unwrap();
    let log = tearline_service::open_audit_log(&store, &audit_key).await.unwrap();
    let size = tearline_domain::audit::AuditLog::size(&log).await.unwrap();
    let events = tearline_domain::audit::AuditLog::read(&log, 0, size).await.unwrap();
    assert_eq!(events.iter().filter(|r| r.event.action == "source.list").count(), 400);
    assert!(events.iter().enumerate().all(|(position, record)| record.index == position as u64));
}

/// The identity page's ticket is sealed by the vault key the servers share, not kept by the
/// server that made it: an unsealing recorded on one server opens on the other, for the
/// account that unsealed only, and every showing is recorded on whichever server shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsealing_made_on_one_server_opens_on_the_other_for_its_account_only() {
    let database = fresh_database(Backend::Postgres).await;
    let (_dir, data, first, second) = two_servers(&database.url);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let hana = login(&client, &first, "hana", "demo-handler-pass").await;
    let me = get_json(&client, format!("{}/api/v1/me", first.url), &hana).await;
    let sources = get_json(&client, format!("{}/api/v1/sources", first.url), &hana).await;
    let nightjar =
        sources["sources"].as_array().unwrap().iter().find(|s| s["code_name"] == "NIGHTJAR").unwrap()["id"]
            .as_i64()
            .unwrap();
    let form = [
        ("csrf", me["csrf_token"].as_str().unwrap()),
        ("reason", "checking the opening across servers"),
        ("confirmed", "yes"),
    ];
    let unsealed = client
        .post(format!("{}/sources/{nightjar}/unseal", first.url))
        .bearer_auth(&hana)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(unsealed.status(), 303);
    let identity_page = unsealed.headers()["location"].to_str().unwrap().to_owned();
    assert!(identity_page.starts_with(&format!("/sources/{nightjar}/identity?opening=")), "{identity_page}");
    let show = |server: &Server, token: &str, path: &str| {
        let request = client.get(format!("{}{path}", server.url)).bearer_auth(token);
        async move {
            let reply = request.send().await.unwrap();
            (reply.status().as_u16(), reply.text().await.unwrap())
        }
    };
    let (status, page) = show(&second, &hana, &identity_page).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Samira"), "the other server opens it");
    let conrad = login(&client, &second, "conrad", "demo-controller-pass").await;
    let (status, page) = show(&second, &conrad, &identity_page).await;
    assert_eq!(status, 410, "another account's opening opens nothing, even for one who may unseal");
    assert!(!page.contains("Samira"));
    let altered = format!("{}A", identity_page);
    assert_eq!(show(&first, &hana, &altered).await.0, 410);
    first.stop();
    second.stop();
    let store = tearline_store::Store::open(&database.url).await.unwrap();
    let log = tearline_service::open_audit_log(&store, &data.join("audit-signing.key")).await.unwrap();
    let size = tearline_domain::audit::AuditLog::size(&log).await.unwrap();
    let events = tearline_domain::audit::AuditLog::read(&log, 0, size).await.unwrap();
    let count = |action: &str| events.iter().filter(|r| r.event.action == action).count();
    assert_eq!(count("source.unseal"), 1, "one unsealing");
    assert!(count("source.unseal.view") >= 1, "the showing on the other server is recorded");
}

/// Sends `requests` at once, alternating between the two servers; answers status and body.
async fn at_once(
    servers: [&Server; 2],
    requests: Vec<(reqwest::Method, String, Option<String>, Option<Value>)>,
) -> Vec<(u16, Value)> {
    let client = reqwest::Client::new();
    let tasks: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(n, (method, path, token, body))| {
            let url = format!("{}{path}", servers[n % 2].url);
            let client = client.clone();
            tokio::spawn(async move {
                let mut request = client.request(method, url);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = body {
                    request = request.json(&body);
                }
                let reply = request.send().await.unwrap();
                (reply.status().as_u16(), reply.json::<Value>().await.unwrap_or(Value::Null))
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

fn count(replies: &[(u16, Value)], status: u16) -> usize {
    replies.iter().filter(|(s, _)| *s == status).count()
}

/// The kernel's rules hold when the requests that race for them arrive at two server
/// processes on one PostgreSQL database: the lockout, one live authorisation per source,
/// one approval per payment, the payment thresholds, and a submit racing an edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_one_postgres_database_hold_the_kernels_rules() {
    let database = fresh_database(Backend::Postgres).await;
    let (_dir, data, first, second) = two_servers(&database.url);
    let servers = [&first, &second];
    let client = reqwest::Client::new();
    let post = reqwest::Method::POST;

    let hana = login(&client, &first, "hana", "demo-handler-pass").await;
    let conrad = login(&client, &second, "conrad", "demo-controller-pass").await;
    let aurelia = login(&client, &first, "aurelia", "demo-authorising-pass").await;
    let ids = source_ids(&client, &first, &conrad).await;
    let source = |code: &str| ids[code];

    // Eight applications for OSPREY granted at once: one live authorisation.
    let application = json!({"kind": "adult-written", "necessity": "n", "proportionality": "p", "purpose": "e2e",
        "tasking": "t", "collateral_intrusion": "c", "confidential_information": "none expected"});
    let applications = format!("{}/api/v1/sources/{}/authorisations", first.url, source("OSPREY"));
    let mut grants = Vec::new();
    for _ in 0..8 {
        let applied = post_json(&client, &applications, &conrad, &application).await;
        let path = format!("/api/v1/authorisations/{}/decision", applied["id"]);
        let grant = json!({"decision": "grant", "review_every_days": 30});
        grants.push((post.clone(), path, Some(aurelia.clone()), Some(grant)));
    }
    let replies = at_once(servers, grants).await;
    assert_eq!((count(&replies, 200), count(&replies, 409)), (1, 7), "{replies:?}");

    // One payment approved on both servers at once: approved once.
    let payments = format!("{}/api/v1/sources/{}/payments", first.url, source("NIGHTJAR"));
    let request = json!({"amount": "20.00", "currency": "GBP", "purpose": "e2e", "not_contingent": true});
    let payment = post_json(&client, &payments, &hana, &request).await["id"].as_i64().unwrap();
    let decision = format!("/api/v1/payments/{payment}/decision");
    let approve = json!({"approve": true});
    let twice = vec![(post.clone(), decision.clone(), Some(conrad.clone()), Some(approve.clone())); 2];
    let replies = at_once(servers, twice).await;
    assert_eq!((count(&replies, 200), count(&replies, 409)), (1, 1), "{replies:?}");

    // Eight payments of 999 approved at once by a standard controller: the yearly threshold
    // of 5000 is never crossed without a senior.
    let store = tearline_store::Store::open(&database.url).await.unwrap();
    let log = tearline_service::open_audit_log(&store, &data.join("audit-signing.key")).await.unwrap();
    let kernel = tearline_kernel::Kernel::new(store.clone(), log, tearline_kernel::system_clock());
    let carla = tearline_service::accounts::NewUserRequest {
        username: "carla".into(),
        display_name: None,
        role: tearline_domain::Role::Controller,
        seniority: tearline_domain::Seniority::Standard,
        unit: tearline_demo::DEMO_UNIT.into(),
        password: zeroize::Zeroizing::new("carla-password-long".into()),
    };
    tearline_service::accounts::create_user(
        &kernel,
        &tearline_kernel::CpuPool::for_this_machine(),
        None,
        &carla,
    )
    .await
    .unwrap();
    let carla = login(&client, &second, "carla", "carla-password-long").await;
    let mut approvals = Vec::new();
    let mut requested = Vec::new();
    for _ in 0..8 {
        let request =
            json!({"amount": "999.00", "currency": "GBP", "purpose": "e2e", "not_contingent": true});
        let id = post_json(&client, &payments, &hana, &request).await["id"].as_i64().unwrap();
        requested.push(id);
        approvals.push((
            post.clone(),
            format!("/api/v1/payments/{id}/decision"),
            Some(carla.clone()),
            Some(approve.clone()),
        ));
    }
    let replies = at_once(servers, approvals).await;
    assert!(count(&replies, 403) > 0, "some approvals need a senior: {replies:?}");
    assert_eq!(count(&replies, 200) + count(&replies, 403), 8, "{replies:?}");
    let mut still_requested = None;
    for id in requested {
        let payment = store.payment(id).await.unwrap().unwrap();
        if !payment.state.approved() {
            still_requested = Some(payment);
        }
    }
    let probe = still_requested.unwrap();
    let in_year: i64 = store.approved_amounts(&probe).await.unwrap().iter().map(|(_, minor)| minor).sum();
    assert!(in_year <= 500_000, "approved {in_year} pence in the year without a senior");

    // A submit racing an edit on the other server: a submitted draft holds only checked text.
    let contact = post_json(
        &client,
        &format!("{}/api/v1/sources/{}/contact-reports", first.url, source("NIGHTJAR")),
        &hana,
        &json!({"place": "Quay", "present": "hana", "method": "meeting", "account": "Crates on Saturdays."}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let draft = |body: &str| json!({"title": "Quay", "body": body, "admiralty": "B2", "handling_code": "P", "tlp": "TLP:AMBER"});
    for _ in 0..10 {
        let drafts = format!("{}/api/v1/contact-reports/{contact}/intel-reports", first.url);
        let id = post_json(&client, &drafts, &hana, &draft("Crates move on Saturdays.")).await["id"]
            .as_i64()
            .unwrap();
        let race = vec![
            (
                reqwest::Method::PUT,
                format!("/api/v1/intel/drafts/{id}"),
                Some(hana.clone()),
                Some(draft("Samira Haddad-Okafor moves crates.")),
            ),
            (post.clone(), format!("/api/v1/intel/drafts/{id}/submit"), Some(hana.clone()), Some(json!({}))),
        ];
        at_once(servers, race).await;
        let report = store.intel_report(id).await.unwrap().unwrap();
        if report.state == tearline_store::ReportState::Submitted {
            assert!(!report.body.contains("Samira"), "a submitted draft holds text the guard never read");
        }
    }

    // Last, as it spends this address's login budget: 50 wrong passwords for one account,
    // half to each server; at most 5 are verified.
    let guesses = (0..50)
        .map(|n| {
            let body = json!({"username": "ines", "password": format!("wrong guess {n}")});
            (post.clone(), "/api/v1/auth/login".to_owned(), None, Some(body))
        })
        .collect();
    let replies = at_once(servers, guesses).await;
    assert_eq!(count(&replies, 401) + count(&replies, 429), 50, "{replies:?}");
    assert!(count(&replies, 401) <= 5, "{} guesses were verified", count(&replies, 401));

    first.stop();
    second.stop();
}

/// A receiver that honours idempotency keys, slowly: it records every key posted and
/// processes each key once.
#[derive(Default)]
struct Receiver {
    posted: Vec<String>,
    processed: std::collections::BTreeSet<String>,
}

async fn slow_receiver(ledger: Arc<Mutex<Receiver>>) -> String {
    let handler = move |headers: reqwest::header::HeaderMap| {
        let ledger = Arc::clone(&ledger);
        async move {
            let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            let mut ledger = ledger.lock().unwrap();
            ledger.posted.push(key.clone());
            ledger.processed.insert(key);
            axum::http::StatusCode::NO_CONTENT
        }
    };
    let routes = axum::Router::new().route("/r/{n}", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await });
    format!("http://{address}")
}

async fn post_json(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Value {
    let request = client.post(url).bearer_auth(token);
    let request = if body.is_null() { request } else { request.json(body) };
    request.send().await.unwrap().json().await.unwrap()
}

async fn delivered(client: &reqwest::Client, server: &Server, token: &str, version: i64) -> Value {
    get_json(client, format!("{}/api/v1/warning-versions/{version}/deliveries", server.url), token).await
}

async fn get_json(client: &reqwest::Client, url: String, token: &str) -> Value {
    client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_dispatch_loses_no_delivery_and_sends_none_twice() {
    const RECIPIENTS: usize = 400;
    let (_dir, data) = data_dir();
    let ledger = Arc::new(Mutex::new(Receiver::default()));
    let receiver = slow_receiver(Arc::clone(&ledger)).await;
    let flags = [
        "--demo-recipients",
        "0",
        "--delivery-concurrency",
        "4",
        "--delivery-timeout-secs",
        "1",
        "--delivery-lease-secs",
        "2",
    ];
    let server = serve_demo(&data, &flags);
    let client = reqwest::Client::new();
    let wren = login(&client, &server, "wren", "demo-warning-pass").await;
    let rows: Vec<Value> = (0..RECIPIENTS)
        .map(|i| json!({"name": format!("r{i}"), "kind": "person", "channel": "webhook", "address": format!("{receiver}/r/{i}"),
                        "lat": 10.0 + (i as f64) * 0.0001, "lon": 20.0}))
        .collect();
    let registered = client
        .post(format!("{}/api/v1/recipients", server.url))
        .bearer_auth(&wren)
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let draft = json!({"status": "Exercise", "infos": [{"language": "en-GB", "categories": ["Safety"], "event": "Test",
        "urgency": "Immediate", "severity": "Minor", "certainty": "Likely", "expires": "2099-01-01T00:00:00-00:00",
        "headline": "Crash test", "areas": [{"description": "Strip", "circles": [{"centre": {"lat": 10.02, "lon": 20.0}, "radius_km": 10.0}]}]}]});
    let drafted = post_json(&client, &format!("{}/api/v1/warnings", server.url), &wren, &draft).await;
    let version = drafted["id"].as_i64().unwrap();
    let submit = format!("{}/api/v1/warning-versions/{version}/submit", server.url);
    let issued = post_json(&client, &submit, &wren, &Value::Null).await;
    assert_eq!(issued["deliveries"], RECIPIENTS);

    // Let some deliveries go out, then kill the server without warning.
    for _ in 0..200 {
        if ledger.lock().unwrap().processed.len() >= 60 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = ledger.lock().unwrap().processed.len();
    assert!(before > 0 && before < RECIPIENTS, "killed mid-dispatch ({before} processed)");
    server.stop();

    let server = serve_demo(&data, &flags);
    let wren = login(&client, &server, "wren", "demo-warning-pass").await;
    let mut counts = Value::Null;
    for _ in 0..300 {
        counts = delivered(&client, &server, &wren, version).await;
        if counts["counts"]["sent"] == RECIPIENTS {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(counts["counts"]["sent"], RECIPIENTS, "{counts}");
    let ledger = ledger.lock().unwrap();
    assert_eq!(ledger.processed.len(), RECIPIENTS, "every recipient got the warning");
    // At-least-once: the round the dead process had claimed (64 requests for each of its 4
    // slots) but not yet recorded is sent again after its lease, under the same keys, so
    // the receiver processed every warning exactly once.
    let repeats = ledger.posted.len() - RECIPIENTS;
    assert!(repeats <= 64 * 4, "only the round claimed at the kill may be posted again: {repeats}");
    server.stop();
}

/// The early-warning benchmark, small: it must run, and Tearline's targeting must agree
/// with PostGIS on the same points (the benchmark fails otherwise).
#[test]
fn the_warning_benchmark_runs_and_agrees_with_postgis() {
    let url = tearline_store::testing::postgres_url();
    let output = tearline(
        &[
            "bench",
            "warn",
            "--recipients",
            "3000",
            "--issues",
            "1",
            "--queries",
            "2",
            "--gateway-recipients",
            "1200",
            "--gateway-batch",
            "50",
            "--postgres",
            &url,
        ],
        b"",
    );
    let printed = text(&output.stdout);
    assert!(output.status.success(), "{}\n{}", printed, text(&output.stderr));
    assert!(printed.contains("| sqlite   | issue warning → outbox"), "{printed}");
    assert!(printed.contains("| postgis  | target town"), "{printed}");
    assert!(printed.contains("| sqlite   | deliver town warning (HTTP)"), "{printed}");
    assert!(printed.contains("to all 1200 recipients through a batching aggregator, postgres"), "{printed}");
    assert!(printed.contains("| peer: COPY into a bare table"), "{printed}");
    assert!(printed.contains("same number of recipients in every area: yes"), "{printed}");
}

/// The search benchmark runs small, and its engines agree on every query's matches (it
/// refuses to time them otherwise).
#[test]
fn the_search_benchmark_runs_and_its_engines_agree() {
    let url = tearline_store::testing::postgres_url();
    let output = tearline(&["bench", "search", "--reports", "3000", "--runs", "2", "--postgres", &url], b"");
    let printed = text(&output.stdout);
    assert!(output.status.success(), "{}\n{}", printed, text(&output.stderr));
    for row in [
        "| tantivy  | index (reports/s)",
        "| postgres | phrase",
        "| fts5     | two words",
        "| one common word      |",
    ] {
        assert!(printed.contains(row), "{row} in {printed}");
    }
}

/// `tearline reindex` rebuilds the search index from the store, and a server started on a
/// data directory whose index is missing rebuilds it by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_rebuilds_the_search_index_from_the_store() {
    let (_dir, data) = data_dir();
    let hits = |server: &Server| {
        let url = server.url.clone();
        async move {
            let client = reqwest::Client::new();
            let credentials = json!({"username": "anders", "password": "demo-analyst-pass"});
            let session: Value = client
                .post(format!("{url}/api/v1/auth/login"))
                .json(&credentials)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token = session["token"].as_str().unwrap_or_default().to_owned();
            let reply: Value = client
                .get(format!("{url}/api/v1/intel/search?q=van"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            reply["hits"].as_array().map(Vec::len)
        }
    };
    let server = serve_demo(&data, &["--demo-recipients", "10"]);
    assert_eq!(hits(&server).await, Some(2), "the demo's released reports are searchable");
    server.stop();
    std::fs::remove_dir_all(data.join("search-index")).unwrap();
    let output = tearline(&["reindex", "--data", data.to_str().unwrap()], b"");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("indexed 4 released reports"), "{}", text(&output.stdout));
    std::fs::remove_dir_all(data.join("search-index")).unwrap();
    let server = Server::start(&["serve", "--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert_eq!(hits(&server).await, Some(2), "rebuilt at start");
    server.stop();
}

/// Runs tearline in `dir`, so that a default `./tearline-data` would land there.
fn tearline_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tearline"))
        .args(args)
        .current_dir(dir)
        .env_remove("TEARLINE_DATA")
        .env_remove("TEARLINE_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run tearline")
}

/// On a folder where no server ever ran, commands other than `serve` say what to do and
/// leave nothing behind; `create-user` refuses a bad username before it asks for a password.
#[test]
fn commands_on_a_fresh_folder_say_what_to_do_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = |args: &[&str]| {
        let output = tearline_in(dir.path(), args);
        assert!(!output.status.success(), "{args:?} fails on a fresh folder");
        assert!(!dir.path().join("tearline-data").exists(), "{args:?} left ./tearline-data behind");
        text(&output.stderr)
    };
    let key = fresh(&["audit", "key"]);
    assert!(key.contains("audit signing key") && key.contains("tearline serve"), "{key}");
    assert!(!key.contains("vault key"), "{key}");
    let bad_name =
        fresh(&["admin", "create-user", "--username", "Bad Name", "--role", "analyst", "--unit", "HQ"]);
    assert!(bad_name.contains("username") && !bad_name.contains("Password for"), "{bad_name}");
    for args in [
        &["admin", "create-user", "--username", "root", "--role", "administrator", "--unit", "HQ"][..],
        &["admin", "rotate-key"],
        &["reindex"],
        &["audit", "check"],
    ] {
        let said = fresh(args);
        assert!(said.contains("no Tearline database") && said.contains("tearline serve"), "{args:?}: {said}");
    }
}

#[test]
fn completions_and_manual_pages_are_generated() {
    let dir = tempfile::tempdir().unwrap();
    let bash = tearline_in(dir.path(), &["completions", "bash"]);
    assert!(bash.status.success(), "{}", text(&bash.stderr));
    assert!(text(&bash.stdout).contains("create-user"), "the script knows the subcommands");
    let man = tearline_in(dir.path(), &["man", "--out", "man"]);
    assert!(man.status.success(), "{}", text(&man.stderr));
    let page = std::fs::read_to_string(dir.path().join("man/tearline.1")).unwrap();
    assert!(page.contains(".TH") && page.contains("serve"), "{page}");
    let create_user = std::fs::read_to_string(dir.path().join("man/tearline-admin-create-user.1")).unwrap();
    assert!(create_user.contains("3 to 40 lowercase letters"), "flags carry their help");
}

/// `--metrics-listen` serves Prometheus metrics on its own address only, and
/// `--log-format json` writes one JSON object a log line.
#[test]
fn metrics_are_served_on_their_own_listener_and_logs_can_be_json() {
    let (_dir, data) = data_dir();
    let server = serve_demo(&data, &["--metrics-listen", "127.0.0.1:0", "--log-format", "json"]);
    let printed = server.printed();
    let metrics_url = printed
        .lines()
        .find_map(|line| line.trim().strip_prefix("metrics: "))
        .unwrap_or_else(|| panic!("no metrics address printed: {printed}"))
        .to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (scraped, beside_the_app) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let refused = client
            .post(format!("{}/api/v1/auth/login", server.url))
            .json(&json!({"username": "wren", "password": "not the password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let scraped = client.get(&metrics_url).send().await.unwrap();
        assert_eq!(
            scraped.headers()["content-type"],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        let beside = client.get(format!("{}/metrics", server.url)).send().await.unwrap().status();
        (scraped.text().await.unwrap(), beside)
    });
    assert_eq!(beside_the_app, 404, "metrics are not served beside the application");
    assert!(scraped.contains("tearline_logins_refused_total{reason=\"invalid_credentials\"} 1"), "{scraped}");
    for family in [
        "tearline_deliveries{state=\"queued\"}",
        "tearline_delivery_queue_age_seconds",
        "tearline_delivery_latency_seconds_count",
        "tearline_audit_entries",
        "tearline_audit_checkpoint_age_seconds",
        "tearline_search_index_lag_reports 0",
    ] {
        assert!(scraped.contains(family), "{family} in {scraped}");
    }
    assert!(scraped.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    assert_reveals_no_identity("the metrics", scraped.as_bytes());
    let output = text(&server.stop());
    let json_lines: Vec<&str> = output.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!json_lines.is_empty(), "debug logging writes JSON lines: {output}");
    for line in json_lines {
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(parsed["level"].is_string() && parsed["timestamp"].is_string(), "{line}");
    }
}

/// A report released through one server is found by search on the other within seconds:
/// each server's index follows the store's releases, whichever server made them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_released_through_one_server_is_found_by_search_on_the_other() {
    let database = fresh_database(Backend::Postgres).await;
    let (_dir, _data, first, second) = two_servers(&database.url);
    let client = reqwest::Client::new();
    let hana = login(&client, &first, "hana", "demo-handler-pass").await;
    let conrad = login(&client, &first, "conrad", "demo-controller-pass").await;
    let anders = login(&client, &second, "anders", "demo-analyst-pass").await;
    let call = |method: reqwest::Method, url: String, token: &str, body: Option<Value>| {
        let request = client.request(method, url).bearer_auth(token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let post = reqwest::Method::POST;
    let sources = call(reqwest::Method::GET, format!("{}/api/v1/sources", first.url), &hana, None).await;
    let nightjar =
        sources["sources"].as_array().unwrap().iter().find(|s| s["code_name"] == "NIGHTJAR").unwrap()["id"]
            .clone();
    let contact = json!({"place": "Quay", "present": "hana", "method": "meeting", "account": "Tarpaulins at the slipway."});
    let contact = call(
        post.clone(),
        format!("{}/api/v1/sources/{nightjar}/contact-reports", first.url),
        &hana,
        Some(contact),
    )
    .await;
    let draft = json!({"title": "Slipway tarpaulins", "body": "Blue tarpaulins cover crates at the slipway every Friday.",
        "admiralty": "B2", "handling_code": "P", "tlp": "TLP:AMBER"});
    let draft = call(
        post.clone(),
        format!("{}/api/v1/contact-reports/{}/intel-reports", first.url, contact["id"]),
        &hana,
        Some(draft),
    )
    .await;
    let id = draft["id"].as_i64().unwrap_or_else(|| panic!("{draft}"));
    call(post.clone(), format!("{}/api/v1/intel/drafts/{id}/submit", first.url), &hana, None).await;
    let release = json!({"release": true, "acknowledge_warnings": true});
    let released =
        call(post, format!("{}/api/v1/intel/drafts/{id}/release", first.url), &conrad, Some(release)).await;
    assert_eq!(released["state"], "released", "{released}");

    let search = format!("{}/api/v1/intel/search?q=tarpaulins", second.url);
    let mut found = Value::Null;
    for _ in 0..50 {
        found = call(reqwest::Method::GET, search.clone(), &anders, None).await;
        if found["hits"].as_array().is_some_and(|hits| !hits.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        found["hits"][0]["id"], id,
        "the second server's search finds the first server's release: {found}"
    );
    first.stop();
    second.stop();
}

/// What one server records, the other acts on at once: recipients registered through one are
/// targeted by a warning issued through the other (and the first's public feed shows it), a unit's approval rule set through one
/// holds on the other, a threat, its citation and its outcome recorded through one are read
/// on the other, and a partner feed added through one is listed by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_capability_agrees_across_two_servers_on_postgres() {
    let database = fresh_database(Backend::Postgres).await;
    let (_dir, _data, first, second) = two_servers(&database.url);
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, url: String, token: String, body: Option<Value>| {
        let request = client.request(method, url).bearer_auth(token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let reply = request.send().await.unwrap();
            let status = reply.status().as_u16();
            (status, reply.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (get, post, put) = (reqwest::Method::GET, reqwest::Method::POST, reqwest::Method::PUT);
    let wren_first = login(&client, &first, "wren", "demo-warning-pass").await;
    let wren_second = login(&client, &second, "wren", "demo-warning-pass").await;

    // Recipients registered through the first, far from the demo town, targeted through the second.
    let rows: Vec<Value> = (0..5)
        .map(|i| json!({"external_id": format!("x-{i}"), "name": format!("Far {i}"), "kind": "person",
            "channel": "webhook", "address": format!("http://127.0.0.1:9/{i}"), "lat": 10.0 + f64::from(i) * 0.001, "lon": 10.0}))
        .collect();
    let (status, _) = call(
        post.clone(),
        format!("{}/api/v1/recipients", first.url),
        wren_first.clone(),
        Some(Value::Array(rows)),
    )
    .await;
    assert_eq!(status, 201);
    let ring = json!([[{"lat": 9.9, "lon": 9.9}, {"lat": 10.1, "lon": 9.9}, {"lat": 10.1, "lon": 10.1}, {"lat": 9.9, "lon": 10.1}, {"lat": 9.9, "lon": 9.9}]]);
    let draft = |status: &str| {
        json!({"status": status, "infos": [{"language": "en-GB", "categories": ["Security"], "event": "Threat",
        "urgency": "Immediate", "severity": "Severe", "certainty": "Likely", "expires": "2030-01-01T00:00:00-00:00",
        "headline": "Far away", "areas": [{"description": "Far", "polygons": ring}]}]})
    };
    let (_, version) = call(
        post.clone(),
        format!("{}/api/v1/warnings", second.url),
        wren_second.clone(),
        Some(draft("Exercise")),
    )
    .await;
    let submit = |server: &Server, id: &Value| format!("{}/api/v1/warning-versions/{id}/submit", server.url);
    let (status, issued) =
        call(post.clone(), submit(&second, &version["id"]), wren_second.clone(), None).await;
    assert_eq!((status, &issued["deliveries"]), (200, &json!(5)), "{issued}");
    // The first server's public feed, served from memory, shows it within about a second.
    let mut feed = String::new();
    for _ in 0..30 {
        feed = client.get(format!("{}/cap/feed.atom", first.url)).send().await.unwrap().text().await.unwrap();
        if feed.contains("Far away") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(feed.contains("Far away"), "{feed}");

    // The approval rule set through the second holds on the first.
    let adam = login(&client, &second, "adam", "demo-admin-pass-1").await;
    let unit = call(get.clone(), format!("{}/api/v1/me", second.url), wren_second.clone(), None).await.1
        ["user"]["unit_id"]
        .clone();
    let (status, _) = call(
        put,
        format!("{}/api/v1/units/{unit}/warning-approval", second.url),
        adam,
        Some(json!({"required": false})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, actual) = call(
        post.clone(),
        format!("{}/api/v1/warnings", first.url),
        wren_first.clone(),
        Some(draft("Actual")),
    )
    .await;
    let (_, result) = call(post.clone(), submit(&first, &actual["id"]), wren_first.clone(), None).await;
    assert_eq!(result["result"], "issued", "no second officer needed any more: {result}");

    // A threat, its citation and its outcome through the first, read on the second.
    let anders_first = login(&client, &first, "anders", "demo-analyst-pass").await;
    let anders_second = login(&client, &second, "anders", "demo-analyst-pass").await;
    let (_, threats) =
        call(get.clone(), format!("{}/api/v1/threats", first.url), anders_first.clone(), None).await;
    let threat = threats["threats"][0]["id"].clone();
    let (_, support) = call(
        get.clone(),
        format!("{}/api/v1/threats/{threat}/reports", second.url),
        anders_second.clone(),
        None,
    )
    .await;
    let cited = support["reports"][0]["report_id"].clone();
    assert!(cited.is_i64(), "the demo threat rests on reports: {support}");
    let outcome = json!({"outcome": "prevented", "reports": [{"report_id": cited, "accuracy": "accurate"}]});
    let (status, _) = call(
        reqwest::Method::PUT,
        format!("{}/api/v1/threats/{threat}/outcome", first.url),
        anders_first,
        Some(outcome),
    )
    .await;
    assert_eq!(status, 200);
    let (_, on_second) =
        call(get.clone(), format!("{}/api/v1/threats/{threat}/reports", second.url), anders_second, None)
            .await;
    assert_eq!(on_second["threat"]["outcome"]["outcome"], "prevented");
    assert_eq!(on_second["reports"][0]["accuracy"], "accurate");

    // A partner feed added through the first is listed by the second.
    let feed = json!({"url": "http://127.0.0.1:9/partner/feed.atom"});
    let (status, _) = call(post, format!("{}/api/v1/partner-feeds", first.url), wren_first, Some(feed)).await;
    assert_eq!(status, 201);
    let (_, feeds) = call(get, format!("{}/api/v1/partner-feeds", second.url), wren_second, None).await;
    assert!(feeds.to_string().contains("127.0.0.1:9/partner/feed.atom"), "{feeds}");
    first.stop();
    second.stop();
}

/// The public-documents benchmark runs small beside nginx and prints its ratios.
#[test]
fn the_public_documents_benchmark_runs_beside_nginx() {
    let output = tearline(
        &[
            "bench",
            "public",
            "--alerts",
            "2",
            "--seconds",
            "1",
            "--rounds",
            "1",
            "--connections",
            "4",
            "--threads",
            "1",
            "--answers",
            "50",
            "--postgres",
            &tearline_store::testing::postgres_url(),
        ],
        b"",
    );
    let printed = text(&output.stdout);
    assert!(output.status.success(), "{}\n{}", printed, text(&output.stderr));
    for backend in ["sqlite", "postgres"] {
        let line = printed
            .lines()
            .find(|l| l.starts_with(&format!("Answers through the links, {backend}")))
            .unwrap_or_else(|| panic!("{backend} answers in {printed}"));
        assert!(line.ends_with("50 deliveries answered, 50 safe"), "{line}");
    }
    for row in ["feed ", "alert ", "feed, If-None-Match (304)", "alert, If-None-Match (304)"] {
        let line =
            printed.lines().find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("{row} in {printed}"));
        assert!(line.trim_end().ends_with('x'), "a ratio on {line}");
    }
}

/// The map's local layer: a file with a feature out of range stops the server, naming the
/// feature; a good one is served as checked, and without one the layer is empty.
#[tokio::test]
async fn the_map_overlay_is_checked_at_start_and_served_as_checked() {
    let (dir, data) = data_dir();
    let data_arg = data.to_str().unwrap();
    let layer = dir.path().join("roads.geojson");
    let feature = |lat: f64| {
        format!(
            r#"{{"type": "FeatureCollection", "features": [
            {{"type": "Feature", "geometry": {{"type": "LineString", "coordinates": [[1.20, 52.92], [1.23, {lat}]]}},
              "properties": {{"name": "Coast Road", "kind": "main", "secret": "not served"}}}}]}}"#
        )
    };
    std::fs::write(&layer, feature(95.0)).unwrap();
    let refused = tearline(
        &["serve", "--data", data_arg, "--listen", "127.0.0.1:0", "--map-overlay", layer.to_str().unwrap()],
        b"",
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("features[0]: a position is out of range"),
        "{}",
        text(&refused.stderr)
    );

    std::fs::write(&layer, feature(52.93)).unwrap();
    let server = Server::start(&[
        "serve",
        "--data",
        data_arg,
        "--listen",
        "127.0.0.1:0",
        "--map-overlay",
        layer.to_str().unwrap(),
    ]);
    let served =
        reqwest::get(format!("{}/assets/map-context.json", server.url)).await.unwrap().text().await.unwrap();
    server.stop();
    let served: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(served["roads"][0]["name"], "Coast Road");
    assert_eq!(served["roads"][0]["main"], true);
    assert_eq!(served["roads"][0]["line"][1], serde_json::json!({"lat": 52.93, "lon": 1.23}));
    assert!(!served.to_string().contains("not served"), "only what was checked is served");

    let (_empty_dir, empty) = data_dir();
    let server = Server::start(&["serve", "--data", empty.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    let none =
        reqwest::get(format!("{}/assets/map-context.json", server.url)).await.unwrap().text().await.unwrap();
    server.stop();
    assert_eq!(none, r#"{"roads":[],"places":[]}"#);
}
