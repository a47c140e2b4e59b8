"""``infant-stream config schema``: the JSON Schema of the run config, the committed copy kept current,
and every shipped run config valid against it (and loadable)."""

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from pipeline.cli.config import schema_text
from pipeline.cli.main import main
from pipeline.config import Config, load_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
SCHEMA_FILE = CONFIGS / "config.schema.json"
RUN_CONFIGS = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("train"))
"""The pipeline's run configs (trainer configs, ``train*.yaml``, have their own format)."""


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def test_schema_command_prints_a_valid_json_schema(capsys):
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "$defs" not in json.dumps(schema)  # draft 7 (the YAML language server's): "definitions"
    assert set(schema["properties"]) == set(Config.model_fields)
    source = schema["definitions"]["SourceConfig"]["properties"]
    assert source["mode"]["enum"] == ["auto", "latest", "lossless"]
    assert source["read_timeout_s"]["exclusiveMinimum"] == 0


def test_schema_command_writes_out(tmp_path):
    out = tmp_path / "schema.json"
    assert main(["config", "schema", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == schema_text()


def test_schema_out_unwritable_is_one_line(tmp_path, capsys):
    assert main(["config", "schema", "--out", str(tmp_path / "no" / "such" / "s.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("infant-stream: error: --out: cannot write") and err.count("\n") == 1


def test_committed_schema_is_current():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "configs/config.schema.json is stale: infant-stream config schema --out configs/config.schema.json"
    )


def test_schema_command_as_console_script(infant_stream):
    proc = subprocess.run([*infant_stream, "config", "schema"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_shipped_run_configs_match_the_schema_and_load(path):
    _validator().validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert isinstance(load_config(path), Config)


@pytest.mark.parametrize(
    "data",
    [
        {"source": {"read_timeout_s": -1}},
        {"source": {"mode": "fast"}},
        {"source": {"colour": "red"}},
        {"run": {"max_frames": 1.5}},
        {"sources": [{"id": "a b"}]},
        {"model": {"max_batch": 1000}},
    ],
)
def test_schema_refuses_what_the_loader_refuses(data):
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(data)
