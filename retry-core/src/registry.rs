//! The listener registry: what the attributes submit and the runtime collects
//! (through `inventory`, so no central list has to be maintained).

use std::future::Future;
use std::pin::Pin;

use crate::classify::{DltRoute, ErrorFilter, ErrorRules, ErrorType, HandlerError};
use crate::record::RawRecord;
use crate::settings::Setting;
use crate::state::{HandlerStates, StateType};

/// A boxed handler future borrowing the raw record.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'a>>;

/// The type-erased form of a handler: decode, clone its states, call the user's function,
/// convert its result.
pub type HandlerFn = for<'a> fn(&'a RawRecord<'a>, &'a HandlerStates) -> HandlerFuture<'a>;

/// What `#[retryable_topic]` registers for one handler.
#[derive(Debug)]
pub struct ListenerSpec {
    /// The handler function's name; names the listener, its default group and its
    /// environment variables (`RETRY_<NAME>_<SETTING>`).
    pub name: &'static str,
    /// Module path of the handler, for log messages.
    pub module_path: &'static str,
    /// Attribute arguments as written, `attempts = 4` as `(Setting::Attempts, "4")`.
    pub settings: &'static [(Setting, &'static str)],
    /// `include` / `exclude`.
    pub errors: ErrorFilter,
    /// `dlt_routing`: errors dead-lettered to DLTs of their own.
    pub dlt_routes: &'static [DltRoute],
    /// `pause_on`: errors meaning the downstream is unavailable, which open the listener's
    /// breaker.
    pub pause_on: &'static [ErrorType],
    /// The types of the handler's `State<T>` arguments, in order.
    pub states: &'static [StateType],
    /// The handler.
    pub handler: HandlerFn,
}

impl ListenerSpec {
    /// The error rules to resolve the listener's configuration with.
    pub fn rules(&self) -> ErrorRules {
        ErrorRules {
            filter: self.errors,
            dlt_routes: self.dlt_routes,
            pause_on: self.pause_on,
        }
    }
}

/// What `#[dlt_handler]` registers.
#[derive(Debug)]
pub struct DltHandlerSpec {
    /// The handler function's name.
    pub name: &'static str,
    /// The main topic whose DLT it handles.
    pub topic: &'static str,
    /// The types of the handler's `State<T>` arguments, in order.
    pub states: &'static [StateType],
    /// The handler.
    pub handler: HandlerFn,
}

inventory::collect!(ListenerSpec);
inventory::collect!(DltHandlerSpec);

/// Every `#[retryable_topic]` handler linked into the program.
pub fn listeners() -> impl Iterator<Item = &'static ListenerSpec> {
    inventory::iter::<ListenerSpec>.into_iter()
}

/// Every `#[dlt_handler]` linked into the program.
pub fn dlt_handlers() -> impl Iterator<Item = &'static DltHandlerSpec> {
    inventory::iter::<DltHandlerSpec>.into_iter()
}
