//! Allow-listed HTTP for guests: the host makes the request, only to hosts in the sandbox's
//! `allow_hosts`.

mod client;
pub mod ip;

use std::net::{IpAddr, SocketAddr};
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
///
/// Every request, and every redirect it leads to, goes through the same checks before a byte
/// leaves the host: an `allow_hosts` entry must match its scheme, host and port; the host name
/// is resolved here and every address it resolves to must be public unicast (see
/// [`ip::special_range`]) unless an entry names that IP itself; the connection then goes to
/// an address that was checked, never through a second lookup (no DNS-rebinding window) and
/// never through a proxy from the environment.
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

    /// The allow-list.
    pub fn allow_hosts(&self) -> &[AllowHost] {
        &self.allow
    }

    /// Makes `request` if the allow-list lets it through; returns the response or why not,
    /// and the record of every hop (a redirect is its own entry).
    ///
    /// Redirects (301, 302, 303, 307, 308; at most [`MAX_REDIRECTS`]) are followed here, each
    /// hop checked like the first. The response body is read until `budget.max_bytes` and no
    /// further (kind `payload` beyond it); the whole exchange, redirects included, must end
    /// within `budget.timeout` (kind `timeout`).
    pub async fn fetch(
        &self,
        request: HttpRequest,
        budget: FetchBudget,
    ) -> (Result<HttpResponse, ToolError>, Vec<NetworkRequest>) {
        let mut records = Vec::new();
        let result =
            tokio::time::timeout(budget.timeout, self.follow(request, budget, &mut records)).await;
        let result = match result {
            Ok(result) => result,
            Err(_) => {
                let error = ToolError::new(
                    ToolErrorKind::Timeout,
                    format!(
                        "the request did not finish within {:?} (tool_timeout)",
                        budget.timeout
                    ),
                );
                if let Some(last) = records.last_mut().filter(|r| r.error.is_none()) {
                    last.error = Some(error.to_string());
                }
                Err(error)
            }
        };
        (result, records)
    }

    async fn follow(
        &self,
        request: HttpRequest,
        budget: FetchBudget,
        records: &mut Vec<NetworkRequest>,
    ) -> Result<HttpResponse, ToolError> {
        let (method, url) = (request.method.clone(), record_url(&request.url));
        let mut current = match client::Hop::new(request, budget.max_bytes) {
            Ok(hop) => hop,
            Err(e) => {
                records.push(NetworkRequest {
                    method,
                    url,
                    allowed: false,
                    status: None,
                    bytes: 0,
                    error: Some(e.to_string()),
                });
                return Err(e);
            }
        };
        let mut redirects = 0;
        loop {
            let index = records.len();
            records.push(NetworkRequest {
                method: current.method.to_string(),
                url: record_url(current.url.as_str()),
                allowed: false,
                status: None,
                bytes: 0,
                error: None,
            });
            let target = current.target();
            let addresses = match self.check(&target).await {
                Ok(addresses) => addresses,
                Err(e) => {
                    records[index].error = Some(e.to_string());
                    return Err(e);
                }
            };
            records[index].allowed = true;
            let outcome = client::send(&current, &target, &addresses).await;
            let record = &mut records[index];
            match outcome {
                Err(e) => {
                    record.error = Some(e.to_string());
                    return Err(e);
                }
                Ok(client::Answer::Response(response)) => {
                    record.status = Some(response.status);
                    record.bytes = response.body.as_ref().map_or(0, |b| b.len() as u64);
                    return Ok(response);
                }
                Ok(client::Answer::Redirect { status, location }) => {
                    record.status = Some(status);
                    redirects += 1;
                    let next = if redirects > MAX_REDIRECTS {
                        Err(ToolError::new(
                            ToolErrorKind::Network,
                            format!(
                                "{} redirected more than {MAX_REDIRECTS} times; stopped there",
                                current.original
                            ),
                        ))
                    } else {
                        current.redirect(status, &location)
                    };
                    match next {
                        Ok(next) => current = next,
                        Err(e) => {
                            record.error = Some(e.to_string());
                            return Err(e);
                        }
                    }
                }
            }
        }
    }

    /// The allow-list and address checks of one hop: the addresses it may connect to.
    async fn check(&self, target: &client::Target) -> Result<Vec<SocketAddr>, ToolError> {
        let origin = target.origin();
        if !self
            .allow
            .iter()
            .any(|entry| entry.matches(target.scheme, &target.host, target.port))
        {
            let why = if self.allow.is_empty() {
                "the sandbox's allow_hosts is empty".to_owned()
            } else {
                let list: Vec<String> = self.allow.iter().map(ToString::to_string).collect();
                format!(
                    "no allow_hosts entry matches it (allowed: {})",
                    list.join(", ")
                )
            };
            return Err(ToolError::new(
                ToolErrorKind::Denied,
                format!(
                    "network access to {origin} is not allowed: {why}; allow it with \
                     SandboxConfig::with_allow_host({:?}) or `soulbox run --allow-host {}`",
                    target.authority(),
                    target.authority()
                ),
            ));
        }
        let addresses: Vec<SocketAddr> = match target.ip {
            Some(ip) => vec![SocketAddr::new(ip, target.port)],
            None => {
                let answers = tokio::net::lookup_host((target.host.as_str(), target.port))
                    .await
                    .map_err(|e| {
                        ToolError::new(
                            ToolErrorKind::Network,
                            format!("cannot resolve {}: {e}", target.host),
                        )
                    })?;
                let mut addresses: Vec<SocketAddr> = Vec::new();
                for a in answers {
                    if !addresses.contains(&a) {
                        addresses.push(a);
                    }
                }
                addresses
            }
        };
        if addresses.is_empty() {
            return Err(ToolError::new(
                ToolErrorKind::Network,
                format!("{} resolves to no address", target.host),
            ));
        }
        for address in &addresses {
            let ip = address.ip();
            let Some(range) = ip::special_range(ip) else {
                continue;
            };
            let named = self
                .allow
                .iter()
                .any(|e| e.names_ip(ip) && e.matches(target.scheme, &ip.to_string(), target.port));
            if !named {
                let via = if target.ip.is_some() {
                    format!("{ip} is")
                } else {
                    format!("{} resolves to {ip},", target.host)
                };
                let literal = match ip {
                    IpAddr::V4(_) => format!("{ip}:{}", target.port),
                    IpAddr::V6(_) => format!("[{ip}]:{}", target.port),
                };
                return Err(ToolError::new(
                    ToolErrorKind::Denied,
                    format!(
                        "network access to {origin} is not allowed: {via} a {range} address; \
                         only public addresses are reachable unless an allow_hosts entry names \
                         the IP itself (SandboxConfig::with_allow_host({literal:?}) or \
                         `soulbox run --allow-host {literal}`)"
                    ),
                ));
            }
        }
        Ok(addresses)
    }
}

/// Most redirects one request follows.
pub const MAX_REDIRECTS: u32 = 10;

/// Longest URL kept in a [`NetworkRequest`] record.
const RECORDED_URL: usize = 2048;

fn record_url(url: &str) -> String {
    if url.len() <= RECORDED_URL {
        return url.to_owned();
    }
    let mut end = RECORDED_URL;
    while !url.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &url[..end])
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

#[cfg(test)]
mod tests;
