//! Code generation: the function as written, plus an adapter and an `inventory` registration.

use proc_macro2::{Span, TokenStream};
use proc_macro_crate::{crate_name, FoundCrate};
use quote::{format_ident, quote, quote_spanned};
use retry_core::Setting;
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, Type};

use crate::attr::{self, Args, ErrorList};
use crate::valid::{self, HandlerArgs};

/// Settings `#[retryable_topic]` accepts.
const LISTENER_SETTINGS: &[Setting] = &Setting::ALL;

/// Expands `#[retryable_topic(..)]`.
pub fn listener(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = attr::parse(args, LISTENER_SETTINGS, true)?;
    let func: ItemFn = syn::parse2(item)?;
    let handler_args = valid::handler_signature(&func, "retryable_topic")?;
    let name = func.sig.ident.to_string();
    valid::listener_args(&args, &name, Span::call_site())?;

    let krate = runtime_path();
    let adapter = adapter(&krate, &func, &handler_args, quote!(FromRawRecord));
    let states = state_types(&krate, &handler_args.states);
    let settings = args.entries.iter().map(|e| {
        let variant = format_ident!("{}", e.setting.variant());
        let value = &e.value;
        quote!((#krate::__private::Setting::#variant, #value))
    });
    let errors = error_filter(&krate, args.errors.first());
    let routes = args
        .routes
        .iter()
        .flat_map(|(_, routes)| routes)
        .map(|route| {
            let suffix = &route.suffix;
            let types = error_types(&krate, &route.types);
            quote!(#krate::__private::DltRoute { suffix: #suffix, errors: &[#(#types),*] })
        });
    let pause_on = error_types(&krate, args.pause_on.as_deref().unwrap_or_default());
    Ok(quote! {
        #func

        const _: () = {
            #adapter
            #krate::__private::inventory::submit! {
                #krate::__private::ListenerSpec {
                    name: #name,
                    module_path: ::core::module_path!(),
                    settings: &[#(#settings),*],
                    errors: #errors,
                    dlt_routes: &[#(#routes),*],
                    pause_on: &[#(#pause_on),*],
                    states: &[#(#states),*],
                    handler: __retry_adapter,
                }
            }
        };
    })
}

/// Expands `#[dlt_handler(topic = "..")]`.
pub fn dlt_handler(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args: Args = attr::parse(args, &[Setting::Topic], false)?;
    let func: ItemFn = syn::parse2(item)?;
    let handler_args = valid::handler_signature(&func, "dlt_handler")?;
    valid::require_topic(&args, Span::call_site())?;

    let krate = runtime_path();
    let adapter = adapter(&krate, &func, &handler_args, quote!(DeadLetterArgument));
    let states = state_types(&krate, &handler_args.states);
    let name = func.sig.ident.to_string();
    let topic = args.get(Setting::Topic).map(|e| e.value.as_str());
    Ok(quote! {
        #func

        const _: () = {
            #adapter
            #krate::__private::inventory::submit! {
                #krate::__private::DltHandlerSpec {
                    name: #name,
                    topic: #topic,
                    states: &[#(#states),*],
                    handler: __retry_adapter,
                }
            }
        };
    })
}

/// A function of the registry's `HandlerFn` type that decodes the record through `decoder`
/// (a trait of `__private` the argument type must implement), clones the handler's states,
/// calls the handler and converts its result. Type errors in the user's signature point at
/// the user's tokens.
fn adapter(
    krate: &TokenStream,
    func: &ItemFn,
    args: &HandlerArgs<'_>,
    decoder: TokenStream,
) -> TokenStream {
    let ident = &func.sig.ident;
    let record_ty = args.record;
    let from_raw =
        quote_spanned!(record_ty.span()=> <#record_ty as #krate::__private::#decoder>::from_raw);
    let states = args.states.iter().enumerate().map(|(index, ty)| {
        quote_spanned!(ty.span()=>
            #krate::__private::State(#krate::__private::HandlerStates::cloned::<#ty>(states, #index))
        )
    });
    let convert = quote_spanned!(func.sig.output.span()=> #krate::__private::into_handler_result);
    quote! {
        fn __retry_adapter<'a>(
            raw: &'a #krate::__private::RawRecord<'a>,
            states: &'a #krate::__private::HandlerStates,
        ) -> ::core::pin::Pin<::std::boxed::Box<
            dyn ::core::future::Future<Output = ::core::result::Result<(), #krate::__private::HandlerError>>
                + ::core::marker::Send
                + 'a,
        >> {
            ::std::boxed::Box::pin(async move {
                let record = #from_raw(raw)?;
                #convert(#ident(record, #(#states),*).await)
            })
        }
    }
}

/// `StateType::of::<T>()` for each `State<T>` the handler takes, each spanned on its `T`.
fn state_types(krate: &TokenStream, types: &[&Type]) -> Vec<TokenStream> {
    types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> #krate::__private::StateType::of::<#ty>()))
        .collect()
}

fn error_filter(krate: &TokenStream, list: Option<&ErrorList>) -> TokenStream {
    let Some(list) = list else {
        return quote!(#krate::__private::ErrorFilter::RetryAll);
    };
    let variant = Ident::new(if list.include { "Include" } else { "Exclude" }, list.span);
    let types = error_types(krate, &list.types);
    quote! {
        #krate::__private::ErrorFilter::#variant(&[#(#types),*])
    }
}

/// `ErrorType::of::<T>()` for each listed type, each spanned on its path.
fn error_types<'a>(
    krate: &'a TokenStream,
    types: &'a [syn::Path],
) -> impl Iterator<Item = TokenStream> + 'a {
    types
        .iter()
        .map(move |t| quote_spanned!(t.span()=> #krate::__private::ErrorType::of::<#t>()))
}

/// How generated code names the runtime: `retry_runtime` for users, `retry_core` for code
/// that depends on the core only (this crate's tests), whatever either is renamed to.
///
/// Neither crate uses the attributes itself, so "itself" can only mean its doctests or
/// examples, which name it by its crate name like any user.
fn runtime_path() -> TokenStream {
    for candidate in ["retry-runtime", "retry-core"] {
        let name = match crate_name(candidate) {
            Ok(FoundCrate::Itself) => candidate.replace('-', "_"),
            Ok(FoundCrate::Name(name)) => name,
            Err(_) => continue,
        };
        let ident = Ident::new(&name, Span::call_site());
        return quote!(::#ident);
    }
    quote!(::retry_runtime)
}
