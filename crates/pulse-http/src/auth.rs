//! Who is calling and what they may do: the [`Authorizer`] an application plugs in, the
//! [`Principal`] it returns, the middleware that runs it, and [`Access`], the extractor through
//! which every handler gets the store as its principal may see it.
//!
//! The rules, deny by default:
//!
//! - Every route but the optional public health check goes through the authorizer; without a
//!   principal a request is 401.
//! - A viewer reads; an operator also replays, dismisses, resolves and edits; an admin also
//!   purges. A role below the route's is 403.
//! - A principal with a tenant only ever gets the store scoped to that tenant: another tenant's
//!   entry is 404, exactly as an id that does not exist.
//! - A principal without a tenant sees every tenant, and only an admin may: any other principal
//!   without a tenant is 403 everywhere.

mod token;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pulse::{Actor, DeadLetters, Scope, TenantId};
use serde::{Deserialize, Serialize};

pub use self::token::{TokenAuthorizer, TokenError};
use crate::problem::ApiError;
use crate::router::AppState;

/// Decides who sent a request. Implement it to plug in an application's own authentication;
/// [`TokenAuthorizer`] is the built-in one.
///
/// # Examples
///
/// ```
/// use axum::http::request::Parts;
/// use pulse_http::{AuthError, Authorizer, Principal, Role};
///
/// /// Trusts a header set by the gateway in front of the service.
/// struct GatewayAuthorizer;
///
/// #[async_trait::async_trait]
/// impl Authorizer for GatewayAuthorizer {
///     async fn authenticate(&self, parts: &Parts) -> Result<Principal, AuthError> {
///         let user = parts.headers.get("x-gateway-user").ok_or(AuthError::Missing)?;
///         let user = user.to_str().map_err(|_| AuthError::Invalid)?;
///         Ok(Principal::new(user, Role::Viewer))
///     }
/// }
/// ```
#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// The principal that sent the request described by `parts` (the body is never read).
    ///
    /// # Errors
    ///
    /// [`AuthError::Missing`] or [`AuthError::Invalid`] (both 401), or
    /// [`AuthError::Unavailable`] (503) when the authenticator cannot decide right now.
    async fn authenticate(&self, parts: &Parts) -> Result<Principal, AuthError>;
}

/// Why a request has no principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials were given. 401, with `WWW-Authenticate: Bearer`.
    #[error("the request carries no credentials; send `Authorization: Bearer <token>`")]
    Missing,
    /// The credentials are unknown or malformed. 401.
    #[error("the credentials are not valid")]
    Invalid,
    /// The authenticator could not decide, for example because an identity service is down. 503.
    #[error("authentication unavailable: {reason}")]
    Unavailable {
        /// What failed.
        reason: String,
    },
}

/// What a principal may do. Each role may do everything the roles before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads entries, statistics, error groups and health.
    Viewer,
    /// Also replays, dismisses, resolves and edits entries.
    Operator,
    /// Also purges, and may see every tenant.
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        })
    }
}

/// Who sent a request, as an [`Authorizer`] established it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The name changes are recorded under: a person or a service.
    pub actor: String,
    /// What the principal may do.
    pub role: Role,
    /// The one tenant the principal works in; `None` for every tenant, which only an admin may.
    pub tenant: Option<TenantId>,
}

impl Principal {
    /// `actor` with `role`, in no tenant (every tenant: only valid for an admin).
    pub fn new(actor: impl Into<String>, role: Role) -> Self {
        Self { actor: actor.into(), role, tenant: None }
    }

    /// The same principal, confined to `tenant`.
    #[must_use]
    pub fn in_tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }
}

/// The store as `principal` may see and change it: the one place that decides, and so the place
/// where what a principal does gets tied to its actor.
///
/// A principal with a tenant gets `all` scoped to its tenant; an admin without one gets `all`
/// as it is. If `all` is itself scoped to a tenant, a principal of another tenant is refused
/// rather than given a scope outside it. Either way the store acts as the principal's actor, so
/// every change records who made it and emits the library's audit event under that name.
///
/// # Errors
///
/// [`ApiError::Forbidden`] for a non-admin without a tenant, a tenant outside `all`'s scope, or
/// an actor name the library does not accept (an [`Authorizer`] of the application's own may
/// return one; [`TokenAuthorizer`] refuses it when it is built).
pub(crate) fn dead_letters_for(all: &DeadLetters, principal: &Principal) -> Result<DeadLetters, ApiError> {
    let actor = Actor::new(principal.actor.clone()).map_err(|error| {
        ApiError::Forbidden(format!(
            "the authenticated principal's actor name {:?} cannot be recorded ({error}); \
             the authorizer must name who calls",
            principal.actor
        ))
    })?;
    Ok(scoped(all, principal)?.acting_as(actor))
}

/// `all` scoped to `principal`'s tenant, as [`dead_letters_for`] describes.
fn scoped(all: &DeadLetters, principal: &Principal) -> Result<DeadLetters, ApiError> {
    match (&principal.tenant, all.scope()) {
        (None, _) if principal.role < Role::Admin => Err(ApiError::Forbidden(format!(
            "{} has the {} role and no tenant; only an admin may work across tenants",
            principal.actor, principal.role
        ))),
        (None, _) => Ok(all.clone()),
        (Some(tenant), Scope::Tenant(own)) if tenant != own => Err(ApiError::Forbidden(format!(
            "{} belongs to tenant {tenant:?}, which this API does not serve",
            principal.actor
        ))),
        (Some(tenant), _) => Ok(all.for_tenant(tenant.clone())),
    }
}

/// Runs the authorizer and hands the principal on to the handler; 401 (or 503) without one.
pub(crate) async fn authenticate(
    State(authorizer): State<Arc<dyn Authorizer>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match authorizer.authenticate(&parts).await {
        Ok(principal) => {
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// The least role a route needs.
pub(crate) trait Permission: Send + Sync + 'static {
    /// The role.
    const ROLE: Role;
    /// What the role allows, for the 403's message.
    const ACTION: &'static str;
}

/// Reading: entries, statistics, groups, the document.
pub(crate) struct Read;

impl Permission for Read {
    const ROLE: Role = Role::Viewer;
    const ACTION: &'static str = "read dead letters";
}

/// Changing entries: replay, dismiss, resolve, edit.
pub(crate) struct Operate;

impl Permission for Operate {
    const ROLE: Role = Role::Operator;
    const ACTION: &'static str = "change dead letters";
}

/// Deleting entries and reading every tenant's metrics.
pub(crate) struct Administer;

impl Permission for Administer {
    const ROLE: Role = Role::Admin;
    const ACTION: &'static str = "purge dead letters or read metrics";
}

/// A handler's access to the store: the principal, holding at least `P`'s role, and the store
/// scoped to it by [`dead_letters_for`].
pub(crate) struct Access<P> {
    /// The store as the principal may see it.
    pub(crate) dead_letters: DeadLetters,
    permission: PhantomData<P>,
}

impl<P: Permission> FromRequestParts<AppState> for Access<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal =
            parts.extensions.get::<Principal>().ok_or(ApiError::Unauthenticated(AuthError::Missing))?;
        if principal.role < P::ROLE {
            return Err(ApiError::Forbidden(format!(
                "{} has the {} role; to {} takes the {} role",
                principal.actor,
                principal.role,
                P::ACTION,
                P::ROLE
            )));
        }
        let dead_letters = dead_letters_for(state.dead_letters(), principal)?;
        Ok(Self { dead_letters, permission: PhantomData })
    }
}
