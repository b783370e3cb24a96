//! [`TokenAuthorizer`]: bearer tokens from configuration, kept only as SHA-256 hashes.

use std::fmt;
use std::fmt::Write as _;

use async_trait::async_trait;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use pulse::Actor;
use sha2::{Digest, Sha256};

use super::{AuthError, Authorizer, Principal, Role};

/// A SHA-256 digest.
type Hash = [u8; 32];

/// Authenticates `Authorization: Bearer <token>` against configured tokens.
///
/// Only each token's SHA-256 hash is kept, so a configuration file can carry hashes
/// ([`Self::hash`] makes one) and never the tokens. A presented token is hashed and compared
/// with every configured hash in constant time. `Debug` shows actors, roles and tenants, never a
/// token or a hash.
///
/// # Examples
///
/// ```
/// use pulse::TenantId;
/// use pulse_http::{Principal, Role, TokenAuthorizer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hash = TokenAuthorizer::hash("s3cret-token-for-acme");
/// let authorizer = TokenAuthorizer::new()
///     .with_token_hash(&hash, Principal::new("acme-oncall", Role::Operator).in_tenant(TenantId::new("acme")?))?
///     .with_token("root-token", Principal::new("root", Role::Admin))?;
/// assert!(!format!("{authorizer:?}").contains(&hash));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct TokenAuthorizer {
    tokens: Vec<(Hash, Principal)>,
}

/// Why a token could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The hash is not 64 hexadecimal digits.
    #[error("a token hash must be 64 hexadecimal digits (SHA-256)")]
    MalformedHash,
    /// The token is empty.
    #[error("a token must not be empty")]
    EmptyToken,
    /// Two configured tokens are the same.
    #[error("the token of {actor} is configured twice")]
    Duplicate {
        /// The actor of the second one.
        actor: String,
    },
    /// The actor's name is not one the library can record: empty, over 200 characters, or with
    /// a control character.
    #[error("the actor name {actor:?} cannot be recorded: {reason}")]
    InvalidActor {
        /// The name.
        actor: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A viewer or operator without a tenant: it would be refused on every request.
    #[error("{actor} has the {role} role and no tenant; only an admin may work across tenants")]
    NoTenant {
        /// The actor.
        actor: String,
        /// Its role.
        role: Role,
    },
}

impl TokenAuthorizer {
    /// An authorizer that knows no token yet: it refuses every request.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hash to configure for `token`: its SHA-256 digest as 64 lowercase hex digits.
    pub fn hash(token: &str) -> String {
        Sha256::digest(token.as_bytes()).iter().fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
    }

    /// Accepts the token whose SHA-256 hash is `hash_hex` (any case) as `principal`.
    ///
    /// # Errors
    ///
    /// [`TokenError::MalformedHash`], [`TokenError::Duplicate`], [`TokenError::InvalidActor`] for
    /// an actor name the library cannot record, or [`TokenError::NoTenant`] for a viewer or
    /// operator without a tenant.
    pub fn with_token_hash(self, hash_hex: &str, principal: Principal) -> Result<Self, TokenError> {
        self.with(parse_hash(hash_hex)?, principal)
    }

    /// Accepts `token` as `principal`; only its hash is kept.
    ///
    /// # Errors
    ///
    /// As [`Self::with_token_hash`], and [`TokenError::EmptyToken`].
    pub fn with_token(self, token: &str, principal: Principal) -> Result<Self, TokenError> {
        if token.is_empty() {
            return Err(TokenError::EmptyToken);
        }
        self.with(Sha256::digest(token.as_bytes()).into(), principal)
    }

    fn with(mut self, hash: Hash, principal: Principal) -> Result<Self, TokenError> {
        if let Err(error) = Actor::new(principal.actor.clone()) {
            let reason = match error {
                pulse::Error::InvalidInput { reason, .. } => reason,
                other => other.to_string(),
            };
            return Err(TokenError::InvalidActor { actor: principal.actor, reason });
        }
        if principal.tenant.is_none() && principal.role < Role::Admin {
            return Err(TokenError::NoTenant { actor: principal.actor, role: principal.role });
        }
        if self.tokens.iter().any(|(known, _)| *known == hash) {
            return Err(TokenError::Duplicate { actor: principal.actor });
        }
        self.tokens.push((hash, principal));
        Ok(self)
    }

    /// The principal whose token hashes to `presented`, comparing with every hash.
    fn find(&self, presented: &Hash) -> Option<&Principal> {
        self.tokens.iter().fold(None, |found, (hash, principal)| {
            if constant_time_eq::constant_time_eq_32(hash, presented) { Some(principal) } else { found }
        })
    }
}

fn parse_hash(hex: &str) -> Result<Hash, TokenError> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return Err(TokenError::MalformedHash);
    }
    let mut hash = [0; 32];
    for (byte, pair) in hash.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| TokenError::MalformedHash)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| TokenError::MalformedHash)?;
    }
    Ok(hash)
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(parts: &Parts) -> Result<&str, AuthError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = header.to_str().map_err(|_| AuthError::Invalid)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Invalid)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::Invalid);
    }
    Ok(token)
}

#[async_trait]
impl Authorizer for TokenAuthorizer {
    async fn authenticate(&self, parts: &Parts) -> Result<Principal, AuthError> {
        let presented: Hash = Sha256::digest(bearer(parts)?.as_bytes()).into();
        self.find(&presented).cloned().ok_or(AuthError::Invalid)
    }
}

impl fmt::Debug for TokenAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuthorizer")
            .field("principals", &self.tokens.iter().map(|(_, principal)| principal).collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_in_lowercase_hex() {
        assert_eq!(
            TokenAuthorizer::hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let upper = TokenAuthorizer::hash("abc").to_uppercase();
        assert_eq!(parse_hash(&upper).unwrap(), <Hash>::from(Sha256::digest(b"abc")));
    }

    #[test]
    fn bad_configuration_is_refused() {
        let admin = || Principal::new("root", Role::Admin);
        for bad in ["", "abc", &"g".repeat(64), &"é".repeat(32)] {
            assert_eq!(
                TokenAuthorizer::new().with_token_hash(bad, admin()).unwrap_err(),
                TokenError::MalformedHash
            );
        }
        assert_eq!(TokenAuthorizer::new().with_token("", admin()).unwrap_err(), TokenError::EmptyToken);
        let twice = TokenAuthorizer::new().with_token("t", admin()).unwrap().with_token("t", admin());
        assert_eq!(twice.unwrap_err(), TokenError::Duplicate { actor: "root".to_owned() });
        let viewer = TokenAuthorizer::new().with_token("t", Principal::new("eve", Role::Viewer));
        assert_eq!(viewer.unwrap_err(), TokenError::NoTenant { actor: "eve".to_owned(), role: Role::Viewer });
        for (actor, reason) in [
            ("", "must not be empty"),
            ("  ", "must not be empty"),
            ("ana\nroot", "must not contain control characters"),
            (&"a".repeat(201), "must have at most 200 characters"),
        ] {
            assert_eq!(
                TokenAuthorizer::new().with_token("t", Principal::new(actor, Role::Admin)).unwrap_err(),
                TokenError::InvalidActor { actor: actor.to_owned(), reason: reason.to_owned() }
            );
        }
    }

    #[test]
    fn debug_shows_neither_tokens_nor_hashes() {
        let authorizer =
            TokenAuthorizer::new().with_token("hunter2", Principal::new("root", Role::Admin)).unwrap();
        let shown = format!("{authorizer:?}");
        assert_eq!(
            shown,
            r#"TokenAuthorizer { principals: [Principal { actor: "root", role: Admin, tenant: None }] }"#
        );
        assert!(!shown.contains(&TokenAuthorizer::hash("hunter2")));
    }
}
