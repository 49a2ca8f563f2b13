//! What crosses the guest-host boundary, as data: the allow-list of hosts a guest may reach
//! over HTTP, and the records of tool calls and network requests a result carries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Longest host pattern accepted in [`SandboxConfig::allow_hosts`](crate::SandboxConfig::allow_hosts).
pub const MAX_ALLOW_HOST_LEN: usize = 261;
/// Most entries in [`SandboxConfig::allow_hosts`](crate::SandboxConfig::allow_hosts).
pub const MAX_ALLOW_HOSTS: usize = 256;

/// URL scheme a guest request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The scheme's default port.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `http` or `https`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Which names an [`AllowHost`] entry matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this name or IP literal (lower case; IPv6 without brackets).
    Exact(String),
    /// `*.domain`: any name ending in `.domain` (not `domain` itself).
    Subdomains(String),
}

/// One parsed entry of the allow-list: `[scheme://]host[:port]` where host is a name, an IP
/// literal (`[::1]` for IPv6) or `*.domain`.
///
/// ```
/// use soulbox_api::{AllowHost, Scheme};
/// let entry = AllowHost::parse("https://*.example.com:8443").unwrap();
/// assert!(entry.matches(Scheme::Https, "api.example.com", 8443));
/// assert!(!entry.matches(Scheme::Http, "api.example.com", 8443));
/// assert!(!entry.matches(Scheme::Https, "example.com", 8443));
/// let any_port = AllowHost::parse("127.0.0.1").unwrap();
/// assert!(any_port.matches(Scheme::Http, "127.0.0.1", 8080));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowHost {
    /// `None`: http and https.
    pub scheme: Option<Scheme>,
    /// The names it matches.
    pub host: HostPattern,
    /// `None`: any port.
    pub port: Option<u16>,
}

impl AllowHost {
    /// Parses one entry, with a message saying what is wrong.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let original = entry;
        if entry.is_empty() || entry.len() > MAX_ALLOW_HOST_LEN {
            return Err(format!(
                "allow_hosts entry {original:?} must have 1 to {MAX_ALLOW_HOST_LEN} characters"
            ));
        }
        let (scheme, rest) = match entry.split_once("://") {
            Some(("http", rest)) => (Some(Scheme::Http), rest),
            Some(("https", rest)) => (Some(Scheme::Https), rest),
            Some((other, _)) => {
                return Err(format!(
                    "allow_hosts entry {original:?}: scheme {other:?} is not http or https"
                ));
            }
            None => (None, entry),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = split_host_port(rest)
            .map_err(|why| format!("allow_hosts entry {original:?}: {why}"))?;
        let host = host.to_ascii_lowercase();
        let pattern = if let Some(domain) = host.strip_prefix("*.") {
            check_name(domain).map_err(|why| format!("allow_hosts entry {original:?}: {why}"))?;
            HostPattern::Subdomains(domain.to_owned())
        } else if host.parse::<std::net::IpAddr>().is_ok() {
            HostPattern::Exact(host)
        } else {
            check_name(&host).map_err(|why| format!("allow_hosts entry {original:?}: {why}"))?;
            HostPattern::Exact(host)
        };
        Ok(Self {
            scheme,
            host: pattern,
            port,
        })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry. `host` is compared
    /// case-insensitively, IPv6 literals without brackets.
    pub fn matches(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        if self.scheme.is_some_and(|s| s != scheme) || self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match &self.host {
            HostPattern::Exact(name) => *name == host,
            HostPattern::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }

    /// Whether this entry names `ip` itself (an IP literal, not a name): the only way a
    /// private, loopback or link-local address becomes reachable.
    pub fn names_ip(&self, ip: std::net::IpAddr) -> bool {
        match &self.host {
            HostPattern::Exact(name) => name.parse::<std::net::IpAddr>().is_ok_and(|a| a == ip),
            HostPattern::Subdomains(_) => false,
        }
    }
}

impl std::fmt::Display for AllowHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(scheme) = self.scheme {
            write!(f, "{}://", scheme.name())?;
        }
        match &self.host {
            HostPattern::Exact(name) if name.contains(':') => write!(f, "[{name}]")?,
            HostPattern::Exact(name) => f.write_str(name)?,
            HostPattern::Subdomains(domain) => write!(f, "*.{domain}")?,
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

fn split_host_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (ip, after) = inner
            .split_once(']')
            .ok_or_else(|| "an IPv6 literal needs a closing ']'".to_owned())?;
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{ip:?} is not an IPv6 address"));
        }
        match after {
            "" => (ip, None),
            _ => (
                ip,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| "text after the IPv6 literal".to_owned())?,
                ),
            ),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("port {p:?} is not a number from 1 to 65535")),
            Ok(n) => Some(n),
        },
    };
    Ok((host, port))
}

fn check_name(name: &str) -> Result<(), String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err("the host name is empty or longer than 253 characters".into());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "{label:?} is not a host name label (letters, digits, '-', '_'; '*' only as a leading '*.')"
            ));
        }
    }
    Ok(())
}

/// One tool call a guest made, as recorded in [`ExecutionResult::tool_calls`](crate::ExecutionResult::tool_calls).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The tool's name as the guest asked for it.
    pub name: String,
    /// The arguments as JSON text (cut to 4 KiB in the record; the handler saw all of them).
    pub arguments: String,
    /// How long the call took, validation and handler included.
    #[serde(with = "millis")]
    pub duration: Duration,
    /// Whether the handler ran and returned a value.
    pub ok: bool,
    /// Why not, when not: `kind: message` (kinds as in the guest's error: `unknown_tool`,
    /// `invalid_arguments`, `handler`, `timeout`, `limit`, `payload`, `protocol`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One HTTP request a guest asked for, allowed or not, as recorded in
/// [`ExecutionResult::network`](crate::ExecutionResult::network).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRequest {
    /// The method (`GET`, `POST`, ...).
    pub method: String,
    /// The URL the guest asked for (redirects it led to are recorded as their own entries).
    pub url: String,
    /// Whether the allow-list let it through.
    pub allowed: bool,
    /// The response status, when a response came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Response body bytes handed to the guest.
    pub bytes: u64,
    /// Why it failed or was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let e = AllowHost::parse("example.com").unwrap();
        assert!(e.matches(Scheme::Https, "EXAMPLE.com", 443));
        assert!(e.matches(Scheme::Http, "example.com.", 8080));
        assert!(!e.matches(Scheme::Http, "evil-example.com", 80));
        let e = AllowHost::parse("http://localhost:8080").unwrap();
        assert!(e.matches(Scheme::Http, "localhost", 8080));
        assert!(!e.matches(Scheme::Http, "localhost", 8081));
        assert!(!e.matches(Scheme::Https, "localhost", 8080));
        let e = AllowHost::parse("[::1]:9000").unwrap();
        assert!(e.matches(Scheme::Http, "::1", 9000));
        assert!(e.names_ip("::1".parse().unwrap()));
        let e = AllowHost::parse("*.example.com").unwrap();
        assert!(e.matches(Scheme::Http, "a.b.example.com", 80));
        assert!(!e.matches(Scheme::Http, "example.com", 80));
        assert!(!e.matches(Scheme::Http, "xexample.com", 80));
        assert!(!e.names_ip("127.0.0.1".parse().unwrap()));
        assert_eq!(e.to_string(), "*.example.com");
    }

    #[test]
    fn refuses_what_is_not_a_host() {
        for bad in [
            "",
            "ftp://x.com",
            "x.com:0",
            "x.com:70000",
            "a*.com",
            "*",
            "*.",
            "x.com/path",
            "user@x.com",
            "[::1",
            "[nonsense]",
            "-a.com",
            "a..com",
        ] {
            assert!(AllowHost::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
