//! Requests no SDK sends: malformed frames and bodies, missing headers, unknown ids, an
//! upload over the cap. Each gets a clear error in the protocol's own shape, and the server
//! keeps serving.
