//! `rediss://` URLs with the `tls` feature: a private `redis-server` with a TLS port and a
//! self-signed certificate made for the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use job::redis::{Client, Config};
use job::{Context, Failure, Job, JobSet, JobState, Outcome, Run};
use serde::{Deserialize, Serialize};
use support::PrivateRedis;

#[derive(Job, Serialize, Deserialize)]
#[job(name = "tls.ping")]
struct Ping {
    n: u32,
}

impl Run<()> for Ping {
    async fn run(self, _cx: &Context<()>) -> Result<Outcome, Failure> {
        Ok(Outcome::complete_with(&self.n))
    }
}

#[derive(JobSet)]
enum Jobs {
    Ping(Ping),
}

/// A server with a plain port (for the harness's readiness check) and a TLS port.
async fn tls_redis() -> (PrivateRedis, u16, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "job-test-tls-{}-{}",
        std::process::id(),
        support::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let tls_port = support::free_port().to_string();
    let (cert_path, key_path) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let redis = PrivateRedis::start_with(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        cert_path,
        "--tls-key-file",
        key_path,
        "--tls-ca-cert-file",
        cert_path,
        "--tls-auth-clients",
        "no",
    ])
    .await;
    (redis, tls_port.parse().unwrap(), dir)
}

#[tokio::test]
async fn a_rediss_url_enqueues_and_runs_over_tls() {
    let (_redis, port, dir) = tls_redis().await;
    // `#insecure`: the certificate is self-signed for this test.
    let url = format!("rediss://127.0.0.1:{port}/#insecure");
    let client = Client::connect_with(&url, Config::new().namespace("tls"))
        .await
        .unwrap_or_else(|error| panic!("{url}: {}", support::chain(&error)));
    let id = client.enqueue(Ping { n: 7 }).await.unwrap();
    assert_eq!(
        client.details(id).await.unwrap().unwrap().state,
        JobState::Ready
    );
    let ran = job::Worker::<Jobs, ()>::new(client.clone(), ())
        .drain(10)
        .await
        .unwrap();
    assert_eq!(ran, 1);
    let details = client.details(id).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Completed);
    assert_eq!(details.result.as_deref(), Some(&b"7"[..]));
    // The same port without TLS is refused with a connection error naming the URL.
    let plain = format!("redis://127.0.0.1:{port}");
    let error = Client::connect_with(
        &plain,
        Config::new().connection_timeout(std::time::Duration::from_secs(2)),
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains(&plain),
        "{}",
        support::chain(&error)
    );
    let _ = std::fs::remove_dir_all(dir);
}
