//! Ruby's way to the host channel. The prebuilt ruby.wasm cannot gain imports, but it has the
//! JavaScript bridge of ruby.wasm (`require "js"`), whose host side SoulBox provides: the guest
//! module `SoulBox` (`guest/soulbox.rb`) sends a protocol frame as the "code" of `JS.eval`, and
//! reads the reply as the returned object's `to_s`:
//!
//! - `eval-js(code) -> variant { success(handle), failure(handle) }`: the frame goes to
//!   [`HostChannel::answer`](soulbox_host::HostChannel::answer) (its length checked before it is
//!   copied); the reply is kept host-side as a "JavaScript value" and its handle returned
//!   (always `success`: errors travel in the reply's JSON);
//! - `js-value-to-string(handle) -> string`: hands the reply over - into memory from the guest's
//!   `cabi_realloc`, which Ruby frees - and forgets it (a value is read at most once);
//! - `resource_drop_js-abi-value(handle)`: forgets it if it was never read.
//!
//! At most [`MAX_PENDING`] replies wait at a time (a guest calling `JS.eval` without reading
//! the results cannot pile up host memory); more is a `protocol` error reply. Every other
//! bridge function stays a trap: nothing else of JavaScript exists here.

use wasmtime::{Caller, Extern, Linker};

use super::DriverHost;

/// Most unread replies one guest may hold.
pub(crate) const MAX_PENDING: usize = 16;

/// Replies waiting to be read, by handle.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Replies {
    slots: Vec<Option<Vec<u8>>>,
}

impl Replies {
    fn insert(&mut self, reply: Vec<u8>) -> Option<i32> {
        let index = match self.slots.iter().position(Option::is_none) {
            Some(index) => index,
            None if self.slots.len() < MAX_PENDING => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return None,
        };
        let slot = self.slots.get_mut(index)?;
        *slot = Some(reply);
        i32::try_from(index).ok()
    }

    fn take(&mut self, handle: i32) -> Option<Vec<u8>> {
        let index = usize::try_from(handle).ok()?;
        self.slots.get_mut(index)?.take()
    }
}

/// The reply when no channel serves this run, or the guest holds too many unread replies.
fn refusal(kind: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"ok": false, "kind": kind, "error": message}))
        .unwrap_or_default()
}

/// Defines `eval-js`, `js-value-to-string` and `resource_drop_js-abi-value`.
pub(super) fn link<T: DriverHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        "rb-js-abi-host",
        "eval-js: func(code: string) -> variant { success(handle<js-abi-value>), failure(handle<js-abi-value>) }",
        |mut caller: Caller<'_, T>, (ptr, len, ret): (i32, i32, i32)| {
            Box::new(async move {
                let memory = caller
                    .get_export("memory")
                    .and_then(Extern::into_memory)
                    .ok_or_else(|| wasmtime::Error::msg("ruby.wasm exports no memory"))?;
                // wasm32 addresses arrive as i32: reinterpret them as unsigned.
                let (start, len, ret) = (ptr as u32 as usize, len as u32 as usize, ret as u32 as usize);
                let reply = match caller.data().host_channel() {
                    None => refusal("unavailable", "this sandbox offers no host tools or network"),
                    Some(channel) => match channel.refuse_length(len) {
                        Some(refusal) => refusal,
                        None => {
                            let mut frame = vec![0u8; len];
                            memory.read(&caller, start, &mut frame)?;
                            channel.answer(&frame).await
                        }
                    },
                };
                let replies = &mut caller.data_mut().driver_state().js_replies;
                let handle = match replies.insert(reply) {
                    Some(handle) => handle,
                    None => {
                        // Make room for the refusal itself by dropping the oldest unread reply.
                        replies.take(0);
                        replies
                            .insert(refusal(
                                "protocol",
                                "too many unread host replies (read each JS.eval result with to_s)",
                            ))
                            .unwrap_or(0)
                    }
                };
                let mut out = [0u8; 8];
                out[4..].copy_from_slice(&handle.to_le_bytes());
                memory.write(&mut caller, ret, &out)?;
                Ok(())
            })
        },
    )?;
    linker.func_wrap_async(
        "rb-js-abi-host",
        "js-value-to-string: func(value: handle<js-abi-value>) -> string",
        |mut caller: Caller<'_, T>, (handle, ret): (i32, i32)| {
            Box::new(async move {
                let text = caller
                    .data_mut()
                    .driver_state()
                    .js_replies
                    .take(handle)
                    .unwrap_or_default();
                let memory = caller
                    .get_export("memory")
                    .and_then(Extern::into_memory)
                    .ok_or_else(|| wasmtime::Error::msg("ruby.wasm exports no memory"))?;
                let realloc = caller
                    .get_export("cabi_realloc")
                    .and_then(Extern::into_func)
                    .ok_or_else(|| wasmtime::Error::msg("ruby.wasm exports no cabi_realloc"))?
                    .typed::<(i32, i32, i32, i32), i32>(&caller)?;
                let len = i32::try_from(text.len())
                    .map_err(|_| wasmtime::Error::msg("a host reply larger than 2 GiB"))?;
                let at = realloc
                    .call_async(&mut caller, (0, 0, 1, len.max(1)))
                    .await?;
                memory.write(&mut caller, at as u32 as usize, &text)?;
                let mut out = [0u8; 8];
                out[..4].copy_from_slice(&at.to_le_bytes());
                out[4..].copy_from_slice(&len.to_le_bytes());
                memory.write(&mut caller, ret as u32 as usize, &out)?;
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "canonical_abi",
        "resource_drop_js-abi-value",
        |mut caller: Caller<'_, T>, handle: i32| {
            caller.data_mut().driver_state().js_replies.take(handle);
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_once_and_capped() {
        let mut r = Replies::default();
        let h = r.insert(b"a".to_vec()).unwrap();
        assert_eq!(r.take(h).as_deref(), Some(&b"a"[..]));
        assert_eq!(r.take(h), None);
        for _ in 0..MAX_PENDING {
            assert!(r.insert(Vec::new()).is_some());
        }
        assert!(r.insert(Vec::new()).is_none());
        assert_eq!(r.take(-1), None);
        assert_eq!(r.take(1 << 20), None);
    }
}
