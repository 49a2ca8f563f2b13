"""Package installs from Python, embedded and remote: the engine's one flow (directly, or through
the server's InstallPackage), packages imported by later runs, refusals as PackageError."""

import pytest

from conftest import run
from soulbox import ConfigError, InstalledPackage, InstallReport, PackageError, SandboxConfig

CONFIG = SandboxConfig(memory_limit=512 * 1024 * 1024)


def test_install_idna_then_import_it(make_box):
    async def work():
        async with make_box(CONFIG) as sandbox:
            report = await sandbox.install_package("python", "idna")
            again = await sandbox.install_packages("python", ["idna"], offline=True)
            result = await sandbox.execute_code(
                "python",
                "import idna, importlib.metadata as m\n"
                "print(idna.encode('ドメイン.テスト').decode(), m.version('idna'))",
            )
            return report, again, result

    report, again, result = run(work())
    assert isinstance(report, InstallReport)
    packages = report.installed + report.already
    idna = next(p for p in packages if p.name == "idna")
    assert isinstance(idna, InstalledPackage)
    assert idna.ecosystem == "python"
    assert idna.digest.startswith("sha256:") and len(idna.digest) == 7 + 64
    assert "idna" in report.summary
    assert again.installed == [] and again.from_cache
    assert [p.name for p in again.already] == ["idna"]
    assert result.status == "ok", result.stderr
    assert result.stdout == f"xn--eckwd4c7c.xn--zckzah {idna.version}\n"


def test_a_refused_package_raises_package_error(make_box):
    async def work():
        async with make_box(CONFIG) as sandbox:
            with pytest.raises(PackageError) as native:
                await sandbox.install_package("python", "numpy==2.2.0")
            with pytest.raises(ConfigError):
                await sandbox.install_package("python", "/etc/passwd")
            result = await sandbox.execute_code("python", "import numpy; print(numpy.__version__)")
            return str(native.value), result

    message, result = run(work())
    assert "numpy" in message and "manylinux" in message, message
    # The runtime's own numpy stays.
    assert result.stdout == "2.5.2\n", result.stderr


def test_the_sync_sandbox_installs_too(make_sync):
    with make_sync(CONFIG) as sandbox:
        report = sandbox.install_package("python", "idna")
        assert "idna" in [p.name for p in report.installed + report.already]
        r = sandbox.execute_code("python", "import idna; print(idna.decode('xn--zckzah'))")
        assert r.stdout == "テスト\n", r.stderr
        with pytest.raises(PackageError) as caught:
            sandbox.install_package("python", "pycrypto")
        assert "pycrypto" in str(caught.value) and "sdist" in str(caught.value)
