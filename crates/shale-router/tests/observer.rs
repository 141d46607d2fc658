//! The router's observer hook: failed attempts, cooldowns (with the failure's status), fallbacks
//! that succeed or fail, and the token reservation a streamed answer settles later.

mod common;

use common::*;
use shale_router::{Answer, Failure, FailureClass, Observer, RouteRequest};
use std::sync::{Arc, Mutex};

/// A failure that carries an HTTP status, like the server's errors.
#[derive(Debug)]
struct StatusError(u16);

impl Failure for StatusError {
    fn class(&self) -> FailureClass {
        FailureClass::from_status(self.0, None, "")
    }
    fn summary(&self) -> String {
        format!("status {}", self.0)
    }
    fn status(&self) -> u16 {
        self.0
    }
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Observer for Recorder {
    fn attempt_failed(&self, deployment: usize, status: u16) {
        self.0
            .lock()
            .unwrap()
            .push(format!("failed {deployment} {status}"));
    }
    fn cooled_down(&self, deployment: usize, status: u16) {
        self.0
            .lock()
            .unwrap()
            .push(format!("cooled {deployment} {status}"));
    }
    fn fallback(&self, from: &str, to: &str, deployment: Option<usize>, status: u16, ok: bool) {
        self.0.lock().unwrap().push(format!(
            "fallback {from}->{to} {deployment:?} {status} {ok}"
        ));
    }
}

fn observed(cfg: &shale_config::Config) -> (shale_router::Router, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let router = local_router(cfg, &clock()).with_observer(Arc::clone(&recorder) as Arc<_>);
    (router, recorder)
}

#[tokio::test(start_paused = true)]
async fn failures_cooldowns_and_fallbacks_are_reported() {
    let cfg = config(
        &[("a", "", "id: a1"), ("b", "", "id: b1"), ("c", "", "id: c1")],
        "router_settings:\n  num_retries: 0\n  allowed_fails: 0\n  cooldown_time: 30\n  fallbacks: [{a: [b, c]}]\n",
    );
    let (router, recorder) = observed(&cfg);
    // a throttles, b fails with a 500, c answers.
    let routed = router
        .run(&req("a"), |pick| async move {
            match pick.index {
                0 => Err(StatusError(429)),
                1 => Err(StatusError(500)),
                _ => Ok(Answer::new(pick.index, Some(5))),
            }
        })
        .await
        .expect("c answers");
    assert_eq!(routed.value, 2);
    assert_eq!(
        recorder.events(),
        [
            "failed 0 429",
            "cooled 0 429",
            "failed 1 500",
            "cooled 1 500",
            "fallback a->b Some(1) 429 false",
            "fallback a->c Some(2) 429 true",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_callers_mistakes_are_not_reported_against_deployments() {
    let cfg = config(
        &[("a", "", "id: a1"), ("b", "", "id: b1")],
        "router_settings:\n  num_retries: 0\n  allowed_fails: 0\n  fallbacks: [{a: [b]}]\n",
    );
    let (router, recorder) = observed(&cfg);
    let out = router
        .run(&req("a"), |_pick| async move {
            Err::<Answer<usize>, _>(StatusError(400))
        })
        .await;
    assert!(out.is_err());
    assert!(recorder.events().is_empty(), "{:?}", recorder.events());
}

#[tokio::test(start_paused = true)]
async fn a_streamed_answer_settles_its_token_reservation() {
    let cfg = config(&[("m", ", tpm: 100", "id: m1")], "");
    let router = local_router(&cfg, &clock());
    let request = RouteRequest {
        model: "m",
        est_tokens: 10,
        ..Default::default()
    };
    // A stream: no tokens known when the call returns.
    let routed = router
        .run(&request, |pick| async move {
            Ok::<_, StatusError>(Answer::new(pick.index, None))
        })
        .await
        .expect("admitted");
    let ticket = routed
        .tokens_pending
        .expect("a tpm deployment gets a ticket");
    // The stream used 95 tokens: the window now holds 95, so an estimate of 10 no longer fits.
    router.settle_tokens(&ticket, 95);
    let full = router
        .run(&request, |pick| async move {
            Ok::<_, StatusError>(Answer::new(pick.index, Some(10)))
        })
        .await;
    assert!(
        matches!(full, Err(shale_router::RouteError::LimitReached { .. })),
        "{full:?}"
    );
    // Without a tpm limit there is nothing to settle.
    let open = config(&[("m", "", "id: m1")], "");
    let router = local_router(&open, &clock());
    let routed = router
        .run(&req("m"), |pick| async move {
            Ok::<_, StatusError>(Answer::new(pick.index, None))
        })
        .await
        .unwrap();
    assert!(routed.tokens_pending.is_none());
}
