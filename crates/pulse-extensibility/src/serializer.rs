//! Turning typed commands into stored text and back.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Converts typed values to and from the payload text stored with an entry.
///
/// Implementations are thread-safe; bad input is an [`Error::InvalidInput`], never a panic.
pub trait PayloadSerializer: Send + Sync {
    /// The text stored for `value`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if `value` cannot be represented.
    fn serialize<T: Serialize>(&self, value: &T) -> Result<String>;

    /// The value stored as `payload`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if `payload` is not a valid `T`.
    fn deserialize<T: DeserializeOwned>(&self, payload: &str) -> Result<T>;
}

/// The default serializer: JSON through `serde_json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSerializer;

impl PayloadSerializer for JsonSerializer {
    fn serialize<T: Serialize>(&self, value: &T) -> Result<String> {
        serde_json::to_string(value).map_err(|e| Error::invalid_input("payload", e.to_string()))
    }

    fn deserialize<T: DeserializeOwned>(&self, payload: &str) -> Result<T> {
        serde_json::from_str(payload).map_err(|e| Error::invalid_input("payload", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct CreateOrder {
        order_id: u64,
        sku: String,
    }

    #[test]
    fn json_round_trips_and_rejects_bad_payloads() {
        let order = CreateOrder { order_id: 42, sku: "A-1".to_owned() };
        let text = JsonSerializer.serialize(&order).unwrap();
        assert_eq!(text, r#"{"order_id":42,"sku":"A-1"}"#);
        assert_eq!(JsonSerializer.deserialize::<CreateOrder>(&text).unwrap(), order);
        let err = JsonSerializer.deserialize::<CreateOrder>(r#"{"order_id":"x"}"#).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { field: "payload", .. }), "{err:?}");
    }
}
