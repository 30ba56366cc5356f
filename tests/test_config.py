"""Configuration: defaults load, user files deep-merge, invalid values fail naming file and key."""

from __future__ import annotations

import pytest

from callqa.pipeline.config import deep_merge, load_config
from callqa.pipeline.errors import ConfigError


def test_defaults_load_and_hash_is_stable():
    a, b = load_config(), load_config()
    assert a.hash == b.hash
    assert a.section("models").asr.model == "tiny.en"
    assert a.section("audio").default_channel_map == ["operator", "client"]


def test_user_file_overrides_only_what_it_names(tmp_path):
    f = tmp_path / "customer.yaml"
    f.write_text("company:\n  names: [Northwind Bank]\nmodels:\n  asr:\n    beam_size: 5\n", encoding="utf-8")
    cfg = load_config(f)
    assert cfg.section("company").names == ["Northwind Bank"]
    assert cfg.section("models").asr.beam_size == 5
    assert cfg.section("models").asr.model == "tiny.en"  # untouched default survives the merge
    assert cfg.hash != load_config().hash


def test_invalid_value_names_user_file_and_key(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("models:\n  asr:\n    beam_size: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert e.value.file == str(f)
    assert e.value.key == "models.asr.beam_size"


def test_typo_in_key_is_rejected(tmp_path):
    f = tmp_path / "typo.yaml"
    f.write_text("models:\n  asr:\n    modle: small\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert "models.asr.modle" in str(e.value)


def test_unknown_section_and_bad_yaml(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("nosuchsection: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nosuchsection"):
        load_config(f)
    f.write_text("models: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")


def test_default_file_error_names_that_file(tmp_path):
    root = tmp_path / "configs"
    root.mkdir()
    (root / "audio.yaml").write_text("sample_rate: 16000\nmin_duration_s: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir=root)
    assert e.value.file.endswith("audio.yaml") and e.value.key == "audio.min_duration_s"


def test_deep_merge_does_not_mutate_inputs():
    base = {"a": {"b": 1, "c": [1]}}
    out = deep_merge(base, {"a": {"b": 2}})
    assert out == {"a": {"b": 2, "c": [1]}} and base == {"a": {"b": 1, "c": [1]}}
