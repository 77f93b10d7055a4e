//! `#[job(...)]` attributes: keys, values, durations and error gathering.
//!
//! Adding a key takes four steps: a [`Symbol`] const, its place in [`JOB_KEYS`], a field of
//! [`JobAttrs`] and an arm in [`JobAttrs::parse_key`]; `expand.rs` then turns the field into a
//! `JobOptions` setter, or into a `Job` method for the keys that name fields (`resource`,
//! `unique`), which [`Target::field`] checks against the struct.
//!
//! The rules that job-core defines for names and durations are not copied here: a literal
//! value they apply to becomes a [`Check`], which `expand.rs` turns into a const assertion
//! calling job-core, so breaking one is a compile error on the literal.

use std::fmt;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DeriveInput, Expr, ExprArray, ExprLit, ExprUnary, Fields, Ident, Index, Lit,
    LitInt, LitStr, Member, Path, Token, UnOp,
};

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
const RESOURCE: Symbol = Symbol("resource");
const EFFECT: Symbol = Symbol("effect");
const UNIQUE: Symbol = Symbol("unique");
const UNIQUE_WHILE: Symbol = Symbol("unique_while");
const REQUIRES: Symbol = Symbol("requires");
const KEEP: Symbol = Symbol("keep");
const KEEP_COMPLETED: Symbol = Symbol("keep_completed");
const KEEP_FAILED: Symbol = Symbol("keep_failed");
const KEEP_CANCELLED: Symbol = Symbol("keep_cancelled");
const CRATE: Symbol = Symbol("crate");

/// Keys inside `backoff(...)`.
const FIXED: Symbol = Symbol("fixed");
const EXPONENTIAL: Symbol = Symbol("exponential");
const MAX: Symbol = Symbol("max");
const TABLE: Symbol = Symbol("table");
/// String values of `backoff = "..."`.
const SMTP: &str = "smtp";
/// String values of `effect = "..."`.
const CREATE: &str = "create";
const UPDATE: &str = "update";
const DELETE: &str = "delete";
/// String values of `unique_while = "..."`.
const LIVE: &str = "live";
const QUEUED: &str = "queued";

/// The keys a `#[derive(Job)]` struct accepts, in the order error messages list them.
const JOB_KEYS: &[Symbol] = &[
    NAME,
    MAX_ATTEMPTS,
    BACKOFF,
    LEASE,
    TIMEOUT,
    PRIORITY,
    MAX_DEFERS,
    RESOURCE,
    EFFECT,
    UNIQUE,
    UNIQUE_WHILE,
    REQUIRES,
    KEEP,
    KEEP_COMPLETED,
    KEEP_FAILED,
    KEEP_CANCELLED,
    CRATE,
];
/// The keys a `#[derive(JobSet)]` enum accepts.
const SET_KEYS: &[Symbol] = &[CRATE];

const EXPECT_NAME: &str = "a non-empty string, like `name = \"mail.send\"`";
const EXPECT_DURATION: &str = "a duration like \"30s\" or \"500ms\"";
const EXPECT_KEEP: &str = "\"none\" or a duration like \"1h\" or \"30d\"";
const EXPECT_CRATE: &str = "a path, like `crate = \"::job\"`";
const EXPECT_RESOURCE: &str = "a field name, like `resource = \"account_id\"`";
const EXPECT_EFFECT: &str = "\"create\", \"update\" or \"delete\"";
const EXPECT_UNIQUE: &str = "a field name or an array of field names, \
     like `unique = \"user_id\"` or `unique = [\"user_id\", \"day\"]`";
const EXPECT_UNIQUE_WHILE: &str = "\"live\" or \"queued\"";
const EXPECT_REQUIRES: &str =
    "an array of capabilities, like `requires = [\"gpu\", \"region=eu\"]`";
const EXPECT_TABLE: &str = "an array of durations, like `table = [\"2s\", \"0s\", \"1m\"]`";
const BACKOFF_FORMS: &str = "`backoff = \"exponential\"`, `backoff = \"smtp\"`, \
     `backoff(fixed = \"30s\")`, `backoff(exponential = \"2s\", max = \"10m\")` or \
     `backoff(table = [\"2s\", \"0s\", \"1m\"])`";

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BackoffAttr {
    /// `"exponential"`: `Backoff::DEFAULT`.
    Default,
    /// `"smtp"`.
    Smtp,
    /// `backoff(fixed = "..")`.
    Fixed(u64),
    /// `backoff(exponential = "..", max = "..")`.
    Exponential { base: u64, max: u64 },
    /// `backoff(table = ["..", ..])`: at least one step.
    Table(Vec<u64>),
}

/// A rule of job-core that a literal must meet. job-derive cannot call job-core while it
/// expands, so `expand.rs` emits each as a const assertion that calls job-core's own check,
/// spanned on the literal: the rule is written once, in job-core.
#[derive(Clone)]
pub(crate) enum Check {
    /// `name = ".."`: a valid `NameKind::JobType`.
    JobType(LitStr),
    /// Each capability of `requires = [..]`: a valid `NameKind::Capability`.
    Capability(LitStr),
    /// `lease = ".."`, in milliseconds: within `limits::MIN_LEASE..=MAX_LEASE`.
    Lease(u64, Span),
    /// `timeout = ".."`, in milliseconds: at most `limits::MAX_TIMEOUT`.
    Timeout(u64, Span),
    /// Each delay of `backoff(..)`, in milliseconds: at most `limits::MAX_DELAY`.
    BackoffDelay(u64, Span),
}

/// What a job does to its resource: `effect = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EffectAttr {
    Create,
    Update,
    Delete,
}

/// How long a job is kept after it ends: `keep_completed = "..."` and the like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeepAttr {
    /// `"none"`: deleted as it ends.
    None,
    /// Kept this many milliseconds.
    For(u64),
}

/// How long a unique key holds: `unique_while = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UniqueWhileAttr {
    Live,
    Queued,
}

/// The attributes of a `#[derive(Job)]` struct; `None` leaves the default. Not `Debug`: syn's
/// types are `Debug` only with its `extra-traits` feature, which this crate does not enable.
#[derive(Default)]
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
    /// The field naming the resource, spanned on the attribute's literal.
    pub(crate) resource: Option<Member>,
    pub(crate) effect: Option<EffectAttr>,
    /// The fields of the unique key, in order, spanned on the attribute's literals.
    pub(crate) unique: Option<Vec<Member>>,
    pub(crate) unique_while: Option<UniqueWhileAttr>,
    /// Non-empty, without spaces or repeats.
    pub(crate) requires: Option<Vec<LitStr>>,
    /// `keep = ".."`: every outcome's retention.
    pub(crate) keep: Option<KeepAttr>,
    /// `keep_completed`, `keep_failed` and `keep_cancelled`, each over `keep`.
    pub(crate) keep_completed: Option<KeepAttr>,
    pub(crate) keep_failed: Option<KeepAttr>,
    pub(crate) keep_cancelled: Option<KeepAttr>,
    pub(crate) krate: Option<Path>,
    /// The literals job-core's rules apply to, checked at compile time by the expansion.
    pub(crate) checks: Vec<Check>,
}

/// The struct a `#[derive(Job)]` sits on, for the keys that name its fields.
struct Target<'a> {
    ident: &'a Ident,
    fields: &'a Fields,
}

impl Target<'_> {
    /// Resolves `lit`, the value of `key`, to a field: a name on a struct with named fields,
    /// an index like `"0"` on a tuple struct. The member carries the literal's span, so
    /// errors about the field's type point at the attribute.
    fn field(&self, key: Symbol, lit: &LitStr) -> syn::Result<Member> {
        let name = lit.value();
        let no_field = || {
            let message = format!(
                "`{key}` names a field, and `{}` has no field `{name}`",
                self.ident
            );
            syn::Error::new_spanned(lit, message)
        };
        match self.fields {
            Fields::Named(fields) => {
                let wanted = name.strip_prefix("r#").unwrap_or(&name);
                let ident = fields
                    .named
                    .iter()
                    .filter_map(|field| field.ident.as_ref())
                    .find(|ident| ident.unraw() == wanted)
                    .ok_or_else(no_field)?;
                let mut ident = ident.clone();
                ident.set_span(lit.span());
                Ok(Member::Named(ident))
            }
            Fields::Unnamed(fields) => match name.parse::<u32>() {
                Ok(index) if index.to_string() == name => {
                    if usize::try_from(index).is_ok_and(|i| i < fields.unnamed.len()) {
                        Ok(Member::Unnamed(Index {
                            index,
                            span: lit.span(),
                        }))
                    } else {
                        Err(no_field())
                    }
                }
                _ => {
                    let message = format!(
                        "`{key}` needs a struct with named fields; on a tuple struct, give the \
                         field's index, like `{key} = \"0\"`"
                    );
                    Err(syn::Error::new_spanned(lit, message))
                }
            },
            Fields::Unit => {
                let message = format!("`{key}` needs a struct with named fields");
                Err(syn::Error::new_spanned(lit, message))
            }
        }
    }
}

impl JobAttrs {
    /// Parses every `#[job(...)]` of a struct. The attributes come back even when some keys
    /// failed, so the caller can still emit a stub impl next to the errors.
    pub(crate) fn parse(input: &DeriveInput, errors: &mut Errors) -> Self {
        let unit = Fields::Unit;
        let target = Target {
            ident: &input.ident,
            fields: match &input.data {
                Data::Struct(data) => &data.fields,
                Data::Enum(_) | Data::Union(_) => &unit,
            },
        };
        let mut out = Self::default();
        // Whether `unique` was written at all, even with a bad value: only its absence makes
        // `unique_while` an error.
        let mut unique_given = false;
        let mut unique_while_key = None;
        for_each_key(&input.attrs, errors, |meta, errors| {
            if meta.path == UNIQUE {
                unique_given = true;
            } else if meta.path == UNIQUE_WHILE && unique_while_key.is_none() {
                unique_while_key = Some(meta.path.clone());
            }
            out.parse_key(meta, &target, errors)
        });
        if let (Some(key), false) = (unique_while_key, unique_given) {
            let message = "`unique_while` needs `unique`, the fields that make the key, \
                 like `unique = \"user_id\", unique_while = \"queued\"`";
            errors.push(syn::Error::new_spanned(key, message));
        }
        out
    }

    fn parse_key(
        &mut self,
        meta: &ParseNestedMeta<'_>,
        target: &Target<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let path = &meta.path;
        if *path == NAME {
            let value = value(meta, NAME)?;
            let name = lit_str(&value).filter(|lit| !lit.value().is_empty());
            let name = name.ok_or_else(|| expects(&value, NAME, EXPECT_NAME));
            if let Ok(lit) = &name {
                self.checks.push(Check::JobType(lit.clone()));
            }
            set(&mut self.name, path, NAME, name, errors);
        } else if *path == MAX_ATTEMPTS {
            let value = value(meta, MAX_ATTEMPTS)?;
            let n = int::<u32>(&value).filter(|&n| n >= 1).ok_or_else(|| {
                let what = format!("an integer from 1 to {}, like `max_attempts = 5`", u32::MAX);
                expects(&value, MAX_ATTEMPTS, &what)
            });
            set(&mut self.max_attempts, path, MAX_ATTEMPTS, n, errors);
        } else if *path == BACKOFF {
            let backoff = parse_backoff(meta, errors, &mut self.checks)?;
            set(&mut self.backoff, path, BACKOFF, backoff, errors);
        } else if *path == LEASE {
            let lease = positive_duration(meta, LEASE)?;
            if let Ok((ms, span)) = lease {
                self.checks.push(Check::Lease(ms, span));
            }
            set(
                &mut self.lease,
                path,
                LEASE,
                lease.map(|(ms, _)| ms),
                errors,
            );
        } else if *path == TIMEOUT {
            let timeout = positive_duration(meta, TIMEOUT)?;
            if let Ok((ms, span)) = timeout {
                self.checks.push(Check::Timeout(ms, span));
            }
            let timeout = timeout.map(|(ms, _)| ms);
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
        } else if *path == RESOURCE {
            let value = value(meta, RESOURCE)?;
            let field = match lit_str(&value) {
                Some(lit) => target.field(RESOURCE, &lit),
                None => Err(expects(&value, RESOURCE, EXPECT_RESOURCE)),
            };
            set(&mut self.resource, path, RESOURCE, field, errors);
        } else if *path == EFFECT {
            let value = value(meta, EFFECT)?;
            let effect = match lit_str(&value).map(|lit| lit.value()).as_deref() {
                Some(CREATE) => Ok(EffectAttr::Create),
                Some(UPDATE) => Ok(EffectAttr::Update),
                Some(DELETE) => Ok(EffectAttr::Delete),
                _ => Err(expects(&value, EFFECT, EXPECT_EFFECT)),
            };
            set(&mut self.effect, path, EFFECT, effect, errors);
        } else if *path == UNIQUE {
            let value = value(meta, UNIQUE)?;
            let fields = parse_unique(&value, target);
            set(&mut self.unique, path, UNIQUE, fields, errors);
        } else if *path == UNIQUE_WHILE {
            let value = value(meta, UNIQUE_WHILE)?;
            let unique_while = match lit_str(&value).map(|lit| lit.value()).as_deref() {
                Some(LIVE) => Ok(UniqueWhileAttr::Live),
                Some(QUEUED) => Ok(UniqueWhileAttr::Queued),
                _ => Err(expects(&value, UNIQUE_WHILE, EXPECT_UNIQUE_WHILE)),
            };
            set(
                &mut self.unique_while,
                path,
                UNIQUE_WHILE,
                unique_while,
                errors,
            );
        } else if *path == REQUIRES {
            let value = value(meta, REQUIRES)?;
            let requires = parse_requires(&value);
            if let Ok(capabilities) = &requires {
                let checks = capabilities.iter().cloned().map(Check::Capability);
                self.checks.extend(checks);
            }
            set(&mut self.requires, path, REQUIRES, requires, errors);
        } else if *path == KEEP {
            let keep = parse_keep(meta, KEEP)?;
            set(&mut self.keep, path, KEEP, keep, errors);
        } else if *path == KEEP_COMPLETED {
            let keep = parse_keep(meta, KEEP_COMPLETED)?;
            set(&mut self.keep_completed, path, KEEP_COMPLETED, keep, errors);
        } else if *path == KEEP_FAILED {
            let keep = parse_keep(meta, KEEP_FAILED)?;
            set(&mut self.keep_failed, path, KEEP_FAILED, keep, errors);
        } else if *path == KEEP_CANCELLED {
            let keep = parse_keep(meta, KEEP_CANCELLED)?;
            set(&mut self.keep_cancelled, path, KEEP_CANCELLED, keep, errors);
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
    Ok(peel(meta.input.parse()?))
}

/// Strips the invisible groups `macro_rules!` wraps around interpolated expressions.
fn peel(mut expr: Expr) -> Expr {
    while let Expr::Group(group) = expr {
        expr = *group.expr;
    }
    expr
}

/// The elements of `["a", "b"]`, each a string literal or an error on it, for the caller to
/// check in order. An error on the value if it is not an array or is empty (`one` names what an
/// element is).
fn lit_strs(
    value: &Expr,
    key: Symbol,
    what: &str,
    one: &str,
) -> syn::Result<Vec<syn::Result<LitStr>>> {
    let Expr::Array(ExprArray { elems, .. }) = value else {
        return Err(expects(value, key, what));
    };
    if elems.is_empty() {
        let message = format!("`{key}` needs at least one {one}");
        return Err(syn::Error::new_spanned(value, message));
    }
    let lit = |elem: &Expr| {
        let elem = peel(elem.clone());
        lit_str(&elem).ok_or_else(|| expects(&elem, key, what))
    };
    Ok(elems.iter().map(lit).collect())
}

/// Parses `unique = "field"` or `unique = ["a", "b"]` into the fields, in order.
fn parse_unique(value: &Expr, target: &Target<'_>) -> syn::Result<Vec<Member>> {
    let lits = match lit_str(value) {
        Some(lit) => vec![Ok(lit)],
        None => lit_strs(value, UNIQUE, EXPECT_UNIQUE, "field")?,
    };
    let mut errors = Errors::default();
    let mut fields: Vec<Member> = Vec::new();
    for lit in lits {
        let checked = lit.and_then(|lit| {
            let field = target.field(UNIQUE, &lit)?;
            if fields.contains(&field) {
                let message = format!("`unique` names the field `{}` twice", lit.value());
                return Err(syn::Error::new_spanned(lit, message));
            }
            Ok(field)
        });
        match checked {
            Ok(field) => fields.push(field),
            Err(error) => errors.push(error),
        }
    }
    errors.finish().map(|()| fields)
}

/// Parses `requires = ["gpu", "region=eu"]`: non-empty capabilities without spaces or repeats.
fn parse_requires(value: &Expr) -> syn::Result<Vec<LitStr>> {
    let mut errors = Errors::default();
    let mut capabilities: Vec<LitStr> = Vec::new();
    for lit in lit_strs(value, REQUIRES, EXPECT_REQUIRES, "capability")? {
        let checked = lit.and_then(|lit| {
            let capability = lit.value();
            let message = if capability.is_empty() {
                "`requires` expects non-empty capabilities, like \"gpu\" or \"region=eu\""
                    .to_owned()
            } else if capability.contains(char::is_whitespace) {
                format!(
                    "`requires` expects capabilities without spaces, like \"gpu\" or \
                     \"region=eu\"; `{capability}` has one"
                )
            } else if capabilities.iter().any(|seen| seen.value() == capability) {
                format!("`requires` lists `{capability}` twice")
            } else {
                return Ok(lit);
            };
            Err(syn::Error::new_spanned(lit, message))
        });
        match checked {
            Ok(lit) => capabilities.push(lit),
            Err(error) => errors.push(error),
        }
    }
    errors.finish().map(|()| capabilities)
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

/// Parses `key = "duration"`, in milliseconds, greater than zero, with the literal's span.
fn positive_duration(
    meta: &ParseNestedMeta<'_>,
    key: Symbol,
) -> syn::Result<syn::Result<(u64, Span)>> {
    let value = value(meta, key)?;
    Ok(duration(&value, key).and_then(|ms| {
        if ms == 0 {
            Err(syn::Error::new_spanned(
                &value,
                format!("`{key}` must be longer than zero"),
            ))
        } else {
            Ok((ms, value.span()))
        }
    }))
}

/// Parses `key = "none"` or `key = "duration"` (longer than zero).
fn parse_keep(meta: &ParseNestedMeta<'_>, key: Symbol) -> syn::Result<syn::Result<KeepAttr>> {
    let value = value(meta, key)?;
    if lit_str(&value).is_some_and(|lit| lit.value() == "none") {
        return Ok(Ok(KeepAttr::None));
    }
    let Some(lit) = lit_str(&value) else {
        return Ok(Err(expects(&value, key, EXPECT_KEEP)));
    };
    Ok(match parse_duration(&lit.value()) {
        Ok(0) => Err(syn::Error::new_spanned(
            &value,
            format!("`{key}` must be longer than zero; use \"none\" to keep nothing"),
        )),
        Ok(ms) => Ok(KeepAttr::For(ms)),
        Err(why) => Err(expects(&value, key, &format!("{EXPECT_KEEP}; {why}"))),
    })
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

/// Parses `backoff = "name"` or `backoff(fixed = "..")` / `backoff(exponential = "..", max = "..")`
/// / `backoff(table = [..])`, adding a [`Check`] per delay once the form is valid.
fn parse_backoff(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
    checks: &mut Vec<Check>,
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

    let (mut fixed, mut exponential, mut max, mut table) = (None, None, None, None);
    let (mut max_path, mut table_path) = (None, None);
    let mut inner_errors = Errors::default();
    meta.parse_nested_meta(|inner| {
        let path = &inner.path;
        if *path == FIXED {
            let value = value(&inner, FIXED)?;
            let ms = duration(&value, FIXED).map(|ms| (ms, value.span()));
            set(&mut fixed, path, FIXED, ms, &mut inner_errors);
        } else if *path == EXPONENTIAL {
            let ms = positive_duration(&inner, EXPONENTIAL)?;
            set(&mut exponential, path, EXPONENTIAL, ms, &mut inner_errors);
        } else if *path == MAX {
            let value = value(&inner, MAX)?;
            let ms = duration(&value, MAX).map(|ms| (ms, value));
            max_path = Some(path.clone());
            set(&mut max, path, MAX, ms, &mut inner_errors);
        } else if *path == TABLE {
            let steps = parse_table(&value(&inner, TABLE)?);
            table_path = Some(path.clone());
            set(&mut table, path, TABLE, steps, &mut inner_errors);
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

    if let Some(steps) = table {
        if fixed.is_some() || exponential.is_some() || max.is_some() {
            return Ok(Err(syn::Error::new_spanned(
                table_path,
                "`table` cannot be combined with `fixed`, `exponential` or `max`",
            )));
        }
        checks.extend(
            steps
                .iter()
                .map(|&(ms, span)| Check::BackoffDelay(ms, span)),
        );
        return Ok(Ok(BackoffAttr::Table(
            steps.into_iter().map(|(ms, _)| ms).collect(),
        )));
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
        (Some((ms, span)), None, None) => {
            checks.push(Check::BackoffDelay(ms, span));
            Ok(BackoffAttr::Fixed(ms))
        }
        (None, Some((base, _)), Some((max, value))) if max < base => Err(syn::Error::new_spanned(
            value,
            "`max` must be at least the `exponential` base delay",
        )),
        (None, Some((base, base_span)), max) => {
            checks.push(Check::BackoffDelay(base, base_span));
            if let Some((ms, value)) = &max {
                checks.push(Check::BackoffDelay(*ms, value.span()));
            }
            Ok(BackoffAttr::Exponential {
                base,
                max: max.map_or(HOUR_MS, |(max, _)| max),
            })
        }
        (None, None, _) => Err(expects(&meta.path, BACKOFF, BACKOFF_FORMS)),
    };
    Ok(backoff)
}

/// Parses `table = ["2s", "0s", "1m"]`: at least one step, each a duration (zero allowed).
fn parse_table(value: &Expr) -> syn::Result<Vec<(u64, Span)>> {
    let mut errors = Errors::default();
    let mut steps = Vec::new();
    for lit in lit_strs(value, TABLE, EXPECT_TABLE, "step")? {
        let step = lit.and_then(|lit| {
            parse_duration(&lit.value())
                .map(|ms| (ms, lit.span()))
                .map_err(|why| expects(&lit, TABLE, &format!("{EXPECT_DURATION}; {why}")))
        });
        match step {
            Ok(step) => steps.push(step),
            Err(error) => errors.push(error),
        }
    }
    errors.finish().map(|()| steps)
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
        let attrs = JobAttrs::parse(&input, &mut errors);
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
        match job(input) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error,
        }
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
    fn job_backoff_table_reads_steps() {
        let attrs =
            job(parse_quote! { #[job(backoff(table = ["2s", "0s", "1m",]))] struct S; }).unwrap();
        assert_eq!(
            attrs.backoff,
            Some(BackoffAttr::Table(vec![2_000, 0, 60_000]))
        );
        let attrs = job(parse_quote! { #[job(backoff(table = ["1d"]))] struct S; }).unwrap();
        assert_eq!(attrs.backoff, Some(BackoffAttr::Table(vec![86_400_000])));
    }

    #[test]
    fn job_backoff_table_rejects_bad_tables() {
        let error = job_err(parse_quote! { #[job(backoff(table = []))] struct S; });
        assert_eq!(error, "`table` needs at least one step");
        let expected =
            "`table` expects an array of durations, like `table = [\"2s\", \"0s\", \"1m\"]`";
        let error = job_err(parse_quote! { #[job(backoff(table = "2s"))] struct S; });
        assert_eq!(error, expected);
        let error = job_err(parse_quote! { #[job(backoff(table = ["2s", "soon", 3]))] struct S; });
        let lines: Vec<_> = error.lines().collect();
        assert_eq!(
            lines,
            [
                "`table` expects a duration like \"30s\" or \"500ms\"; `soon` does not start with \
                 a number",
                expected,
            ]
        );
        for input in [
            parse_quote! { #[job(backoff(table = ["1s"], fixed = "1s"))] struct S; },
            parse_quote! { #[job(backoff(exponential = "1s", table = ["1s"]))] struct S; },
            parse_quote! { #[job(backoff(table = ["1s"], max = "1m"))] struct S; },
        ] {
            assert_eq!(
                job_err(input),
                "`table` cannot be combined with `fixed`, `exponential` or `max`"
            );
        }
        let error =
            job_err(parse_quote! { #[job(backoff(table = ["1s"], table = ["2s"]))] struct S; });
        assert_eq!(error, "duplicate `job` attribute `table`");
    }

    fn checks(input: DeriveInput) -> Vec<String> {
        let attrs = job(input).unwrap();
        attrs
            .checks
            .iter()
            .map(|check| match check {
                Check::JobType(lit) => format!("job type {}", lit.value()),
                Check::Capability(lit) => format!("capability {}", lit.value()),
                Check::Lease(ms, _) => format!("lease {ms}"),
                Check::Timeout(ms, _) => format!("timeout {ms}"),
                Check::BackoffDelay(ms, _) => format!("delay {ms}"),
            })
            .collect()
    }

    #[test]
    fn job_literals_under_job_core_rules_become_checks() {
        let input = parse_quote! {
            #[job(name = "render|gpu", requires = ["gpu", "a,b"], lease = "25h", timeout = "1s")]
            #[job(backoff(exponential = "1s", max = "3651d"))]
            struct S;
        };
        assert_eq!(
            checks(input),
            [
                "job type render|gpu",
                "capability gpu",
                "capability a,b",
                "lease 90000000",
                "timeout 1000",
                "delay 1000",
                "delay 315446400000",
            ]
        );
        let input = parse_quote! { #[job(backoff(table = ["2s", "0s"]))] struct S; };
        assert_eq!(checks(input), ["delay 2000", "delay 0"]);
        let input = parse_quote! { #[job(backoff(fixed = "5m"))] struct S; };
        assert_eq!(checks(input), ["delay 300000"]);
        // The default name, the named schedules and the default cap need no check.
        let input = parse_quote! { #[job(backoff = "smtp", max_attempts = 3)] struct S; };
        assert!(checks(input).is_empty());
        let input = parse_quote! { #[job(backoff(exponential = "2s"))] struct S; };
        assert_eq!(checks(input), ["delay 2000"]);
    }

    #[test]
    fn job_unknown_key_lists_known_keys() {
        let error = job_err(parse_quote! { #[job(queue = "mail")] struct S; });
        assert_eq!(
            error,
            "unknown `job` attribute `queue`; expected one of `name`, `max_attempts`, `backoff`, `lease`, \
             `timeout`, `priority`, `max_defers`, `resource`, `effect`, `unique`, `unique_while`, \
             `requires`, `keep`, `keep_completed`, `keep_failed`, `keep_cancelled`, `crate`"
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

    fn member(member: &Member) -> String {
        member.to_token_stream().to_string()
    }

    #[test]
    fn job_resource_names_a_field() {
        let attrs = job(parse_quote! {
            #[job(resource = "account_id")] struct S { name: String, account_id: u64 }
        })
        .unwrap();
        assert_eq!(
            attrs.resource.as_ref().map(member).as_deref(),
            Some("account_id")
        );
        let attrs = job(parse_quote! { #[job(resource = "1")] struct S(u8, u64); }).unwrap();
        assert_eq!(attrs.resource.as_ref().map(member).as_deref(), Some("1"));
        // A raw field answers to its name with or without `r#`.
        for name in ["type", "r#type"] {
            let attrs = job(parse_quote! { #[job(resource = #name)] struct S { r#type: u8 } });
            assert_eq!(
                attrs.unwrap().resource.as_ref().map(member).as_deref(),
                Some("r#type")
            );
        }
    }

    #[test]
    fn job_resource_rejects_missing_fields() {
        let cases: [(DeriveInput, &str); 7] = [
            (
                parse_quote! { #[job(resource = "bar")] struct Foo { baz: u8 } },
                "`resource` names a field, and `Foo` has no field `bar`",
            ),
            (
                parse_quote! { #[job(resource = "0")] struct Foo { baz: u8 } },
                "`resource` names a field, and `Foo` has no field `0`",
            ),
            (
                parse_quote! { #[job(resource = "2")] struct Foo(u8, u8); },
                "`resource` names a field, and `Foo` has no field `2`",
            ),
            (
                parse_quote! { #[job(resource = "id")] struct Foo(u8); },
                "`resource` needs a struct with named fields; on a tuple struct, give the field's \
                 index, like `resource = \"0\"`",
            ),
            (
                parse_quote! { #[job(resource = "00")] struct Foo(u8); },
                "`resource` needs a struct with named fields; on a tuple struct, give the field's \
                 index, like `resource = \"0\"`",
            ),
            (
                parse_quote! { #[job(resource = "id")] struct Foo; },
                "`resource` needs a struct with named fields",
            ),
            (
                parse_quote! { #[job(resource = id)] struct Foo { id: u8 } },
                "`resource` expects a field name, like `resource = \"account_id\"`",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(job_err(input), expected);
        }
        let error = job_err(
            parse_quote! { #[job(resource = "a", resource = "b")] struct S { a: u8, b: u8 } },
        );
        assert_eq!(error, "duplicate `job` attribute `resource`");
    }

    #[test]
    fn job_effect_reads_each_value() {
        let effect = |input: DeriveInput| job(input).unwrap().effect;
        assert_eq!(
            effect(parse_quote! { #[job(effect = "create")] struct S; }),
            Some(EffectAttr::Create)
        );
        assert_eq!(
            effect(parse_quote! { #[job(effect = "update")] struct S; }),
            Some(EffectAttr::Update)
        );
        // Without `resource`: the resource may be given at enqueue.
        assert_eq!(
            effect(parse_quote! { #[job(effect = "delete")] struct S; }),
            Some(EffectAttr::Delete)
        );
        for input in [
            parse_quote! { #[job(effect = "Create")] struct S; },
            parse_quote! { #[job(effect = "remove")] struct S; },
            parse_quote! { #[job(effect = create)] struct S; },
        ] {
            assert_eq!(
                job_err(input),
                "`effect` expects \"create\", \"update\" or \"delete\""
            );
        }
        let error =
            job_err(parse_quote! { #[job(effect = "create")] #[job(effect = "update")] struct S; });
        assert_eq!(error, "duplicate `job` attribute `effect`");
    }

    #[test]
    fn job_unique_names_fields_in_order() {
        let unique = |input: DeriveInput| -> Vec<String> {
            job(input)
                .unwrap()
                .unique
                .unwrap()
                .iter()
                .map(member)
                .collect()
        };
        assert_eq!(
            unique(parse_quote! { #[job(unique = "user")] struct S { day: u8, user: u8 } }),
            ["user"]
        );
        assert_eq!(
            unique(
                parse_quote! { #[job(unique = ["user", "day"])] struct S { day: u8, user: u8 } }
            ),
            ["user", "day"]
        );
        assert_eq!(
            unique(parse_quote! { #[job(unique = ["1", "0"])] struct S(u8, u8); }),
            ["1", "0"]
        );
        assert_eq!(
            unique(parse_quote! { #[job(unique = ["a",])] struct S { a: u8 } }),
            ["a"]
        );
    }

    #[test]
    fn job_unique_rejects_bad_fields_at_once() {
        let error = job_err(parse_quote! {
            #[job(unique = ["a", "nope", 3, "a", "r#a"])] struct Foo { a: u8 }
        });
        let lines: Vec<_> = error.lines().collect();
        assert_eq!(
            lines,
            [
                "`unique` names a field, and `Foo` has no field `nope`",
                "`unique` expects a field name or an array of field names, like `unique = \"user_id\"` \
                 or `unique = [\"user_id\", \"day\"]`",
                "`unique` names the field `a` twice",
                "`unique` names the field `r#a` twice",
            ]
        );
        let error = job_err(parse_quote! { #[job(unique = [])] struct Foo { a: u8 } });
        assert_eq!(error, "`unique` needs at least one field");
        let error = job_err(parse_quote! { #[job(unique = a)] struct Foo { a: u8 } });
        assert!(
            error.starts_with("`unique` expects a field name or an array"),
            "{error}"
        );
        let error = job_err(parse_quote! { #[job(unique = "a")] struct Foo(u8); });
        assert!(
            error.starts_with("`unique` needs a struct with named fields; on a tuple struct"),
            "{error}"
        );
        let error = job_err(parse_quote! { #[job(unique = ["a"])] struct Foo; });
        assert_eq!(error, "`unique` needs a struct with named fields");
    }

    #[test]
    fn job_unique_while_reads_each_value() {
        let unique_while = |input: DeriveInput| job(input).unwrap().unique_while;
        assert_eq!(
            unique_while(
                parse_quote! { #[job(unique = "a", unique_while = "live")] struct S { a: u8 } }
            ),
            Some(UniqueWhileAttr::Live)
        );
        // Key order does not matter, nor which attribute holds `unique`.
        assert_eq!(
            unique_while(
                parse_quote! { #[job(unique_while = "queued")] #[job(unique = "a")] struct S { a: u8 } }
            ),
            Some(UniqueWhileAttr::Queued)
        );
        let error = job_err(
            parse_quote! { #[job(unique = "a", unique_while = "running")] struct S { a: u8 } },
        );
        assert_eq!(error, "`unique_while` expects \"live\" or \"queued\"");
    }

    #[test]
    fn job_unique_while_needs_unique() {
        let error = job_err(parse_quote! { #[job(unique_while = "queued")] struct S { a: u8 } });
        assert_eq!(
            error,
            "`unique_while` needs `unique`, the fields that make the key, like \
             `unique = \"user_id\", unique_while = \"queued\"`"
        );
        // Reported once, even for a bad or repeated `unique_while`.
        let error = job_err(parse_quote! {
            #[job(unique_while = "soon", unique_while = "live")] struct S { a: u8 }
        });
        let lines: Vec<_> = error.lines().collect();
        assert_eq!(lines.len(), 2, "{error}");
        assert!(lines[0].starts_with("`unique_while` expects"), "{error}");
        assert!(
            lines[1].starts_with("`unique_while` needs `unique`"),
            "{error}"
        );
        // A `unique` with a bad value is still there: only its own error is reported.
        let error = job_err(parse_quote! {
            #[job(unique = "b", unique_while = "queued")] struct Foo { a: u8 }
        });
        assert_eq!(error, "`unique` names a field, and `Foo` has no field `b`");
    }

    #[test]
    fn job_requires_reads_capabilities() {
        let attrs =
            job(parse_quote! { #[job(requires = ["gpu", "region=eu"])] struct S; }).unwrap();
        let requires: Vec<String> = attrs.requires.unwrap().iter().map(LitStr::value).collect();
        assert_eq!(requires, ["gpu", "region=eu"]);
    }

    #[test]
    fn job_requires_rejects_bad_capabilities_at_once() {
        let error = job_err(parse_quote! {
            #[job(requires = ["gpu", "", "two words", "gpu", "tab\there"])] struct S;
        });
        let lines: Vec<_> = error.lines().collect();
        assert_eq!(
            lines,
            [
                "`requires` expects non-empty capabilities, like \"gpu\" or \"region=eu\"",
                "`requires` expects capabilities without spaces, like \"gpu\" or \"region=eu\"; \
                 `two words` has one",
                "`requires` lists `gpu` twice",
                "`requires` expects capabilities without spaces, like \"gpu\" or \"region=eu\"; \
                 `tab\there` has one",
            ]
        );
        let expected = "`requires` expects an array of capabilities, like `requires = [\"gpu\", \"region=eu\"]`";
        for input in [
            parse_quote! { #[job(requires = "gpu")] struct S; },
            parse_quote! { #[job(requires = [gpu])] struct S; },
            parse_quote! { #[job(requires = ["gpu", 1])] struct S; },
        ] {
            assert_eq!(job_err(input), expected);
        }
        let error = job_err(parse_quote! { #[job(requires = [])] struct S; });
        assert_eq!(error, "`requires` needs at least one capability");
        let error = job_err(parse_quote! { #[job(requires = ["a"], requires = ["b"])] struct S; });
        assert_eq!(error, "duplicate `job` attribute `requires`");
    }

    #[test]
    fn job_new_keys_gather_errors_with_the_others() {
        let error = job_err(parse_quote! {
            #[job(resource = "nope", effect = "make", unique = [], unique_while = "x")]
            #[job(requires = [""], lease = "0s")]
            struct S { a: u8 }
        });
        let lines: Vec<_> = error.lines().collect();
        assert_eq!(lines.len(), 6, "{error}");
        assert!(lines[0].starts_with("`resource` names a field"), "{error}");
        assert!(lines[1].starts_with("`effect` expects"), "{error}");
        assert!(
            lines[2].starts_with("`unique` needs at least one field"),
            "{error}"
        );
        assert!(lines[3].starts_with("`unique_while` expects"), "{error}");
        assert!(
            lines[4].starts_with("`requires` expects non-empty"),
            "{error}"
        );
        assert!(
            lines[5].starts_with("`lease` must be longer than zero"),
            "{error}"
        );
    }

    #[test]
    fn set_rejects_the_new_keys_too() {
        let mut errors = Errors::default();
        let input: DeriveInput =
            parse_quote! { #[job(resource = "a", requires = ["gpu"])] enum E {} };
        parse_set(&input.attrs, &mut errors);
        let messages: Vec<_> = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            messages,
            [
                "`resource` belongs on the job type's `#[derive(Job)]`; a `JobSet` enum takes only `crate`",
                "`requires` belongs on the job type's `#[derive(Job)]`; a `JobSet` enum takes only `crate`",
            ]
        );
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
