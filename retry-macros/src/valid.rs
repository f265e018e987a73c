//! Checks of the handler function and the arguments, before any code is generated.

use proc_macro2::Span;
use retry_core::{
    validate_topic_name, DltRoute, ErrorFilter, ErrorRules, ListenerConfig, Origin, Setting,
    TopicError,
};
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
    let rules = ErrorRules {
        filter: ErrorFilter::RetryAll,
        dlt_routes: dlt_routes(args)?,
    };
    let settings: Vec<(Setting, &str)> = args
        .entries
        .iter()
        .map(|e| (e.setting, e.value.as_str()))
        .collect();
    ListenerConfig::resolve(name, &settings, rules, |_| None).map_err(|err| {
        let span = match err.origin {
            Origin::Attribute => args.get(err.setting).map_or(attribute_span, |e| e.span),
            _ => attribute_span,
        };
        syn::Error::new(span, format!("invalid `{}`: {}", err.setting, err.reason))
    })?;
    Ok(())
}

/// Checks the `dlt_routing` suffixes on their literals and returns the routes for naming (no
/// error types: those exist only in the generated code; leaked, as the resolver keeps
/// routes for the program's lifetime and this process ends with the compilation).
fn dlt_routes(args: &Args) -> syn::Result<&'static [DltRoute]> {
    let Some((_, routes)) = &args.routes else {
        return Ok(&[]);
    };
    let mut checked: Vec<DltRoute> = Vec::with_capacity(routes.len());
    for route in routes {
        let suffix = route.suffix.value();
        let reason = if suffix.is_empty() {
            Some("a route's suffix cannot be empty: it would name the generic DLT".to_owned())
        } else if checked.iter().any(|r| r.suffix == suffix) {
            Some(format!("the suffix `{suffix}` is routed twice"))
        } else {
            match validate_topic_name(&format!("t{suffix}")) {
                Err(TopicError::IllegalCharacter { bad, .. }) => Some(format!(
                    "{bad:?} cannot be part of a topic name; Kafka allows only ASCII letters, \
                     digits, `.`, `_` and `-`"
                )),
                _ => None,
            }
        };
        if let Some(reason) = reason {
            return Err(syn::Error::new(
                route.suffix.span(),
                format!("invalid `dlt_routing`: {reason}"),
            ));
        }
        checked.push(DltRoute::new(Box::leak(suffix.into_boxed_str()), &[]));
    }
    Ok(Box::leak(checked.into_boxed_slice()))
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
