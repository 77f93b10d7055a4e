//! `#[derive(JobSet)]`: `impl JobSet`, one `From` per variant and `impl Dispatch<State>`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{self, Errors};
use crate::expand::crate_path;

const SHAPE: &str = "like `enum AppJob { SendEmail(SendEmail), Resize(Resize) }`";

/// One variant: `Ident(Type)`.
struct Variant<'a> {
    ident: &'a Ident,
    ty: &'a Type,
}

/// Expands `#[derive(JobSet)]`.
pub(crate) fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ident = &input.ident;
    let data = match &input.data {
        Data::Enum(data) => data,
        Data::Struct(data) => {
            let token = data.struct_token;
            return Err(not_an_enum(quote!(#token #ident)));
        }
        Data::Union(data) => {
            let token = data.union_token;
            return Err(not_an_enum(quote!(#token #ident)));
        }
    };

    let mut errors = Errors::default();
    let krate = crate_path(attr::parse_set(&input.attrs, &mut errors).as_ref());
    let generics = &input.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        let message = "a `JobSet` enum cannot be generic: list the concrete job types";
        errors.push(syn::Error::new_spanned(generics, message));
    }
    if data.variants.is_empty() {
        let token = data.enum_token;
        let message = format!("a `JobSet` enum needs at least one variant, {SHAPE}");
        errors.push(syn::Error::new_spanned(quote!(#token #ident), message));
    }
    let mut variants: Vec<Variant<'_>> = Vec::new();
    for variant in &data.variants {
        attr::reject(
            &variant.attrs,
            "a `JobSet` variant; put it on the job type",
            &mut errors,
        );
        let field = match &variant.fields {
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => &fields.unnamed[0],
            _ => {
                let message = format!("each `JobSet` variant holds exactly one job type, {SHAPE}");
                errors.push(syn::Error::new_spanned(variant, message));
                continue;
            }
        };
        attr::reject(
            &field.attrs,
            "a `JobSet` field; put it on the job type",
            &mut errors,
        );
        let text = field.ty.to_token_stream().to_string();
        if let Some(first) = variants
            .iter()
            .find(|seen| seen.ty.to_token_stream().to_string() == text)
        {
            let message = format!(
                "`{}` is already in variant `{}`; each job type appears once",
                text.replace(' ', ""),
                first.ident
            );
            errors.push(syn::Error::new_spanned(&field.ty, message));
            continue;
        }
        variants.push(Variant {
            ident: &variant.ident,
            ty: &field.ty,
        });
    }
    errors.finish()?;

    Ok(expand(ident, &krate, &variants))
}

/// Moves every token of a path to `span`, so an error about it points at `span`.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}

fn not_an_enum(spanned: TokenStream) -> syn::Error {
    let message = format!(
        "`JobSet` can only be derived for an enum whose variants each hold one job type, {SHAPE}"
    );
    syn::Error::new_spanned(spanned, message)
}

fn expand(ident: &Ident, krate: &TokenStream, variants: &[Variant<'_>]) -> TokenStream {
    // `<Type as Job>::NAME`, spanned on the type so a non-`Job` type is reported there.
    let names: Vec<_> = variants
        .iter()
        .map(|Variant { ty, .. }| quote_spanned!(ty.span()=> <#ty as #krate::Job>::NAME))
        .collect();
    let idents: Vec<_> = variants.iter().map(|variant| variant.ident).collect();
    let types: Vec<_> = variants.iter().map(|variant| variant.ty).collect();
    let run_bounds = types.iter().map(|ty| {
        let krate = respan(krate, ty.span());
        quote_spanned!(ty.span()=> #ty: #krate::Run<__State>)
    });
    let duplicate = format!("two job types in `{ident}` share one wire name");

    quote! {
        const _: () = {
            #[automatically_derived]
            impl #krate::JobSet for #ident {
                const NAMES: &'static [&'static ::core::primitive::str] = &[#(#names),*];

                fn decode(
                    __name: &::core::primitive::str,
                    __payload: &[::core::primitive::u8],
                ) -> ::core::result::Result<Self, #krate::Error> {
                    #(
                        if __name == #names {
                            return ::core::result::Result::map(
                                #krate::__private::decode::<#types>(__payload),
                                Self::#idents,
                            );
                        }
                    )*
                    ::core::result::Result::Err(#krate::Error::UnknownType {
                        job_type: ::core::convert::Into::into(__name),
                    })
                }

                fn options(__name: &::core::primitive::str) -> ::core::option::Option<#krate::JobOptions> {
                    #(
                        if __name == #names {
                            return ::core::option::Option::Some(<#types as #krate::Job>::OPTIONS);
                        }
                    )*
                    ::core::option::Option::None
                }

                fn name(&self) -> &'static ::core::primitive::str {
                    match self {
                        #(Self::#idents(_) => #names,)*
                    }
                }
            }

            #(
                #[automatically_derived]
                impl ::core::convert::From<#types> for #ident {
                    fn from(__job: #types) -> Self {
                        Self::#idents(__job)
                    }
                }
            )*

            #[automatically_derived]
            impl<__State> #krate::Dispatch<__State> for #ident
            where
                __State: ::core::marker::Send + ::core::marker::Sync + 'static,
                #(#run_bounds,)*
            {
                async fn dispatch(
                    self,
                    __cx: &#krate::Context<__State>,
                ) -> ::core::result::Result<#krate::Outcome, #krate::Failure> {
                    match self {
                        #(Self::#idents(__job) => #krate::Run::run(__job, __cx).await,)*
                    }
                }
            }

            const _: () = ::core::assert!(
                !#krate::__private::has_duplicate(<#ident as #krate::JobSet>::NAMES),
                #duplicate,
            );
        };
    }
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;

    fn expand(input: DeriveInput) -> Result<String, Vec<String>> {
        derive(&input)
            .map(|tokens| tokens.to_string())
            .map_err(|error| error.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn set_expands_every_variant() {
        let out = expand(parse_quote! { enum AppJob { Ping(Ping), Mail(mail::Send) } }).unwrap();
        assert!(out.contains("const NAMES : & 'static [& 'static :: core :: primitive :: str] = & [< Ping as :: job :: Job > :: NAME , < mail :: Send as :: job :: Job > :: NAME]"), "{out}");
        assert!(
            out.contains("impl :: core :: convert :: From < mail :: Send > for AppJob"),
            "{out}"
        );
        assert!(
            out.contains(
                "Ping : :: job :: Run < __State > , mail :: Send : :: job :: Run < __State > ,"
            ),
            "{out}"
        );
        assert!(
            out.contains("\"two job types in `AppJob` share one wire name\""),
            "{out}"
        );
    }

    #[test]
    fn set_honours_crate_path() {
        let out =
            expand(parse_quote! { #[job(crate = "other")] enum AppJob { Ping(Ping) } }).unwrap();
        assert!(out.contains("impl other :: JobSet for AppJob"), "{out}");
        assert!(!out.contains(":: job ::"), "{out}");
    }

    #[test]
    fn set_rejects_other_shapes_at_once() {
        let errors = expand(parse_quote! {
            enum AppJob<T> { Unit, Pair(A, B), Named { a: A }, Empty(), Ok(A), Again(A) }
        })
        .unwrap_err();
        let variant = "each `JobSet` variant holds exactly one job type, like `enum AppJob { SendEmail(SendEmail), Resize(Resize) }`";
        assert_eq!(
            errors,
            [
                "a `JobSet` enum cannot be generic: list the concrete job types",
                variant,
                variant,
                variant,
                variant,
                "`A` is already in variant `Ok`; each job type appears once",
            ]
        );
    }

    #[test]
    fn set_rejects_empty_enums_structs_and_misplaced_attributes() {
        let errors = expand(parse_quote! { enum AppJob {} }).unwrap_err();
        assert_eq!(
            errors,
            [
                "a `JobSet` enum needs at least one variant, like `enum AppJob { SendEmail(SendEmail), Resize(Resize) }`"
            ]
        );
        let errors = expand(parse_quote! { struct AppJob(Ping); }).unwrap_err();
        assert!(
            errors[0].starts_with("`JobSet` can only be derived for an enum"),
            "{errors:?}"
        );
        let errors = expand(parse_quote! { enum AppJob { #[job(name = "p")] Ping(#[job] Ping) } })
            .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
