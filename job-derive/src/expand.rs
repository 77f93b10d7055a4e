//! `#[derive(Job)]`: `impl Job` with the wire name and the `JobOptions` the attributes set.

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, LitStr, Path};

use crate::attr::{BackoffAttr, EffectAttr, Errors, JobAttrs, UniqueWhileAttr};

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
    let attrs = JobAttrs::parse(input, &mut errors);
    for field in fields {
        crate::attr::reject(&field.attrs, "a field; put it on the struct", &mut errors);
    }
    let krate = crate_path(attrs.krate.as_ref());
    match errors.finish() {
        Ok(()) => Ok(job_impl(input, &krate, &attrs)),
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
    let name = attrs
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&ident.unraw().to_string(), ident.span()));
    let setters = setters(krate, attrs);
    let methods = methods(krate, attrs);
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::Job for #ident #ty_generics #where_clause {
                const NAME: &'static ::core::primitive::str = #name;
                const OPTIONS: #krate::JobOptions = #krate::JobOptions::new() #(#setters)*;
                #methods
            }
        };
    }
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
    if let Some(backoff) = attrs.backoff {
        let backoff = match backoff {
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
