//! Parsing of attribute arguments into spanned values.

use proc_macro2::{Span, TokenStream};
use retry_core::Setting;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{bracketed, parenthesized, Lit, LitStr, Path, Token};

/// One `name = value` argument, its value rendered as text, with spans for errors.
pub struct Entry {
    pub setting: Setting,
    pub value: String,
    pub span: Span,
}

/// An `include = [..]` or `exclude = [..]` list.
pub struct ErrorList {
    pub include: bool,
    pub span: Span,
    pub types: Vec<Path>,
}

/// One `"-suffix" = [Type, ...]` of `dlt_routing(..)`.
pub struct Route {
    pub suffix: LitStr,
    pub types: Vec<Path>,
}

impl Parse for Route {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let suffix: LitStr = input.parse()?;
        input.parse::<Token![=]>()?;
        let content;
        bracketed!(content in input);
        let types = Punctuated::<Path, Token![,]>::parse_terminated(&content)?;
        if types.is_empty() {
            return Err(syn::Error::new(
                suffix.span(),
                "expected at least one error type, like `\"-validation\" = [InvalidStatus]`",
            ));
        }
        Ok(Self {
            suffix,
            types: types.into_iter().collect(),
        })
    }
}

/// The parsed arguments of either attribute.
pub struct Args {
    pub entries: Vec<Entry>,
    pub errors: Vec<ErrorList>,
    /// `dlt_routing("-suffix" = [Type, ...], ...)`, when given.
    pub routes: Option<(Span, Vec<Route>)>,
    /// `pause_on = [Type, ...]`, when given: errors meaning the downstream is unavailable.
    pub pause_on: Option<Vec<Path>>,
}

impl Args {
    pub fn get(&self, setting: Setting) -> Option<&Entry> {
        self.entries.iter().find(|e| e.setting == setting)
    }
}

/// Parses `name = value, ...`; `allowed` lists the settings this attribute takes.
pub fn parse(tokens: TokenStream, allowed: &[Setting], error_lists: bool) -> syn::Result<Args> {
    let mut args = Args {
        entries: Vec::new(),
        errors: Vec::new(),
        routes: None,
        pause_on: None,
    };
    let parser = syn::meta::parser(|meta| {
        let name = meta.path.require_ident()?.to_string();
        if error_lists && (name == "include" || name == "exclude") {
            let span = meta.path.require_ident()?.span();
            if args
                .errors
                .iter()
                .any(|l| (l.include) == (name == "include"))
            {
                return Err(meta.error(format!("duplicate argument `{name}`")));
            }
            args.errors.push(ErrorList {
                include: name == "include",
                span,
                types: parse_type_list(&meta, &name, "NotFoundYet")?,
            });
            return Ok(());
        }
        if error_lists && name == "pause_on" {
            if args.pause_on.is_some() {
                return Err(meta.error("duplicate argument `pause_on`"));
            }
            args.pause_on = Some(parse_type_list(&meta, &name, "DbUnavailable")?);
            return Ok(());
        }
        if error_lists && name == "dlt_routing" {
            if args.routes.is_some() {
                return Err(meta.error("duplicate argument `dlt_routing`"));
            }
            let span = meta.path.require_ident()?.span();
            let content;
            parenthesized!(content in meta.input);
            let routes = Punctuated::<Route, Token![,]>::parse_terminated(&content)?;
            if routes.is_empty() {
                return Err(meta.error(
                    "expected at least one route, like `dlt_routing(\"-validation\" = [InvalidStatus])`",
                ));
            }
            args.routes = Some((span, routes.into_iter().collect()));
            return Ok(());
        }
        let setting = Setting::from_name(&name)
            .filter(|s| allowed.contains(s))
            .ok_or_else(|| meta.error(unknown_argument(&name, allowed, error_lists)))?;
        if args.get(setting).is_some() {
            return Err(meta.error(format!("duplicate argument `{name}`")));
        }
        let lit: Lit = meta.value()?.parse()?;
        let value = literal_text(setting, &lit)?;
        args.entries.push(Entry {
            setting,
            value,
            span: lit.span(),
        });
        Ok(())
    });
    parser.parse2(tokens)?;
    Ok(args)
}

fn unknown_argument(name: &str, allowed: &[Setting], error_lists: bool) -> String {
    let mut names: Vec<&str> = allowed
        .iter()
        .filter(|s| **s != Setting::PauseOn)
        .map(|s| s.name())
        .collect();
    if error_lists {
        names.extend(["include", "exclude", "dlt_routing", "pause_on"]);
    }
    format!(
        "unknown argument `{name}`; expected one of: {}",
        names.join(", ")
    )
}

/// `name = [Type, ...]`, at least one type; `example` names one in error messages.
fn parse_type_list(
    meta: &ParseNestedMeta<'_>,
    name: &str,
    example: &str,
) -> syn::Result<Vec<Path>> {
    let input = meta.value()?;
    if !input.peek(syn::token::Bracket) {
        return Err(input.error(format!(
            "`{name}` expects a list of error types, like `{name} = [{example}]`"
        )));
    }
    let content;
    bracketed!(content in input);
    let types = Punctuated::<Path, Token![,]>::parse_terminated(&content)?;
    if types.is_empty() {
        return Err(meta.error(format!(
            "expected at least one error type, like `{name} = [{example}]`"
        )));
    }
    Ok(types.into_iter().collect())
}

/// The literal's value as the text the runtime parses, checked for the right literal kind.
fn literal_text(setting: Setting, lit: &Lit) -> syn::Result<String> {
    let expected = match setting {
        Setting::Attempts
        | Setting::Partitions
        | Setting::Replication
        | Setting::Concurrency
        | Setting::MaxBlockedKeys
        | Setting::MaxParked => {
            if let Lit::Int(i) = lit {
                return Ok(i.base10_digits().to_owned());
            }
            "a whole number, like `4`"
        }
        Setting::Jitter => match lit {
            Lit::Float(f) => return Ok(f.base10_digits().to_owned()),
            Lit::Int(i) => return Ok(i.base10_digits().to_owned()),
            _ => "a fraction, like `0.1`",
        },
        Setting::AutoStartDlt => {
            if let Lit::Bool(b) = lit {
                return Ok(b.value.to_string());
            }
            "`true` or `false`"
        }
        Setting::AutoCreate => match lit {
            Lit::Bool(b) => return Ok(b.value.to_string()),
            Lit::Str(s) => return Ok(s.value()),
            _ => "`true`, `false` or `\"retry\"`",
        },
        _ => {
            if let Lit::Str(s) = lit {
                return Ok(s.value());
            }
            match setting {
                Setting::Backoff => "a string like `\"1s*2\"`",
                Setting::MaxDelay | Setting::Timeout | Setting::MaxProbeDelay => {
                    "a duration string like `\"30s\"`"
                }
                Setting::Probe => "a string like `\"5s*2\"`",
                Setting::Breaker => "a failure rate like `\"20 in 10s\"`, or `\"off\"`",
                Setting::Suffix => "`\"delay\"` or `\"index\"`",
                Setting::Dlt => "`\"always_retry\"`, `\"fail\"` or `\"none\"`",
                Setting::TopicReuse => "`\"single\"` or `\"multiple\"`",
                Setting::StackTrace => "`\"chain\"` or `\"full\"`",
                Setting::Ordering => "`\"partition\"`, `\"key\"` or `\"none\"`",
                Setting::RetryTopicSuffix | Setting::DltTopicSuffix => {
                    "a topic suffix like `\"-retry\"`"
                }
                _ => "a string",
            }
        }
    };
    Err(syn::Error::new(
        lit.span(),
        format!("`{}` expects {expected}", setting.name()),
    ))
}
