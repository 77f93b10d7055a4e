//! Behaviour of `#[derive(Job)]` and `#[derive(JobSet)]` on real types.
#![allow(missing_docs, dead_code)]

// Generated code names `::job`, the facade; job-core is the same API under another name.
extern crate job_core as job;

use std::error::Error as _;
use std::time::Duration;

use job_core::{
    Backoff, Context, Dispatch, Effect, Failure, Job, JobOptions, JobSet, NewJob, Outcome, Run,
    UniqueWhile,
};
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
struct Ping;

#[derive(Job, Serialize, Deserialize, Debug, PartialEq)]
#[job(name = "mail.send")]
struct SendEmail {
    to: String,
}

#[derive(Job, Serialize, Deserialize, Debug, PartialEq)]
struct Resize(u32, u32);

#[derive(Job, Serialize, Deserialize)]
#[job(
    name = "everything",
    max_attempts = 14,
    backoff = "smtp",
    lease = "90s"
)]
#[job(timeout = "500ms", priority = -2, max_defers = 10)]
struct Everything;

#[derive(Job, Serialize, Deserialize)]
#[job(backoff = "exponential")]
struct NamedExponential;

#[derive(Job, Serialize, Deserialize)]
#[job(backoff(fixed = "30s"))]
struct Fixed;

#[derive(Job, Serialize, Deserialize)]
#[job(backoff(exponential = "2s"))]
struct Exponential;

#[derive(Job, Serialize, Deserialize)]
#[job(backoff(exponential = "2s", max = "10m"))]
struct ExponentialCapped;

#[derive(Job, Serialize, Deserialize)]
#[job(backoff(table = ["2s", "0s", "1m"]))]
struct Table;

// The longest lease, timeout and delay the limits allow.
#[derive(Job, Serialize, Deserialize)]
#[job(lease = "1d", timeout = "365d", priority = 127)]
#[job(backoff(exponential = "3650d", max = "3650d"))]
struct LongUnits;

#[derive(Job, Serialize, Deserialize)]
#[job(lease = "30ms", backoff(table = ["3650d"]))]
#[job(name = "письмо.отправить", requires = ["region=eu", "gpu:2"])]
struct Boundaries;

#[derive(Job, Serialize, Deserialize)]
#[serde(bound = "")]
struct Tagged<T: Send + 'static> {
    #[serde(skip)]
    marker: std::marker::PhantomData<T>,
}

#[derive(Job, Serialize, Deserialize)]
#[job(crate = "job_core")]
struct OtherCrate;

#[derive(Job, Serialize, Deserialize)]
#[job(crate = "::job_core", name = "other.set.member")]
struct OtherCrateMember;

#[derive(JobSet)]
#[job(crate = "::job_core")]
enum OtherCrateSet {
    Member(OtherCrateMember),
}

#[test]
fn name_defaults_to_the_type_name() {
    assert_eq!(Ping::NAME, "Ping");
    assert_eq!(Resize::NAME, "Resize");
    assert_eq!(Tagged::<u8>::NAME, "Tagged");
    assert_eq!(OtherCrate::NAME, "OtherCrate");
}

#[test]
fn name_can_be_overridden() {
    assert_eq!(SendEmail::NAME, "mail.send");
    assert_eq!(
        NewJob::new(&SendEmail { to: "a@b.c".into() })
            .unwrap()
            .name(),
        "mail.send"
    );
}

#[test]
fn options_default_without_attributes() {
    assert_eq!(Ping::OPTIONS, JobOptions::new());
    assert_eq!(SendEmail::OPTIONS, JobOptions::new());
}

#[test]
fn options_receive_every_attribute() {
    let expected = JobOptions::new()
        .with_max_attempts(14)
        .with_backoff(Backoff::Smtp)
        .with_lease(Duration::from_secs(90))
        .with_timeout(Duration::from_millis(500))
        .with_priority(-2)
        .with_max_defers(10);
    assert_eq!(Everything::OPTIONS, expected);
    assert_eq!(
        Everything::OPTIONS.timeout(),
        Some(Duration::from_millis(500))
    );

    let day = Duration::from_secs(86_400);
    let expected = JobOptions::new()
        .with_backoff(Backoff::Exponential {
            base: day * 3_650,
            max: day * 3_650,
        })
        .with_lease(day)
        .with_timeout(day * 365)
        .with_priority(127);
    assert_eq!(LongUnits::OPTIONS, expected);
    assert_eq!(
        LongUnits::OPTIONS.lease(),
        Some(job_core::limits::MAX_LEASE)
    );
    assert_eq!(
        LongUnits::OPTIONS.timeout(),
        Some(job_core::limits::MAX_TIMEOUT)
    );

    assert_eq!(Boundaries::NAME, "письмо.отправить");
    assert_eq!(
        Boundaries::OPTIONS.lease(),
        Some(job_core::limits::MIN_LEASE)
    );
    assert_eq!(Boundaries::OPTIONS.requires(), ["region=eu", "gpu:2"]);
    assert_eq!(
        Boundaries::OPTIONS.backoff(),
        Backoff::Table(&[job_core::limits::MAX_DELAY])
    );
}

#[test]
fn options_receive_every_backoff_form() {
    assert_eq!(
        NamedExponential::OPTIONS,
        JobOptions::new().with_backoff(Backoff::DEFAULT)
    );
    assert_eq!(
        Fixed::OPTIONS.backoff(),
        Backoff::Fixed(Duration::from_secs(30))
    );
    let base = Duration::from_secs(2);
    assert_eq!(
        Exponential::OPTIONS.backoff(),
        Backoff::Exponential {
            base,
            max: Duration::from_secs(3_600)
        }
    );
    assert_eq!(
        ExponentialCapped::OPTIONS.backoff(),
        Backoff::Exponential {
            base,
            max: Duration::from_secs(600)
        }
    );
}

#[test]
fn backoff_table_steps_per_attempt() {
    const STEPS: &[Duration] = &[
        Duration::from_secs(2),
        Duration::ZERO,
        Duration::from_secs(60),
    ];
    let backoff = Table::OPTIONS.backoff();
    assert_eq!(backoff, Backoff::Table(STEPS));
    let delays: Vec<_> = (1..=4).map(|attempt| backoff.delay(attempt)).collect();
    assert_eq!(delays, [STEPS[0], STEPS[1], STEPS[2], STEPS[2]]);
}

#[derive(Job, Serialize, Deserialize)]
#[job(resource = "account", effect = "update", unique = "account")]
struct ChargeAccount {
    account: String,
    cents: u64,
}

#[derive(Job, Serialize, Deserialize)]
#[job(resource = "account_id", effect = "delete")]
#[job(unique = ["account_id", "day"], unique_while = "queued")]
struct CloseDay {
    account_id: u64,
    day: String,
    note: String,
}

#[derive(Job, Serialize, Deserialize)]
#[job(resource = "0", unique = ["1", "0"])]
struct Pair(u32, String);

/// `r#type` answers to `"type"`.
#[derive(Job, Serialize, Deserialize)]
#[job(resource = "type", effect = "create", requires = ["gpu", "region=eu"])]
struct Raw {
    r#type: u8,
}

#[derive(Job, Serialize, Deserialize)]
#[job(effect = "create", unique = "x", unique_while = "live")]
struct ExplicitLive {
    x: bool,
}

#[test]
fn resource_is_the_field_to_string() {
    let job = ChargeAccount {
        account: "acct-7".into(),
        cents: 10,
    };
    assert_eq!(job.resource().as_deref(), Some("acct-7"));
    let job = CloseDay {
        account_id: 42,
        day: "2024-05-01".into(),
        note: String::new(),
    };
    assert_eq!(job.resource().as_deref(), Some("42"));
    assert_eq!(Pair(9, "x".into()).resource().as_deref(), Some("9"));
    assert_eq!(Raw { r#type: 3 }.resource().as_deref(), Some("3"));
}

#[test]
fn unique_key_is_a_json_array_of_the_fields() {
    let job = ChargeAccount {
        account: "x".into(),
        cents: 10,
    };
    assert_eq!(job.unique_key().as_deref(), Some(r#"["x"]"#));
    let job = CloseDay {
        account_id: 42,
        day: "2024-05-01".into(),
        note: "not in the key".into(),
    };
    assert_eq!(job.unique_key().as_deref(), Some(r#"[42,"2024-05-01"]"#));
    assert_eq!(
        Pair(9, "a\"b".into()).unique_key().as_deref(),
        Some(r#"["a\"b",9]"#)
    );
    assert_eq!(
        ExplicitLive { x: true }.unique_key().as_deref(),
        Some("[true]")
    );
}

#[test]
fn new_job_carries_resource_and_unique_key() {
    let job = NewJob::new(&CloseDay {
        account_id: 1,
        day: "d".into(),
        note: String::new(),
    })
    .unwrap();
    assert_eq!(job.resource(), Some("1"));
    assert_eq!(job.unique_key(), Some(r#"[1,"d"]"#));
    assert_eq!(job.options().effect(), Some(Effect::Delete));
    assert_eq!(job.options().unique_while(), UniqueWhile::Queued);

    let job = NewJob::new(&Raw { r#type: 0 }).unwrap();
    assert_eq!(job.requires(), ["gpu", "region=eu"]);
}

#[test]
fn options_carry_effect_unique_while_and_requires() {
    assert_eq!(
        ChargeAccount::OPTIONS,
        JobOptions::new().with_effect(Effect::Update)
    );
    assert_eq!(
        CloseDay::OPTIONS,
        JobOptions::new()
            .with_effect(Effect::Delete)
            .with_unique_while(UniqueWhile::Queued)
    );
    assert_eq!(
        Raw::OPTIONS,
        JobOptions::new()
            .with_effect(Effect::Create)
            .with_requires(&["gpu", "region=eu"])
    );
    assert_eq!(Raw::OPTIONS.requires(), ["gpu", "region=eu"]);
    assert_eq!(
        ExplicitLive::OPTIONS,
        JobOptions::new()
            .with_effect(Effect::Create)
            .with_unique_while(UniqueWhile::Live)
    );
    assert_eq!(Pair::OPTIONS, JobOptions::new());
}

#[test]
fn jobs_without_these_keys_return_none() {
    assert_eq!(Ping.resource(), None);
    assert_eq!(Ping.unique_key(), None);
    let job = SendEmail { to: "a@b.c".into() };
    assert_eq!(job.resource(), None);
    assert_eq!(job.unique_key(), None);
    assert_eq!(Resize(1, 2).resource(), None);
    // `effect` alone binds no resource: it may be given at enqueue.
    assert_eq!(ExplicitLive { x: false }.resource(), None);
    assert_eq!(Everything.unique_key(), None);
    assert_eq!(SendEmail::OPTIONS.effect(), None);
    assert_eq!(SendEmail::OPTIONS.requires(), [] as [&str; 0]);
}

#[derive(JobSet)]
enum AppJob {
    Resize(Resize),
    Ping(Ping),
    Mail(SendEmail),
}

#[test]
fn job_set_names_follow_variant_order() {
    assert_eq!(AppJob::NAMES, ["Resize", "Ping", "mail.send"]);
    assert_eq!(OtherCrateSet::NAMES, ["other.set.member"]);
}

#[test]
fn job_set_decodes_each_type() {
    let job = AppJob::decode("mail.send", br#"{"to":"a@b.c"}"#).unwrap();
    assert!(matches!(job, AppJob::Mail(SendEmail { ref to }) if to == "a@b.c"));
    assert!(matches!(
        AppJob::decode("Resize", b"[64,32]").unwrap(),
        AppJob::Resize(Resize(64, 32))
    ));
    assert!(matches!(
        AppJob::decode("Ping", b"null").unwrap(),
        AppJob::Ping(Ping)
    ));

    let encoded = NewJob::new(&SendEmail { to: "x@y.z".into() }).unwrap();
    let job = AppJob::decode(encoded.name(), encoded.payload()).unwrap();
    assert!(matches!(job, AppJob::Mail(SendEmail { ref to }) if to == "x@y.z"));
}

#[test]
fn job_set_decode_error_names_the_type_and_the_field() {
    let error = AppJob::decode("mail.send", b"{}").err().unwrap();
    assert!(matches!(&error, job_core::Error::Decode { job_type, .. } if job_type == "mail.send"));
    assert_eq!(
        error.to_string(),
        "failed to decode the payload of job `mail.send`"
    );
    let source = error.source().unwrap().to_string();
    assert!(source.contains("missing field `to`"), "{source}");
}

#[test]
fn job_set_rejects_unknown_types() {
    let error = AppJob::decode("SendEmail", br#"{"to":"a@b.c"}"#)
        .err()
        .unwrap();
    assert!(matches!(&error, job_core::Error::UnknownType { job_type } if job_type == "SendEmail"));
    assert_eq!(error.to_string(), "unknown job type `SendEmail`");
}

#[test]
fn job_set_options_by_name() {
    assert_eq!(AppJob::options("mail.send"), Some(SendEmail::OPTIONS));
    assert_eq!(AppJob::options("Ping"), Some(JobOptions::new()));
    assert_eq!(AppJob::options("nope"), None);
}

#[test]
fn job_set_from_and_name() {
    let job = AppJob::from(SendEmail { to: "a@b.c".into() });
    assert!(matches!(job, AppJob::Mail(_)));
    assert_eq!(job.name(), "mail.send");
    let job: AppJob = Resize(1, 2).into();
    assert_eq!(job.name(), "Resize");
    assert_eq!(AppJob::Ping(Ping).name(), "Ping");
}

// Dispatch: `Context` cannot be built outside job-core, so assert the impl exists.
struct MyState {
    sent: std::sync::atomic::AtomicUsize,
}

#[derive(Job, Serialize, Deserialize)]
struct Count;

#[derive(Job, Serialize, Deserialize)]
struct Fail;

impl Run<MyState> for Count {
    async fn run(self, cx: &Context<MyState>) -> Result<Outcome, Failure> {
        cx.state()
            .sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Outcome::complete())
    }
}

// Generic over the state: `Dispatch` exists for every state all the types run with.
impl<S: Send + Sync + 'static> Run<S> for Fail {
    async fn run(self, _cx: &Context<S>) -> Result<Outcome, Failure> {
        Err(Failure::fatal("always"))
    }
}

#[derive(JobSet)]
enum Runnable {
    Count(Count),
    Fail(Fail),
}

#[derive(JobSet)]
enum OnlyFail {
    Fail(Fail),
}

fn assert_dispatch<J: Dispatch<S>, S>() {}

#[test]
fn job_set_dispatches_with_the_state_its_types_run_with() {
    assert_dispatch::<Runnable, MyState>();
    assert_dispatch::<OnlyFail, MyState>();
    assert_dispatch::<OnlyFail, ()>();
}

/// Generated code must not pick up local items named like prelude items or its own bindings.
#[allow(non_upper_case_globals, non_camel_case_types)]
mod hygiene {
    use serde::{Deserialize, Serialize};

    struct Result;
    struct Ok;
    struct Err;
    struct Option;
    struct Some;
    struct None;
    struct Send;
    struct Sync;
    struct From;
    struct Into;
    struct Duration;
    mod core {}
    // Fn parameters and bindings of the generated code, which a const would turn into patterns.
    const name: () = ();
    const payload: () = ();
    const job: () = ();
    const cx: () = ();

    #[derive(job_core::Job, Serialize, Deserialize)]
    #[job(
        name = "hygiene.a",
        lease = "5s",
        backoff(exponential = "1s", max = "1m")
    )]
    #[job(timeout = "1m", requires = ["gpu"])]
    pub(super) struct A {
        x: u8,
    }

    #[derive(job_core::Job, Serialize, Deserialize)]
    pub(super) struct B;

    struct String;
    struct ToString;
    mod std {}
    mod serde_json {}
    const this: () = ();

    #[derive(job_core::Job, Serialize, Deserialize)]
    #[job(resource = "x", effect = "update", unique = ["x", "y"], unique_while = "queued")]
    #[job(requires = ["gpu"])]
    pub(super) struct C {
        pub(super) x: u8,
        pub(super) y: bool,
    }

    #[derive(job_core::JobSet)]
    pub(super) enum Set {
        A(A),
        B(B),
    }

    impl job_core::Run<()> for B {
        async fn run(
            self,
            _: &job_core::Context<()>,
        ) -> ::core::result::Result<job_core::Outcome, job_core::Failure> {
            ::core::result::Result::Ok(job_core::Outcome::complete())
        }
    }
}

#[test]
fn hygiene_ignores_shadowed_prelude_names() {
    assert_eq!(hygiene::A::NAME, "hygiene.a");
    assert_eq!(hygiene::Set::NAMES, ["hygiene.a", "B"]);
    assert!(matches!(
        hygiene::Set::decode("B", b"null"),
        Ok(hygiene::Set::B(_))
    ));
    assert!(hygiene::Set::decode("C", b"null").is_err());
    assert_eq!(hygiene::Set::options("B"), Some(JobOptions::new()));
    let c = hygiene::C { x: 5, y: true };
    assert_eq!(c.resource().as_deref(), Some("5"));
    assert_eq!(c.unique_key().as_deref(), Some("[5,true]"));
    assert_eq!(hygiene::C::OPTIONS.requires(), ["gpu"]);
}

/// Shadowed primitive types, with hand-written serde impls since serde's derive needs `str`.
#[allow(non_camel_case_types)]
mod hygiene_primitives {
    struct str;
    struct u8;

    #[derive(job_core::Job)]
    pub(super) struct A;

    #[derive(job_core::JobSet)]
    pub(super) enum Set {
        A(A),
    }

    impl serde::Serialize for A {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_unit()
        }
    }

    impl<'de> serde::Deserialize<'de> for A {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            <()>::deserialize(deserializer).map(|()| A)
        }
    }
}

#[test]
fn hygiene_ignores_shadowed_primitive_types() {
    assert_eq!(hygiene_primitives::Set::NAMES, ["A"]);
    assert!(hygiene_primitives::Set::decode("A", b"null").is_ok());
}

mod no_prelude {
    #![no_implicit_prelude]

    #[derive(::job_core::Job, ::serde::Serialize, ::serde::Deserialize)]
    #[job(max_attempts = 3, timeout = "1m", name = "A", lease = "1s")]
    #[job(backoff(table = ["1s", "0ms"]))]
    pub(super) struct A {
        pub(super) x: ::std::string::String,
    }

    #[derive(::job_core::Job, ::serde::Serialize, ::serde::Deserialize)]
    #[job(crate = "::job_core", resource = "0", unique = "0", effect = "create")]
    #[job(unique_while = "live", requires = ["gpu"])]
    pub(super) struct B(pub(super) u8);

    #[derive(::job_core::JobSet)]
    pub(super) enum Set {
        A(A),
        B(B),
    }

    #[derive(::job_core::JobSet)]
    #[job(crate = "::job_core")]
    pub(super) enum OtherPath {
        B(B),
    }
}

#[test]
fn no_implicit_prelude_module_compiles() {
    const STEPS: &[Duration] = &[Duration::from_secs(1), Duration::ZERO];
    assert_eq!(
        no_prelude::A::OPTIONS,
        JobOptions::new()
            .with_max_attempts(3)
            .with_backoff(Backoff::Table(STEPS))
            .with_lease(Duration::from_secs(1))
            .with_timeout(Duration::from_secs(60))
    );
    assert_eq!(no_prelude::Set::NAMES, ["A", "B"]);
    let job = no_prelude::Set::decode("B", b"7").unwrap();
    assert!(matches!(job, no_prelude::Set::B(no_prelude::B(7))));
    assert_eq!(no_prelude::OtherPath::from(no_prelude::B(1)).name(), "B");
    assert_eq!(no_prelude::B(4).resource().as_deref(), Some("4"));
    assert_eq!(no_prelude::B(4).unique_key().as_deref(), Some("[4]"));
    assert_eq!(no_prelude::B::OPTIONS.effect(), Some(Effect::Create));
}

#[derive(Job, Serialize, Deserialize)]
#[job(keep = "none", keep_completed = "30d")]
struct Kept;

#[derive(Job, Serialize, Deserialize)]
#[job(keep_cancelled = "1h")]
struct CancelledKept;

#[test]
fn keep_attributes_override_retention_per_outcome() {
    use job_core::{Ended, Keep};
    let options = Kept::OPTIONS;
    assert_eq!(
        options.keep(Ended::Completed),
        Some(Keep::For(Duration::from_secs(30 * 86_400))),
        "the specific key wins over `keep`"
    );
    assert_eq!(options.keep(Ended::Failed), Some(Keep::None));
    assert_eq!(options.keep(Ended::Cancelled), Some(Keep::None));
    let options = CancelledKept::OPTIONS;
    assert_eq!(
        options.keep(Ended::Completed),
        None,
        "the namespace's policy"
    );
    assert_eq!(
        options.keep(Ended::Cancelled),
        Some(Keep::For(Duration::from_secs(3_600)))
    );
}
