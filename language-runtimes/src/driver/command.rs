//! WASI command modules (`_start`): CPython 3.12 WLR, QuickJS-NG, MicroPython. The code goes in
//! through argv (`-c CODE` / `--std -e CODE`), the program's arguments follow it.

use wasmtime::{Instance, Linker, Store, Trap};

use super::{
    Driver, DriverHost, EnterFuture, Invocation, RunInput, c_stack_explanation, check_args,
    code_text, export_error,
};
use crate::catalogue::Runtime;
use crate::error::Result;
use crate::packages::layer;

pub(super) struct CommandDriver {
    pub(super) runtime: &'static Runtime,
    pub(super) program: &'static str,
    pub(super) code_flags: &'static [&'static str],
}

impl<T: DriverHost> Driver<T> for CommandDriver {
    fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    fn prepare(&self, input: &RunInput<'_>) -> Result<Invocation> {
        let code = code_text(self.runtime, input.code)?;
        check_args(self.runtime, input.args)?;
        let argv = std::iter::once(self.program.to_owned())
            .chain(self.code_flags.iter().map(|f| (*f).to_owned()))
            .chain(std::iter::once(code))
            .chain(input.args.iter().cloned())
            .collect();
        let mut invocation = Invocation::new(argv);
        // Interpreters that consult these find UTF-8 everywhere, as on a modern host.
        invocation.env.push(("LANG".into(), "C.UTF-8".into()));
        invocation
            .env
            .push(("PYTHONIOENCODING".into(), "utf-8".into()));
        if input.packages.is_some() {
            invocation.add_packages(input.packages);
            // CPython reads PYTHONPATH; Node-style resolvers read NODE_PATH.
            invocation
                .env
                .push(("PYTHONPATH".into(), layer::GUEST_PYTHON.into()));
            invocation
                .env
                .push(("NODE_PATH".into(), layer::GUEST_NODE_MODULES.into()));
        }
        Ok(invocation)
    }

    fn link(&self, _linker: &mut Linker<T>) -> Result<()> {
        // Nothing beyond WASI: MicroPython's optional host-call imports are left to trap.
        Ok(())
    }

    fn enter<'a>(
        &'a self,
        store: &'a mut Store<T>,
        instance: Instance,
        _invocation: &'a Invocation,
    ) -> EnterFuture<'a> {
        Box::pin(async move {
            let start = instance
                .get_typed_func::<(), ()>(&mut *store, "_start")
                .map_err(|_| export_error(self.runtime, "_start"))?;
            start.call_async(&mut *store, ()).await
        })
    }

    fn explain_trap(&self, trap: Trap) -> Option<String> {
        c_stack_explanation(trap, self.runtime.language)
    }
}
