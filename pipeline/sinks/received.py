"""Messages received from a publisher, checked before anything uses them: what ``infant-stream
subscribe`` prints and saves and what the web app's live views show."""

from __future__ import annotations

import json
from typing import Any

from pipeline.sinks.table import keypoint_rows, record_rows


def describe(parts: list[bytes]) -> tuple[str, str, dict[str, Any] | None]:
    """(topic, the line to print, the parts record or None) of one message.

    Raises:
        ValueError: the message is malformed (no or wrong number of parts, not UTF-8 JSON, nested
            too deeply, not an object, a ``parts.*`` payload not a schema-1 record).
    """
    if not parts:
        raise ValueError("empty message (no parts)")
    try:
        topic = parts[0].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("topic is not UTF-8") from None
    shown = topic or "(no topic)"
    expected = 3 if topic.startswith("frame.") else 2
    if len(parts) != expected:
        raise ValueError(f"{shown}: {len(parts)} message parts, expected {expected}")
    try:
        obj = json.loads(parts[1].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):  # also ints past str()'s digit limit
        raise ValueError(f"{shown}: payload is not UTF-8 JSON") from None
    except RecursionError:
        raise ValueError(f"{shown}: payload nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{shown}: payload is not a JSON object")
    if expected == 3:
        w, h = obj.get("width"), obj.get("height")
        enc = obj.get("encoding", "?")
        return topic, f"{topic} seq {obj.get('seq')} {w}x{h} {enc} {len(parts[2])} bytes", None
    try:
        line = f"{topic} {json.dumps(obj, separators=(',', ':'))}"
    except RecursionError:  # decoded just below the limit, re-encoding goes over it
        raise ValueError(f"{shown}: payload nested too deeply") from None
    if topic.startswith("parts."):
        try:
            record_rows(obj)  # is it a schema-1 parts record (with well-formed keypoints)?
            keypoint_rows(obj)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{shown}: not a schema-1 parts record ({type(exc).__name__}: {exc})") from None
        return topic, line, obj
    return topic, line, None
