import math
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from pipeline.config import (
    Config,
    ModelConfig,
    RunConfig,
    SourceConfig,
    as_dict,
    evolve,
    load_config,
    override,
)
from pipeline.errors import ConfigError
from pipeline.sources.stream import StreamOptions
from pipeline.sources.webcam import WebcamOptions

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
        ("sauce: {}", r": sauce: unknown key"),
        ("run: {max_frames: 1.5}", r"run.max_frames: must be an integer, got 1.5"),
        ("run: {max_frames: -3}", r"run.max_frames: must be >= 0, got -3"),
        ("output: {progress: maybe}", r"output.progress: must be true or false"),
        ("source: [1, 2]", r"source: must be a mapping"),
        ("source: {uri: [", r"not valid YAML"),
        ("privacy: {mode: blur}", r"privacy.mode: must be one of fail_closed, head, frame, off, got 'blur'"),
        ("privacy: {min_head_score: 1.5}", r"privacy.min_head_score: must be 0..1, got 1.5"),
        ("privacy: {min_head_area_px: 0}", r"privacy.min_head_area_px: must be >= 1, got 0"),
        # removed keys: a config written before fail-closed privacy is refused, never read fail-open
        (
            "privacy: {blur_head: false}",
            r"privacy: blur_head was replaced by mode .*blur_head: false is mode: off",
        ),
        (
            "privacy: {blur_head: true}",
            r"privacy: blur_head was replaced by mode \(fail_closed, head, frame or off\)",
        ),
        (
            "display: {blur_head: false}",
            r"display: blur_head was removed: the window starts as privacy.mode says",
        ),
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


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SourceConfig(read_timeout_s=-1), "SourceConfig.read_timeout_s: must be > 0, got -1"),
        (lambda: SourceConfig(width=True), "SourceConfig.width: must be an integer, got True"),
        (lambda: SourceConfig(fps="30"), "SourceConfig.fps: must be a number, got '30'"),
        (lambda: SourceConfig(fps=math.inf), "SourceConfig.fps: must be a finite number, got inf"),
        (lambda: SourceConfig(loop=1), "SourceConfig.loop: must be true or false, got 1"),
        (lambda: SourceConfig(id="a b"), "SourceConfig.id: must be 1-64 letters, digits, _ or -, got 'a b'"),
        (lambda: ModelConfig(max_batch=257), "ModelConfig.max_batch: must be 0..256, got 257"),
        (lambda: RunConfig(max_frame=1), "RunConfig.max_frame: unknown key (known: max_frames, duration_s)"),
        (
            lambda: Config(sources=[SourceConfig(id="a"), SourceConfig(id="a")]),
            "Config.sources[1].id: 'a' is used by another source",
        ),
        (lambda: Config(run={"duration_s": -1}), "Config.run.duration_s: must be >= 0, got -1"),
    ],
)
def test_models_made_in_code_are_checked(make, message):
    with pytest.raises(ConfigError) as info:
        make()
    assert str(info.value) == message


def test_evolve_checks_the_changed_model():
    cfg = Config()
    changed = evolve(cfg, run=evolve(cfg.run, max_frames=5))
    assert changed.run.max_frames == 5 and cfg.run.max_frames == 0 and changed.source is cfg.source
    with pytest.raises(ConfigError, match=r"^RunConfig.max_frames: must be >= 0, got -1$"):
        evolve(cfg.run, max_frames=-1)
    with pytest.raises(ConfigError, match=r"^--source-id: sources\[1\].id: 'a' is used by another source$"):
        evolve(cfg, where="--source-id", sources=(SourceConfig(id="a"), SourceConfig(id="a")))
    with pytest.raises(ConfigError, match=r"^RunConfig.frames: unknown key"):
        evolve(cfg.run, frames=1)


def test_configs_are_frozen_and_strict():
    cfg = Config()
    with pytest.raises(ValidationError):
        cfg.run.max_frames = 3  # type: ignore[misc]
    assert SourceConfig(uri=0).uri == "0"  # type: ignore[arg-type]  # a YAML camera index is text
    assert SourceConfig(fps=30).fps == 30.0 and isinstance(SourceConfig(fps=30).fps, float)
    with pytest.raises(ConfigError, match="must be a finite number"):
        SourceConfig(fps=10**400)


def test_stream_and_webcam_options_default_to_the_source_section():
    src = SourceConfig()
    assert StreamOptions() == StreamOptions.from_config(src)
    assert StreamOptions().reconnect_max_s == src.reconnect_max_s
    webcam = WebcamOptions()
    assert (webcam.width, webcam.height, webcam.fps) == (src.width, src.height, src.fps)
