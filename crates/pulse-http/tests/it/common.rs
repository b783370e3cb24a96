//! What every case shares: a fresh store of each kind on a manual clock, the API served on a
//! loopback port, an HTTP client, the tokens, and a few entries.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pulse::{
    DeadLetterBackend, DeadLetterEntry, DeadLetterId, DeadLetters, Failure, ManualClock, NewDeadLetter,
    TenantId,
};
use pulse_http::{AdminApi, Principal, Role, TokenAuthorizer};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) use crate::store::{StoreGuard, StoreKind, open_store};

/// A fresh, empty store on a manual clock standing at 2026-01-01T00:00:00Z.
pub(crate) struct Env {
    pub(crate) clock: Arc<ManualClock>,
    backend: Arc<dyn DeadLetterBackend>,
    /// The SQLite file or PostgreSQL schema, removed when dropped.
    _guard: StoreGuard,
}

impl Env {
    pub(crate) async fn open(kind: StoreKind) -> Self {
        let (backend, guard) = open_store(kind).await;
        Self { clock: Arc::new(ManualClock::default()), backend, _guard: guard }
    }

    /// The store over every tenant, on this case's clock.
    pub(crate) fn dead_letters(&self) -> DeadLetters {
        DeadLetters::new(self.backend.clone()).with_clock(self.clock.clone())
    }

    /// The API over this store with the test tokens and the process's metrics.
    pub(crate) fn api(&self) -> AdminApi {
        AdminApi::new(self.dead_letters(), authorizer()).metrics(metrics_handle())
    }

    /// Stores a failed `command_type` in `tenant`, failed at the clock's instant, then moves
    /// the clock a second on, so entries' failures are a second apart in storing order.
    pub(crate) async fn seed(&self, tenant: &str, command_type: &str, exception_type: &str) -> DeadLetterId {
        let input = NewDeadLetter::new(
            command_type,
            r#"{"order_id":42}"#,
            Failure::new(exception_type, format!("{command_type} failed with {exception_type}")),
        )
        .tenant(tenant_id(tenant));
        let receipt = self.dead_letters().store(input).await.expect("store an entry");
        self.clock.advance(Duration::from_secs(1));
        receipt.id
    }

    /// The entry as the library has it.
    pub(crate) async fn entry(&self, id: DeadLetterId) -> DeadLetterEntry {
        self.dead_letters().get_entry(id).await.expect("read the entry").expect("the entry exists")
    }
}

pub(crate) fn tenant_id(name: &str) -> TenantId {
    TenantId::new(name).expect("a valid tenant")
}

/// Admin of every tenant.
pub(crate) const ADMIN: &str = "admin-token";
/// Operator of tenant `acme`.
pub(crate) const OPERATOR: &str = "acme-operator-token";
/// Viewer of tenant `acme`.
pub(crate) const VIEWER: &str = "acme-viewer-token";
/// Admin of tenant `acme` only.
pub(crate) const ACME_ADMIN: &str = "acme-admin-token";
/// Operator of tenant `globex`.
pub(crate) const GLOBEX: &str = "globex-operator-token";
/// A token nobody configured.
pub(crate) const BAD: &str = "not-a-configured-token";

/// The test tokens, configured as a configuration file would: by hash only.
pub(crate) fn authorizer() -> TokenAuthorizer {
    let principals = [
        (ADMIN, Principal::new("root", Role::Admin)),
        (OPERATOR, Principal::new("olga", Role::Operator).in_tenant(tenant_id("acme"))),
        (VIEWER, Principal::new("victor", Role::Viewer).in_tenant(tenant_id("acme"))),
        (ACME_ADMIN, Principal::new("ada", Role::Admin).in_tenant(tenant_id("acme"))),
        (GLOBEX, Principal::new("gus", Role::Operator).in_tenant(tenant_id("globex"))),
    ];
    principals.into_iter().fold(TokenAuthorizer::new(), |authorizer, (token, principal)| {
        authorizer.with_token_hash(&TokenAuthorizer::hash(token), principal).expect("a valid token")
    })
}

/// The process's Prometheus recorder, installed once for the whole test binary, as an
/// application would install it; the API only renders it.
pub(crate) fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().expect("install the Prometheus recorder"))
        .clone()
}

/// The API served on a loopback port, mounted under `/pulse` as an application would.
pub(crate) struct Server {
    base: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// One answer: status, headers, and the body as JSON (a JSON string for a non-JSON body).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().expect("an ASCII header"))
    }
}

impl Server {
    pub(crate) async fn start(api: AdminApi) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let base = format!("http://{}/pulse", listener.local_addr().expect("the bound address"));
        let app = axum::Router::new().nest("/pulse", api.router());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(pulse_http::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        // Redirects are answers the cases check, as the dashboard's are: never followed.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self { base, client, stop: Some(stop), task: Some(task) }
    }

    /// Sends `method path` with `token` and, when given, `body` as JSON.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}/{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// A request to `path` to finish and send with [`Self::send`].
    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}/{path}", self.base))
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let json = headers
            .get("content-type")
            .is_some_and(|kind| kind.to_str().is_ok_and(|kind| kind.contains("json")));
        let text = response.text().await.expect("a body");
        let body = if json {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("a JSON body ({e}): {text}"))
        } else {
            Value::String(text)
        };
        Reply { status, headers, body }
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Stops the server gracefully and waits for it.
    pub(crate) async fn stop(mut self) {
        self.stop.take().expect("not stopped yet").send(()).expect("the server is running");
        let task = self.task.take().expect("not stopped yet");
        task.await.expect("the server task").expect("the server stops cleanly");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A problem body without its `detail`, which tests compare separately where it is stable.
pub(crate) fn without_detail(body: &Value) -> Value {
    let mut body = body.clone();
    body.as_object_mut().expect("a problem object").remove("detail");
    body
}

/// The problem body of `status` with `kind`, and `field` for invalid input, without `detail`.
pub(crate) fn problem(status: StatusCode, kind: &str, field: Option<&str>) -> Value {
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap(),
        "status": status.as_u16(),
        "kind": kind,
    });
    if let Some(field) = field {
        body["field"] = Value::from(field);
    }
    body
}

/// Asserts the reply is a problem+json of `status`, `kind` and `field`.
#[track_caller]
pub(crate) fn assert_problem(reply: &Reply, status: StatusCode, kind: &str, field: Option<&str>) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{reply:?}");
    assert_eq!(without_detail(&reply.body), problem(status, kind, field), "{reply:?}");
}

/// The header value of a bearer token.
pub(crate) fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}
