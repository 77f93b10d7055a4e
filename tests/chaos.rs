//! The chaos run, small: 2,000 jobs on a private Redis with AOF, 3 worker processes (this test
//! binary again), 2 of them SIGKILLed, 1 Redis restart and 1 stall of a busy worker's
//! connections along the way; then every invariant is asserted. The same on a cluster of three
//! masters, one of them restarted; and a check that the proxy a stall uses hangs a cluster
//! client's connections to every master.
//! `cargo run --release --example chaos` is the same run at full size.
//!
//! Needs `redis-server` (and `redis-cli`, for the cluster) on PATH; without them the tests
//! fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/chaos.rs"]
mod chaos;

use std::time::Duration;

/// The test a worker process runs: this binary re-executed with `--exact` on this name.
const WORKER_TEST: &str = "chaos_worker_process";

/// A chaos worker when started by a run (the environment says so); otherwise nothing.
#[test]
fn chaos_worker_process() {
    if chaos::is_worker_process() {
        chaos::worker_main().unwrap_or_else(|error| panic!("chaos worker: {error}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_run_keeps_every_invariant() {
    run_and_check(chaos::Options::small()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_run_on_a_cluster_keeps_every_invariant() {
    run_and_check(chaos::Options {
        cluster: true,
        jobs: 1_000,
        workers: 2,
        kills: 1,
        ..chaos::Options::small()
    })
    .await;
}

/// The proxy a cluster worker reaches Redis through: the node ports the cluster hands out
/// (`CLUSTER SLOTS`, `MOVED`) are the proxy's, so a cluster client behind it never connects
/// around it; a stall hangs its commands to every master, and they go on once it resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_proxy_hangs_a_cluster_client_on_every_master() {
    let topology = chaos::Topology::start(true).await.unwrap();
    let proxy = topology.proxy().await.unwrap();
    let ports = proxy.ports().to_vec();
    let open = |url: &str| {
        let client = redis::Client::open(url).unwrap();
        async move { client.get_multiplexed_async_connection().await.unwrap() }
    };
    // A key of each master: the first one it takes instead of answering MOVED.
    let mut keys = Vec::new();
    for url in topology.node_urls() {
        let mut master = open(&url).await;
        for i in 0.. {
            let key = format!("proxy-test-{i}");
            let set = redis::cmd("SET").arg(&key).arg(1).clone();
            if set.query_async::<()>(&mut master).await.is_ok() {
                keys.push(key);
                break;
            }
        }
    }

    // Through the proxy, CLUSTER SLOTS names only the proxy's ports, and MOVED the port of the
    // proxy in front of the right master.
    let mut through = open(&format!("redis://127.0.0.1:{}", ports[0])).await;
    let slots: redis::Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut through)
        .await
        .unwrap();
    let named = node_ports(&slots);
    assert!(
        named.len() >= 3 && named.iter().all(|port| ports.contains(port)),
        "CLUSTER SLOTS names {named:?}, the proxy listens on {ports:?}"
    );
    for (master, key) in keys.iter().enumerate().skip(1) {
        let error = redis::cmd("GET")
            .arg(key)
            .query_async::<redis::Value>(&mut through)
            .await
            .unwrap_err();
        let (node, _) = error.redirect_node().expect("a MOVED error");
        assert_eq!(node, format!("127.0.0.1:{}", ports[master]), "{error}");
    }

    // A cluster client behind the proxy: works, hangs on every master while stalled, works
    // again after.
    let seeds: Vec<String> = ports
        .iter()
        .map(|port| format!("redis://127.0.0.1:{port}"))
        .collect();
    let mut cluster = redis::cluster::ClusterClient::builder(seeds)
        .response_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    let set = |key: &str| redis::cmd("SET").arg(key).arg(2).clone();
    for key in &keys {
        let _: () = set(key).query_async(&mut cluster).await.unwrap();
    }
    proxy.stall();
    for key in &keys {
        let answer = tokio::time::timeout(
            Duration::from_millis(1_500),
            set(key).query_async::<()>(&mut cluster),
        )
        .await;
        assert!(
            answer.is_err(),
            "SET {key} answered while stalled: {answer:?}"
        );
    }
    proxy.resume();
    for key in &keys {
        let _: () =
            tokio::time::timeout(Duration::from_secs(5), set(key).query_async(&mut cluster))
                .await
                .expect("an answer once resumed")
                .unwrap();
    }
}

/// The node ports of a `CLUSTER SLOTS` reply.
fn node_ports(slots: &redis::Value) -> Vec<u16> {
    let redis::Value::Array(ranges) = slots else {
        return Vec::new();
    };
    let mut ports = Vec::new();
    for range in ranges {
        let redis::Value::Array(parts) = range else {
            continue;
        };
        for node in parts.iter().skip(2) {
            if let redis::Value::Array(fields) = node
                && let Some(redis::Value::Int(port)) = fields.get(1)
            {
                ports.push(u16::try_from(*port).unwrap());
            }
        }
    }
    ports
}

/// Runs the chaos run, prints its report, and asserts every invariant and that the chaos
/// happened as planned.
async fn run_and_check(options: chaos::Options) {
    let worker = chaos::WorkerCommand::current_exe(&[
        WORKER_TEST,
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .unwrap();
    let report = chaos::run(&options, worker)
        .await
        .unwrap_or_else(|error| panic!("the chaos run could not run: {error}"));
    report.print();
    let violations = report.violations();
    assert!(
        violations.is_empty(),
        "invariants broken (seed {}; CHAOS_SEED replays the workload):\n{}",
        options.seed,
        violations.join("\n")
    );
    let figure = |key: &str| report.value(key).unwrap_or_default();
    assert_eq!(figure("worker_kills"), options.kills as u64, "kills done");
    assert_eq!(
        figure("redis_restarts"),
        options.redis_restarts as u64,
        "Redis restarts done"
    );
    assert_eq!(figure("stalls"), options.stalls as u64, "stalls done");
    assert_eq!(
        figure("busy_stalls"),
        options.stalls as u64,
        "every stall hit a worker that was running jobs"
    );
    assert!(
        figure("enqueued") > 0 && figure("children") > 0,
        "the workload ran"
    );
    assert!(
        figure("duplicates") > 0,
        "duplicate enqueues were answered Duplicate"
    );
}
