//! The web dashboard: server-rendered pages under `ui/`, next to the API's endpoints, for an
//! operator in a browser.
//!
//! Every page is one or a few calls into [`pulse`], as the API's endpoints are: the dashboard
//! decides nothing the library does not. It adds what a browser needs:
//!
//! - signing in with a token and a session cookie ([`session`]), the same [`Authorizer`] and
//!   roles as the API, and the store scoped to the principal by the same function
//!   ([`dead_letters_for`]);
//! - a CSRF token in every form, and a strict Content-Security-Policy on every response;
//! - pages that work with JavaScript off; `assets/pulse.js` only adds live progress and copy
//!   buttons.

mod assets;
mod bulk;
mod chart;
mod entries;
mod groups;
mod layout;
mod overview;
mod payload;
mod requests;
pub(crate) mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pulse::{DeadLetters, TenantId};

pub(crate) use self::bulk::Jobs;
use self::session::Session;
use crate::auth::{AuthError, Authorizer, Principal, Role, dead_letters_for};
use crate::problem::{ApiError, classify};
use crate::router::AppState;

/// The dashboard's routes, relative to where the API is mounted.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/sign-in", get(layout::sign_in_form).post(sign_in))
        .route("/ui/sign-out", post(sign_out))
        .route("/ui/tenant", post(switch_tenant))
        .route("/ui/assets/{name}", get(assets::serve))
        .route("/ui/groups", get(groups::list))
        .route("/ui/groups/{fingerprint}", get(groups::show))
        .route("/ui/entries", get(entries::list))
        .route("/ui/entries/{id}", get(entries::show))
        .route("/ui/entries/{id}/dismiss", post(entries::dismiss))
        .route("/ui/entries/{id}/resolve", post(entries::resolve))
        .route("/ui/entries/{id}/replay", post(entries::replay))
        .route("/ui/entries/{id}/edit", get(entries::edit_form).post(entries::edit))
        .route("/ui/bulk", get(bulk::preview).post(bulk::run))
        .route("/ui/jobs/{id}", get(bulk::job))
        .route("/ui/jobs/{id}/progress", get(bulk::job_progress))
        .route("/ui/requests", get(requests::list))
        .route("/ui/requests/{id}", get(requests::show))
        .route("/ui/requests/{id}/progress", get(requests::progress))
        .route("/ui/requests/{id}/cancel", post(requests::cancel))
        .layer(middleware::from_fn(frame))
}

/// The Content-Security-Policy of every dashboard response: nothing but the dashboard's own
/// stylesheet, script and forms, never inside another site's frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's path as the browser sees it, wherever the application mounted the API:
/// `/pulse/ui` for an API nested at `/pulse`.
#[derive(Debug, Clone)]
pub(crate) struct Base(Arc<str>);

impl Base {
    /// The path of `page` under the dashboard: `""` for the overview, `"entries"`, ...
    pub(crate) fn to(&self, page: &str) -> String {
        if page.is_empty() { self.0.to_string() } else { format!("{}/{page}", self.0) }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The base of `request`: its full path, less the part the router matched, plus `/ui`.
    fn of(request: &Request) -> Self {
        let local = request.uri().path();
        let full = request.extensions().get::<OriginalUri>().map_or(local, |original| original.path());
        let mount = full.strip_suffix(local).unwrap_or_default().trim_end_matches('/');
        Self(format!("{mount}/ui").into())
    }
}

/// Marks a response the frame turns into a redirect to the sign-in page.
#[derive(Debug, Clone, Copy)]
struct NeedsSignIn;

/// Marks a response the frame turns into an error page.
#[derive(Debug, Clone)]
struct Failure {
    detail: String,
}

/// Sets the base every page links from, turns failures into pages, and adds the security
/// headers to every response.
async fn frame(mut request: Request, next: Next) -> Response {
    let base = Base::of(&request);
    let back = (request.method() == Method::GET)
        .then(|| request.extensions().get::<OriginalUri>().map(|uri| uri.to_string()))
        .flatten();
    request.extensions_mut().insert(base.clone());
    // A form another site sends is refused before it reaches a handler, sign-in included; the
    // CSRF token and the `SameSite` cookie refuse it again on every other form.
    let cross_site = request.headers().get("sec-fetch-site").is_some_and(|site| site == "cross-site");
    let mut response = if request.method() == Method::POST && cross_site {
        UiError::from(ApiError::Forbidden("a form from another site is never accepted".to_owned()))
            .into_response()
    } else {
        next.run(request).await
    };
    if response.extensions().get::<NeedsSignIn>().is_some() {
        let target = match back {
            Some(back) => format!(
                "{}?next={}",
                base.to("sign-in"),
                form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
            ),
            None => base.to("sign-in"),
        };
        response = Redirect::to(&target).into_response();
    } else if let Some(failure) = response.extensions_mut().remove::<Failure>() {
        let status = response.status();
        response = (status, layout::error_page(&base, status, &failure.detail)).into_response();
    }
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum UiError {
    /// No session, or one whose token no longer works: to the sign-in page.
    SignIn,
    /// Anything else, shown as an error page with the API's status for it.
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for UiError {
    fn from(error: E) -> Self {
        Self::Api(error.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => {
                let mut response = StatusCode::SEE_OTHER.into_response();
                response.extensions_mut().insert(NeedsSignIn);
                response
            }
            Self::Api(error) => {
                let (status, _, detail, _) = classify(error);
                let mut response = status.into_response();
                response.extensions_mut().insert(Failure { detail });
                response
            }
        }
    }
}

/// A signed-in visit: who is looking, their session, and the store as they may see it.
pub(crate) struct Ui {
    pub(crate) base: Base,
    pub(crate) principal: Principal,
    session_id: String,
    pub(crate) session: Session,
    /// The store scoped to the principal (and, for an admin, to the tenant chosen).
    pub(crate) dead_letters: DeadLetters,
    pub(crate) state: AppState,
}

impl Ui {
    /// Whether the principal may replay, dismiss, resolve and edit: what decides which buttons
    /// a page shows. The handlers check again with [`Self::authorize`].
    pub(crate) fn may_operate(&self) -> bool {
        self.principal.role >= Role::Operator
    }

    /// Checks that a form came from this session's pages and that the principal may change
    /// entries.
    pub(crate) fn authorize(&self, csrf: &str) -> Result<(), UiError> {
        if !self.session.csrf_matches(csrf) {
            return Err(ApiError::Forbidden(
                "the form's CSRF token does not belong to this session; reload the page and try again"
                    .to_owned(),
            )
            .into());
        }
        if !self.may_operate() {
            return Err(ApiError::Forbidden(format!(
                "{} has the {} role; to change dead letters takes the operator role",
                self.principal.actor, self.principal.role
            ))
            .into());
        }
        Ok(())
    }
}

/// The principal `token` stands for, asked of the authorizer as the API asks it.
pub(crate) async fn authenticate_token(
    authorizer: &dyn Authorizer,
    token: &str,
) -> Result<Principal, AuthError> {
    let bearer = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| AuthError::Invalid)?;
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.headers.insert(header::AUTHORIZATION, bearer);
    authorizer.authenticate(&parts).await
}

impl FromRequestParts<AppState> for Ui {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        let base = parts.extensions.get::<Base>().cloned().expect("the frame sets the base of every page");
        let session_id = session::session_id(&parts.headers).ok_or(UiError::SignIn)?.to_owned();
        let session = state.sessions().get(&session_id).ok_or(UiError::SignIn)?;
        let principal = match authenticate_token(state.authorizer(), &session.token).await {
            Ok(principal) => principal,
            Err(error @ AuthError::Unavailable { .. }) => return Err(error.into()),
            Err(_) => {
                state.sessions().close(&session_id);
                return Err(UiError::SignIn);
            }
        };
        let mut dead_letters = dead_letters_for(state.dead_letters(), &principal)?;
        if let (None, Some(tenant)) = (&principal.tenant, &session.tenant) {
            dead_letters = dead_letters.for_tenant(tenant.clone());
        }
        Ok(Self { base, principal, session_id, session, dead_letters, state: state.clone() })
    }
}

/// The sign-in form's fields.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct SignIn {
    token: String,
    #[serde(default)]
    next: String,
}

/// Checks the token, opens a session and sends the browser where it was going.
async fn sign_in(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<SignIn>,
) -> Response {
    let token = form.token.trim();
    match authenticate_token(state.authorizer(), token).await {
        Ok(_) => {
            let id = state.sessions().open(token.to_owned());
            // Only a page of this dashboard: never another site, nor a `//host` path.
            let next = if form.next.starts_with(base.as_str()) && !form.next.starts_with("//") {
                form.next
            } else {
                base.to("")
            };
            let mut response = Redirect::to(&next).into_response();
            let cookie = session::cookie(Some(&id), base.as_str(), session::over_tls(&headers));
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(error @ AuthError::Unavailable { .. }) => UiError::from(error).into_response(),
        Err(_) => (
            StatusCode::UNAUTHORIZED,
            layout::sign_in_page(
                &base,
                &form.next,
                Some("That token is not valid here. Check it and try again."),
            ),
        )
            .into_response(),
    }
}

/// A form that carries nothing but its CSRF token.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Plain {
    csrf: String,
}

/// Ends the session and takes the cookie away.
async fn sign_out(ui: Ui, headers: axum::http::HeaderMap, axum::Form(form): axum::Form<Plain>) -> Response {
    if !ui.session.csrf_matches(&form.csrf) {
        return UiError::from(ApiError::Forbidden(
            "the form's CSRF token does not belong to this session".to_owned(),
        ))
        .into_response();
    }
    ui.state.sessions().close(&ui.session_id);
    let mut response = Redirect::to(&ui.base.to("sign-in")).into_response();
    let cookie = session::cookie(None, ui.base.as_str(), session::over_tls(&headers));
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// The tenant form of an admin's header.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TenantChoice {
    csrf: String,
    #[serde(default)]
    tenant: String,
}

/// Lets an admin without a tenant look at one tenant, or at every tenant again.
async fn switch_tenant(ui: Ui, axum::Form(form): axum::Form<TenantChoice>) -> Result<Response, UiError> {
    if !ui.session.csrf_matches(&form.csrf) {
        return Err(
            ApiError::Forbidden("the form's CSRF token does not belong to this session".to_owned()).into()
        );
    }
    if ui.principal.role < Role::Admin || ui.principal.tenant.is_some() {
        return Err(ApiError::Forbidden(format!("{} may only see its own tenant", ui.principal.actor)).into());
    }
    let tenant = match form.tenant.trim() {
        "" => None,
        name => Some(TenantId::new(name).map_err(|error| ApiError::input("tenant", error.to_string()))?),
    };
    ui.state.sessions().set_tenant(&ui.session_id, tenant);
    Ok(Redirect::to(&ui.base.to("")).into_response())
}
