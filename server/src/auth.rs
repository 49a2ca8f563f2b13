//! Who is calling: bearer tokens, one tenant each. A tenant sees only the sandboxes it created.
//!
//! Tokens come from `--token-file` (one per line; blank lines and `#` comments skipped) or from
//! a token generated at first start and kept in `$SOULBOX_HOME/server-token` (mode 0600). They
//! are compared in constant time, against every known token, so the time taken says nothing
//! about how much of a guess was right.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::{Request, Status};

/// One caller identity. Sandboxes, sessions and snapshots belong to the tenant that made them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant(Arc<str>);

impl Tenant {
    /// A tenant named `name` (for logs; never the token itself).
    pub fn new(name: impl Into<Arc<str>>) -> Tenant {
        Tenant(name.into())
    }

    /// The tenant's name, as logged.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// The tokens the server accepts.
#[derive(Clone)]
pub struct Tokens {
    entries: Arc<Vec<(Vec<u8>, Tenant)>>,
    /// `--insecure-no-auth`: every call is the one anonymous tenant.
    open: bool,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves.
        f.debug_struct("Tokens")
            .field("tenants", &self.entries.len())
            .field("open", &self.open)
            .finish()
    }
}

/// Name of the generated token's file under `$SOULBOX_HOME`.
pub const TOKEN_FILE_NAME: &str = "server-token";

impl Tokens {
    /// Accepts exactly these tokens, the n-th (from 1) being tenant `tenant-n`.
    pub fn new<I, S>(tokens: I) -> Result<Tokens, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut entries: Vec<(Vec<u8>, Tenant)> = Vec::new();
        for (i, token) in tokens.into_iter().enumerate() {
            let token = token.as_ref().trim();
            if token.len() < 16 {
                return Err(format!(
                    "token {} is {} characters long; use at least 16 (random) characters",
                    i + 1,
                    token.len()
                ));
            }
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("token {} contains whitespace", i + 1));
            }
            if entries.iter().any(|(t, _)| t == token.as_bytes()) {
                return Err(format!("token {} appears twice", i + 1));
            }
            entries.push((
                token.as_bytes().to_vec(),
                Tenant::new(format!("tenant-{}", i + 1)),
            ));
        }
        if entries.is_empty() {
            return Err("no tokens given".into());
        }
        Ok(Tokens {
            entries: Arc::new(entries),
            open: false,
        })
    }

    /// Reads a token file: one token per line, each its own tenant.
    pub fn from_file(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
        let lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        Tokens::new(lines).map_err(|e| format!("token file {}: {e}", path.display()))
    }

    /// The token kept in `home/server-token`, generated (and written with mode 0600) when the
    /// file does not exist yet. Returns the tokens and the file's path. A token file that
    /// others can read is refused.
    pub fn generated(home: &Path) -> Result<(Tokens, PathBuf), String> {
        let path = home.join(TOKEN_FILE_NAME);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                let token = format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                );
                file.write_all(format!("{token}\n").as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok((Tokens::new([token])?, path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let meta = std::fs::symlink_metadata(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
                    return Err(format!(
                        "{} must be a regular file only its owner can read (chmod 600 it)",
                        path.display()
                    ));
                }
                Ok((Tokens::from_file(&path)?, path))
            }
            Err(e) => Err(format!("cannot create {}: {e}", path.display())),
        }
    }

    /// No authentication (`--insecure-no-auth`): every caller is tenant `anonymous`.
    pub fn insecure() -> Tokens {
        Tokens {
            entries: Arc::new(vec![(Vec::new(), Tenant::new("anonymous"))]),
            open: true,
        }
    }

    /// The tenant an `authorization` header value belongs to; `UNAUTHENTICATED` otherwise.
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<Tenant, Status> {
        if self.open {
            return Ok(self.entries[0].1.clone());
        }
        let Some(header) = header else {
            return Err(Status::unauthenticated(
                "missing `authorization: Bearer <token>` metadata",
            ));
        };
        let Some(given) = header.strip_prefix(b"Bearer ") else {
            return Err(Status::unauthenticated(
                "the authorization metadata must be `Bearer <token>`",
            ));
        };
        // Compare against every token, without stopping at a match.
        let mut found = None;
        for (token, tenant) in self.entries.iter() {
            if bool::from(token.as_slice().ct_eq(given)) {
                found = Some(tenant.clone());
            }
        }
        found.ok_or_else(|| Status::unauthenticated("unknown token"))
    }
}

/// Checks every call's bearer token and attaches its [`Tenant`] to the request.
#[derive(Debug, Clone)]
pub struct Authenticator(pub Tokens);

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        let tenant = self.0.authenticate(header)?;
        request.extensions_mut().insert(tenant);
        Ok(request)
    }
}

/// The tenant the [`Authenticator`] attached to `request`.
pub fn tenant<T>(request: &Request<T>) -> Result<Tenant, Status> {
    request
        .extensions()
        .get::<Tenant>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("the call was not authenticated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn each_token_is_its_own_tenant() {
        let tokens = Tokens::new([A, B]).unwrap_or_else(|_| Tokens::insecure());
        let a = tokens.authenticate(Some(format!("Bearer {A}").as_bytes()));
        let b = tokens.authenticate(Some(format!("Bearer {B}").as_bytes()));
        assert_eq!(a.ok().map(|t| t.name().to_owned()), Some("tenant-1".into()));
        assert_eq!(b.ok().map(|t| t.name().to_owned()), Some("tenant-2".into()));
    }

    #[test]
    fn refuses_missing_malformed_and_wrong_tokens() {
        let tokens = Tokens::new([A]).unwrap_or_else(|_| Tokens::insecure());
        for header in [None, Some(A.as_bytes()), Some(b"Bearer nope".as_slice())] {
            let err = tokens.authenticate(header).err();
            assert_eq!(err.map(|s| s.code()), Some(tonic::Code::Unauthenticated));
        }
        let prefix = format!("Bearer {}", &A[..10]);
        assert!(tokens.authenticate(Some(prefix.as_bytes())).is_err());
    }

    #[test]
    fn refuses_short_and_duplicate_tokens() {
        assert!(Tokens::new(["short"]).is_err());
        assert!(Tokens::new([A, A]).is_err());
        assert!(Tokens::new(Vec::<String>::new()).is_err());
    }

    #[test]
    fn generated_token_is_private_and_stable() {
        let home = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(home) = home else { panic!("temp dir") };
        let first = Tokens::generated(home.path());
        let Ok((_, path)) = first else {
            panic!("generate: {first:?}")
        };
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let token = std::fs::read_to_string(&path).unwrap_or_default();
        let again = Tokens::generated(home.path());
        let Ok((tokens, _)) = again else {
            panic!("reread: {again:?}")
        };
        let header = format!("Bearer {}", token.trim());
        assert!(tokens.authenticate(Some(header.as_bytes())).is_ok());
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
        assert!(
            Tokens::generated(home.path()).is_err(),
            "a readable token file is refused"
        );
    }
}
