//! Test support: a real PostgreSQL (initdb + pg_ctl from the installed server, in a temporary
//! directory, on a free loopback port, as a non-root user) and a real `redis-server`
//! (`shale_testkit`'s), both stopped on drop; plus helpers to start a `KeyService` on them, issue
//! keys and check refusals.
//!
//! Missing binaries: the test fails with a clear message under `CI=true` and is skipped (with the
//! reason printed) elsewhere.

#![allow(dead_code)]

use shale_config::{KeysConfig, Secret};
use shale_keys::{
    GenerateKeyRequest, GenerateKeyResponse, KeyError, KeyService, LimitKind, Principal, Scope,
};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A missing dependency: fails under CI, prints why the test is skipped elsewhere.
fn missing(what: &str) {
    let msg = format!("{what} is not installed (tests/run-all.sh installs it with apt-get)");
    assert!(!in_ci(), "CI=true and {msg}");
    eprintln!("SKIPPED: {msg}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: PATH first, then the newest
/// `/usr/lib/postgresql/*/bin`.
fn pg_bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v pg_ctl"])
        .output()
    {
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !path.is_empty() {
            let p = std::fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(path));
            if let Some(dir) = p.parent() {
                if dir.join("initdb").exists() {
                    return Some(dir.to_path_buf());
                }
            }
        }
    }
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, d)| d)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// (uid, gid) of a user, via `id`.
fn ids_of(user: &str) -> Option<(u32, u32)> {
    let get = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, user]).output().ok()?;
        if !o.status.success() {
            return None;
        }
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    Some((get("-u")?, get("-g")?))
}

/// A PostgreSQL server of its own, in a temporary directory.
pub struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Run commands as this user (when the tests run as root).
    run_as: Option<String>,
    pub port: u16,
}

impl PgServer {
    /// Starts one, or returns None (skip) when PostgreSQL is not installed outside CI.
    pub fn start() -> Option<PgServer> {
        let Some(bin) = pg_bin_dir() else {
            missing("PostgreSQL (initdb, pg_ctl)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("shale-keys-pg")
            .tempdir()
            .expect("temp dir");
        let run_as = if is_root() {
            let user = ["postgres", "nobody"]
                .into_iter()
                .find(|u| ids_of(u).is_some())
                .expect("running as root needs a user `postgres` or `nobody` to run PostgreSQL");
            let (uid, gid) = ids_of(user).expect("uid");
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown temp dir");
            Some(user.to_string())
        } else {
            None
        };
        let server = PgServer {
            bin,
            dir,
            run_as,
            port: free_port(),
        };
        let data = server.data_dir();
        let out = server
            .command("initdb")
            .args([
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "shale",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server.resume();
        Some(server)
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    /// Starts (or restarts) the server on its port and waits until it accepts connections.
    pub fn resume(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("pg.log").display().to_string();
        let out = self
            .command("pg_ctl")
            .args([
                "-D",
                &self.data_dir(),
                "-l",
                &log,
                "-o",
                &opts,
                "-w",
                "-t",
                "30",
                "start",
            ])
            .stdout(Stdio::null())
            .output()
            .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server at once (as a crash or an outage would).
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    pub fn url(&self) -> String {
        format!("postgresql://shale@127.0.0.1:{}/postgres", self.port)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The real `redis-server` the replica tests share their counters through.
pub use shale_testkit::RedisServer;

/// A plain connection for reading a test `redis-server` directly.
pub async fn redis_client(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test redis-server")
}

/// Settings for tests: a 1 s writer interval and a short cache TTL.
pub fn config(pg: &PgServer) -> KeysConfig {
    KeysConfig {
        database_url: Some(Secret::new(pg.url())),
        proxy_batch_write_at: Duration::from_secs(1),
        user_api_key_cache_ttl: Duration::from_secs(2),
        ..KeysConfig::default()
    }
}

pub async fn service(pg: &PgServer) -> Arc<KeyService> {
    KeyService::start(&config(pg), None)
        .await
        .expect("key service starts")
}

/// A plain connection for inspecting the database directly.
pub async fn connect(pg: &PgServer) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&pg.url())
        .await
        .expect("connect to the test Postgres")
}

/// A finished request's spend: model `m`, deployment `m-1`, no cache tokens, status 200.
pub fn spend_event(
    request_id: &str,
    spend: f64,
    input: u64,
    output: u64,
) -> shale_keys::SpendEvent {
    shale_keys::SpendEvent {
        request_id: request_id.into(),
        requested_model: "m".into(),
        deployment_id: "m-1".into(),
        call_type: "chat_completions",
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        spend,
        start: std::time::SystemTime::now(),
        end: std::time::SystemTime::now(),
        status: 200,
        guardrails: vec![],
        cache_hit: false,
        cache_key: None,
    }
}

/// Waits out the last seconds of a minute so rpm/tpm windows do not roll over mid-test.
pub async fn away_from_minute_edge() {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() % 60)
        .unwrap_or(0);
    if secs >= 50 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - secs)).await;
    }
}

/// Generates a key with `req` and authenticates it at once: the answer and the key's principal.
pub async fn issue(
    svc: &KeyService,
    req: GenerateKeyRequest,
) -> (GenerateKeyResponse, Arc<Principal>) {
    let made = svc.generate_key(req).await.expect("generate_key");
    let principal = svc.authenticate(&made.key).await.expect("authenticate");
    (made, principal)
}

/// Asserts `res` is refused by the rate limit `limit`; returns the limit's scope and the
/// `Retry-After` seconds.
#[track_caller]
pub fn assert_rate_limited<T: std::fmt::Debug>(
    res: Result<T, KeyError>,
    limit: LimitKind,
) -> (Scope, u64) {
    match res {
        Err(KeyError::RateLimited {
            limit: got,
            scope,
            retry_after_secs,
        }) if got == limit => (scope, retry_after_secs),
        other => panic!("expected a {limit:?} refusal, got {other:?}"),
    }
}
