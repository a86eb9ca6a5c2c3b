//! Upload tokens (issue 16): which requests may store and touch uploads.
//!
//! A token is a JWT signed with HS256 and the configured `auth_secret`, the
//! format every application language mints in a few lines. `exp` is
//! required; `sub` names who uploads (every later request on an upload
//! needs the same `sub`); `max_size`, `allowed_extensions` and
//! `allowed_types` narrow the server's limits, never widen them.
//!
//! Parsing and claim checks are `jsonwebtoken`'s; the HMAC is RustCrypto's
//! `hmac` + `sha2`, installed as jsonwebtoken's crypto provider with HS256
//! alone: no RSA or elliptic-curve code is linked (the `rust_crypto`
//! feature would pull the `rsa` crate and its open advisory), no key is
//! parsed but the secret, and a token naming any other algorithm (or
//! `none`) is refused before any signature is computed.

#![forbid(unsafe_code)]

use std::sync::Once;

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The claims upspool reads; others are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Expiry, Unix seconds (required: jsonwebtoken checks it is there
    /// before these claims are read).
    #[serde(default)]
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Largest file in bytes; at most the server's `max_size` takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// Extensions (no dots); only those the server also allows take effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_extensions: Option<Vec<String>>,
    /// MIME patterns checked by content, as the server's `allowed_types`;
    /// a file must match both lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_types: Option<Vec<String>>,
}

/// Why a request's token is not accepted; the sentence is the client's.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    Expired,
    Invalid(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Missing => f.write_str(
                "An upload token is required (Authorization: Bearer, X-Upload-Token or ?token=).",
            ),
            TokenError::Expired => f.write_str("The upload token has expired."),
            TokenError::Invalid(why) => write!(f, "The upload token is not valid: {why}."),
        }
    }
}

type HmacSha256 = Hmac<Sha256>;

/// HS256 with the configured secret, jsonwebtoken's signer and verifier.
struct Hs256(HmacSha256);

impl Hs256 {
    fn new(key: &[u8]) -> jsonwebtoken::errors::Result<Hs256> {
        HmacSha256::new_from_slice(key)
            .map(Hs256)
            .map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }
}

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        // Constant-time comparison.
        mac.verify_slice(signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

fn signer(alg: &Algorithm, key: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256::new(key.as_bytes())?)),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256::new(key.try_get_as_bytes()?)?)),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

fn install_provider() {
    static ONCE: Once = Once::new();
    // Installing can fail only if a provider is already there: ours.
    ONCE.call_once(|| {
        let _ = PROVIDER.install_default();
    });
}

/// Checks a token: HS256 under `secret`, not expired (no leeway: upspool's
/// clock decides), claims of the right types.
pub fn verify(secret: &str, token: &str) -> Result<Claims, TokenError> {
    install_provider();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_aud = false;
    let key = DecodingKey::from_secret(secret.as_bytes())
        .map_err(|_| TokenError::Invalid("the server's secret is unusable".into()))?;
    match jsonwebtoken::decode::<Claims>(token.trim(), &key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidSignature => TokenError::Invalid("wrong signature".into()),
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                TokenError::Invalid("only HS256 is accepted".into())
            }
            ErrorKind::MissingRequiredClaim(c) => {
                TokenError::Invalid(format!("the `{c}` claim is required"))
            }
            ErrorKind::Json(_) => TokenError::Invalid("a claim has the wrong type".into()),
            _ => TokenError::Invalid("not a JWT".into()),
        }),
    }
}

/// Signs `claims` with `secret` (`upspool token`, tests, benchmarks).
pub fn mint(secret: &str, claims: &Claims) -> Result<String, String> {
    install_provider();
    let key = EncodingKey::from_secret(secret.as_bytes()).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).map_err(|e| e.to_string())
}

/// The token a request carries: `Authorization: Bearer …`, else
/// `X-Upload-Token` (Apache drops `Authorization` before CGI unless
/// `CGIPassAuth On`), else the `token` query parameter.
pub fn find<'a>(
    authorization: Option<&'a str>,
    x_upload_token: Option<&'a str>,
    query_token: Option<&'a str>,
) -> Option<&'a str> {
    let bearer = authorization.and_then(|v| {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    [bearer, x_upload_token.map(str::trim), query_token]
        .into_iter()
        .flatten()
        .find(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn now() -> u64 {
        crate::spool::unix_now()
    }

    fn b64(bytes: &[u8]) -> String {
        base64_url(bytes)
    }

    /// base64url without padding, for hand-made tokens.
    fn base64_url(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for c in bytes.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..=c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let claims = Claims {
            exp: now() + 60,
            sub: Some("alice".into()),
            max_size: Some(10),
            allowed_extensions: Some(vec!["png".into()]),
            allowed_types: Some(vec!["image/*".into()]),
        };
        let t = mint(SECRET, &claims).unwrap();
        assert_eq!(verify(SECRET, &t), Ok(claims));
    }

    #[test]
    fn refusals() {
        let t = mint(
            SECRET,
            &Claims {
                exp: now() + 60,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(matches!(
            verify("another-secret-of-at-least-32-bytes!", &t),
            Err(TokenError::Invalid(_))
        ));
        let t = mint(
            SECRET,
            &Claims {
                exp: now() - 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(verify(SECRET, &t), Err(TokenError::Expired));
        assert!(verify(SECRET, "not.a.token").is_err());
        // alg none, unsigned.
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(format!(r#"{{"exp":{}}}"#, now() + 60).as_bytes())
        );
        assert!(matches!(verify(SECRET, &none), Err(TokenError::Invalid(_))));
        // HS512 is not HS256.
        let body = format!(
            "{}.{}",
            b64(br#"{"alg":"HS512","typ":"JWT"}"#),
            b64(format!(r#"{{"exp":{}}}"#, now() + 60).as_bytes())
        );
        assert!(verify(SECRET, &format!("{body}.AAAA")).is_err());
        // exp is required; max_size must be a number.
        let sign = |payload: &str| {
            let head = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
            let msg = format!("{head}.{}", b64(payload.as_bytes()));
            let mut mac = HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(msg.as_bytes());
            format!("{msg}.{}", b64(&mac.finalize().into_bytes()))
        };
        assert!(matches!(
            verify(SECRET, &sign(r#"{"sub":"x"}"#)),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            verify(
                SECRET,
                &sign(&format!(r#"{{"exp":{},"max_size":"big"}}"#, now() + 9))
            ),
            Err(TokenError::Invalid(_))
        ));
        assert!(verify(SECRET, &sign(&format!(r#"{{"exp":{}}}"#, now() + 9))).is_ok());
    }

    #[test]
    fn carriers_in_order() {
        assert_eq!(find(Some("Bearer abc"), Some("x"), Some("y")), Some("abc"));
        assert_eq!(find(Some("bearer  abc "), None, None), Some("abc"));
        assert_eq!(find(Some("Basic abc"), Some("x"), None), Some("x"));
        assert_eq!(find(None, None, Some("y")), Some("y"));
        assert_eq!(find(None, Some(""), None), None);
    }
}
