//! Integration tests of `soulbox-client` (its behaviour against a server is tested in
//! `soulbox-server`'s tests, which start the real server).

mod deps;
