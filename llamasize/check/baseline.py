"""``check --baseline FILE`` / ``--write-baseline FILE``: accept the findings a repository has today
and report only new ones (the way phpstan, detekt and rubocop's todo files work).

**The key** of a finding is ``(file, rule_id, deployment, message with every number written #)``.
The line is not in it, so moving a manifest line (adding a comment above a deployment, reordering
documents) does not bring a finding back; neither does a number that changes inside the message
(a new estimate of the same problem). A different file path, deployment name, rule or wording is a
new finding. Keys are counted: a baseline holding one LS002 of a deployment accepts one such finding.

The file is JSON, sorted, without a timestamp, so writing it twice from the same manifests gives the
same bytes (it can be committed and reviewed); ``line`` and ``message`` are kept for the reader and
are not used for matching.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from llamasize.check.report import Finding
from llamasize.errors import DataError
from llamasize.files import MAX_DATA_FILE_BYTES, read_bytes_capped
from llamasize.text import escape_controls, quote_if_needed

BASELINE_VERSION = 1
_NUMBER = re.compile(r"\d[\d,._]*")


def message_key(message: str) -> str:
    """The message with every number (``1,048,576``, ``20.0``, ``h100``'s 100) written ``#``."""
    return _NUMBER.sub("#", message)


def key(f: Finding) -> tuple[str, str, str, str]:
    """A finding's baseline key (see the module docstring)."""
    return (f.file, f.rule_id, f.deployment or "", message_key(f.message))


def render_baseline(findings: list[Finding]) -> str:
    """The baseline file of ``findings`` (deterministic JSON)."""
    entries = sorted(({"file": f.file, "rule_id": f.rule_id, "deployment": f.deployment or "",
                       "match": message_key(f.message), "line": f.line, "message": f.message} for f in findings),
                     key=lambda e: (e["file"], e["rule_id"], e["deployment"], e["match"], e["line"]))
    doc = {"llamasize_baseline": BASELINE_VERSION,
           "key": "file, rule_id, deployment and match (the message with every number as #); line and "
                  "message are for the reader",
           "findings": entries}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def load_baseline(path: Path) -> Counter:
    """The keys of a baseline file, counted (DataError, exit 2, when it is not one)."""
    where = quote_if_needed(str(path))
    raw = read_bytes_capped(Path(path), "baseline file", 8 * MAX_DATA_FILE_BYTES)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DataError(escape_controls(f"{where}: not a llamasize baseline (invalid JSON: {e})")) from None
    if not isinstance(doc, dict) or doc.get("llamasize_baseline") != BASELINE_VERSION \
            or not isinstance(doc.get("findings"), list):
        raise DataError(f"{where}: not a llamasize baseline (write one with llamasize check --write-baseline FILE)")
    keys: Counter = Counter()
    for i, e in enumerate(doc["findings"]):
        fields = ("file", "rule_id", "deployment", "match")
        if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in fields):
            raise DataError(f"{where}: findings[{i}] needs the strings {', '.join(fields)}")
        keys[tuple(e[k] for k in fields)] += 1
    return keys
