//! One hop of a guest's request: its URL, method, headers and body, checked and normalised
//! ([`Hop`]); where it goes ([`Target`]); and the exchange itself ([`send`]) - hyper's HTTP/1
//! client over a TCP connection (TLS by rustls for https) to an address already checked.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Full, combinators::BoxBody};
use hyper::Method;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use soulbox_api::Scheme;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};
use url::Url;

use super::{HttpRequest, HttpResponse};
use crate::tools::{ToolError, ToolErrorKind};

/// Most request headers a guest may send.
const MAX_HEADERS: usize = 100;

/// Headers that describe one connection, not the message: never forwarded either way. `host`
/// and `content-length` are set by the client itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers dropped when a redirect leaves the origin.
const CREDENTIALS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// Headers describing a body, dropped when a redirect turns the request into a `GET`.
const BODY_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-language",
    "content-location",
];

fn invalid(message: String) -> ToolError {
    ToolError::new(ToolErrorKind::InvalidArguments, message)
}

fn network(message: String) -> ToolError {
    ToolError::new(ToolErrorKind::Network, message)
}

/// One request as it is about to be made.
#[derive(Debug, Clone)]
pub(super) struct Hop {
    pub(super) method: Method,
    pub(super) url: Url,
    /// The URL the guest asked for (for messages).
    pub(super) original: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Bytes>,
    max_bytes: u64,
}

impl Hop {
    /// Checks a guest's request: an http(s) URL without credentials, a method hyper accepts
    /// (not `CONNECT`), at most [`MAX_HEADERS`] well-formed headers (hop-by-hop ones dropped).
    pub(super) fn new(request: HttpRequest, max_bytes: u64) -> Result<Self, ToolError> {
        let url = parse_url(&request.url)?;
        let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            invalid(format!(
                "{:?} is not an HTTP method",
                request.method.chars().take(64).collect::<String>()
            ))
        })?;
        if method == Method::CONNECT {
            return Err(invalid(
                "CONNECT (tunnels) is not offered to guests; request the URL itself".into(),
            ));
        }
        if request.headers.len() > MAX_HEADERS {
            return Err(invalid(format!(
                "{} request headers; at most {MAX_HEADERS} are sent",
                request.headers.len()
            )));
        }
        let mut headers = Vec::with_capacity(request.headers.len());
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                invalid(format!(
                    "{:?} is not a header name",
                    name.chars().take(64).collect::<String>()
                ))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                invalid(format!(
                    "the value of header {name} has a forbidden character"
                ))
            })?;
            if HOP_BY_HOP.contains(&name.as_str()) || name == "host" || name == "content-length" {
                continue;
            }
            headers.push((name, value));
        }
        Ok(Self {
            method,
            original: url.to_string(),
            url,
            headers,
            body: request.body.map(Bytes::from),
            max_bytes,
        })
    }

    /// Where this hop goes.
    pub(super) fn target(&self) -> Target {
        Target::of(&self.url)
    }

    /// The next hop after a `status` redirect to `location`: `303` (and `301`/`302` after a
    /// `POST`) become a `GET` without a body; credentials stay behind when the origin changes.
    pub(super) fn redirect(&self, status: u16, location: &str) -> Result<Self, ToolError> {
        let url = self
            .url
            .join(location)
            .map_err(|e| {
                network(format!(
                    "{} redirected to {location:?}, not a URL: {e}",
                    self.url
                ))
            })
            .and_then(|next| parse_url(next.as_str()))?;
        let mut next = self.clone();
        let to_get = (status == 303 && self.method != Method::HEAD)
            || ((status == 301 || status == 302) && self.method == Method::POST);
        if to_get {
            next.method = Method::GET;
            next.body = None;
            next.headers
                .retain(|(name, _)| !BODY_HEADERS.contains(&name.as_str()));
        }
        if url.origin() != self.url.origin() {
            next.headers
                .retain(|(name, _)| !CREDENTIALS.contains(&name.as_str()));
        }
        next.url = url;
        Ok(next)
    }
}

fn parse_url(text: &str) -> Result<Url, ToolError> {
    let shown: String = text.chars().take(200).collect();
    let mut url = Url::parse(text).map_err(|e| invalid(format!("{shown:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "{shown:?}: only http and https URLs are served, not {}",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(format!(
            "{shown:?}: credentials in the URL are not sent; use an Authorization header"
        )));
    }
    if url.host().is_none() {
        return Err(invalid(format!("{shown:?} has no host")));
    }
    url.set_fragment(None);
    Ok(url)
}

/// Where a hop goes: what the allow-list is matched against and what is connected to.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) scheme: Scheme,
    /// Lower case; an IPv6 literal without brackets.
    pub(super) host: String,
    pub(super) port: u16,
    /// The host is this IP literal (no lookup).
    pub(super) ip: Option<IpAddr>,
}

impl Target {
    fn of(url: &Url) -> Self {
        let scheme = if url.scheme() == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let (host, ip) = match url.host() {
            Some(url::Host::Ipv4(a)) => (a.to_string(), Some(IpAddr::V4(a))),
            Some(url::Host::Ipv6(a)) => (a.to_string(), Some(IpAddr::V6(a))),
            Some(url::Host::Domain(d)) => (d.to_ascii_lowercase(), None),
            None => (String::new(), None),
        };
        Self {
            scheme,
            host,
            port: url.port().unwrap_or(scheme.default_port()),
            ip,
        }
    }

    /// `host:port` (`[v6]:port`), as an allow-list entry would name it.
    pub(super) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `scheme://host:port`.
    pub(super) fn origin(&self) -> String {
        format!("{}://{}", self.scheme.name(), self.authority())
    }
}

/// What one hop came back with.
pub(super) enum Answer {
    /// A final response.
    Response(HttpResponse),
    /// A redirect to follow.
    Redirect { status: u16, location: String },
}

/// Makes one hop: connects to the first of `addresses` (all checked) that answers, speaks TLS
/// for https (the server's certificate checked against the webpki roots for the URL's host),
/// sends the request and reads the answer.
pub(super) async fn send(
    hop: &Hop,
    target: &Target,
    addresses: &[SocketAddr],
) -> Result<Answer, ToolError> {
    let mut last_error = None;
    let mut stream = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(format!("{address}: {e}")),
        }
    }
    let Some(stream) = stream else {
        return Err(network(format!(
            "cannot connect to {} ({})",
            target.origin(),
            last_error.unwrap_or_default()
        )));
    };
    let _ = stream.set_nodelay(true);
    match target.scheme {
        Scheme::Http => exchange(TokioIo::new(stream), hop, target).await,
        Scheme::Https => {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| network(format!("{} is not a TLS server name: {e}", target.host)))?;
            let tls = TlsConnector::from(tls_config()?)
                .connect(name, stream)
                .await
                .map_err(|e| network(format!("TLS with {} failed: {e}", target.origin())))?;
            exchange(TokioIo::new(tls), hop, target).await
        }
    }
}

/// The TLS client settings: rustls with ring, the webpki roots, HTTP/1.1 by ALPN.
fn tls_config() -> Result<Arc<ClientConfig>, ToolError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(|e| network(format!("TLS is unavailable: {e}")))
}

async fn exchange<IO>(io: IO, hop: &Hop, target: &Target) -> Result<Answer, ToolError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let origin = target.origin();
    let failed = |e: hyper::Error| network(format!("HTTP with {origin} failed: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(failed)?;
    let request = build_request(hop, target)?;
    let exchange = async {
        let response = sender.send_request(request).await.map_err(failed)?;
        read_response(response, hop, target).await
    };
    // The connection is driven here, beside the exchange, so nothing outlives this call.
    let mut conn = std::pin::pin!(conn);
    let mut exchange = std::pin::pin!(exchange);
    let mut conn_done = false;
    loop {
        tokio::select! {
            answer = &mut exchange => return answer,
            _ = &mut conn, if !conn_done => conn_done = true,
        }
    }
}

fn build_request(
    hop: &Hop,
    target: &Target,
) -> Result<hyper::Request<BoxBody<Bytes, std::convert::Infallible>>, ToolError> {
    let default_port = target.scheme.default_port() == target.port;
    let host = match (target.host.contains(':'), default_port) {
        (true, true) => format!("[{}]", target.host),
        (false, true) => target.host.clone(),
        _ => target.authority(),
    };
    let path = match hop.url.query() {
        Some(query) => format!("{}?{query}", hop.url.path()),
        None => hop.url.path().to_owned(),
    };
    let mut builder = hyper::Request::builder()
        .method(hop.method.clone())
        .uri(path)
        .header(hyper::header::HOST, host);
    for (name, value) in &hop.headers {
        builder = builder.header(name, value);
    }
    // The length is the body's own, never the guest's word for it.
    let length =
        hop.body.as_ref().map(Bytes::len).or_else(|| {
            matches!(hop.method, Method::POST | Method::PUT | Method::PATCH).then_some(0)
        });
    if let Some(length) = length {
        builder = builder.header(hyper::header::CONTENT_LENGTH, length);
    }
    let body = match &hop.body {
        Some(bytes) => Full::new(bytes.clone()).boxed(),
        None => Empty::new().boxed(),
    };
    builder
        .body(body)
        .map_err(|e| invalid(format!("cannot make the request to {}: {e}", hop.url)))
}

async fn read_response(
    response: hyper::Response<hyper::body::Incoming>,
    hop: &Hop,
    target: &Target,
) -> Result<Answer, ToolError> {
    let status = response.status();
    let location = response
        .headers()
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok());
    if let Some(location) =
        location.filter(|_| matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308))
    {
        return Ok(Answer::Redirect {
            status: status.as_u16(),
            location: location.to_owned(),
        });
    }
    let too_big = |size: String| {
        ToolError::new(
            ToolErrorKind::Payload,
            format!(
                "the response from {} is {size} bytes; this request may take at most {} \
                 (the smaller of max_host_call_bytes and what is left of max_network_bytes)",
                target.origin(),
                hop.max_bytes
            ),
        )
    };
    if hop.method != Method::HEAD {
        let declared = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(declared) = declared.filter(|&d| d > hop.max_bytes) {
            return Err(too_big(declared.to_string()));
        }
    }
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = response.into_body();
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            network(format!(
                "reading the response from {} failed: {e}",
                target.origin()
            ))
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() as u64 + data.len() as u64 > hop.max_bytes {
                return Err(too_big(format!("more than {}", hop.max_bytes)));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Answer::Response(HttpResponse {
        status: status.as_u16(),
        reason,
        url: hop.url.to_string(),
        headers,
        body: Some(bytes),
    }))
}
