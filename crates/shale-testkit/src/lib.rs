//! Test support shared by the workspace's integration tests; a dev-dependency only, never part of
//! a shipped binary.
//!
//! [`RedisServer`]: a real `redis-server` of a test's own, on a free loopback port, killed on drop.
//! Where `redis-server` is not installed the tests using it are skipped with the reason printed —
//! except under `CI=true`, where that is a failure (CI installs it).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` without persistence, listening on 127.0.0.1.
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// A server on a free port; `None` (the test skips) when `redis-server` is not installed.
    ///
    /// # Panics
    /// Under `CI=true` when `redis-server` is not installed, and when it does not listen.
    pub fn start() -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server is not installed (tests/run-all.sh installs it)"
            );
            eprintln!("SKIPPED: redis-server is not installed (CI installs it with apt-get)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("its address")
            .port();
        RedisServer::start_on(port)
    }

    /// A server on `port` (to bring one back where a killed one was); `None` when it cannot be
    /// spawned.
    ///
    /// # Panics
    /// When it does not listen within five seconds.
    pub fn start_on(port: u16) -> Option<RedisServer> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(RedisServer { child, port });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not listen on {port}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered — an outage in
    /// which a command may be received and only run when it ends.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Ends [`RedisServer::pause`] (SIGCONT), data intact.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} redis-server");
    }

    /// Stops the server now (a Redis outage); dropping does the same.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
