//! `#[derive(Job)]`: `impl Job` with the wire name and the `JobOptions` the attributes set.

use proc_macro2::{Group, Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Ident, LitStr, Path};

use crate::attr::{BackoffAttr, Check, EffectAttr, Errors, JobAttrs, KeepAttr, UniqueWhileAttr};

/// Expands `#[derive(Job)]`. Attribute mistakes come back as `compile_error!`s next to a stub
/// impl, so uses of the type do not add errors of their own.
pub(crate) fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let fields = match &input.data {
        Data::Struct(data) => &data.fields,
        Data::Enum(data) => {
            let (token, ident) = (data.enum_token, &input.ident);
            return Err(syn::Error::new_spanned(
                quote!(#token #ident),
                "`Job` can only be derived for structs; for the job-type enum use `#[derive(JobSet)]`",
            ));
        }
        Data::Union(data) => {
            let (token, ident) = (data.union_token, &input.ident);
            return Err(syn::Error::new_spanned(
                quote!(#token #ident),
                "`Job` can only be derived for structs",
            ));
        }
    };

    let mut errors = Errors::default();
    let mut attrs = JobAttrs::parse(input, &mut errors);
    for field in fields {
        crate::attr::reject(&field.attrs, "a field; put it on the struct", &mut errors);
    }
    let krate = crate_path(attrs.krate.as_ref());
    match errors.finish() {
        Ok(()) => {
            if attrs.name.is_none() {
                // The type's name is a job type too; of the rules, only the length can fail.
                attrs
                    .checks
                    .push(Check::JobType(default_name(&input.ident)));
            }
            Ok(job_impl(input, &krate, &attrs))
        }
        Err(error) => {
            let stub = job_impl(input, &krate, &JobAttrs::default());
            let error = error.into_compile_error();
            Ok(quote!(#error #stub))
        }
    }
}

/// The crate path generated code starts from: `::job` unless `#[job(crate = "..")]` says.
pub(crate) fn crate_path(krate: Option<&Path>) -> TokenStream {
    krate.map_or_else(|| quote!(::job), ToTokens::to_token_stream)
}

fn job_impl(input: &DeriveInput, krate: &TokenStream, attrs: &JobAttrs) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let name = attrs.name.clone().unwrap_or_else(|| default_name(ident));
    let setters = setters(krate, attrs);
    let methods = methods(krate, attrs);
    let checks = attrs.checks.iter().map(|check| check_tokens(krate, check));
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::Job for #ident #ty_generics #where_clause {
                const NAME: &'static ::core::primitive::str = #name;
                const OPTIONS: #krate::JobOptions = #krate::JobOptions::new() #(#setters)*;
                #methods
            }
            #(#checks)*
        };
    }
}

/// The wire name of a type without `name = ".."`: its name, without `r#`.
fn default_name(ident: &Ident) -> LitStr {
    LitStr::new(&ident.unraw().to_string(), ident.span())
}

/// A call to job-core's const assertion for `check`, as a statement of the `const _` block:
/// evaluated at compile time, it fails compilation with job-core's message. Every token is
/// respanned onto the literal (resolving as at the call site), so with `#[track_caller]` the
/// error points there.
fn check_tokens(krate: &TokenStream, check: &Check) -> TokenStream {
    let private = quote!(#krate::__private);
    let (call, span) = match check {
        Check::JobType(lit) => (
            quote!(#private::assert_name(#private::NameKind::JobType, #lit)),
            lit.span(),
        ),
        Check::Capability(lit) => (
            quote!(#private::assert_name(#private::NameKind::Capability, #lit)),
            lit.span(),
        ),
        Check::Lease(ms, span) => {
            let lease = duration(*ms);
            (quote!(#private::assert_lease(#lease)), *span)
        }
        Check::Timeout(ms, span) => {
            let timeout = duration(*ms);
            (quote!(#private::assert_timeout(#timeout)), *span)
        }
        Check::BackoffDelay(ms, span) => {
            let delay = duration(*ms);
            (quote!(#private::assert_backoff_delay(#delay)), *span)
        }
    };
    respan(quote!(#call;), Span::call_site().located_at(span))
}

/// `tokens` with every span, inside groups too, set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = TokenTree::Group(inner);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// `fn resource` and `fn unique_key`, when `resource` and `unique` name fields. Each field
/// access carries its literal's span, so a field that is not `Display` (or not `Serialize`)
/// is reported on the attribute.
fn methods(krate: &TokenStream, attrs: &JobAttrs) -> TokenStream {
    let mut methods = TokenStream::new();
    if let Some(field) = &attrs.resource {
        let value = quote_spanned!(field.span()=> ::std::string::ToString::to_string(&self.#field));
        methods.extend(quote! {
            fn resource(&self) -> ::core::option::Option<::std::string::String> {
                ::core::option::Option::Some(#value)
            }
        });
    }
    if let Some(fields) = &attrs.unique {
        // A trailing comma even for one field: the key is always a JSON array.
        let values = fields
            .iter()
            .map(|field| quote_spanned!(field.span()=> &self.#field));
        methods.extend(quote! {
            fn unique_key(&self) -> ::core::option::Option<::std::string::String> {
                ::core::result::Result::ok(#krate::__private::serde_json::to_string(&(#(#values,)*)))
            }
        });
    }
    methods
}

/// One `.with_xxx(..)` call per attribute given, in `JobOptions`' field order.
fn setters(krate: &TokenStream, attrs: &JobAttrs) -> Vec<TokenStream> {
    let mut setters = Vec::new();
    if let Some(n) = attrs.max_attempts {
        let n = Literal::u32_unsuffixed(n);
        setters.push(quote!(.with_max_attempts(#n)));
    }
    if let Some(backoff) = &attrs.backoff {
        let backoff = match *backoff {
            BackoffAttr::Default => quote!(#krate::Backoff::DEFAULT),
            BackoffAttr::Smtp => quote!(#krate::Backoff::Smtp),
            BackoffAttr::Fixed(ms) => {
                let delay = duration(ms);
                quote!(#krate::Backoff::Fixed(#delay))
            }
            BackoffAttr::Exponential { base, max } => {
                let (base, max) = (duration(base), duration(max));
                quote!(#krate::Backoff::Exponential { base: #base, max: #max })
            }
            BackoffAttr::Table(ref steps) => {
                let steps = steps.iter().map(|&ms| duration(ms));
                quote!(#krate::Backoff::Table(&[#(#steps),*]))
            }
        };
        setters.push(quote!(.with_backoff(#backoff)));
    }
    if let Some(ms) = attrs.lease {
        let lease = duration(ms);
        setters.push(quote!(.with_lease(#lease)));
    }
    if let Some(n) = attrs.priority {
        let n = Literal::i8_unsuffixed(n);
        setters.push(quote!(.with_priority(#n)));
    }
    if let Some(ms) = attrs.timeout {
        let timeout = duration(ms);
        setters.push(quote!(.with_timeout(#timeout)));
    }
    if let Some(n) = attrs.max_defers {
        let n = Literal::u32_unsuffixed(n);
        setters.push(quote!(.with_max_defers(#n)));
    }
    if let Some(effect) = attrs.effect {
        let effect = match effect {
            EffectAttr::Create => quote!(#krate::Effect::Create),
            EffectAttr::Update => quote!(#krate::Effect::Update),
            EffectAttr::Delete => quote!(#krate::Effect::Delete),
        };
        setters.push(quote!(.with_effect(#effect)));
    }
    if let Some(unique_while) = attrs.unique_while {
        let unique_while = match unique_while {
            UniqueWhileAttr::Live => quote!(#krate::UniqueWhile::Live),
            UniqueWhileAttr::Queued => quote!(#krate::UniqueWhile::Queued),
        };
        setters.push(quote!(.with_unique_while(#unique_while)));
    }
    if let Some(requires) = &attrs.requires {
        setters.push(quote!(.with_requires(&[#(#requires),*])));
    }
    let outcomes = [
        (quote!(Completed), attrs.keep_completed),
        (quote!(Failed), attrs.keep_failed),
        (quote!(Cancelled), attrs.keep_cancelled),
    ];
    for (ended, keep) in outcomes {
        let keep = match keep.or(attrs.keep) {
            None => continue,
            Some(KeepAttr::None) => quote!(#krate::Keep::None),
            Some(KeepAttr::For(ms)) => {
                let keep = duration(ms);
                quote!(#krate::Keep::For(#keep))
            }
        };
        setters.push(quote!(.with_keep(#krate::Ended::#ended, #keep)));
    }
    setters
}

fn duration(ms: u64) -> TokenStream {
    let ms = Literal::u64_unsuffixed(ms);
    quote!(::core::time::Duration::from_millis(#ms))
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;

    fn expand(input: DeriveInput) -> String {
        derive(&input)
            .unwrap_or_else(syn::Error::into_compile_error)
            .to_string()
    }

    #[test]
    fn job_defaults_to_the_type_name() {
        let out = expand(parse_quote! { struct Ping; });
        assert!(out.contains("impl :: job :: Job for Ping"), "{out}");
        assert!(
            out.contains("const NAME : & 'static :: core :: primitive :: str = \"Ping\""),
            "{out}"
        );
        assert!(out.contains("= :: job :: JobOptions :: new () ;"), "{out}");
    }

    #[test]
    fn job_raw_ident_name_drops_the_prefix() {
        let out = expand(parse_quote! { struct r#Match; });
        assert!(out.contains("\"Match\""), "{out}");
    }

    #[test]
    fn job_options_become_setters() {
        let out = expand(parse_quote! {
            #[job(crate = "my::job", max_attempts = 3, backoff(fixed = "30s"), lease = "1m", priority = -2)]
            #[job(timeout = "500ms", max_defers = 7)]
            struct Ping;
        });
        let want = "my :: job :: JobOptions :: new () . with_max_attempts (3) \
             . with_backoff (my :: job :: Backoff :: Fixed (:: core :: time :: Duration :: from_millis (30000))) \
             . with_lease (:: core :: time :: Duration :: from_millis (60000)) . with_priority (- 2) \
             . with_timeout (:: core :: time :: Duration :: from_millis (500)) . with_max_defers (7) ;";
        assert!(out.contains(want), "{out}");
    }

    #[test]
    fn job_resource_unique_and_requires_expand() {
        let out = expand(parse_quote! {
            #[job(crate = "my::job", resource = "account", effect = "delete")]
            #[job(unique = ["account", "day"], unique_while = "queued", requires = ["gpu", "region=eu"])]
            struct Close { account: u64, day: u32 }
        });
        let want = "my :: job :: JobOptions :: new () . with_effect (my :: job :: Effect :: Delete) \
             . with_unique_while (my :: job :: UniqueWhile :: Queued) \
             . with_requires (& [\"gpu\" , \"region=eu\"]) ;";
        assert!(out.contains(want), "{out}");
        let want = "fn resource (& self) -> :: core :: option :: Option < :: std :: string :: String > \
             { :: core :: option :: Option :: Some (:: std :: string :: ToString :: to_string (& self . account)) }";
        assert!(out.contains(want), "{out}");
        let want = "fn unique_key (& self) -> :: core :: option :: Option < :: std :: string :: String > \
             { :: core :: result :: Result :: ok (my :: job :: __private :: serde_json :: to_string \
             (& (& self . account , & self . day ,))) }";
        assert!(out.contains(want), "{out}");

        let out =
            expand(parse_quote! { #[job(resource = "0", unique = "0")] struct Pair(u8, u8); });
        assert!(out.contains("to_string (& self . 0)"), "{out}");
        assert!(out.contains("to_string (& (& self . 0 ,))"), "{out}");
    }

    #[test]
    fn job_backoff_table_expands_to_a_static_slice() {
        let out = expand(parse_quote! {
            #[job(crate = "my::job", backoff(table = ["2s", "0s", "1m"]))]
            struct Ping;
        });
        let want = "my :: job :: JobOptions :: new () . with_backoff (my :: job :: Backoff :: Table \
             (& [:: core :: time :: Duration :: from_millis (2000) , \
             :: core :: time :: Duration :: from_millis (0) , \
             :: core :: time :: Duration :: from_millis (60000)])) ;";
        assert!(out.contains(want), "{out}");
    }

    #[test]
    fn job_literal_rules_become_const_assertions() {
        let out = expand(parse_quote! {
            #[job(crate = "my::job", name = "mail.send", requires = ["gpu"], lease = "1m")]
            #[job(timeout = "1s", backoff(table = ["2s"]))]
            struct Ping;
        });
        let private = "my :: job :: __private ::";
        let duration = ":: core :: time :: Duration :: from_millis";
        for want in [
            format!("{private} assert_name ({private} NameKind :: JobType , \"mail.send\") ;"),
            format!("{private} assert_name ({private} NameKind :: Capability , \"gpu\") ;"),
            format!("{private} assert_lease ({duration} (60000)) ;"),
            format!("{private} assert_timeout ({duration} (1000)) ;"),
            format!("{private} assert_backoff_delay ({duration} (2000)) ;"),
        ] {
            assert!(out.contains(&want), "{want}\n{out}");
        }
        // Inside the `const _` block, after the impl.
        assert!(out.ends_with("(2000)) ; } ;"), "{out}");
    }

    #[test]
    fn job_default_name_is_checked_too() {
        for input in [
            parse_quote! { struct Ping; },
            parse_quote! { #[job(backoff = "smtp", max_attempts = 2)] struct Ping; },
        ] {
            let out = expand(input);
            let want = ":: job :: __private :: assert_name \
                 (:: job :: __private :: NameKind :: JobType , \"Ping\") ;";
            assert!(out.contains(want), "{out}");
            assert_eq!(out.matches("assert_").count(), 1, "{out}");
        }
        let out = expand(parse_quote! { struct r#Match; });
        assert!(out.contains("NameKind :: JobType , \"Match\")"), "{out}");
        // A stub after an error has no assertion: the error is enough.
        let out = expand(parse_quote! { #[job(name = "a|b", lease = "soon")] struct Ping; });
        assert!(!out.contains("assert_"), "{out}");
    }

    #[test]
    fn job_without_fields_keys_keeps_the_provided_methods() {
        let out = expand(parse_quote! { #[job(effect = "create")] struct Ping { a: u8 } });
        assert!(!out.contains("fn resource"), "{out}");
        assert!(!out.contains("fn unique_key"), "{out}");
        // A bad key leaves the stub without them too.
        let out =
            expand(parse_quote! { #[job(resource = "a", unique = "b")] struct Ping { a: u8 } });
        assert!(out.contains("compile_error"), "{out}");
        assert!(!out.contains("fn resource"), "{out}");
    }

    #[test]
    fn job_generics_pass_through() {
        let out = expand(parse_quote! { struct Wrap<'a, T: Clone> where T: Send { x: &'a T } });
        assert!(
            out.contains(
                "impl < 'a , T : Clone > :: job :: Job for Wrap < 'a , T > where T : Send"
            ),
            "{out}"
        );
    }

    #[test]
    fn job_bad_attribute_emits_stub_and_error() {
        let out = expand(parse_quote! { #[job(name = "x", lease = "1")] struct Ping; });
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("\"Ping\""), "{out}");
        assert!(!out.contains("with_"), "{out}");
    }

    #[test]
    fn job_attribute_on_field_is_an_error() {
        let out = expand(parse_quote! { struct Ping { #[job(name = "x")] a: u8 } });
        assert!(out.contains("is not read on a field"), "{out}");
    }

    #[test]
    fn job_rejects_enums_and_unions() {
        let out = expand(parse_quote! { enum E { A } });
        assert!(
            out.contains("`Job` can only be derived for structs; for the job-type enum use"),
            "{out}"
        );
        let out = expand(parse_quote! { union U { a: u8 } });
        assert!(
            out.contains("`Job` can only be derived for structs"),
            "{out}"
        );
    }
}
