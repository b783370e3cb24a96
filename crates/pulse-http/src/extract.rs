//! Extractors whose rejections are problems: [`Json`] and [`Path`] wrap axum's, and [`Params`]
//! reads a query string itself so that a parameter may repeat (`status=new&status=replaying`)
//! and every bad parameter is named in the 400. [`Object`] keeps a struct nested in a body an
//! object.

use std::fmt::Display;
use std::str::FromStr;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};

use crate::problem::ApiError;

/// A JSON object as the body; a malformed or mistyped one is a 400 problem, an oversized one
/// 413, one that is not `application/json` 415.
#[derive(Debug)]
pub(crate) struct Json<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(request, state).await?;
        // serde would read an array as a struct's members in order: only an object is a body.
        if !value.is_object() {
            return Err(ApiError::input("body", "must be a JSON object"));
        }
        serde_json::from_value(value).map(Self).map_err(|error| ApiError::input("body", error.to_string()))
    }
}

/// A struct inside a body that must come as a JSON object: serde would also read a list of its
/// members in order, so that `[null, null]` would be a filter selecting everything.
#[derive(Debug)]
pub(crate) struct Object<T>(pub(crate) T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let members = serde_json::Map::deserialize(deserializer)?;
        serde_json::from_value(serde_json::Value::Object(members)).map(Self).map_err(de::Error::custom)
    }
}

/// A path parameter; one that does not parse (a bad UUID) is a 400 problem.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct Path<T>(pub(crate) T);

/// Query parameters read one pair at a time.
pub(crate) trait QueryParams: Default {
    /// Takes `value` for parameter `key`; `Ok(false)` when no such parameter exists.
    fn set(&mut self, key: &str, value: &str) -> Result<bool, ApiError>;
}

/// The query string as `T`. An unknown parameter is a 400, so a misspelt filter never silently
/// selects everything.
#[derive(Debug)]
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: QueryParams> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut params = T::default();
        for (key, value) in form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()) {
            if !params.set(&key, &value)? {
                return Err(ApiError::input(key.into_owned(), "no such parameter"));
            }
        }
        Ok(Self(params))
    }
}

/// `value` parsed for parameter `field`.
pub(crate) fn parse<T>(field: &'static str, value: &str) -> Result<T, ApiError>
where
    T: FromStr,
    T::Err: Display,
{
    value.parse().map_err(|error: T::Err| ApiError::input(field, error.to_string()))
}

/// Parses `value` into `slot`, which must still be empty: a parameter given twice is a 400.
pub(crate) fn once<T>(slot: &mut Option<T>, field: &'static str, value: &str) -> Result<(), ApiError>
where
    T: FromStr,
    T::Err: Display,
{
    if slot.is_some() {
        return Err(ApiError::input(field, "given more than once"));
    }
    *slot = Some(parse(field, value)?);
    Ok(())
}
