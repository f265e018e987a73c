//! Checks of the handler function and the arguments, before any code is generated.

use proc_macro2::Span;
use retry_core::{ErrorFilter, ListenerConfig, Origin, Setting};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, Type};

use crate::attr::Args;

/// The handler must be `async fn name(arg: Type) -> Result<..>`, free and not generic.
/// Returns the argument's type.
pub fn handler_signature<'f>(func: &'f ItemFn, attribute: &str) -> syn::Result<&'f Type> {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!("#[{attribute}] handlers must be `async fn`"),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("#[{attribute}] handlers cannot be generic"),
        ));
    }
    let arg = match (sig.inputs.len(), sig.inputs.first()) {
        (1, Some(FnArg::Typed(arg))) => arg,
        (1, Some(FnArg::Receiver(r))) => {
            return Err(syn::Error::new(
                r.span(),
                format!("#[{attribute}] handlers must be free functions, not methods"),
            ))
        }
        _ => {
            let span = match sig.inputs.iter().nth(1) {
                Some(surplus) => surplus.span(),
                None => sig.paren_token.span.join(),
            };
            return Err(syn::Error::new(
                span,
                format!("#[{attribute}] handlers take exactly one argument, the record"),
            ));
        }
    };
    if let ReturnType::Default = sig.output {
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            format!(
                "#[{attribute}] handlers must return a `Result<(), E>`, like `anyhow::Result<()>`"
            ),
        ));
    }
    Ok(&arg.ty)
}

/// Resolves the arguments with the runtime's own resolver (no environment at compile time),
/// so every value the runtime would reject is a compile error on the offending literal.
pub fn listener_args(args: &Args, name: &str, attribute_span: Span) -> syn::Result<()> {
    require_topic(args, attribute_span)?;
    if let [first, second] = &args.errors[..] {
        let mut error = syn::Error::new(
            second.span,
            "`include` and `exclude` cannot be used together",
        );
        error.combine(syn::Error::new(first.span, "the other list is here"));
        return Err(error);
    }
    let settings: Vec<(Setting, &str)> = args
        .entries
        .iter()
        .map(|e| (e.setting, e.value.as_str()))
        .collect();
    ListenerConfig::resolve(name, &settings, ErrorFilter::RetryAll, |_| None).map_err(|err| {
        let span = match err.origin {
            Origin::Attribute => args.get(err.setting).map_or(attribute_span, |e| e.span),
            _ => attribute_span,
        };
        syn::Error::new(span, format!("invalid `{}`: {}", err.setting, err.reason))
    })?;
    Ok(())
}

/// `topic` is required by both attributes.
pub fn require_topic(args: &Args, attribute_span: Span) -> syn::Result<()> {
    match args.get(Setting::Topic) {
        Some(_) => Ok(()),
        None => Err(syn::Error::new(
            attribute_span,
            "missing required argument `topic`, like `topic = \"orders\"`",
        )),
    }
}
