//! Signing in to the dashboard: the sessions a browser holds after giving a token, the cookie
//! that names one, and the CSRF token every form carries.
//!
//! A session keeps the token it was opened with, not the principal: every page hands the token
//! to the [`Authorizer`](crate::Authorizer) again, so a token revoked in the configuration stops
//! working on the next page, as it does in the API. Sessions live in the process that served the
//! sign-in; a restart signs everyone out.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use constant_time_eq::constant_time_eq;
use pulse::{TenantId, Uuid};

/// The cookie naming a browser's session.
pub(crate) const COOKIE: &str = "pulse_session";

/// How long a session lasts after signing in.
const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The most sessions kept at once; signing in past it ends the oldest.
const MAX_SESSIONS: usize = 10_000;

/// A secret the browser must not be able to guess: 244 random bits as 64 hex digits.
fn secret() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// One signed-in browser.
#[derive(Clone)]
pub(crate) struct Session {
    /// The token the browser signed in with, handed to the authorizer on every page.
    pub(crate) token: String,
    /// The value every form of this session must send back as `csrf`.
    pub(crate) csrf: String,
    /// The tenant an admin chose to look at; `None` for every tenant.
    pub(crate) tenant: Option<TenantId>,
    opened: Instant,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl Session {
    /// Whether `sent` is this session's CSRF token, compared in constant time.
    pub(crate) fn csrf_matches(&self, sent: &str) -> bool {
        constant_time_eq(self.csrf.as_bytes(), sent.as_bytes())
    }
}

/// The open sessions, by id.
#[derive(Default)]
pub(crate) struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    /// Opens a session for `token` and returns its id, for the cookie.
    pub(crate) fn open(&self, token: String) -> String {
        let id = secret();
        let session = Session { token, csrf: secret(), tenant: None, opened: Instant::now() };
        let mut open = self.open.lock().expect("the session map is never left poisoned");
        open.retain(|_, session| session.opened.elapsed() < LIFETIME);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) =
                open.iter().min_by_key(|(_, session)| session.opened).map(|(id, _)| id.clone())
        {
            open.remove(&oldest);
        }
        open.insert(id.clone(), session);
        id
    }

    /// The session `id`, unless it ended or expired.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let mut open = self.open.lock().expect("the session map is never left poisoned");
        match open.get(id) {
            Some(session) if session.opened.elapsed() < LIFETIME => Some(session.clone()),
            Some(_) => {
                open.remove(id);
                None
            }
            None => None,
        }
    }

    /// Sets the tenant session `id` looks at.
    pub(crate) fn set_tenant(&self, id: &str, tenant: Option<TenantId>) {
        if let Some(session) = self.open.lock().expect("the session map is never left poisoned").get_mut(id) {
            session.tenant = tenant;
        }
    }

    /// Ends session `id`.
    pub(crate) fn close(&self, id: &str) {
        self.open.lock().expect("the session map is never left poisoned").remove(id);
    }
}

/// The session id the request's cookie carries.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(name, value)| (name == COOKIE).then_some(value))
}

/// Whether the request reached the server over TLS, directly or through a proxy that says so.
pub(crate) fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The `Set-Cookie` value that gives the browser session `id` (or, with `None`, takes it away):
/// for the dashboard's path only, never readable by scripts, never sent by another site, and
/// only over TLS when the dashboard is served over TLS.
pub(crate) fn cookie(id: Option<&str>, path: &str, secure: bool) -> HeaderValue {
    let (value, age) = match id {
        Some(id) => (id, LIFETIME.as_secs()),
        None => ("", 0),
    };
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={value}; Path={path}; Max-Age={age}; HttpOnly; SameSite=Strict{secure}");
    HeaderValue::try_from(cookie).expect("ids are hex digits and the path comes from a valid URI")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_it_is_closed() {
        let sessions = Sessions::default();
        let id = sessions.open("token".to_owned());
        assert_eq!(id.len(), 64);
        let session = sessions.get(&id).unwrap();
        assert_eq!(session.token, "token");
        assert!(session.csrf_matches(&session.csrf.clone()));
        assert!(!session.csrf_matches("forged"));
        sessions.set_tenant(&id, Some(TenantId::new("acme").unwrap()));
        assert_eq!(sessions.get(&id).unwrap().tenant, Some(TenantId::new("acme").unwrap()));
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn the_cookie_is_read_among_others_and_written_with_every_flag() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; pulse_session=abc123; x=y"));
        assert_eq!(session_id(&headers), Some("abc123"));
        assert_eq!(
            cookie(Some("abc123"), "/pulse/ui", false),
            "pulse_session=abc123; Path=/pulse/ui; Max-Age=43200; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            cookie(None, "/ui", true),
            "pulse_session=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
        );
    }
}
