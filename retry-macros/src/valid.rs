//! Checks of the handler function and the arguments, before any code is generated.

use proc_macro2::Span;
use quote::ToTokens;
use retry_core::{
    validate_topic_name, DltRoute, ErrorFilter, ErrorRules, ListenerConfig, Origin, Setting,
    TopicError,
};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, Path, PathArguments, ReturnType, Type};

use crate::attr::Args;

/// What a handler takes: its record, then the `T` of each `State<T>`, in order.
pub struct HandlerArgs<'f> {
    pub record: &'f Type,
    pub states: Vec<&'f Type>,
}

/// The handler must be `async fn name(rec: Record, State(x): State<T>, ...) -> Result<..>`,
/// free and not generic.
pub fn handler_signature<'f>(func: &'f ItemFn, attribute: &str) -> syn::Result<HandlerArgs<'f>> {
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
    let mut types = Vec::with_capacity(sig.inputs.len());
    for input in &sig.inputs {
        match input {
            FnArg::Typed(arg) => types.push(&*arg.ty),
            FnArg::Receiver(r) => {
                return Err(syn::Error::new(
                    r.span(),
                    format!("#[{attribute}] handlers must be free functions, not methods"),
                ))
            }
        }
    }
    let Some((record, rest)) = types.split_first() else {
        return Err(syn::Error::new(
            sig.paren_token.span.join(),
            format!("#[{attribute}] handlers take the record first, then any `State<T>` arguments"),
        ));
    };
    if state_type(record).is_some() {
        return Err(syn::Error::new(
            record.span(),
            format!(
                "#[{attribute}] handlers take the record first: move this `State` after it, \
                 like `async fn handle(rec: Record<T>, State(db): State<Db>)`"
            ),
        ));
    }
    let states = rest
        .iter()
        .map(|ty| {
            state_type(ty).ok_or_else(|| {
                syn::Error::new(
                    ty.span(),
                    format!(
                        "after the record, #[{attribute}] handlers take only `State<T>` \
                         arguments: dependencies registered with `RetryApp::builder().state(..)`"
                    ),
                )
            })
        })
        .collect::<syn::Result<_>>()?;
    if let ReturnType::Default = sig.output {
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            format!(
                "#[{attribute}] handlers must return a `Result<(), E>`, like `anyhow::Result<()>`"
            ),
        ));
    }
    Ok(HandlerArgs { record, states })
}

/// `T` when `ty` is written `State<T>` (or `path::State<T>`).
fn state_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if path.qself.is_some() || last.ident != "State" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>()[..] {
        [GenericArgument::Type(inner)] => Some(inner),
        _ => None,
    }
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
    pause_on_apart(args)?;
    let rules = ErrorRules {
        filter: ErrorFilter::RetryAll,
        dlt_routes: dlt_routes(args)?,
        pause_on: &[],
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

/// A `pause_on` type holds its record for the breaker: it cannot also be in `exclude` (sent
/// straight to the DLT) or a `dlt_routing` list (dead-lettered to a DLT of its own). Types are
/// compared as written: the macro sees paths, not types.
fn pause_on_apart(args: &Args) -> syn::Result<()> {
    let Some(pause_on) = &args.pause_on else {
        return Ok(());
    };
    const EXCLUDED: (&str, &str) = (
        "exclude",
        "an error cannot both pause the listener and go straight to the DLT",
    );
    const ROUTED: (&str, &str) = (
        "dlt_routing",
        "a `pause_on` error holds its record for the breaker instead of dead-lettering it",
    );
    let excluded = args
        .errors
        .iter()
        .filter(|list| !list.include)
        .flat_map(|list| list.types.iter().map(|t| (t, EXCLUDED)));
    let routed = args
        .routes
        .iter()
        .flat_map(|(_, routes)| routes)
        .flat_map(|route| route.types.iter().map(|t| (t, ROUTED)));
    let others: Vec<(&Path, (&str, &str))> = excluded.chain(routed).collect();
    for paused in pause_on {
        let written = path_text(paused);
        if let Some((other, (list, reason))) = others.iter().find(|(t, _)| path_text(t) == written)
        {
            let mut error = syn::Error::new_spanned(
                paused,
                format!("`{written}` is in both `pause_on` and `{list}`: {reason}"),
            );
            error.combine(syn::Error::new_spanned(
                other,
                format!("`{list}` lists it here"),
            ));
            return Err(error);
        }
    }
    Ok(())
}

/// A path as written, without spacing: `std :: io :: Error` as `std::io::Error`.
fn path_text(path: &Path) -> String {
    path.to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
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
