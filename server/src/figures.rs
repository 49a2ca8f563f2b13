//! A Python session's matplotlib figures as PNG images, for the doors that return images with a
//! cell's result (the E2B code interpreter, MCP): pyplot set to the Agg backend once per session,
//! then after each cell every open figure rendered, reported and closed.

use soulbox::Session;

/// Marks a PNG line in the figure epilogue's output.
pub(crate) const PNG_MARK: &str = "__soulbox_e2b_png__:";

/// Run once in each new Python context: pyplot with the Agg backend, `show()` leaving figures
/// open for the epilogue (instead of warning that Agg cannot show).
pub(crate) const PYTHON_SETUP: &str = "\
def __soulbox_e2b_setup():
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return
    plt.show = lambda *args, **kwargs: None
__soulbox_e2b_setup()
del __soulbox_e2b_setup
";

/// Run after each Python cell: every open figure as a base64 PNG line, then closed.
pub(crate) const PYTHON_FIGURES: &str = "\
def __soulbox_e2b_figures():
    import sys
    plt = sys.modules.get('matplotlib.pyplot')
    if plt is None or not plt.get_fignums():
        return
    import base64, io
    for n in plt.get_fignums():
        fig = plt.figure(n)
        buf = io.BytesIO()
        fig.savefig(buf, format='png')
        print('__soulbox_e2b_png__:' + base64.b64encode(buf.getvalue()).decode() + '\t' + repr(fig))
    plt.close('all')
__soulbox_e2b_figures()
del __soulbox_e2b_figures
";

/// A Python session's open matplotlib figures, each as a base64 PNG and its text form
/// (`<Figure size 640x480 with 1 Axes>`), closed afterwards.
pub(crate) async fn figures_png(
    session: &Session,
) -> Result<Vec<(String, String)>, soulbox::SoulBoxError> {
    let r = session.execute(PYTHON_FIGURES).await?;
    Ok(r.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(PNG_MARK))
        .map(|l| {
            let (png, text) = l.split_once('\t').unwrap_or((l, "<Figure>"));
            (png.trim().to_owned(), text.trim().to_owned())
        })
        .collect())
}
