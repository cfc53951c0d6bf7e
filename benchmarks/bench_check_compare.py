"""``llamasize check --compare`` and ``--baseline`` benchmark: N manifests (``bench_check.generate``)
committed to a temporary git repository, a tenth of them then changed in the work tree; prints the
time of a plain check, of ``--compare HEAD`` (the base files listed with ``git ls-tree`` and read
in one ``git cat-file --batch``) and of ``--baseline`` with every finding baselined, all in-process,
and the git read alone.

Run: .venv/bin/python benchmarks/bench_check_compare.py [N]   (default 200)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_check import generate  # noqa: E402

from llamasize.check.baseline import key  # noqa: E402
from llamasize.check.compare import base_report, compare_reports, git_files  # noqa: E402
from llamasize.check.report import CheckOptions  # noqa: E402
from llamasize.check.run import check_paths  # noqa: E402
from llamasize.data.registry import load_registry  # noqa: E402


def git(cwd: Path, *args: str) -> None:
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.invalid",
               GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.invalid")
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    reg = load_registry()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "deploy").mkdir()
        generate(root / "deploy", n)
        git(root, "init", "-q")
        git(root, "add", ".")
        git(root, "commit", "-q", "-m", "base")
        changed = 0
        for i, f in enumerate(sorted((root / "deploy").rglob("*.yaml"))):
            if i % 10 == 0:
                f.write_text(f.read_text().replace("replicas: 1", "replicas: 2"))
                changed += 1
        opts = CheckOptions(cwd=root)
        os.chdir(root)
        t = time.perf_counter()
        head = check_paths(["deploy"], reg, opts)
        t_check = time.perf_counter() - t
        t = time.perf_counter()
        files = git_files("HEAD", ["deploy"], root)
        t_git = time.perf_counter() - t
        t = time.perf_counter()
        before, kind = base_report("HEAD", ["deploy"], reg, opts)
        result = compare_reports(before, head, "HEAD", kind, None)
        t_compare = time.perf_counter() - t
        keys = tuple(Counter(key(f) for f in head.findings).elements())
        t = time.perf_counter()
        baselined = check_paths(["deploy"], reg, CheckOptions(cwd=root, baseline=keys))
        t_base = time.perf_counter() - t
        moved = Counter(c.change for c in result.deployments)
        print(f"{head.summary.files} files, {head.summary.deployments} deployments, {len(head.findings)} findings; "
              f"{changed} files edited")
        print(f"check:                 {t_check:.2f} s")
        print(f"git ls-tree + cat-file: {t_git:.2f} s for {len(files)} files ({t_git / max(1, len(files)) * 1e3:.1f} ms/file)")
        print(f"--compare HEAD (base): {t_compare:.2f} s; {dict(moved)}; "
              f"delta {result.totals.delta_usd_per_month:+,.2f} USD/month")
        print(f"--baseline (all):      {t_base:.2f} s; {len(baselined.findings)} findings left, "
              f"{baselined.summary.waived} waived")


if __name__ == "__main__":
    main()
