//! [`CommandRegistry`]: command names to handlers, with upcasters for older payload versions.
//! It is the [`CommandDispatcher`] replays go through.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use pulse_extensibility::{
    BoxError, CommandDispatcher, DeadLetterEntry, Failure, JsonSerializer, MAX_COMMAND_TYPE_LEN,
    PayloadSerializer,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::command::Command;
use super::handler_error::{HandlerError, ReplayError};
use super::replay::{REPLAYING, ReplayContext};
use super::retry::RetryPolicy;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type TypedHandler<C> = Arc<dyn Fn(C) -> BoxFuture<Result<(), HandlerError>> + Send + Sync>;
type Upcaster = Box<dyn Fn(&str) -> Result<String, String> + Send + Sync>;
type Invoke = Box<dyn Fn(&str) -> Result<BoxFuture<Result<(), HandlerError>>, String> + Send + Sync>;
type Check = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// One registered command.
pub(crate) struct Registered {
    pub(crate) version: u32,
    /// The typed handler, a `TypedHandler<C>`.
    pub(crate) typed: Box<dyn Any + Send + Sync>,
    invoke: Invoke,
    pub(crate) check: Check,
    upcasters: BTreeMap<u32, Upcaster>,
    pub(crate) retry: Option<RetryPolicy>,
}

/// Maps command names to handlers.
///
/// # Examples
///
/// ```
/// use pulse::{Command, CommandRegistry, HandlerError};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Clone, Serialize, Deserialize)]
/// struct CreateOrder {
///     order_id: u64,
///     currency: String,
/// }
///
/// impl Command for CreateOrder {
///     const NAME: &'static str = "orders.create";
///     const VERSION: u32 = 2;
/// }
///
/// let mut registry = CommandRegistry::new();
/// registry
///     .register(|order: CreateOrder| async move {
///         println!("creating order {}", order.order_id);
///         Ok::<(), HandlerError>(())
///     })
///     // Version 1 had no currency.
///     .upcast_json(1, |mut v1| {
///         v1["currency"] = "EUR".into();
///         Ok(v1)
///     });
/// ```
pub struct CommandRegistry<S = JsonSerializer> {
    serializer: Arc<S>,
    commands: HashMap<&'static str, Registered>,
}

impl CommandRegistry<JsonSerializer> {
    /// An empty registry storing payloads as JSON.
    pub fn new() -> Self {
        Self::with_serializer(JsonSerializer)
    }
}

impl Default for CommandRegistry<JsonSerializer> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> fmt::Debug for CommandRegistry<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.commands.iter().map(|(name, r)| (*name, r.version)).collect();
        names.sort_unstable();
        f.debug_struct("CommandRegistry").field("commands", &names).finish_non_exhaustive()
    }
}

impl<S: PayloadSerializer + 'static> CommandRegistry<S> {
    /// An empty registry storing payloads with `serializer`.
    pub fn with_serializer(serializer: S) -> Self {
        Self { serializer: Arc::new(serializer), commands: HashMap::new() }
    }

    /// The serializer payloads are stored with.
    pub fn serializer(&self) -> &S {
        &self.serializer
    }

    /// Registers `handler` for command `C`.
    ///
    /// The handler returns `Result<(), E>` for any error that converts into a boxed error: a
    /// `std::error::Error + Send + Sync`, an `anyhow::Error`, a `Box<dyn Error + Send + Sync>`
    /// or a [`HandlerError`] (which says whether retrying can help; anything else is transient).
    /// [`Self::register_with`] hands the handler shared state instead of a closure's captures.
    ///
    /// # Panics
    ///
    /// When `C::NAME` is already registered, is empty, only whitespace or longer than 500
    /// characters, or `C::VERSION` is 0: these are set-up mistakes, found at start-up.
    pub fn register<C, F, Fut, E>(&mut self, handler: F) -> Registration<'_, C, S>
    where
        C: Command,
        F: Fn(C) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        assert!(
            !C::NAME.trim().is_empty() && C::NAME.chars().count() <= MAX_COMMAND_TYPE_LEN,
            "command name {:?} must have 1 to 500 characters, not only whitespace",
            C::NAME
        );
        assert!(C::VERSION >= 1, "command {:?} has version 0; versions start at 1", C::NAME);
        assert!(!self.commands.contains_key(C::NAME), "command {:?} is registered twice", C::NAME);
        let typed: TypedHandler<C> = Arc::new(move |command: C| {
            let running = handler(command);
            Box::pin(async move { running.await.map_err(HandlerError::transient) })
        });
        let (invoke_handler, invoke_serializer) = (typed.clone(), self.serializer.clone());
        let invoke: Invoke = Box::new(move |payload| {
            let command: C = invoke_serializer.deserialize(payload).map_err(|e| e.to_string())?;
            Ok(invoke_handler(command))
        });
        let check_serializer = self.serializer.clone();
        let check: Check = Box::new(move |payload| {
            check_serializer.deserialize::<C>(payload).map(drop).map_err(|e| e.to_string())
        });
        let registered = Registered {
            version: C::VERSION,
            typed: Box::new(typed),
            invoke,
            check,
            upcasters: BTreeMap::new(),
            retry: None,
        };
        let registered = self.commands.entry(C::NAME).or_insert(registered);
        Registration { registered, serializer: self.serializer.clone(), command: PhantomData }
    }

    /// Registers `handler` for command `C`, handing it a clone of `state` with every command:
    /// a connection pool, a client, a configuration, shared by every handler that needs it,
    /// with no clone inside the closure.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use pulse::{Command, CommandRegistry};
    ///
    /// struct Gateway;
    ///
    /// impl Gateway {
    ///     async fn charge(&self, invoice: u64) -> std::io::Result<()> {
    ///         println!("charging invoice {invoice}");
    ///         Ok(())
    ///     }
    /// }
    ///
    /// #[derive(Clone, serde::Serialize, serde::Deserialize)]
    /// struct ChargeCard {
    ///     invoice: u64,
    /// }
    ///
    /// impl Command for ChargeCard {
    ///     const NAME: &'static str = "billing.charge";
    /// }
    ///
    /// let gateway = Arc::new(Gateway);
    /// let mut registry = CommandRegistry::new();
    /// registry.register_with(gateway, |gateway: Arc<Gateway>, charge: ChargeCard| async move {
    ///     gateway.charge(charge.invoice).await
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Self::register`].
    pub fn register_with<T, C, F, Fut, E>(&mut self, state: T, handler: F) -> Registration<'_, C, S>
    where
        T: Clone + Send + Sync + 'static,
        C: Command,
        F: Fn(T, C) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.register(move |command: C| handler(state.clone(), command))
    }

    /// The current version of the command registered as `command_type`: the version a replay
    /// upcasts an older payload to. `None` when no handler is registered for it.
    pub fn version(&self, command_type: &str) -> Option<u32> {
        self.commands.get(command_type).map(|registered| registered.version)
    }

    pub(crate) fn get(&self, command_type: &str) -> Option<&Registered> {
        self.commands.get(command_type)
    }

    /// `payload`, stored at `version`, brought to the current version of `command_type`.
    fn upcast(
        &self,
        command_type: &str,
        registered: &Registered,
        version: u32,
        payload: &str,
    ) -> Result<String, ReplayError> {
        let current = registered.version;
        if version > current {
            return Err(ReplayError::NoUpcastPath {
                command_type: command_type.to_owned(),
                from: version,
                current,
            });
        }
        let mut payload = payload.to_owned();
        for from in version..current {
            let upcaster = registered.upcasters.get(&from).ok_or_else(|| ReplayError::NoUpcastPath {
                command_type: command_type.to_owned(),
                from,
                current,
            })?;
            payload = upcaster(&payload).map_err(|reason| ReplayError::UpcastFailed {
                command_type: command_type.to_owned(),
                from,
                reason,
            })?;
        }
        Ok(payload)
    }
}

#[async_trait]
impl<S: PayloadSerializer + 'static> CommandDispatcher for CommandRegistry<S> {
    /// Upcasts the stored payload to the command's current version, deserializes it and runs the
    /// handler once. A dispatch made inside the handler is not captured again: its failure is
    /// this replay's.
    async fn dispatch(&self, entry: &DeadLetterEntry) -> Result<(), Failure> {
        let command_type = entry.command_type.as_str();
        let registered = self.get(command_type).ok_or_else(|| {
            ReplayError::UnknownCommandType { command_type: command_type.to_owned() }.failure()
        })?;
        let payload = self
            .upcast(command_type, registered, entry.command_version, &entry.payload)
            .map_err(|e| e.failure())?;
        let running = (registered.invoke)(&payload).map_err(|reason| {
            ReplayError::UndeserializablePayload { command_type: command_type.to_owned(), reason }.failure()
        })?;
        REPLAYING.scope(ReplayContext::of(entry), running).await.map_err(|error| error.to_failure())
    }
}

/// Further settings of one registered command: upcasters and its retry policy.
pub struct Registration<'a, C, S> {
    registered: &'a mut Registered,
    serializer: Arc<S>,
    command: PhantomData<fn(C)>,
}

impl<C: Command, S: PayloadSerializer + 'static> Registration<'_, C, S> {
    fn add_upcaster(self, from_version: u32, upcaster: Upcaster) -> Self {
        assert!(
            (1..C::VERSION).contains(&from_version),
            "an upcaster of {:?} from version {from_version} leads nowhere: versions run 1 to {}",
            C::NAME,
            C::VERSION
        );
        let replaced = self.registered.upcasters.insert(from_version, upcaster);
        assert!(replaced.is_none(), "two upcasters of {:?} from version {from_version}", C::NAME);
        self
    }

    /// Registers a typed upcaster from version `from_version` (an `Old`) to the next (a `New`).
    ///
    /// # Panics
    ///
    /// When `from_version` is not below `C::VERSION`, or already has an upcaster.
    pub fn upcast<Old, New>(
        self,
        from_version: u32,
        upcaster: impl Fn(Old) -> New + Send + Sync + 'static,
    ) -> Self
    where
        Old: DeserializeOwned,
        New: Serialize,
    {
        let serializer = self.serializer.clone();
        let upcaster: Upcaster = Box::new(move |payload| {
            let old: Old = serializer.deserialize(payload).map_err(|e| e.to_string())?;
            serializer.serialize(&upcaster(old)).map_err(|e| e.to_string())
        });
        self.add_upcaster(from_version, upcaster)
    }

    /// Retries `C` with `policy` instead of the runtime's default.
    pub fn retry(self, policy: RetryPolicy) -> Self {
        self.registered.retry = Some(policy);
        self
    }
}

impl<C: Command> Registration<'_, C, JsonSerializer> {
    /// Registers an upcaster over the JSON value, from version `from_version` to the next.
    ///
    /// # Panics
    ///
    /// When `from_version` is not below `C::VERSION`, or already has an upcaster.
    pub fn upcast_json(
        self,
        from_version: u32,
        upcaster: impl Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    ) -> Self {
        let upcaster: Upcaster = Box::new(move |payload| {
            let old = serde_json::from_str(payload).map_err(|e| e.to_string())?;
            Ok(upcaster(old)?.to_string())
        });
        self.add_upcaster(from_version, upcaster)
    }
}
