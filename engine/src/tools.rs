//! A sandbox's host tools and network: what its guests may reach beyond the workspace.
//!
//! The registry and the network policy live with the sandbox; each execution (or session cell)
//! gets a fresh [`HostChannel`] over them, so its calls are capped and recorded on their own and
//! end up in that execution's `tool_calls` and `network`.

use std::sync::{Arc, Mutex, PoisonError};

use soulbox_host::net::Network;
use soulbox_host::{ChannelLimits, HostChannel, ToolFunction, ToolHandler, Tools};

use crate::{ExecutionResult, Result, SandboxConfig, SoulBoxError};

/// What a sandbox offers its guests through the host channel.
pub(crate) struct HostOffer {
    tools: Mutex<Arc<Tools>>,
    network: Arc<Network>,
    limits: ChannelLimits,
}

impl HostOffer {
    /// No tools yet; the network `config.allow_hosts` allows (already validated).
    pub(crate) fn new(config: &SandboxConfig) -> Result<Self> {
        let allow = config
            .parsed_allow_hosts()
            .map_err(SoulBoxError::InvalidRequest)?;
        Ok(Self {
            tools: Mutex::new(Arc::new(Tools::default())),
            network: Arc::new(Network::new(allow)),
            limits: ChannelLimits::from_config(config),
        })
    }

    pub(crate) fn register(&self, function: ToolFunction, handler: impl ToolHandler) -> Result<()> {
        let mut tools = self.tools.lock().unwrap_or_else(PoisonError::into_inner);
        // Copy on write: a running execution keeps the set it started with.
        let mut next = Tools::clone(&tools);
        next.register(function, handler)
            .map_err(|e| SoulBoxError::InvalidRequest(e.message))?;
        *tools = Arc::new(next);
        Ok(())
    }

    pub(crate) fn unregister(&self, name: &str) -> bool {
        let mut tools = self.tools.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = Tools::clone(&tools);
        let removed = next.remove(name);
        *tools = Arc::new(next);
        removed
    }

    pub(crate) fn list(&self) -> Vec<ToolFunction> {
        self.tools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .list()
    }

    /// A fresh channel for one execution or cell.
    pub(crate) fn channel(&self) -> Arc<HostChannel> {
        let tools = self
            .tools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Arc::new(HostChannel::new(tools, self.network.clone(), self.limits))
    }
}

/// Moves the channel's records into the result.
pub(crate) fn record(result: &mut ExecutionResult, channel: &HostChannel) {
    let (tool_calls, network) = channel.take_records();
    result.tool_calls = tool_calls;
    result.network = network;
}
