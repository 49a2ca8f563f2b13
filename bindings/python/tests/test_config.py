"""SandboxConfig: defaults, conversions and bad values as ConfigError (a ValueError)."""

import pytest

from soulbox import ConfigError, SandboxConfig, SoulBoxError


def test_defaults_are_the_engines_with_artifact_bytes_attached():
    config = SandboxConfig()
    assert config.memory_limit == 256 * 1024 * 1024
    assert config.timeout == 30.0
    assert config.cpu_quota == 1.0
    assert config.fuel is None
    assert config.network_enabled is False
    assert config.backend == "auto"
    assert config.max_artifact_bytes == 16 * 1024 * 1024


def test_the_seeds_keywords_and_to_dict():
    config = SandboxConfig(memory_limit=512 * 1024 * 1024, cpu_quota=0.5, timeout=30, env={"A": "1"})
    d = config.to_dict()
    assert d["memory_limit"] == 512 * 1024 * 1024
    assert d["cpu_quota"] == 0.5
    assert d["timeout"] == 30.0
    assert d["env"] == {"A": "1"}
    assert "SandboxConfig(memory_limit=536870912" in repr(config)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"memory_limit": -1}, "memory_limit must be a positive number of bytes, got -1"),
        ({"memory_limit": 0}, "memory_limit must be a positive number of bytes, got 0"),
        ({"memory_limit": 1000}, "below one WebAssembly page"),
        ({"memory_limit": 1 << 50}, "memory_limit"),
        ({"timeout": 0}, "timeout must be a positive number of seconds, got 0"),
        ({"timeout": -5}, "timeout must be a positive number of seconds"),
        ({"timeout": float("nan")}, "timeout must be a positive number of seconds"),
        ({"cpu_quota": 0}, "cpu_quota must be a positive number"),
        ({"fuel": -1}, "fuel must be a non-negative number"),
        ({"max_output_bytes": -1}, "max_output_bytes must be a non-negative number"),
        ({"backend": "docker"}, "unknown backend `docker`; expected auto, wasm or native"),
        ({"workspace": "/tmp/a", "persistent_storage": "/tmp/b"}, "not both"),
    ],
)
def test_bad_values_raise_config_error_with_the_reason(kwargs, message):
    with pytest.raises(ConfigError, match=None) as caught:
        SandboxConfig(**kwargs)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, SoulBoxError)


def test_unknown_keywords_are_a_type_error():
    with pytest.raises(TypeError):
        SandboxConfig(memory=1)
    with pytest.raises(TypeError):
        SandboxConfig(512 * 1024 * 1024)  # keywords only
