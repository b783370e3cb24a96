//! [`AdminApi`]: the settings of the API, and the [`Router`] built from them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware;
use metrics_exporter_prometheus::PrometheusHandle;
use pulse::{DeadLetters, HealthCheck};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{entries, operations, overview, requests, system};
use crate::auth::{self, Authorizer};
use crate::dashboard::session::Sessions;
use crate::dashboard::{self, Jobs};
use crate::openapi;
use crate::problem::ApiError;
use crate::replayer::Replayer;

/// The header carrying each request's id, set when the client sent none and echoed back.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How much larger than the store's largest payload a body may be: the rest of the JSON.
const BODY_OVERHEAD_BYTES: usize = 1024 * 1024;

/// The admin HTTP API over a store: build it, then mount [`Self::router`] in the application.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// use pulse::{DeadLetters, MemoryStore};
/// use pulse_http::{AdminApi, Principal, Role, TokenAuthorizer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new()));
/// // The hash of the admin's token, from the configuration; `TokenAuthorizer::hash` makes one.
/// let hash = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";
/// let authorizer = TokenAuthorizer::new().with_token_hash(hash, Principal::new("root", Role::Admin))?;
/// let api = AdminApi::new(dead_letters, authorizer).health_requires_token(false);
/// let app: axum::Router = axum::Router::new().nest("/pulse", api.router());
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AdminApi {
    dead_letters: DeadLetters,
    authorizer: Arc<dyn Authorizer>,
    replayer: Option<Arc<dyn Replayer>>,
    health_check: HealthCheck,
    health_requires_token: bool,
    metrics: Option<PrometheusHandle>,
    timeout: Duration,
    body_limit: Option<usize>,
}

impl fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminApi")
            .field("dead_letters", &self.dead_letters)
            .field("replayer", &self.replayer.is_some())
            .field("health_check", &self.health_check)
            .field("health_requires_token", &self.health_requires_token)
            .field("metrics", &self.metrics.is_some())
            .field("timeout", &self.timeout)
            .field("body_limit", &self.max_body_bytes())
            .finish_non_exhaustive()
    }
}

impl AdminApi {
    /// The API over `dead_letters`, letting in whom `authorizer` accepts.
    ///
    /// By default: replays are requested from the services' workers, the health check has no
    /// thresholds and needs a token, there are no metrics, a request may take 30 seconds, and a
    /// body may be 1 MiB larger than the store's largest payload.
    pub fn new(dead_letters: DeadLetters, authorizer: impl Authorizer) -> Self {
        Self {
            dead_letters,
            authorizer: Arc::new(authorizer),
            replayer: None,
            health_check: HealthCheck::default(),
            health_requires_token: true,
            metrics: None,
            timeout: Duration::from_secs(30),
            body_limit: None,
        }
    }

    /// Runs `POST entries/{id}/replay` now, in this process, through `replayer` (a [`pulse::Pulse`]
    /// over the same store), and checks edited payloads with it.
    #[must_use]
    pub fn with_replayer(mut self, replayer: impl Replayer) -> Self {
        self.replayer = Some(Arc::new(replayer));
        self
    }

    /// The thresholds `GET health` checks; none by default (`HealthCheck::default()`), so it
    /// reports healthy whenever the store answers.
    #[must_use]
    pub fn health_check(mut self, check: HealthCheck) -> Self {
        self.health_check = check;
        self
    }

    /// Whether `GET health` needs a token (`true`, the default). A public health check sees every
    /// tenant, and shows only counts, ages and the store's error message.
    #[must_use]
    pub fn health_requires_token(mut self, required: bool) -> Self {
        self.health_requires_token = required;
        self
    }

    /// Serves `GET metrics` from `handle`, the application's installed Prometheus recorder. The
    /// API never installs a recorder itself.
    #[must_use]
    pub fn metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// How long a request may take before it is answered 503; 30 seconds by default. A replay cut
    /// off keeps its entry until the replay's lease expires.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest request body accepted, in bytes; larger ones are 413. By default 1 MiB more
    /// than the store's largest payload.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    fn max_body_bytes(&self) -> usize {
        self.body_limit.unwrap_or_else(|| {
            self.dead_letters.options().max_payload_bytes.saturating_add(BODY_OVERHEAD_BYTES)
        })
    }

    /// The routes, each with its entry in the document.
    fn routes(&self) -> OpenApiRouter<AppState> {
        let authenticate = middleware::from_fn_with_state(self.authorizer.clone(), auth::authenticate);
        let protected = OpenApiRouter::with_openapi(openapi::frame())
            .routes(routes!(overview::stats))
            .routes(routes!(overview::count))
            .routes(routes!(overview::groups))
            .routes(routes!(entries::list))
            .routes(routes!(entries::get))
            .routes(routes!(entries::dismiss))
            .routes(routes!(entries::resolve))
            .routes(routes!(entries::edit_payload))
            .routes(routes!(entries::replay))
            .routes(routes!(requests::create, requests::list))
            .routes(routes!(requests::get))
            .routes(routes!(requests::cancel))
            .routes(routes!(operations::replay_matching))
            .routes(routes!(operations::dismiss_matching))
            .routes(routes!(operations::resolve_matching))
            .routes(routes!(operations::purge))
            .routes(routes!(system::metrics))
            .routes(routes!(system::openapi))
            .route_layer(authenticate.clone());
        let health = OpenApiRouter::new().routes(routes!(system::health));
        let health = if self.health_requires_token { health.route_layer(authenticate) } else { health };
        protected.merge(health)
    }

    /// The API's OpenAPI 3.1 document, as `GET openapi.json` serves it.
    pub fn openapi(&self) -> OpenApi {
        let mut document = self.routes().into_openapi();
        openapi::add_shared_responses(&mut document);
        document
    }

    /// The router, to mount under a path of the application's choice:
    /// `Router::new().nest("/pulse", api.router())`.
    pub fn router(&self) -> Router {
        let (router, mut document) = self.routes().split_for_parts();
        openapi::add_shared_responses(&mut document);
        let state = AppState(Arc::new(Shared {
            dead_letters: self.dead_letters.clone(),
            authorizer: self.authorizer.clone(),
            sessions: Sessions::default(),
            jobs: Jobs::default(),
            replayer: self.replayer.clone(),
            health_check: self.health_check,
            metrics: self.metrics.clone(),
            openapi: document,
        }));
        let layers = ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(span))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async { ApiError::Timeout }))
            .timeout(self.timeout);
        router
            .merge(dashboard::routes())
            .fallback(|| async { ApiError::NoRoute })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
            .layer(DefaultBodyLimit::max(self.max_body_bytes()))
            .layer(layers)
            .with_state(state)
    }
}

/// The span of one request, named by its id.
fn span(request: &Request<Body>) -> Span {
    let request_id = request.headers().get(REQUEST_ID).and_then(|id| id.to_str().ok()).unwrap_or_default();
    tracing::info_span!("pulse.http", method = %request.method(), path = %request.uri().path(), request_id)
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

struct Shared {
    dead_letters: DeadLetters,
    authorizer: Arc<dyn Authorizer>,
    sessions: Sessions,
    jobs: Jobs,
    replayer: Option<Arc<dyn Replayer>>,
    health_check: HealthCheck,
    metrics: Option<PrometheusHandle>,
    openapi: OpenApi,
}

impl AppState {
    /// The store, in every tenant the API serves; handlers get theirs through `Access`.
    pub(crate) fn dead_letters(&self) -> &DeadLetters {
        &self.0.dead_letters
    }

    pub(crate) fn authorizer(&self) -> &dyn Authorizer {
        self.0.authorizer.as_ref()
    }

    /// The dashboard's signed-in browsers.
    pub(crate) fn sessions(&self) -> &Sessions {
        &self.0.sessions
    }

    /// The dashboard's bulk changes running in this process.
    pub(crate) fn jobs(&self) -> &Jobs {
        &self.0.jobs
    }

    pub(crate) fn replayer(&self) -> Option<&dyn Replayer> {
        self.0.replayer.as_deref()
    }

    pub(crate) fn health_check(&self) -> &HealthCheck {
        &self.0.health_check
    }

    pub(crate) fn metrics(&self) -> Option<&PrometheusHandle> {
        self.0.metrics.as_ref()
    }

    pub(crate) fn openapi(&self) -> &OpenApi {
        &self.0.openapi
    }
}
