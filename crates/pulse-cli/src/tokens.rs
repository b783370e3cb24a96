//! The tokens file of `pulse serve`, and `pulse token hash`, which makes its hashes.
//!
//! The file is JSON and holds hashes only, never tokens:
//!
//! ```json
//! { "tokens": [
//!     { "sha256": "1ec1c26b…", "role": "admin", "tenant": null, "actor": "ana" },
//!     { "sha256": "9f86d081…", "role": "operator", "tenant": "acme", "actor": "acme-oncall" }
//! ] }
//! ```

use std::io::{IsTerminal, Read};
use std::path::Path;

use pulse::TenantId;
use pulse_http::{Principal, Role, TokenAuthorizer};
use serde::Deserialize;
use serde_json::json;

use crate::failure::Failure;
use crate::output::Output;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    tokens: Vec<TokenEntry>,
}

/// One token: who presents it, as what, where.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    /// The token's SHA-256 hash, 64 hex digits.
    sha256: String,
    role: Role,
    /// `None` (or `null`): every tenant, which only an admin may.
    #[serde(default)]
    tenant: Option<String>,
    /// The name changes made with the token are recorded under.
    actor: String,
}

/// The authorizer the tokens file at `path` describes.
pub(crate) fn load(path: &Path) -> Result<TokenAuthorizer, Failure> {
    let text = std::fs::read_to_string(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => Failure::Missing(format!(
            "no tokens file at {}: write one listing each token's sha256, role, tenant and actor \
             (see docs/http.md); `pulse token hash` makes the hashes",
            path.display()
        )),
        _ => Failure::Failed(format!("cannot read the tokens file {}: {error}", path.display())),
    })?;
    parse(&text).map_err(|reason| Failure::Usage(format!("the tokens file {}: {reason}", path.display())))
}

/// The authorizer `text` describes, or what is wrong with it.
fn parse(text: &str) -> Result<TokenAuthorizer, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
    // serde would read an array as the object's members in order, and say so obscurely.
    if !value.is_object() {
        return Err(r#"must be a JSON object: { "tokens": [ ... ] }"#.to_owned());
    }
    // Parsed again from the text, so that a mistake is reported with its line and column.
    let file: TokensFile = serde_json::from_str(text).map_err(|error| error.to_string())?;
    if file.tokens.is_empty() {
        return Err("lists no token, so nobody could call the API".to_owned());
    }
    let mut authorizer = TokenAuthorizer::new();
    for (n, entry) in (1..).zip(file.tokens) {
        let at = |reason: String| format!("token {n} ({}): {reason}", entry.actor);
        let mut principal = Principal::new(entry.actor.clone(), entry.role);
        if let Some(tenant) = &entry.tenant {
            principal = principal.in_tenant(TenantId::new(tenant.clone()).map_err(|e| at(e.to_string()))?);
        }
        authorizer = authorizer.with_token_hash(&entry.sha256, principal).map_err(|e| at(e.to_string()))?;
    }
    Ok(authorizer)
}

/// `pulse token hash`: reads one token from stdin and prints its SHA-256 hash.
pub(crate) fn hash(out: &Output) -> Result<(), Failure> {
    let mut input = String::new();
    let stdin = std::io::stdin();
    let read = if stdin.is_terminal() {
        eprint!("token: ");
        stdin.read_line(&mut input)
    } else {
        stdin.lock().read_to_string(&mut input)
    };
    read.map_err(|error| Failure::Failed(format!("cannot read the token from stdin: {error}")))?;
    let hash = hash_of(&input)?;
    if out.json {
        out.document(&json!({ "sha256": hash }));
    } else {
        out.line(hash);
    }
    Ok(())
}

/// The hash of the token `input` holds, without the whitespace around it, which a bearer
/// header could not carry either.
fn hash_of(input: &str) -> Result<String, Failure> {
    let token = input.trim();
    if token.is_empty() {
        return Err(Failure::Usage("no token on stdin: `echo \"$TOKEN\" | pulse token hash`".into()));
    }
    if token.contains(char::is_whitespace) {
        return Err(Failure::Usage("a token is one word, without spaces or line breaks".into()));
    }
    Ok(TokenAuthorizer::hash(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";

    #[test]
    fn a_file_lists_hashes_roles_tenants_and_actors() {
        let text = format!(
            r#"{{ "tokens": [
                {{ "sha256": "{HASH}", "role": "admin", "tenant": null, "actor": "ana" }},
                {{ "sha256": "{}", "role": "viewer", "tenant": "acme", "actor": "vic" }},
                {{ "sha256": "{}", "role": "operator", "tenant": "acme", "actor": "olga" }}
            ] }}"#,
            TokenAuthorizer::hash("v"),
            TokenAuthorizer::hash("o"),
        );
        let shown = format!("{:?}", parse(&text).unwrap());
        assert_eq!(
            shown,
            r#"TokenAuthorizer { principals: [Principal { actor: "ana", role: Admin, tenant: None }, Principal { actor: "vic", role: Viewer, tenant: Some("acme") }, Principal { actor: "olga", role: Operator, tenant: Some("acme") }] }"#
        );
    }

    #[test]
    fn mistakes_say_which_token_and_what() {
        let entry = |fields: &str| format!(r#"{{ "tokens": [ {{ {fields} }} ] }}"#);
        let cases = [
            (
                entry(&format!(r#""sha256": "{HASH}", "role": "root", "actor": "a""#)),
                "unknown variant `root`",
            ),
            (
                entry(&format!(r#""token": "s3cret", "sha256": "{HASH}", "role": "admin", "actor": "a""#)),
                "unknown field `token`",
            ),
            (entry(r#""sha256": "abc", "role": "admin", "actor": "a""#), "token 1 (a): a token hash must be"),
            (
                entry(&format!(r#""sha256": "{HASH}", "role": "viewer", "actor": "vic""#)),
                "token 1 (vic): vic has the viewer role and no tenant",
            ),
            (
                entry(&format!(r#""sha256": "{HASH}", "role": "admin", "actor": """#)),
                "token 1 (): the actor name \"\" cannot be recorded: must not be empty",
            ),
            (
                entry(&format!(r#""sha256": "{HASH}", "role": "admin", "tenant": "", "actor": "a""#)),
                "token 1 (a): invalid tenant",
            ),
            (r#"{ "tokens": [] }"#.to_owned(), "lists no token"),
            ("[]".to_owned(), "must be a JSON object"),
            ("{".to_owned(), "EOF while parsing an object at line 1 column 1"),
        ];
        for (text, expected) in cases {
            let error = parse(&text).unwrap_err();
            assert!(error.starts_with(expected), "{text}: {error}");
        }
        let twice = format!(
            r#"{{ "tokens": [ {{ "sha256": "{HASH}", "role": "admin", "actor": "a" }},
                              {{ "sha256": "{}", "role": "admin", "actor": "b" }} ] }}"#,
            HASH.to_uppercase()
        );
        assert_eq!(parse(&twice).unwrap_err(), "token 2 (b): the token of b is configured twice");
    }

    #[test]
    fn the_hash_is_of_the_trimmed_token() {
        assert_eq!(hash_of("s3cret\n").unwrap(), HASH);
        assert_eq!(hash_of("  s3cret\r\n").unwrap(), HASH);
        assert!(matches!(hash_of("\n"), Err(Failure::Usage(_))));
        assert!(matches!(hash_of("two words"), Err(Failure::Usage(_))));
    }
}
