//! Tool calling from Python: a Python callable as a sandbox's tool handler, and JSON values
//! between Python and the engine (through Python's own `json` module, so what a handler may
//! return is exactly what `json.dumps` accepts).
//!
//! A handler runs on a blocking worker thread of the runtime that attaches to the interpreter
//! only for the call (`Python::try_attach`: never while the interpreter shuts down). The calling
//! convention - arguments as keyword arguments, awaitables awaited, the value JSON-encoded, an
//! exception turned into the guest's error message - lives in `soulbox/_tools.py`.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use serde_json::Value;

use crate::bridge::block;
use crate::error::{Failure, Outcome};
use crate::target::Target;

/// `soulbox._tools`, imported once.
fn tools_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("soulbox._tools")?.unbind()))
        .map(|m| m.bind(py))
}

/// The description of a tool from the arguments of `register_tool`.
pub fn function(
    py: Python<'_>,
    name: String,
    description: String,
    parameters: Option<&Bound<'_, PyAny>>,
) -> PyResult<soulbox::ToolFunction> {
    let parameters = match parameters {
        None => serde_json::json!({"type": "object", "properties": {}}),
        Some(p) => to_json(py, p)?,
    };
    Ok(soulbox::ToolFunction::new(name, description, parameters))
}

/// A handler that calls `callable` (through `soulbox._tools.invoke`, with the event loop that
/// was running at registration, if any, for async callables).
pub fn handler(py: Python<'_>, callable: &Bound<'_, PyAny>) -> PyResult<impl soulbox::ToolHandler> {
    if !callable.is_callable() {
        return Err(Failure::config("the tool's handler must be callable").into_pyerr(py));
    }
    let bound = tools_module(py)?.call_method1("bind", (callable,))?;
    let invoke = Arc::new(bound.unbind());
    Ok(move |arguments: Value| {
        let invoke = invoke.clone();
        async move {
            let text = arguments.to_string();
            let call = tokio::task::spawn_blocking(move || {
                Python::try_attach(|py| call_handler(py, &invoke, text))
                    .unwrap_or_else(|| Err("the Python interpreter is shutting down".to_owned()))
            });
            call.await
                .map_err(|e| format!("the tool's Python handler did not finish: {e}"))?
        }
    })
}

/// Runs the bound handler on the arguments' JSON text: `(True, json)` or `(False, message)`.
fn call_handler(py: Python<'_>, invoke: &Py<PyAny>, arguments: String) -> Result<Value, String> {
    let outcome = invoke
        .bind(py)
        .call1((arguments,))
        .and_then(|o| o.extract::<(bool, String)>())
        .map_err(|e| format!("calling the tool's handler failed: {e}"))?;
    match outcome {
        (true, json) => serde_json::from_str(&json)
            .map_err(|e| format!("the tool's handler returned JSON SoulBox cannot read: {e}")),
        (false, message) => Err(message),
    }
}

/// A Python value as JSON (`json.dumps`; a value it refuses is a `ConfigError`).
pub fn to_json(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let text: String = tools_module(py)?
        .call_method1("dumps", (value,))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| Failure::config(e.to_string()).into_pyerr(py))
}

/// A model's arguments as given from Python: JSON text (`str`), a mapping, or `None`.
pub fn arguments(
    py: Python<'_>,
    arguments: Option<&Bound<'_, PyAny>>,
) -> PyResult<soulbox::ToolArguments> {
    Ok(match arguments {
        None => soulbox::ToolArguments::Value(Value::Null),
        Some(a) => match a.extract::<String>() {
            Ok(text) => soulbox::ToolArguments::Json(text),
            Err(_) => soulbox::ToolArguments::Value(to_json(py, a)?),
        },
    })
}

/// A JSON value handed to Python as its `json.loads` form (dicts, lists, str, ...).
pub struct Json(pub Value);

impl<'py> IntoPyObject<'py> for Json {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        tools_module(py)?.call_method1("loads", (self.0.to_string(),))
    }
}

/// `register_tool` of both classes: registers `handler` on `target`'s sandbox (created now if
/// needed) and returns `None`; without a handler, returns a decorator that does so.
pub fn register<'py>(
    owner: &Bound<'py, PyAny>,
    target: &Arc<Target>,
    name: String,
    description: String,
    parameters: Option<Bound<'py, PyAny>>,
    handler: Option<Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = owner.py();
    let Some(handler) = handler else {
        let register = owner.getattr("register_tool")?;
        let decorator = tools_module(py)?
            .call_method1("Register", (register, name, description, parameters))?;
        return Ok(Some(decorator));
    };
    let function = function(py, name, description, parameters.as_ref())?;
    let handler = self::handler(py, &handler)?;
    let target = target.clone();
    block(
        py,
        async move { target.register_tool(function, handler).await },
    )?;
    Ok(None)
}

/// `tools()` of both classes: the OpenAI-style `tools` list (sandbox created now if needed).
pub fn tools<'py>(py: Python<'py>, target: &Arc<Target>) -> PyResult<Bound<'py, PyAny>> {
    let target = target.clone();
    let tools = block(py, async move { target.tools().await })?;
    Json(tools).into_pyobject(py)
}

/// The future of `execute_tool_call` for both classes.
pub fn execute(
    target: &Arc<Target>,
    name: String,
    arguments: soulbox::ToolArguments,
) -> impl std::future::Future<Output = Outcome<Json>> + Send + 'static {
    let target = target.clone();
    async move { target.execute_tool_call(name, arguments).await.map(Json) }
}
