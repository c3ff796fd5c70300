//! The local server's data folder holds the API key and every user's data: it is private to its
//! owner (`0700`, files `0600`, whatever the umask), and a generated key is printed once, when
//! it is generated.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use herald_tests::server::{binary, fixture_workflows};

/// Starts the binary without `HERALD_API_KEY` on `data_dir`, waits until it listens, stops it
/// and returns what it printed.
fn start_and_stop(data_dir: &Path) -> Vec<String> {
    let mut child = Command::new(binary())
        .env_remove("HERALD_API_KEY")
        .env_remove("HERALD_API_KEYS")
        .env("HERALD_ADDR", "127.0.0.1:0")
        .env("HERALD_DATA_DIR", data_dir)
        .env("HERALD_WORKFLOWS_DIR", fixture_workflows())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start herald");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let listening = line.starts_with("Herald listening on ");
        lines.push(line);
        if listening {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_data_folder_is_private_and_the_generated_key_is_printed_once() {
    let parent = tempfile::tempdir().expect("temp dir");
    let data = parent.path().join("herald-data");

    let first = start_and_stop(&data);
    let key = std::fs::read_to_string(data.join("api_key")).expect("the key is kept");
    let printed: Vec<&String> = first.iter().filter(|l| l.contains(key.trim())).collect();
    assert_eq!(
        printed.len(),
        1,
        "the key printed once at first start: {first:?}"
    );

    assert_eq!(mode(&data), 0o700, "the data folder");
    assert_eq!(mode(&data.join("api_key")), 0o600, "the key file");
    for file in ["herald.db", "herald.db-wal", "herald.db-shm"] {
        let path = data.join(file);
        if file == "herald.db" || path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }

    // Later starts keep the key and never print it again.
    let second = start_and_stop(&data);
    assert!(
        second.iter().all(|l| !l.contains(key.trim())),
        "the key printed again: {second:?}"
    );
    assert!(
        second.iter().any(|l| l.contains("kept in")),
        "says where the key is: {second:?}"
    );

    // A folder, key and database an older version left readable to others are made private at
    // the next start.
    for (path, was) in [
        (data.clone(), 0o755),
        (data.join("api_key"), 0o644),
        (data.join("herald.db"), 0o644),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(was)).expect("chmod");
    }
    start_and_stop(&data);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("api_key")), 0o600);
    assert_eq!(mode(&data.join("herald.db")), 0o600);
}
