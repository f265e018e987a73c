//! The states registered on the builder, bound at start-up to the handlers that declare them.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use retry_core::{HandlerStates, StateType, StateValue};

use crate::error::RegistryError;

/// Every value given to `RetryAppBuilder::state`, one per type.
#[derive(Default)]
pub(crate) struct StateRegistry {
    values: HashMap<TypeId, (&'static str, StateValue)>,
    /// The first type registered twice: reported at start-up, as the builder cannot fail.
    duplicate: Option<&'static str>,
}

impl StateRegistry {
    /// Registers `value` as the `State<T>` of every handler taking one.
    pub fn insert<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        let name = std::any::type_name::<T>();
        if self
            .values
            .insert(TypeId::of::<T>(), (name, Arc::new(value)))
            .is_some()
        {
            self.duplicate.get_or_insert(name);
        }
    }

    /// Fails when a type was registered twice: which one a handler meant is unknowable.
    pub fn check(&self) -> Result<(), RegistryError> {
        match self.duplicate {
            Some(type_name) => Err(RegistryError::DuplicateState { type_name }),
            None => Ok(()),
        }
    }

    /// The values of `handler`'s `State<T>` arguments, in the order it declares them.
    pub fn bind(
        &self,
        handler: &'static str,
        declared: &[StateType],
    ) -> Result<HandlerStates, RegistryError> {
        let values = declared
            .iter()
            .map(|wanted| match self.values.get(&wanted.id()) {
                Some((_, value)) => Ok(value.clone()),
                None => Err(RegistryError::MissingState {
                    handler,
                    type_name: wanted.name(),
                    registered: self.registered(),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(HandlerStates::new(values))
    }

    /// The registered type names, sorted, for error messages.
    fn registered(&self) -> String {
        let mut names: Vec<&str> = self.values.values().map(|(name, _)| *name).collect();
        names.sort_unstable();
        match names.is_empty() {
            true => "none".to_owned(),
            false => names.join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Db;

    #[derive(Clone)]
    struct Client;

    #[test]
    fn binds_in_declaration_order() {
        let mut registry = StateRegistry::default();
        registry.insert(Db);
        registry.insert(7u32);
        let states = registry
            .bind("h", &[StateType::of::<u32>(), StateType::of::<Db>()])
            .unwrap();
        assert_eq!(states.cloned::<u32>(0), 7);
        let _db: Db = states.cloned(1);
        assert!(registry.check().is_ok());
    }

    #[test]
    fn a_missing_type_names_the_handler_the_type_and_what_is_there() {
        let mut registry = StateRegistry::default();
        registry.insert(Arc::new(Db));
        let err = registry
            .bind("update_item", &[StateType::of::<Db>()])
            .unwrap_err();
        let db = std::any::type_name::<Db>();
        assert_eq!(
            err.to_string(),
            format!(
                "handler `update_item` takes `State<{db}>`, but no {db} is registered \
                 (registered: alloc::sync::Arc<{db}>); add one with \
                 `RetryApp::builder().state(..)`"
            )
        );
        let empty = StateRegistry::default()
            .bind("h", &[StateType::of::<Client>()])
            .unwrap_err();
        assert!(empty.to_string().contains("(registered: none)"), "{empty}");
    }

    #[test]
    fn a_type_registered_twice_is_refused() {
        let mut registry = StateRegistry::default();
        registry.insert(Db);
        registry.insert(Client);
        registry.insert(Db);
        let err = registry.check().unwrap_err();
        assert!(
            matches!(err, RegistryError::DuplicateState { type_name } if type_name == std::any::type_name::<Db>()),
            "{err}"
        );
    }
}
