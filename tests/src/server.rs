//! Runs the real `herald` binary on a free loopback port, for end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The API key test servers use.
pub const API_KEY: &str = "sk_test_herald";

/// The built `herald` binary: `HERALD_BIN`, else `target/debug/herald` of this workspace.
pub fn binary() -> PathBuf {
    if let Ok(bin) = std::env::var("HERALD_BIN") {
        return PathBuf::from(bin);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/herald")
}

/// The test workflows (`tests/fixtures/workflows`).
pub fn fixture_workflows() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/workflows")
}

/// A server on the test workflows with its data in a fresh folder, and a client for it.
pub fn start_with_fixtures() -> (tempfile::TempDir, Server, crate::http::Client) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &fixture_workflows());
    let client = crate::http::Client::new(&server.base_url, API_KEY);
    (dir, server, client)
}

/// A running server; killed when dropped.
pub struct Server {
    child: Option<Child>,
    /// Base URL, such as `http://127.0.0.1:41234`.
    pub base_url: String,
    addr: String,
    data_dir: PathBuf,
    workflows_dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts a server on a port the OS picks, with its data in `data_dir`.
    pub fn start(data_dir: &Path, workflows_dir: &Path) -> Self {
        Self::start_with(data_dir, workflows_dir, &[])
    }

    /// [`Server::start`] with more settings in its environment.
    pub fn start_with(data_dir: &Path, workflows_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut server = Self {
            child: None,
            base_url: String::new(),
            addr: "127.0.0.1:0".into(),
            data_dir: data_dir.to_path_buf(),
            workflows_dir: workflows_dir.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let bin = binary();
        assert!(
            bin.exists(),
            "{} is missing: build it first with `cargo build -p herald-local`",
            bin.display()
        );
        let mut child = Command::new(bin)
            .env("HERALD_ADDR", &self.addr)
            .env("HERALD_DATA_DIR", &self.data_dir)
            .env("HERALD_WORKFLOWS_DIR", &self.workflows_dir)
            .env("HERALD_API_KEY", API_KEY)
            // The delivery servers are on loopback; short attempts keep crash tests short.
            .env("HERALD_ALLOW_PRIVATE_NETWORKS", "1")
            .env("HERALD_DELIVERY_TIMEOUT_SECS", "3")
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start herald");
        // The server prints the address it bound; a port picked here could be taken meanwhile.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Herald listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        self.child = Some(child);
        let url = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("herald printed its listening address");
        self.addr = url.trim_start_matches("http://").to_string();
        self.base_url = url;
    }

    /// The most memory the process has held so far (its peak resident set, `VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.status_kib("VmHWM:")
    }

    /// The memory the process holds now (its resident set, `VmRSS`), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.status_kib("VmRSS:")
    }

    /// The process's open file descriptors (sockets included).
    pub fn open_fds(&self) -> Option<usize> {
        let pid = self.child.as_ref()?.id();
        Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The `host:port` the server listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Kills the process at once (SIGKILL: no graceful shutdown), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
