//! Shared emulator state: configuration, temporary credentials issued by the STS endpoint,
//! the script queue, the request log, the prompt-cache prefixes seen so far and the guardrails.

use crate::config::EmulatorConfig;
use crate::record::Recorded;
use crate::script::ScriptItem;
use crate::sigv4::KeyMaterial;
use crate::tracking::StreamStats;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// How many requests the log keeps (oldest dropped first) so benchmarks do not grow memory.
pub const MAX_RECORDED: usize = 2048;

/// Temporary credentials issued by `AssumeRole*`.
#[derive(Clone)]
pub struct TempCredential {
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token the requests must carry.
    pub session_token: String,
    /// Expiry.
    pub expires: SystemTime,
}

/// Everything the handlers share.
pub struct AppState {
    /// Accepted credentials and delays.
    pub config: EmulatorConfig,
    temp_credentials: RwLock<HashMap<String, TempCredential>>,
    script: Mutex<VecDeque<ScriptItem>>,
    script_len: AtomicUsize,
    requests: Mutex<VecDeque<Recorded>>,
    cache_prefixes: Mutex<HashSet<u64>>,
    /// Event streams started, finished and cancelled (`GET /_emulator/streams`).
    pub streams: Arc<StreamStats>,
    /// ApplyGuardrail policies (built-in, `--guardrails`, `/_emulator/guardrails`).
    pub guardrails: crate::guardrail::Registry,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AppState {
    /// Fresh state for a configuration. Panics on an invalid guardrail policy (the binary checks
    /// `--guardrails` before).
    pub fn new(config: EmulatorConfig) -> Self {
        let guardrails = crate::guardrail::Registry::new(&config.guardrails)
            .unwrap_or_else(|e| panic!("invalid emulator guardrail: {e}"));
        Self {
            guardrails,
            config,
            temp_credentials: RwLock::default(),
            script: Mutex::default(),
            script_len: AtomicUsize::new(0),
            requests: Mutex::default(),
            cache_prefixes: Mutex::default(),
            streams: Arc::default(),
        }
    }

    /// The key material for an access key id (configured or issued by STS).
    pub fn key_material(&self, access_key_id: &str) -> Option<KeyMaterial> {
        if access_key_id == self.config.access_key_id {
            return Some(KeyMaterial {
                secret_access_key: self.config.secret_access_key.clone(),
                session_token: None,
                expires: None,
            });
        }
        let creds = self
            .temp_credentials
            .read()
            .unwrap_or_else(|p| p.into_inner());
        creds.get(access_key_id).map(|c| KeyMaterial {
            secret_access_key: c.secret_access_key.clone(),
            session_token: Some(c.session_token.clone()),
            expires: Some(c.expires),
        })
    }

    /// Remembers temporary credentials (and forgets long-expired ones).
    pub fn add_temp_credential(&self, access_key_id: String, cred: TempCredential) {
        let mut creds = self
            .temp_credentials
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if creds.len() > 10_000 {
            let now = SystemTime::now();
            creds.retain(|_, c| c.expires > now);
        }
        creds.insert(access_key_id, cred);
    }

    /// Appends script items.
    pub fn push_script(&self, items: Vec<ScriptItem>) {
        let mut queue = lock(&self.script);
        queue.extend(items);
        self.script_len.store(queue.len(), Ordering::Release);
    }

    /// Empties the script queue.
    pub fn clear_script(&self) {
        let mut queue = lock(&self.script);
        queue.clear();
        self.script_len.store(0, Ordering::Release);
    }

    /// Pending script items.
    pub fn script_pending(&self) -> usize {
        self.script_len.load(Ordering::Acquire)
    }

    /// Takes the first script item that applies to `operation`. Items without an `operation`
    /// filter apply to every Bedrock operation but not to STS.
    pub fn take_script(&self, operation: &str) -> Option<ScriptItem> {
        if self.script_len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut queue = lock(&self.script);
        let pos = queue.iter().position(|item| match &item.operation {
            Some(op) => op == operation,
            None => operation != "sts",
        })?;
        let item = queue.remove(pos);
        self.script_len.store(queue.len(), Ordering::Release);
        item
    }

    /// Logs a request.
    pub fn record(&self, rec: Recorded) {
        let mut log = lock(&self.requests);
        if log.len() >= MAX_RECORDED {
            log.pop_front();
        }
        log.push_back(rec);
    }

    /// The logged requests as JSON, oldest first.
    pub fn recorded_json(&self) -> Vec<serde_json::Value> {
        let log = lock(&self.requests);
        log.iter().map(Recorded::to_json).collect()
    }

    /// Clears the log.
    pub fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    /// Whether a prompt-cache prefix was seen before (then it is a cache read); remembers it.
    pub fn cache_prefix_seen(&self, hash: u64) -> bool {
        let mut seen = lock(&self.cache_prefixes);
        !seen.insert(hash)
    }
}
