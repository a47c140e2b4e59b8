from pathlib import Path

import pytest
import yaml

from pipeline.config import Config, as_dict, load_config, override
from pipeline.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_default_yaml_spells_out_the_defaults():
    assert yaml.safe_load((CONFIGS / "default.yaml").read_text()) == as_dict(Config())


@pytest.mark.parametrize("name", ["default.yaml", "file.yaml", "rtsp.yaml", "webcam.yaml"])
def test_shipped_configs_load(name):
    assert isinstance(load_config(CONFIGS / name), Config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source: {read_timeout_s: -1}", r"source.read_timeout_s: must be > 0, got -1"),
        ("source: {mode: fast}", r"source.mode: must be one of auto, latest, lossless, got 'fast'"),
        ("source: {colour: red}", r"source.colour: unknown key"),
        ("sauce: {}", r"\.sauce: unknown key"),
        ("run: {max_frames: 1.5}", r"run.max_frames: must be an integer, got 1.5"),
        ("run: {max_frames: -3}", r"run.max_frames: must be >= 0, got -3"),
        ("output: {progress: maybe}", r"output.progress: must be true or false"),
        ("source: [1, 2]", r"source: must be a mapping"),
        ("source: {uri: [", r"not valid YAML"),
    ],
)
def test_bad_values_name_file_field_and_value(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_override_checks_like_yaml():
    cfg = override(Config(), "run.max_frames", 5, "--max-frames")
    assert cfg.run.max_frames == 5 and cfg.source == Config().source
    with pytest.raises(ConfigError, match=r"--max-frames: must be >= 0, got -1"):
        override(cfg, "run.max_frames", -1, "--max-frames")
    with pytest.raises(ConfigError, match=r"--mode: must be one of"):
        override(cfg, "source.mode", "turbo", "--mode")
