//! `#[job(...)]` attributes: keys, values, durations and error gathering.
//!
//! Adding a key takes four steps: a [`Symbol`] const, its place in [`JOB_KEYS`], a field of
//! [`JobAttrs`] and an arm in [`JobAttrs::parse_key`]; `expand.rs` then turns the field into a
//! `JobOptions` setter.

use std::fmt;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, ExprLit, ExprUnary, Lit, LitInt, LitStr, Path, Token, UnOp};

/// The name of one attribute key, compared with paths like serde's `symbol.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Symbol(&'static str);

impl PartialEq<Symbol> for Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The attribute itself: `#[job(...)]`.
const JOB: Symbol = Symbol("job");
const NAME: Symbol = Symbol("name");
const MAX_ATTEMPTS: Symbol = Symbol("max_attempts");
const BACKOFF: Symbol = Symbol("backoff");
const LEASE: Symbol = Symbol("lease");
const TIMEOUT: Symbol = Symbol("timeout");
const PRIORITY: Symbol = Symbol("priority");
const MAX_DEFERS: Symbol = Symbol("max_defers");
const CRATE: Symbol = Symbol("crate");

/// Keys inside `backoff(...)`.
const FIXED: Symbol = Symbol("fixed");
const EXPONENTIAL: Symbol = Symbol("exponential");
const MAX: Symbol = Symbol("max");
/// String values of `backoff = "..."`.
const SMTP: &str = "smtp";

/// The keys a `#[derive(Job)]` struct accepts, in the order error messages list them.
const JOB_KEYS: &[Symbol] = &[
    NAME,
    MAX_ATTEMPTS,
    BACKOFF,
    LEASE,
    TIMEOUT,
    PRIORITY,
    MAX_DEFERS,
    CRATE,
];
/// The keys a `#[derive(JobSet)]` enum accepts.
const SET_KEYS: &[Symbol] = &[CRATE];

const EXPECT_NAME: &str = "a non-empty string, like `name = \"mail.send\"`";
const EXPECT_DURATION: &str = "a duration like \"30s\" or \"500ms\"";
const EXPECT_CRATE: &str = "a path, like `crate = \"::job\"`";
const BACKOFF_FORMS: &str = "`backoff = \"exponential\"`, `backoff = \"smtp\"`, \
     `backoff(fixed = \"30s\")` or `backoff(exponential = \"2s\", max = \"10m\")`";

/// Milliseconds in one hour: the default cap of `backoff(exponential = ..)`.
pub(crate) const HOUR_MS: u64 = 3_600_000;

/// Gathers every error of one derive, so the user sees all mistakes at once (serde's `Ctxt`).
#[derive(Debug, Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    /// Records an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Returns every recorded error as one.
    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The retry schedule given by `backoff`, durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BackoffAttr {
    /// `"exponential"`: `Backoff::DEFAULT`.
    Default,
    /// `"smtp"`.
    Smtp,
    /// `backoff(fixed = "..")`.
    Fixed(u64),
    /// `backoff(exponential = "..", max = "..")`.
    Exponential { base: u64, max: u64 },
}

/// The attributes of a `#[derive(Job)]` struct; `None` leaves the default.
#[derive(Debug, Default)]
pub(crate) struct JobAttrs {
    pub(crate) name: Option<LitStr>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) backoff: Option<BackoffAttr>,
    /// Milliseconds.
    pub(crate) lease: Option<u64>,
    /// Milliseconds.
    pub(crate) timeout: Option<u64>,
    pub(crate) priority: Option<i8>,
    pub(crate) max_defers: Option<u32>,
    pub(crate) krate: Option<Path>,
}

impl JobAttrs {
    /// Parses every `#[job(...)]` of a struct. The attributes come back even when some keys
    /// failed, so the caller can still emit a stub impl next to the errors.
    pub(crate) fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut out = Self::default();
        for_each_key(attrs, errors, |meta, errors| out.parse_key(meta, errors));
        out
    }

    fn parse_key(&mut self, meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<()> {
        let path = &meta.path;
        if *path == NAME {
            let value = value(meta, NAME)?;
            let name = lit_str(&value).filter(|lit| !lit.value().is_empty());
            let name = name.ok_or_else(|| expects(&value, NAME, EXPECT_NAME));
            set(&mut self.name, path, NAME, name, errors);
        } else if *path == MAX_ATTEMPTS {
            let value = value(meta, MAX_ATTEMPTS)?;
            let n = int::<u32>(&value).filter(|&n| n >= 1).ok_or_else(|| {
                let what = format!("an integer from 1 to {}, like `max_attempts = 5`", u32::MAX);
                expects(&value, MAX_ATTEMPTS, &what)
            });
            set(&mut self.max_attempts, path, MAX_ATTEMPTS, n, errors);
        } else if *path == BACKOFF {
            let backoff = parse_backoff(meta, errors)?;
            set(&mut self.backoff, path, BACKOFF, backoff, errors);
        } else if *path == LEASE {
            let lease = positive_duration(meta, LEASE)?;
            set(&mut self.lease, path, LEASE, lease, errors);
        } else if *path == TIMEOUT {
            let timeout = positive_duration(meta, TIMEOUT)?;
            set(&mut self.timeout, path, TIMEOUT, timeout, errors);
        } else if *path == PRIORITY {
            let value = value(meta, PRIORITY)?;
            let n = int::<i8>(&value).ok_or_else(|| {
                let what = format!(
                    "an integer from {} to {}, like `priority = 3`",
                    i8::MIN,
                    i8::MAX
                );
                expects(&value, PRIORITY, &what)
            });
            set(&mut self.priority, path, PRIORITY, n, errors);
        } else if *path == MAX_DEFERS {
            let value = value(meta, MAX_DEFERS)?;
            let n = int::<u32>(&value).ok_or_else(|| {
                let what = format!("an integer from 0 to {}, like `max_defers = 10`", u32::MAX);
                expects(&value, MAX_DEFERS, &what)
            });
            set(&mut self.max_defers, path, MAX_DEFERS, n, errors);
        } else if *path == CRATE {
            let krate = parse_crate(meta)?;
            set(&mut self.krate, path, CRATE, krate, errors);
        } else {
            errors.push(unknown_key(path, JOB_KEYS, ""));
            skip_value(meta)?;
        }
        Ok(())
    }
}

/// Parses every `#[job(...)]` of a `#[derive(JobSet)]` enum: only `crate` is accepted.
pub(crate) fn parse_set(attrs: &[Attribute], errors: &mut Errors) -> Option<Path> {
    let mut krate = None;
    for_each_key(attrs, errors, |meta, errors| {
        let path = &meta.path;
        if *path == CRATE {
            let value = parse_crate(meta)?;
            set(&mut krate, path, CRATE, value, errors);
        } else if JOB_KEYS.iter().any(|key| path == key) {
            let key = path_text(path);
            let message = format!(
                "`{key}` belongs on the job type's `#[derive(Job)]`; a `JobSet` enum takes only `crate`"
            );
            errors.push(syn::Error::new_spanned(path, message));
            skip_value(meta)?;
        } else {
            errors.push(unknown_key(path, SET_KEYS, " on a `JobSet` enum"));
            skip_value(meta)?;
        }
        Ok(())
    });
    krate
}

/// Reports every `#[job]` attribute in `attrs`, which sit where none is read (`place`).
pub(crate) fn reject(attrs: &[Attribute], place: &str, errors: &mut Errors) {
    for attr in attrs.iter().filter(|attr| *attr.path() == JOB) {
        let message = format!("`#[job(...)]` is not read on {place}");
        errors.push(syn::Error::new_spanned(attr, message));
    }
}

/// Runs `parse_key` on every key of every `#[job(...)]` in `attrs`. A syntax error ends its
/// attribute; other mistakes go straight into `errors` so parsing goes on.
fn for_each_key(
    attrs: &[Attribute],
    errors: &mut Errors,
    mut parse_key: impl FnMut(&ParseNestedMeta<'_>, &mut Errors) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|attr| *attr.path() == JOB) {
        if let Err(error) = attr.parse_nested_meta(|meta| parse_key(&meta, errors)) {
            errors.push(error);
        }
    }
}

/// Stores `value` in `slot`, or reports the error (a bad value, or a second occurrence).
fn set<T>(
    slot: &mut Option<T>,
    path: &Path,
    key: Symbol,
    value: syn::Result<T>,
    errors: &mut Errors,
) {
    if slot.is_some() {
        errors.push(syn::Error::new_spanned(
            path,
            format!("duplicate `job` attribute `{key}`"),
        ));
        return;
    }
    match value {
        Ok(value) => *slot = Some(value),
        Err(error) => errors.push(error),
    }
}

fn unknown_key(path: &Path, known: &[Symbol], place: &str) -> syn::Error {
    let known: Vec<String> = known.iter().map(|key| format!("`{key}`")).collect();
    let message = format!(
        "unknown `job` attribute `{}`{place}; expected one of {}",
        path_text(path),
        known.join(", ")
    );
    syn::Error::new_spanned(path, message)
}

fn expects(value: &impl ToTokens, key: Symbol, what: &str) -> syn::Error {
    syn::Error::new_spanned(value, format!("`{key}` expects {what}"))
}

fn path_text(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// Parses `= value` after a key, peeling the invisible groups `macro_rules!` leaves.
fn value(meta: &ParseNestedMeta<'_>, key: Symbol) -> syn::Result<Expr> {
    if !meta.input.peek(Token![=]) {
        return Err(syn::Error::new_spanned(
            &meta.path,
            format!("`{key}` expects a value: `{key} = ...`"),
        ));
    }
    meta.input.parse::<Token![=]>()?;
    let mut expr: Expr = meta.input.parse()?;
    while let Expr::Group(group) = expr {
        expr = *group.expr;
    }
    Ok(expr)
}

/// Consumes whatever follows an unknown key: `= value`, `(...)` or nothing.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        meta.input.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

fn lit_str(expr: &Expr) -> Option<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.clone()),
        _ => None,
    }
}

/// Reads an integer literal, possibly negated, that fits `T`.
fn int<T: std::str::FromStr>(expr: &Expr) -> Option<T> {
    let (negative, lit) = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => (false, lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => (true, lit),
            _ => return None,
        },
        _ => return None,
    };
    signed_digits(negative, lit).parse().ok()
}

fn signed_digits(negative: bool, lit: &LitInt) -> String {
    if negative {
        format!("-{}", lit.base10_digits())
    } else {
        lit.base10_digits().to_owned()
    }
}

/// Parses `key = "duration"`, in milliseconds, greater than zero.
fn positive_duration(meta: &ParseNestedMeta<'_>, key: Symbol) -> syn::Result<syn::Result<u64>> {
    let value = value(meta, key)?;
    Ok(duration(&value, key).and_then(|ms| {
        if ms == 0 {
            Err(syn::Error::new_spanned(
                &value,
                format!("`{key}` must be longer than zero"),
            ))
        } else {
            Ok(ms)
        }
    }))
}

/// Reads a duration literal, in milliseconds.
fn duration(value: &Expr, key: Symbol) -> syn::Result<u64> {
    let Some(lit) = lit_str(value) else {
        return Err(expects(value, key, EXPECT_DURATION));
    };
    parse_duration(&lit.value())
        .map_err(|why| expects(value, key, &format!("{EXPECT_DURATION}; {why}")))
}

/// Parses `"<integer><unit>"` with unit `ms`, `s`, `m`, `h` or `d` into milliseconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!("`{text}` does not start with a number"));
    }
    let scale: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => return Err(format!("`{text}` has no unit (ms, s, m, h or d)")),
        _ if unit.starts_with(char::is_whitespace) => {
            return Err(format!("`{text}` has a space before its unit"));
        }
        _ => return Err(format!("`{unit}` is not a unit (ms, s, m, h or d)")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// Parses `crate = "path"`.
fn parse_crate(meta: &ParseNestedMeta<'_>) -> syn::Result<syn::Result<Path>> {
    let value = value(meta, CRATE)?;
    let path = lit_str(&value).and_then(|lit| lit.parse::<Path>().ok());
    Ok(path.ok_or_else(|| expects(&value, CRATE, EXPECT_CRATE)))
}

/// Parses `backoff = "name"` or `backoff(fixed = "..")` / `backoff(exponential = "..", max = "..")`.
fn parse_backoff(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<syn::Result<BackoffAttr>> {
    if meta.input.peek(Token![=]) {
        let value = value(meta, BACKOFF)?;
        let backoff = match lit_str(&value).map(|lit| lit.value()) {
            Some(name) if name == EXPONENTIAL.0 => Ok(BackoffAttr::Default),
            Some(name) if name == SMTP => Ok(BackoffAttr::Smtp),
            _ => Err(expects(&value, BACKOFF, BACKOFF_FORMS)),
        };
        return Ok(backoff);
    }
    if !meta.input.peek(syn::token::Paren) || parens_are_empty(meta)? {
        skip_value(meta)?;
        return Ok(Err(expects(&meta.path, BACKOFF, BACKOFF_FORMS)));
    }

    let (mut fixed, mut exponential, mut max) = (None, None, None);
    let mut max_path = None;
    let mut inner_errors = Errors::default();
    meta.parse_nested_meta(|inner| {
        let path = &inner.path;
        if *path == FIXED {
            let ms = value(&inner, FIXED).map(|value| duration(&value, FIXED))?;
            set(&mut fixed, path, FIXED, ms, &mut inner_errors);
        } else if *path == EXPONENTIAL {
            let ms = positive_duration(&inner, EXPONENTIAL)?;
            set(&mut exponential, path, EXPONENTIAL, ms, &mut inner_errors);
        } else if *path == MAX {
            let value = value(&inner, MAX)?;
            let ms = duration(&value, MAX).map(|ms| (ms, value));
            max_path = Some(path.clone());
            set(&mut max, path, MAX, ms, &mut inner_errors);
        } else {
            let message = format!(
                "unknown `backoff` key `{}`; expected {BACKOFF_FORMS}",
                path_text(path)
            );
            inner_errors.push(syn::Error::new_spanned(path, message));
            skip_value(&inner)?;
        }
        Ok(())
    })?;
    if let Some(error) = inner_errors.0 {
        errors.push(error);
        // Any backoff keeps the parse going; the errors above already fail the derive.
        return Ok(Ok(BackoffAttr::Default));
    }

    let backoff = match (fixed, exponential, max) {
        (Some(_), Some(_), _) => Err(syn::Error::new_spanned(
            &meta.path,
            "`backoff` takes either `fixed` or `exponential`, not both",
        )),
        (Some(_), None, Some(_)) => Err(syn::Error::new_spanned(
            max_path,
            "`max` applies only to `backoff(exponential = \"..\", max = \"..\")`",
        )),
        (Some(ms), None, None) => Ok(BackoffAttr::Fixed(ms)),
        (None, Some(base), Some((max, value))) if max < base => Err(syn::Error::new_spanned(
            value,
            "`max` must be at least the `exponential` base delay",
        )),
        (None, Some(base), max) => Ok(BackoffAttr::Exponential {
            base,
            max: max.map_or(HOUR_MS, |(max, _)| max),
        }),
        (None, None, _) => Err(expects(&meta.path, BACKOFF, BACKOFF_FORMS)),
    };
    Ok(backoff)
}

/// Whether the key is followed by `()`, which `parse_nested_meta` would call a syntax error.
fn parens_are_empty(meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
    let fork = meta.input.fork();
    let content;
    syn::parenthesized!(content in fork);
    Ok(content.is_empty())
}

#[cfg(test)]
mod tests {
    use syn::{DeriveInput, parse_quote};

    use super::*;

    fn job(input: DeriveInput) -> Result<JobAttrs, String> {
        let mut errors = Errors::default();
        let attrs = JobAttrs::parse(&input.attrs, &mut errors);
        match errors.finish() {
            Ok(()) => Ok(attrs),
            Err(error) => Err(error
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")),
        }
    }

    fn job_err(input: DeriveInput) -> String {
        job(input).expect_err("expected an error")
    }

    #[test]
    fn duration_parses_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000));
        assert_eq!(parse_duration("2d"), Ok(172_800_000));
        assert_eq!(parse_duration("0s"), Ok(0));
    }

    #[test]
    fn duration_rejects_malformed_text() {
        assert_eq!(
            parse_duration("30"),
            Err("`30` has no unit (ms, s, m, h or d)".to_owned())
        );
        assert_eq!(
            parse_duration("30sec"),
            Err("`sec` is not a unit (ms, s, m, h or d)".to_owned())
        );
        assert_eq!(
            parse_duration(""),
            Err("`` does not start with a number".to_owned())
        );
        assert_eq!(
            parse_duration("s"),
            Err("`s` does not start with a number".to_owned())
        );
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration(" 5s").is_err());
        assert_eq!(
            parse_duration("5 s"),
            Err("`5 s` has a space before its unit".to_owned())
        );
        assert!(parse_duration("1.5s").is_err());
        assert_eq!(
            parse_duration("99999999999999999999d"),
            Err("`99999999999999999999d` is too long".to_owned())
        );
        assert_eq!(
            parse_duration("9999999999999999d"),
            Err("`9999999999999999d` is too long".to_owned())
        );
    }

    #[test]
    fn job_attrs_read_every_key() {
        let attrs = job(parse_quote! {
            #[job(name = "mail.send", max_attempts = 14, backoff = "smtp")]
            #[job(lease = "60s", timeout = "500ms", priority = -2, max_defers = 0, crate = "::other::job")]
            struct S;
        })
        .unwrap();
        assert_eq!(attrs.name.map(|n| n.value()).as_deref(), Some("mail.send"));
        assert_eq!(attrs.max_attempts, Some(14));
        assert_eq!(attrs.backoff, Some(BackoffAttr::Smtp));
        assert_eq!(attrs.lease, Some(60_000));
        assert_eq!(attrs.timeout, Some(500));
        assert_eq!(attrs.priority, Some(-2));
        assert_eq!(attrs.max_defers, Some(0));
        let krate = attrs.krate.unwrap();
        assert_eq!(krate.to_token_stream().to_string(), ":: other :: job");
    }

    #[test]
    fn job_attrs_default_to_none() {
        let attrs = job(parse_quote! { #[derive(Job)] #[job()] struct S; }).unwrap();
        assert!(attrs.name.is_none() && attrs.backoff.is_none() && attrs.krate.is_none());
    }

    #[test]
    fn job_backoff_forms() {
        let backoff = |input: DeriveInput| job(input).unwrap().backoff.unwrap();
        assert_eq!(
            backoff(parse_quote! { #[job(backoff = "exponential")] struct S; }),
            BackoffAttr::Default
        );
        assert_eq!(
            backoff(parse_quote! { #[job(backoff(fixed = "30s"))] struct S; }),
            BackoffAttr::Fixed(30_000)
        );
        assert_eq!(
            backoff(parse_quote! { #[job(backoff(exponential = "2s"))] struct S; }),
            BackoffAttr::Exponential {
                base: 2_000,
                max: HOUR_MS
            }
        );
        assert_eq!(
            backoff(parse_quote! { #[job(backoff(max = "10m", exponential = "2s"))] struct S; }),
            BackoffAttr::Exponential {
                base: 2_000,
                max: 600_000
            }
        );
    }

    #[test]
    fn job_backoff_rejects_other_forms() {
        for input in [
            parse_quote! { #[job(backoff = "linear")] struct S; },
            parse_quote! { #[job(backoff = 5)] struct S; },
            parse_quote! { #[job(backoff)] struct S; },
            parse_quote! { #[job(backoff())] struct S; },
        ] {
            let error = job_err(input);
            assert!(
                error.starts_with("`backoff` expects `backoff = \"exponential\"`"),
                "{error}"
            );
        }
        let error = job_err(parse_quote! { #[job(backoff(linear = "1s"))] struct S; });
        assert!(
            error.starts_with("unknown `backoff` key `linear`; expected `backoff = "),
            "{error}"
        );
        let error =
            job_err(parse_quote! { #[job(backoff(fixed = "1s", exponential = "1s"))] struct S; });
        assert_eq!(
            error,
            "`backoff` takes either `fixed` or `exponential`, not both"
        );
        let error = job_err(parse_quote! { #[job(backoff(fixed = "1s", max = "1m"))] struct S; });
        assert!(error.starts_with("`max` applies only to"), "{error}");
        let error =
            job_err(parse_quote! { #[job(backoff(exponential = "1m", max = "1s"))] struct S; });
        assert_eq!(error, "`max` must be at least the `exponential` base delay");
        let error = job_err(parse_quote! { #[job(backoff(exponential = "0s"))] struct S; });
        assert_eq!(error, "`exponential` must be longer than zero");
        let error = job_err(parse_quote! { #[job(backoff(fixed = "1s", fixed = "2s"))] struct S; });
        assert_eq!(error, "duplicate `job` attribute `fixed`");
    }

    #[test]
    fn job_unknown_key_lists_known_keys() {
        let error = job_err(parse_quote! { #[job(queue = "mail")] struct S; });
        assert_eq!(
            error,
            "unknown `job` attribute `queue`; expected one of `name`, `max_attempts`, `backoff`, `lease`, \
             `timeout`, `priority`, `max_defers`, `crate`"
        );
    }

    #[test]
    fn job_duplicate_key_is_reported_once() {
        let error = job_err(parse_quote! { #[job(lease = "1s")] #[job(lease = "2s")] struct S; });
        assert_eq!(error, "duplicate `job` attribute `lease`");
    }

    #[test]
    fn job_bad_values_name_key_and_expectation() {
        let cases: [(DeriveInput, &str); 10] = [
            (
                parse_quote! { #[job(name = "")] struct S; },
                "`name` expects a non-empty string",
            ),
            (
                parse_quote! { #[job(name = mail)] struct S; },
                "`name` expects a non-empty string",
            ),
            (
                parse_quote! { #[job(name)] struct S; },
                "`name` expects a value: `name = ...`",
            ),
            (
                parse_quote! { #[job(max_attempts = 0)] struct S; },
                "`max_attempts` expects an integer from 1",
            ),
            (
                parse_quote! { #[job(max_attempts = "5")] struct S; },
                "`max_attempts` expects an integer from 1",
            ),
            (
                parse_quote! { #[job(lease = "30")] struct S; },
                "`lease` expects a duration like \"30s\" or \"500ms\"; `30` has no unit",
            ),
            (
                parse_quote! { #[job(timeout = 30)] struct S; },
                "`timeout` expects a duration like \"30s\" or \"500ms\"",
            ),
            (
                parse_quote! { #[job(lease = "0ms")] struct S; },
                "`lease` must be longer than zero",
            ),
            (
                parse_quote! { #[job(priority = 128)] struct S; },
                "`priority` expects an integer from -128 to 127",
            ),
            (
                parse_quote! { #[job(crate = "not a path")] struct S; },
                "`crate` expects a path",
            ),
        ];
        for (input, expected) in cases {
            let error = job_err(input);
            assert!(
                error.starts_with(expected),
                "{error:?} should start with {expected:?}"
            );
        }
        assert_eq!(
            job(parse_quote! { #[job(priority = -128)] struct S; })
                .unwrap()
                .priority,
            Some(-128)
        );
        assert!(job(parse_quote! { #[job(max_defers = -1)] struct S; }).is_err());
    }

    #[test]
    fn job_gathers_every_error() {
        let error = job_err(parse_quote! {
            #[job(nmae = "x", lease = "soon", timeout = "1s", timeout = "2s")]
            #[job(priority = 1000)]
            struct S;
        });
        let lines: Vec<_> = error.lines().collect();
        assert_eq!(lines.len(), 4, "{error}");
        assert!(lines[0].starts_with("unknown `job` attribute `nmae`"));
        assert!(lines[1].starts_with("`lease` expects a duration"));
        assert_eq!(lines[2], "duplicate `job` attribute `timeout`");
        assert!(lines[3].starts_with("`priority` expects"));
    }

    #[test]
    fn job_syntax_error_keeps_other_attributes() {
        let error = job_err(parse_quote! { #[job(name = "a" "b")] #[job(bogus)] struct S; });
        assert_eq!(error.lines().count(), 2, "{error}");
    }

    #[test]
    fn set_accepts_only_crate() {
        let mut errors = Errors::default();
        let input: DeriveInput = parse_quote! { #[job(crate = "my::job")] enum E {} };
        assert!(parse_set(&input.attrs, &mut errors).is_some());
        assert!(errors.finish().is_ok());

        let mut errors = Errors::default();
        let input: DeriveInput = parse_quote! { #[job(name = "x", colour = "red")] enum E {} };
        assert!(parse_set(&input.attrs, &mut errors).is_none());
        let error = errors.finish().unwrap_err();
        let messages: Vec<_> = error.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "`name` belongs on the job type's `#[derive(Job)]`; a `JobSet` enum takes only `crate`",
                "unknown `job` attribute `colour` on a `JobSet` enum; expected one of `crate`",
            ]
        );
    }

    #[test]
    fn reject_reports_misplaced_attributes() {
        let mut errors = Errors::default();
        let input: DeriveInput =
            parse_quote! { #[job(name = "x")] #[serde(rename = "y")] struct S; };
        reject(&input.attrs, "a field", &mut errors);
        assert_eq!(
            errors.finish().unwrap_err().to_string(),
            "`#[job(...)]` is not read on a field"
        );
    }
}
