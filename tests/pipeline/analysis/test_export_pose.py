"""``infant-stream export-pose``: a recording's joints as DeepLabCut CSV, COCO keypoints JSON and NWB
(ndx-pose), each read back the way its tools read it and compared with the JSONL's own values; and the
one-line errors of the command.

The expected values come from the JSONL lines themselves (:func:`expected`), not from the loader the
export uses."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.analysis.export_pose import REFERENCE_FRAME, pose_table, to_coco
from pipeline.cli.main import main as cli_main
from pipeline.contract.keypoints import NYCU22
from pipeline.errors import DatasetError
from tests.helpers.procs import REPO, cli_command
from trainer.synth.video import write_video

NAN = math.nan
T0 = 1796000000.0
W, H = 320, 240


# ---------------------------------------------------------------------------------------------------------
# a recording by hand


def keypoint(kid: int, seq: int, state: str = "observed") -> dict[str, Any]:
    """Keypoint ``kid`` of NYCU-22 in frame ``seq``: a position that moves with the frame (2 decimals, inside
    a 320×240 frame) and a score that depends on both (3 decimals); null and 0 when predicted."""
    x, y = round(10 + 7 * kid + 1.37 * seq, 2), round(20 + 5 * kid + 0.91 * seq, 2)
    predicted = state == "predicted"
    return {
        "id": kid,
        "name": NYCU22.names[kid],
        "x": None if predicted else x,
        "y": None if predicted else y,
        "score": 0.0 if predicted else round(0.5 + 0.02 * kid + 0.001 * seq, 3),
        "state": state,
        "smoothed": [x + 0.25, y - 0.25],
        "velocity": [13.7, 9.1],
        "uncertainty": [1.9, 1.9],
    }


def frame(source: str, seq: int, keypoints: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A frame record as ``run --jsonl`` writes it (schema 1), with ``keypoints`` unless None."""
    record: dict[str, Any] = {
        "schema": 1,
        "source": source,
        "seq": seq,
        "pts_s": round(0.1 * seq, 4),
        "capture_ts": round(T0 + 0.1 * seq + 0.0037 * (seq % 3), 4),
        "width": W,
        "height": H,
        "dropped_since_last": 0,
        "privacy": "head",
        "latency_ms": {
            "preprocess": 1.1,
            "inference": 14.9,
            "postprocess": 2.3,
            "pose": 7.4 if keypoints is not None else 0.0,
            "capture_to_publish": 31.2,
        },
        "parts": [
            {
                "class_id": 1,
                "name": "head",
                "instance": 0,
                "track_id": 1,
                "state": "observed",
                "box": [60, 10, 130, 80],
                "centroid": [95.0, 45.0],
                "smoothed": [95.2, 45.1],
                "velocity": [0.5, 0.0],
                "uncertainty": [1.5, 1.5],
                "area_px": 3900,
                "score": 0.95,
            }
        ],
        "classes": [
            {
                "class_id": 1,
                "name": "head",
                "box": [60, 10, 130, 80],
                "centroid": [95.0, 45.0],
                "area_px": 3900,
                "score": 0.95,
                "instances": 1,
            }
        ],
    }
    if keypoints is not None:
        record["pose"] = {"box": [0.0, 0.0, 320.0, 240.0], "model": "infant-pose"}
        record["keypoints"] = keypoints
    return record


MTP = (NYCU22.index("MTP_joint_R"), NYCU22.index("MTP_joint_L"))
KNEE_L = NYCU22.index("Knee_L")


def cam0_keypoints(seq: int) -> list[dict[str, Any]] | None:
    """cam0's joints: the soles (MTP) have no track in frame 0 (absent from its record); the left knee
    coasts (predicted) in frames 2 and 3; frame 4 has none at all; frame 5 only predicted ones."""
    if seq == 4:
        return None
    if seq == 5:
        return [keypoint(k, seq, "predicted") for k in range(NYCU22.num_keypoints)]
    kps = []
    for k in range(NYCU22.num_keypoints):
        if seq == 0 and k in MTP:
            continue
        kps.append(keypoint(k, seq, "predicted" if k == KNEE_L and seq in (2, 3) else "observed"))
    return kps


def two_source_records() -> list[dict[str, Any]]:
    """cam0 (seq 0..6) and cam1 (seq 10..12, every joint observed), interleaved, with a status record."""
    out: list[dict[str, Any]] = []
    for seq in range(7):
        out.append(frame("cam0", seq, cam0_keypoints(seq)))
        if seq < 3:
            out.append(frame("cam1", 10 + seq, [keypoint(k, 10 + seq) for k in range(NYCU22.num_keypoints)]))
        if seq == 1:
            out.append(status("cam0"))
    return out


def status(source: str) -> dict[str, Any]:
    return {
        "schema": 1,
        "type": "status",
        "source": source,
        "ts": T0 + 0.1,
        "state": "running",
        "fps": {"decode": 10.0},
        "dropped": 0,
        "frames_out": 2,
        "latency_p50_ms": 30.0,
        "reconnects": 0,
        "timestamp_repairs": 0,
        "failed_outputs": [],
    }


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------
# the oracle: what the JSONL says, read without the loader


@dataclass(frozen=True)
class Expected:
    """One source's keypoints straight from its JSONL lines.

    seq, capture_ts, pts_s: (T,); size: (T, 2) width, height; xy: (T, K, 2) NaN where not observed;
    score: (T, K) (0 where absent); observed: (T, K) bool.
    """

    seq: np.ndarray
    capture_ts: np.ndarray
    pts_s: np.ndarray
    size: np.ndarray
    xy: np.ndarray
    score: np.ndarray
    observed: np.ndarray


def expected(path: Path, source: str, names: tuple[str, ...]) -> Expected:
    frames = [
        r
        for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())
        if r.get("type") is None and r["source"] == source
    ]
    t, k = len(frames), len(names)
    xy, score = np.full((t, k, 2), NAN), np.zeros((t, k))
    for i, r in enumerate(frames):
        for kp in r.get("keypoints") or ():
            j = names.index(kp["name"])
            score[i, j] = kp["score"]
            if kp["state"] == "observed":
                xy[i, j] = (kp["x"], kp["y"])
    return Expected(
        seq=np.array([r["seq"] for r in frames]),
        capture_ts=np.array([r["capture_ts"] for r in frames]),
        pts_s=np.array([NAN if r["pts_s"] is None else r["pts_s"] for r in frames]),
        size=np.array([(r["width"], r["height"]) for r in frames]),
        xy=xy,
        score=score,
        observed=~np.isnan(xy[:, :, 0]),
    )


# ---------------------------------------------------------------------------------------------------------
# reading each format back, as its tools do


def read_dlc(path: Path) -> pd.DataFrame:
    """As DeepLabCut, SLEAP-io and movement read a DeepLabCut CSV."""
    return pd.read_csv(path, header=[0, 1, 2], index_col=0)


def check_dlc(path: Path, want: Expected, names: tuple[str, ...], scorer: str = "infant-stream") -> None:
    header = [line.split(",")[0] for line in path.read_text(encoding="utf-8").splitlines()[:3]]
    assert header == ["scorer", "bodyparts", "coords"]  # how movement recognises a DeepLabCut CSV
    df = read_dlc(path)
    assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
    assert set(df.columns.get_level_values("scorer")) == {scorer}
    assert list(df.columns.get_level_values("bodyparts").unique()) == list(names)
    assert list(df.columns.get_level_values("coords")) == ["x", "y", "likelihood"] * len(names)
    assert df.shape == (len(want.seq), 3 * len(names))
    np.testing.assert_array_equal(df.index.to_numpy(), want.seq)
    values = df.to_numpy(np.float64).reshape(len(want.seq), len(names), 3)
    np.testing.assert_allclose(values[:, :, :2], want.xy, rtol=0, atol=1e-9)  # NaN where NaN
    np.testing.assert_allclose(values[:, :, 2], want.score, rtol=0, atol=1e-9)


def check_coco(path: Path, want: Expected, names: tuple[str, ...], source: str, skeleton: list) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    images = data["images"]
    assert [im["id"] for im in images] == want.seq.tolist()
    assert [im["file_name"] for im in images] == [f"{source}/{s:06d}.png" for s in want.seq]
    assert [(im["width"], im["height"]) for im in images] == [tuple(s) for s in want.size.tolist()]
    assert [im["capture_ts"] for im in images] == want.capture_ts.tolist()
    np.testing.assert_array_equal([NAN if im["pts_s"] is None else im["pts_s"] for im in images], want.pts_s)
    (category,) = data["categories"]
    assert category["id"] == 1 and category["name"] == "infant"
    assert category["keypoints"] == list(names) and category["skeleton"] == skeleton
    frames_seen = [i for i in range(len(want.seq)) if want.observed[i].any()]
    annotations = data["annotations"]
    assert [a["image_id"] for a in annotations] == want.seq[frames_seen].tolist()
    assert len({a["id"] for a in annotations}) == len(annotations)
    for a, i in zip(annotations, frames_seen, strict=True):
        seen = want.observed[i]
        triples = np.array(a["keypoints"], np.float64).reshape(len(names), 3)
        np.testing.assert_array_equal(triples[:, 2], np.where(seen, 2, 0))
        np.testing.assert_allclose(triples[seen, :2], want.xy[i, seen], rtol=0, atol=1e-9)
        assert (triples[~seen, :2] == 0).all()
        assert a["num_keypoints"] == int(seen.sum()) and a["category_id"] == 1
        pts = want.xy[i, seen]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        np.testing.assert_allclose(a["bbox"], [lo[0], lo[1], *(hi - lo)], atol=1e-9)
        assert a["score"] == pytest.approx(want.score[i, seen].mean(), abs=1e-6)


def check_nwb(
    path: Path, want: Expected, names: tuple[str, ...], source: str, edges: list | None, scorer: str
) -> None:
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        nwb = io.read()
        assert "infant-stream" in nwb.session_description and source in nwb.session_description
        assert uuid.UUID(nwb.identifier).version == 4
        assert nwb.session_start_time == datetime.fromtimestamp(float(want.capture_ts[0]), UTC)
        pose = nwb.processing["behavior"]["PoseEstimation"]
        assert pose.scorer == scorer and pose.source_software == "infant-stream"
        assert sorted(pose.pose_estimation_series) == sorted(names)  # HDF5 lists groups by name
        for j, name in enumerate(names):
            series = pose.pose_estimation_series[name]
            assert f"(id {j})" in series.description  # the order, also where there is no skeleton
            assert series.unit == "pixels" and series.reference_frame == REFERENCE_FRAME
            np.testing.assert_allclose(series.data[:], want.xy[:, j], rtol=0, atol=1e-9)
            np.testing.assert_allclose(series.confidence[:], want.score[:, j], rtol=0, atol=1e-9)
            np.testing.assert_allclose(series.timestamps[:], want.capture_ts - want.capture_ts[0], atol=1e-6)
        if edges is None:
            assert pose.skeleton is None
        else:
            assert list(pose.skeleton.nodes[:]) == list(names)
            assert pose.skeleton.edges[:].tolist() == edges
            assert pose.skeleton.name in nwb.processing["behavior"]["Skeletons"].skeletons


def export(recording: Path, fmt: str, out: Path, *flags: str) -> None:
    """The real command, in this process."""
    assert cli_main(["export-pose", str(recording), "--format", fmt, "--out", str(out), *flags]) == 0
    assert out.is_file() and not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------------------------------------
# round trips of a recording by hand


@pytest.fixture
def hand_made(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "two.jsonl", two_source_records())


@pytest.mark.parametrize("source", ["cam0", "cam1"])
def test_dlc_csv_reads_back_as_deeplabcut_reads_it(hand_made: Path, tmp_path: Path, source: str) -> None:
    out = tmp_path / f"{source}.csv"
    export(hand_made, "dlc", out, "--source", source, "--scorer", "lab-scorer")
    want = expected(hand_made, source, NYCU22.names)
    check_dlc(out, want, NYCU22.names, scorer="lab-scorer")
    if source == "cam0":  # the soles, absent from frame 0's record, are there, with their later frames
        assert want.observed[0, list(MTP)].tolist() == [False, False]
        assert want.observed[1, list(MTP)].all() and not want.observed[:, KNEE_L][2:4].any()
        assert len(want.seq) == 7 and not want.observed[4:6].any()


def test_dlc_csv_is_what_pandas_writes_for_a_deeplabcut_table(hand_made: Path, tmp_path: Path) -> None:
    """DeepLabCut saves its table with DataFrame.to_csv: the export is byte for byte that file."""
    out = tmp_path / "cam0.csv"
    export(hand_made, "dlc", out, "--source", "cam0")
    want = expected(hand_made, "cam0", NYCU22.names)
    columns = pd.MultiIndex.from_product(
        [["infant-stream"], list(NYCU22.names), ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    values = np.concatenate([want.xy, want.score[:, :, None]], axis=2).reshape(len(want.seq), -1)
    assert out.read_text(encoding="utf-8") == pd.DataFrame(values, columns=columns, index=want.seq).to_csv()


def test_coco_json_reads_back(hand_made: Path, tmp_path: Path) -> None:
    out = tmp_path / "cam0.json"
    export(hand_made, "coco", out, "--source", "cam0")
    want = expected(hand_made, "cam0", NYCU22.names)
    check_coco(out, want, NYCU22.names, "cam0", NYCU22.coco_skeleton())
    data = json.loads(out.read_text(encoding="utf-8"))
    assert len(data["images"]) == 7 and len(data["annotations"]) == 5  # frames 4 and 5: nothing observed
    knee = data["annotations"][2]["keypoints"][3 * KNEE_L : 3 * KNEE_L + 3]
    assert data["annotations"][2]["image_id"] == 2 and knee == [0, 0, 0]  # predicted: not labelled


def test_coco_json_loads_in_pycocotools(hand_made: Path, tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    out = tmp_path / "cam1.json"
    export(hand_made, "coco", out, "--source", "cam1")
    coco = COCO(str(out))
    assert sorted(coco.getImgIds()) == [10, 11, 12]
    assert coco.loadCats(1)[0]["keypoints"] == list(NYCU22.names)
    (ann,) = coco.loadAnns(coco.getAnnIds(imgIds=[11]))
    head = keypoint(0, 11)
    assert ann["num_keypoints"] == NYCU22.num_keypoints and ann["keypoints"][:3] == [head["x"], head["y"], 2]


def test_nwb_reads_back_in_pynwb(hand_made: Path, tmp_path: Path) -> None:
    out = tmp_path / "cam0.nwb"
    export(hand_made, "nwb", out, "--source", "cam0", "--scorer", "lab-scorer")
    want = expected(hand_made, "cam0", NYCU22.names)
    edges = [list(e) for e in NYCU22.skeleton]
    check_nwb(out, want, NYCU22.names, "cam0", edges, "lab-scorer")


def test_a_keypoint_set_that_is_not_known_exports_without_a_skeleton(tmp_path: Path) -> None:
    names = ("snout", "paw_front", "tail_base")
    records = [frame("cam0", 0, None)]  # a first frame without joints: a DLC row of NaN, likelihood 0
    for seq in range(1, 4):
        kps = [{**keypoint(k, seq), "name": n} for k, n in enumerate(names)]
        if seq == 1:
            kps[2] = {**keypoint(2, seq, "predicted"), "name": names[2]}
        records.append(frame("cam0", seq, kps))
    recording = write_jsonl(tmp_path / "other.jsonl", records)
    want = expected(recording, "cam0", names)
    assert not want.observed[0].any() and not want.observed[1, 2]
    assert pose_table(recording).keypoint_set is None
    export(recording, "dlc", tmp_path / "o.csv")
    check_dlc(tmp_path / "o.csv", want, names)
    export(recording, "coco", tmp_path / "o.json")
    check_coco(tmp_path / "o.json", want, names, "cam0", [])
    export(recording, "nwb", tmp_path / "o.nwb")
    check_nwb(tmp_path / "o.nwb", want, names, "cam0", None, "infant-stream")


def test_force_replaces_an_existing_out_whole(hand_made: Path, tmp_path: Path) -> None:
    out = tmp_path / "cam1.csv"
    out.write_text("an older export\n")
    export(hand_made, "dlc", out, "--source", "cam1", "--force")
    check_dlc(out, expected(hand_made, "cam1", NYCU22.names), NYCU22.names)
    assert out.stat().st_mode & 0o044 == 0o044  # readable by others, as open() would make it


def test_coco_refuses_a_source_that_repeats_a_seq(tmp_path: Path) -> None:
    kps = [keypoint(k, 0) for k in range(NYCU22.num_keypoints)]
    recording = write_jsonl(tmp_path / "again.jsonl", [frame("cam0", 0, kps), frame("cam0", 0, kps)])
    with pytest.raises(DatasetError, match=r"again\.jsonl: source cam0 repeats a seq"):
        to_coco(pose_table(recording))


def test_nwb_without_pynwb_is_one_line_and_writes_nothing(
    hand_made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pynwb", None)  # import pynwb → ImportError
    out = tmp_path / "out" / "cam0.nwb"
    code = cli_main(["export-pose", str(hand_made), "--format", "nwb", "--out", str(out), "--source", "cam0"])
    err = capsys.readouterr().err
    assert code == 2 and not out.parent.exists()
    assert err == (
        "infant-stream: error: --format nwb: needs pynwb and ndx-pose (pip install 'infant-stream[nwb]')\n"
    )


# ---------------------------------------------------------------------------------------------------------
# round trips of a real recording: the shipped pose model on a synthetic clip


@pytest.fixture(scope="module")
def real_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert (REPO / "models" / "infant-pose.onnx").is_file(), "the shipped pose model is missing"
    folder = tmp_path_factory.mktemp("real")
    clip, out = folder / "clip.mp4", folder / "clip.jsonl"
    write_video(clip, frames=12, fps=10, width=W, height=H, seed=1)
    proc = subprocess.run(
        [*cli_command(), "run", "--source", str(clip), "--no-display", "--no-progress", "--jsonl", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("fmt", ["dlc", "coco", "nwb"])
def test_a_real_recording_round_trips(real_recording: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"clip.{fmt}"
    export(real_recording, fmt, out)
    names = pose_table(real_recording).names
    assert names == NYCU22.names  # the shipped model's keypoints
    want = expected(real_recording, "cam0", names)
    assert len(want.seq) == 12 and want.observed.sum() > 0.5 * want.observed.size
    if fmt == "dlc":
        check_dlc(out, want, names)
    elif fmt == "coco":
        check_coco(out, want, names, "cam0", NYCU22.coco_skeleton())
    else:
        check_nwb(out, want, names, "cam0", [list(e) for e in NYCU22.skeleton], "infant-stream")


# ---------------------------------------------------------------------------------------------------------
# one-line errors, through the console command


def no_keypoints(tmp_path: Path) -> list[str]:
    recording = write_jsonl(tmp_path / "seg-only.jsonl", [frame("cam0", s, None) for s in range(3)])
    return [str(recording), "--format", "dlc"]


def two_sources(tmp_path: Path) -> list[str]:
    return [str(write_jsonl(tmp_path / "two.jsonl", two_source_records())), "--format", "coco"]


def unknown_source(tmp_path: Path) -> list[str]:
    return [*two_sources(tmp_path), "--source", "cam7"]


def missing_file(tmp_path: Path) -> list[str]:
    return [str(tmp_path / "nowhere.jsonl"), "--format", "nwb"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (no_keypoints, r"seg-only\.jsonl: no keypoints: run with a pose model"),
        (two_sources, r"--source: \S*two\.jsonl has 2 sources \(cam0, cam1\); pick one"),
        (unknown_source, r"--source cam7: not in \S*two\.jsonl \(sources: cam0, cam1\)"),
        (missing_file, r"nowhere\.jsonl: recording not found"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, case: Any, message: str) -> None:
    out = tmp_path / "exports" / "out.file"
    proc = subprocess.run(
        [*cli_command(), "export-pose", *case(tmp_path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("infant-stream: error: ")
    assert re.search(message, proc.stderr), proc.stderr
    assert not out.parent.exists() and proc.stdout == ""


def test_an_existing_out_needs_force(tmp_path: Path) -> None:
    recording = write_jsonl(tmp_path / "two.jsonl", two_source_records())
    out = tmp_path / "cam0.csv"
    out.write_text("keep me\n")
    proc = subprocess.run(
        [
            *cli_command(),
            "export-pose",
            str(recording),
            "--format",
            "dlc",
            "--source",
            "cam0",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == f"infant-stream: error: --out {out}: exists (--force replaces it)\n"
    assert out.read_text() == "keep me\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "cam0.csv",
        "two.jsonl",
    ]
