//! Dependencies handlers receive as `State<T>` arguments: the extractor, what a handler
//! declares, and the values the runtime binds to it at start-up.

use std::any::{Any, TypeId};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A dependency of a handler (a connection pool, an HTTP client, configuration), registered
/// once on the app builder and given to every call as a clone; axum's extractor of the same
/// name, in a handler's arguments after its record:
///
/// ```ignore
/// #[retryable_topic(topic = "update-item")]
/// async fn update_item(rec: Record<UpdateItem>, State(db): State<Db>) -> anyhow::Result<()> {
///     db.set_status(&rec.value().id, &rec.value().status).await
/// }
/// ```
///
/// `T` is `Clone + Send + Sync + 'static`; each call clones it, so make it cheap to clone
/// (an `Arc`, or a pool handle that is one). A handler whose `T` was never registered stops
/// the app at start-up, naming the handler and the type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State<T>(pub T);

impl<T> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for State<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// The type of one `State<T>` a handler takes, as its attribute declares it.
#[derive(Clone, Copy)]
pub struct StateType {
    id: fn() -> TypeId,
    name: fn() -> &'static str,
}

impl StateType {
    /// The state type `T`.
    pub const fn of<T: Any>() -> Self {
        Self {
            id: TypeId::of::<T>,
            name: std::any::type_name::<T>,
        }
    }

    /// Its `TypeId`, to find the registered value.
    pub fn id(&self) -> TypeId {
        (self.id)()
    }

    /// The Rust type name, e.g. `items::Store`, for error messages.
    pub fn name(&self) -> &'static str {
        (self.name)()
    }
}

impl fmt::Debug for StateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A registered state value, type-erased.
pub type StateValue = Arc<dyn Any + Send + Sync>;

/// The values bound to one handler's `State<T>` arguments, in the order it declares them;
/// the runtime checks at start-up that each is of the declared type.
#[derive(Clone, Default)]
pub struct HandlerStates(Box<[StateValue]>);

impl HandlerStates {
    /// Binds `values`, one per declared `State<T>`, in declaration order.
    pub fn new(values: Vec<StateValue>) -> Self {
        Self(values.into_boxed_slice())
    }

    /// A clone of the value of the handler's `index`th `State<T>`: the only cost per call
    /// (no allocation unless `T::clone` makes one).
    ///
    /// # Panics
    ///
    /// When the value is not a `T`: the runtime binds values by the types the handler
    /// declares, so this means the handler was called with another handler's states. A
    /// panic in a handler is a failure of that record, never a crash.
    pub fn cloned<T: Clone + Send + Sync + 'static>(&self, index: usize) -> T {
        self.0
            .get(index)
            .and_then(|value| value.downcast_ref::<T>())
            .unwrap_or_else(|| {
                panic!(
                    "state #{index} of this handler is not a {}: states are bound at \
                     start-up in the order the handler declares them",
                    std::any::type_name::<T>()
                )
            })
            .clone()
    }
}

impl fmt::Debug for HandlerStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HandlerStates({} values)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Db(&'static str);

    #[test]
    fn a_declared_type_names_itself_and_finds_its_value() {
        let declared = StateType::of::<Db>();
        assert!(declared.name().ends_with("Db"), "{}", declared.name());
        let value: StateValue = Arc::new(Db("pool"));
        assert_eq!((*value).type_id(), declared.id());
        let states = HandlerStates::new(vec![value, Arc::new(7u32)]);
        assert_eq!(states.cloned::<Db>(0), Db("pool"));
        assert_eq!(states.cloned::<u32>(1), 7);
    }

    #[test]
    #[should_panic(expected = "state #1 of this handler is not a")]
    fn a_value_of_another_type_is_a_failure_not_a_silent_default() {
        HandlerStates::new(vec![Arc::new(Db("pool")), Arc::new(7u32)]).cloned::<Db>(1);
    }
}
