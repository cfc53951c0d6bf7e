"""The fuzz cases and the verdict on each run, shared by ``tests/test_fuzz.py`` (in-process, hypothesis,
a few real subprocesses) and ``benchmarks/fuzz_cli.py`` (the long form, thousands of subprocesses).

A case is built from a ``random.Random`` (hypothesis hands the test one; the long form seeds one per
case index), so the same seed gives the same case. It names a command (every command of
``llamasize --help``), valid base arguments, and one to three mutations of a slot: a flag value
(random and adversarial numbers, ids and text), a file-taking slot (``--model`` path, ``--workload``,
``--calibration``, ``--policy``, ``--svg``, ``--specs-dir``/``--catalog-dir``, ``check``'s paths,
``terraform-external``'s stdin) or an environment path (``LLAMASIZE_CALIBRATION``, ``XDG_CACHE_HOME``,
``HOME``, ``LLAMASIZE_SPECS_PATH``, ``LLAMASIZE_CATALOG_PATH``, ``COLUMNS``). Files are made in the
case's own scratch directory: FIFOs, devices, directories, symlink loops, deep or huge-number JSON,
binary garbage, malformed or exploding YAML, and valid files with one hostile value.

``judge`` gives the failures of one run, by class: ``internal`` (exit 70 or outside the documented set,
or a traceback), ``hang`` (the time limit), ``wrong-success`` (exit 0 with invalid JSON, a non-finite
number, or a deployment reported as fitting whose memory does not add up), ``messy`` (not exactly one
``llamasize: error:`` line on an error, output on stdout with an error, unescaped control characters)
and ``stray-write`` (a file written that the case did not name).
"""

from __future__ import annotations

import json
import math
import os
import random
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLASSES = ("internal", "hang", "wrong-success", "messy", "stray-write")

# ---------------------------------------------------------------------------------- value pools ---
HOSTILE_NUMBERS = [
    "9" * 4301, "9" * 5000, "1" + "0" * 400, "1e309", "-1e309", "inf", "-inf", "nan", "NaN", "Infinity",
    "5e-324", "1e-300", "-5e-324", "0", "-0", "-1", "-8K", "0.0", "1e-9", "0.009", "0x10", "0b1", "1_000",
    " 8K", "8K ", "8 K", "8KK", "K", "1.5", "1e3", "1E3", "2e9", "99999999999999999999", "18446744073709551617",
    "\u0661\u0662", "\uff18", "", " ", "1\n2", "1\t", "+1", "--1", "1,2", "1..2", "1e", "e1", ".", "1/2",
    "0.01", "1", "2", "3", "7", "16", "64", "1000000", "1M", "10M", "1G", "1T", "100T", "8k", "1.0000001",
    "0.99", "1.01", "100", "-0.5", "1e400", "2**64",
]
HOSTILE_TEXT = [
    "", " ", "x" * 300, "q" * 8000, "int4\nllamasize: error: forged", "a\x1b[31mred", "in\u202et4", "a\rb",
    "\u200b", "../../etc/passwd", "/", "-", "--help", "-h", "NUL\x01", "\x7f", "\u0085next", "\ufeffbom",
    "\udcff", "caf\u00e9", "\u4e2d\u6587", "\U0001f600", "None", "null", "true", "[]", "{}", "'", '"', "\\",
    "a,b", ",", ",,", "scout,", "%s%n", "{0}", "$(id)", "`id`", "*", "AUTO", " auto ",
]
MODELS = ["scout", "maverick", "behemoth", "micro-moe", "llama4-scout", "meta-llama/Llama-3.1-8B-Instruct",
          "example-tiny-moe", "scuot", "x" * 300]
GPUS = ["rtx-6000-ada", "rtx-6000-ada", "h100", "h200", "a100", "l40s", "b200", "mi300x", "local", "rtx-6000-ada", "h100,h200", "nope"]
QUANTS = ["fp32", "bf16", "fp16", "fp8", "fp8_mixed", "int4_mixed", "int8", "int4", "nf4", "mxfp4", "nvfp4",
          "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k", "auto"]
FORMATS = ["table", "json", "markdown", "tfvars", "text", "github", "sarif", "junit", "JSON", "yaml"]
ENUMS = {
    "engine": ["vllm", "sglang", "generic", "trtllm"], "kv-layout": ["full", "hybrid", "auto"],
    "kv-dtype": ["auto", "bf16", "fp16", "fp8", "any", "int4"], "layouts": ["practical", "all", "bogus"],
    "objective": ["cost", "gpus", "headroom", "cost-per-token", "throughput", "speed"],
    "price": ["on_demand", "spot", "reserved", "capacity_block", "owned", "free"], "emit": ["vllm", "sglang", "tgi"],
    "device": ["auto", "cpu", "cuda", "tpu"], "fail-on": ["error", "warning", "info"],
    "rule": ["LS001", "LS009", "LS999", "ls002", ""],
    "engine-version": ["0.10.0", "0.15.0", "0.18.1", "0.19.0", "0.33.0", "v0.21.0.post1", "0.40.0", "0.9.2", "0.6.3",
                       "0.5.23", "1", "junk"],
    "hybrid-kv-cache": ["on", "off", "auto", "ON", "maybe"],
    "schema": ["plan", "fit", "params", "perf", "cost", "sweep", "check", "terraform-external", "tfvars",
               "llamasize.yaml", "policy", "nope"],
}

# Flag -> kind. Kinds: count, float, frac, model, gpu, gpulist, quant, format, enum:NAME, flag (no
# value), in (a file read), out (a file written), dir (a directory of YAML entries), ctxlist, batches.
COMMON = {"--format": "format", "--specs-dir": "dir", "--catalog-dir": "dir"}
#: The engine profile flags every command that sizes a deployment takes (fit's; issue 12 item 1).
ENGINE_PROFILE = {"--engine-version": "enum:engine-version", "--hybrid-kv-cache": "enum:hybrid-kv-cache",
                  "--kv-cache-free-gpu-mem-fraction": "frac"}
DEPLOY = {"--model": "model", "--gpu": "gpu", "--gpus": "count", "--tp": "count", "--pp": "count", "--ep": "flag",
          "--quant": "quant", "--kv-dtype": "enum:kv-dtype", "--ctx": "count", "--batch": "count",
          "--engine": "enum:engine", "--kv-layout": "enum:kv-layout", "--gpu-memory-utilization": "frac",
          "--mem-fraction-static": "frac", "--max-num-batched-tokens": "count", "--max-num-seqs": "count",
          "--overhead-gib": "float", "--text-only": "flag", **ENGINE_PROFILE}
SEARCH = {"--model": "model", "--quant": "quant", "--ctx": "count", "--batch": "count", "--gpu": "gpulist",
          "--exclude-gpu": "gpulist", "--max-gpus": "count", "--max-nodes": "count", "--engine": "enum:engine",
          "--kv-dtype": "enum:kv-dtype", "--workload": "in", **ENGINE_PROFILE}
SLOTS = {
    "models": {}, "gpus": {}, "detect": {},
    "params": {"@model": "model"},
    "fit": dict(DEPLOY),
    "perf": {**DEPLOY, "--prompt-tokens": "count", "--output-tokens": "count", "--concurrency": "count",
             "--requests-per-day": "count", "--prefill-efficiency": "frac", "--decode-efficiency": "frac",
             "--calibration": "in"},
    "plan": {**SEARCH, "--budget": "float", "--kv-layout": "enum:kv-layout", "--headroom": "frac",
             "--objective": "enum:objective", "--mau": "count", "--gpu-memory-utilization": "frac",
             "--mem-fraction-static": "frac", "--text-only": "flag", "--layouts": "enum:layouts",
             "--alternatives": "count", "--prompt-tokens": "count", "--output-tokens": "count",
             "--price": "enum:price", "--calibration": "in", "--emit": "enum:emit"},
    "sweep": {**SEARCH, "--ctx": "ctxlist", "--kv-layout": "enum:kv-layout", "--headroom": "frac",
              "--text-only": "flag", "--layouts": "enum:layouts"},
    "cost": {**SEARCH, "--tokens-per-day": "count", "--concurrency": "count", "--prompt-tokens": "count",
             "--output-tokens": "count", "--price": "enum:price", "--usd-per-gpu-hour": "float",
             "--capex-usd-per-gpu": "float", "--amortization-years": "float", "--usd-per-kwh": "float",
             "--pue": "float", "--utilization": "frac", "--options": "count", "--all-references": "flag",
             "--svg": "out", "--force": "flag", "--calibration": "in"},
    "check": {"@paths": "in", "--policy": "in", "--max-usd-per-hour": "float", "--min-headroom": "frac",
              "--fail-on": "enum:fail-on", "--strict": "flag", "--no-strict": "flag", "--default-gpu": "gpu",
              "--list-rules": "flag", "--ignore": "enum:rule", "--baseline": "in", "--write-baseline": "out",
              "--compare": "in", "--require-verified": "flag", "--stdin-name": "enum:rule"},
    "calibrate": {"--from-log": "in", "--model": "model", "--gpu": "gpu", "--calibration": "in", "--no-save": "flag",
                  "--engine-version": "enum:engine-version", "--hybrid-kv-cache": "enum:hybrid-kv-cache"},
    # frontier simulates every concurrency up to --max-concurrency: the lengths and the cap stay the
    # base's (small) so a case stays quick; the model, GPU, format and the SVG path are fuzzed
    "frontier": {"--model": "model", "--gpu": "gpu", "--quant": "quant", "--svg": "out", "--dp": "count",
                 "--dp-attention": "flag", **ENGINE_PROFILE},
    "terraform-external": {"@stdin": "query"},
    "schema": {"@name": "enum:schema"},
    "verify": {"--model": "model", "--device": "enum:device", "--tolerance": "float", "--batches": "batches",
               "--prompt-tokens": "count", "--steps": "count", "--seed": "count", "--calibration": "in",
               "--no-save": "flag"},
    "run": {"--model": "model", "--prompt-tokens": "count", "--new-tokens": "count", "--batch": "count",
            "--device": "enum:device", "--kv-layout": "enum:kv-layout", "--seed": "count"},
}
COMMANDS = list(SLOTS)
#: Valid arguments each case starts from (verify and run at their cheapest settings).
BASE = {
    "models": [], "gpus": [], "detect": [], "params": ["scout"],
    "fit": ["--model", "scout", "--gpu", "h100", "--ctx", "8K"], "perf": ["--model", "scout", "--gpu", "h100"],
    "plan": ["--model", "scout", "--ctx", "8K"], "sweep": ["--model", "scout", "--ctx", "8K", "--gpu", "h100"],
    "cost": ["--model", "scout", "--gpu", "h100"], "check": ["manifest.yaml"], "terraform-external": [],
    "schema": ["plan"], "verify": ["--batches", "1", "--steps", "1", "--prompt-tokens", "1", "--no-save"],
    "run": ["--batch", "1", "--new-tokens", "1", "--prompt-tokens", "1"],
    "calibrate": ["--gpu", "h100", "--no-save"],
    "frontier": ["--model", "llama3.1-8b", "--gpu", "h100", "--gpus", "1", "--max-concurrency", "4",
                 "--prompt-tokens", "128", "--output-tokens", "16"],
}
ENV_SLOTS = {"LLAMASIZE_CALIBRATION": "in", "XDG_CACHE_HOME": "cachedir", "HOME": "cachedir",
             "LLAMASIZE_SPECS_PATH": "dir", "LLAMASIZE_CATALOG_PATH": "dir", "COLUMNS": "count",
             "GITHUB_ACTIONS": "text"}

# --------------------------------------------------------------------------------- file contents ---
CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
          "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
          "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
          "torch_dtype": "bfloat16", "tie_word_embeddings": False, "rms_norm_eps": 1e-5, "rope_theta": 500000.0}
CALIBRATION = {"device": "cpu", "device_name": "x", "prefill_efficiency": 0.5, "decode_bandwidth_efficiency": 0.5,
               "measured_bandwidth_bytes_per_s": 1e10, "measured_flops_per_s": 1e11, "runtime_dtype": "float32",
               "model": "micro-moe", "llamasize_version": "0"}
WORKLOAD = {"model": "scout", "quant": "int4", "ctx": "8K", "batch": "1", "gpu": ["h100"], "budget": 60,
            "headroom": 0.05, "max_gpus": 8, "mau": 1000, "engine": "vllm"}
POLICY = {"max_usd_per_hour": 100, "min_headroom": 0.05, "fail_on": "error", "strict": False}
DEPLOYMENT = {"name": "d", "model": "scout", "quant": "int4_mixed", "gpu": "h100", "gpus": 1, "ctx": "8K",
              "concurrency": 4}
SPEC_YAML = (REPO / "examples" / "custom-specs" / "tiny-moe.yaml").read_text()
CATALOG_YAML = (REPO / "examples" / "custom-catalog" / "rtx-3090.yaml").read_text()
HOSTILE_JSON = [10 ** 400 if False else None, -1, 0, 1.5, 2 ** 64, 10 ** 30, 1e308, 5e-324, "x", "", [], {}, True,
                "\n\x1b[31m", "8K", 1e-300, -0.0]
HOSTILE_YAML_SCALARS = ["-1", "0", "1e309", ".inf", ".nan", "9" * 5000, "~", "[]", "{}", "yes", "'a\\nb'",
                        '"a\\nllamasize: error: forged"', "!!python/object/apply:os.system ['id']", "&a x", "*a",
                        "0x10", "1_000", "2e9", "\"\\x1b[31m\""]


def _yaml_of(obj: dict, key: str | None = None, raw: str | None = None) -> str:
    """``obj`` as block YAML, the value of ``key`` replaced by the raw YAML text ``raw``."""
    lines = []
    for k, v in obj.items():
        text = raw if k == key else json.dumps(v)
        lines.append(f"{k}: {text}")
    return "\n".join(lines) + "\n"


def _mutated_json(rnd: random.Random, obj: dict) -> str:
    """``obj`` as JSON with one value replaced by a hostile one (or a raw hostile number literal)."""
    obj = dict(obj)
    key = rnd.choice(list(obj))
    if rnd.random() < 0.3:
        literal = rnd.choice(["9" * 4301, "1e400", "-1e400", "NaN", "Infinity", "1" * 4000, "-0", "1e-400"])
        obj[key] = "@@"
        return json.dumps(obj).replace('"@@"', literal)
    obj[key] = rnd.choice(HOSTILE_JSON + [rnd.choice(HOSTILE_TEXT)])
    return json.dumps(obj, ensure_ascii=rnd.random() < 0.5)


def _mutated_yaml(rnd: random.Random, obj: dict) -> str:
    key = rnd.choice(list(obj) + ["unknown_key", "a\nb"])
    if key not in obj:
        return _yaml_of(obj) + f"{json.dumps(key)}: 1\n"
    return _yaml_of(obj, key, rnd.choice(HOSTILE_YAML_SCALARS + [json.dumps(rnd.choice(HOSTILE_TEXT))]))


def _manifest(rnd: random.Random, hostile: bool) -> str:
    dep = dict(DEPLOYMENT)
    if hostile:
        body = _mutated_yaml(rnd, dep)
    else:
        body = _yaml_of(dep)
    return "version: 1\ndeployments:\n" + "".join(
        ("  - " if i == 0 else "    ") + line + "\n" for i, line in enumerate(body.splitlines()))


def _catalog_mutated(r: random.Random) -> bytes:
    """The example catalogue entry with memory, bandwidth, a FLOP rate and a price, each hostile half the time."""
    def pick(valid: str) -> str:
        return r.choice(HOSTILE_YAML_SCALARS + ["5e-324", "1e300", "1e-300"]) if r.random() < 0.5 else valid

    return CATALOG_YAML.replace("datasheet_gb: 24", "datasheet_gb: " + pick("24")).replace(
        "\nflops:\n", f"\nmemory_bandwidth_gb_per_s: {pick('900')}\nflops:\n  bf16: {pick('500')}\n").replace(
        "prices: []", f"prices: [{{usd_per_gpu_hour: {pick('2.5')}, kind: on_demand, provider: x, source: x}}]").encode()


#: Content generators of a regular file: name -> function(rnd) -> bytes.
CONTENTS = {
    "config": lambda r: json.dumps(CONFIG).encode(),
    "config-mutated": lambda r: _mutated_json(r, CONFIG).encode(),
    "calibration": lambda r: json.dumps({"schema_version": "1", "devices": {"cpu": CALIBRATION}}).encode(),
    "calibration-mutated": lambda r: ('{"schema_version": "1", "devices": {"cpu": '
                                      + _mutated_json(r, CALIBRATION) + "}}").encode(),
    "workload": lambda r: _yaml_of(WORKLOAD).encode(),
    "workload-mutated": lambda r: _mutated_yaml(r, WORKLOAD).encode(),
    "policy": lambda r: _yaml_of(POLICY).encode(),
    "policy-mutated": lambda r: _mutated_yaml(r, POLICY).encode(),
    "manifest": lambda r: _manifest(r, False).encode(),
    "manifest-mutated": lambda r: _manifest(r, True).encode(),
    "deep-json": lambda r: b"[" * r.choice([65, 1000, 100_000]),
    "deep-yaml": lambda r: b"a: " + b"[" * r.choice([101, 5000, 50_000]),
    "huge-number": lambda r: b'{"hidden_size": ' + b"9" * r.choice([4301, 100_000]) + b"}",
    "yaml-bomb": lambda r: b"a: &a [x,x,x,x,x,x,x,x,x]\n" + b"".join(
        b"%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n" % ((98 + i,) * 2 + (97 + i,) * 9) for i in range(8)),
    "yaml-python": lambda r: b"!!python/object/apply:os.system ['touch pwned']\n",
    "yaml-malformed": lambda r: r.choice([b"a: [1, 2\n", b"a: b: c\n", b"\t- x\n", b"key: 'unterminated\n",
                                          b"- a\nb: c\n", b"%YAML 9.9\n---\na: 1\n"]),
    "yaml-dup": lambda r: b"model: scout\nmodel: maverick\nctx: 8K\n",
    "binary": lambda r: bytes(r.getrandbits(8) for _ in range(r.choice([1, 64, 4096]))),
    "invalid-utf8": lambda r: b'{"model_type": "\xff\xfe\xc3("}',
    "utf16": lambda r: json.dumps(CONFIG).encode("utf-16"),
    "empty": lambda r: b"",
    "nul": lambda r: b"\x00" * 100,
    "big": lambda r: b"#" * 5_300_000,
    "spec-yaml": lambda r: SPEC_YAML.encode(),
    "spec-mutated": lambda r: SPEC_YAML.replace("hidden_size: 512", "hidden_size: " + r.choice(
        HOSTILE_YAML_SCALARS)).replace("num_hidden_layers: 8", "num_hidden_layers: " + r.choice(
        ["8", "-1", "0", "1e9", "100000", "9" * 5000])).encode(),
    "catalog-yaml": lambda r: CATALOG_YAML.encode(),
    "catalog-mutated": lambda r: _catalog_mutated(r),
}
#: Special paths (not regular files with content), made by ``_make_special``.
SPECIALS = ["fifo", "/dev/zero", "/dev/urandom", "/dev/null", "/dev/full", "directory", "symlink-loop",
            "dangling-symlink", "symlink-to-file", "missing", "long-name", "long-path", "newline-name",
            "unreadable", "/proc/self/status", "/proc/self/mem", "path-through-file"]


@dataclass
class FileSpec:
    """One thing made in the scratch directory: ``kind`` is a CONTENTS key (``data`` its bytes), a
    SPECIALS name, or ``dir`` (a directory holding ``children``)."""

    name: str
    kind: str
    data: bytes = b""
    children: list = field(default_factory=list)


@dataclass
class Case:
    """One invocation: ``argv`` and ``env`` may hold ``{d}``, the scratch directory's absolute path."""

    index: int
    command: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | str | None = None  # bytes, or the name of a special path ("/dev/zero", a file spec name)
    files: list[FileSpec] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)  # paths (relative to the scratch dir) it may write
    expensive: bool = False  # runs the micro-MoE (verify/run with valid settings)

    def resolved(self, d: Path) -> tuple[list[str], dict[str, str]]:
        sub = str(d)
        return [a.replace("{d}", sub) for a in self.argv], {k: v.replace("{d}", sub) for k, v in self.env.items()}

    def shell(self) -> str:
        """A shell line that shows the invocation (files described by ``files``); a long run of one
        character is written as a python3 expression, other long values are cut."""
        env = " ".join(f"{k}={_sh(v)}" for k, v in self.env.items())
        line = f"{env} llamasize {' '.join(_sh(a) for a in self.argv)}".strip()
        if isinstance(self.stdin, bytes):
            line += f" <<< {shlex.quote(self.stdin[:200].decode('utf-8', 'backslashreplace'))}"
        elif self.stdin:
            line += f" < {shlex.quote(self.stdin)}"
        return line


def _sh(value: str) -> str:
    if len(value) <= 200:
        return shlex.quote(value)
    for i in range(len(value)):
        rest = value[i:]
        if len(rest) > 100 and rest == rest[0] * len(rest):
            return f"\"$(python3 -c 'print(end={json.dumps(value[:i])} + {json.dumps(rest[0])} * {len(rest)})')\""
    return shlex.quote(value[:200]) + f"...({len(value)} characters)"


# --------------------------------------------------------------------------------- generation ---
class _Builder:
    def __init__(self, rnd: random.Random, index: int):
        self.rnd = rnd
        self.files: list[FileSpec] = []
        self.writes: list[str] = []
        self.index = index

    def new_name(self, suffix: str) -> str:
        return f"f{len(self.files)}{suffix}"

    def file(self, preferred: list[str], suffix: str = ".json") -> str:
        """A path argument: mostly a file whose content suits the slot, else anything hostile."""
        r = self.rnd
        roll = r.random()
        if roll < 0.45:
            kind = r.choice(preferred)
        elif roll < 0.75:
            kind = r.choice(list(CONTENTS))
        else:
            return self.special(r.choice(SPECIALS), suffix)
        name = self.new_name(suffix)
        self.files.append(FileSpec(name, kind, CONTENTS[kind](r)))
        return name

    def special(self, kind: str, suffix: str) -> str:
        if kind.startswith("/"):
            return kind
        name = {"long-name": "n" * 300 + suffix, "long-path": "/".join(["p" * 200] * 25) + suffix,
                "newline-name": f"a\nllamasize: error: forged{suffix}", "missing": "missing" + suffix,
                "path-through-file": f"{self.new_name('')}/x{suffix}"}.get(kind, self.new_name(suffix))
        if kind in ("fifo", "directory", "symlink-loop", "dangling-symlink", "symlink-to-file", "unreadable",
                    "newline-name", "path-through-file"):
            self.files.append(FileSpec(name, kind, b'{"x": 1}'))
        return name

    def directory(self, entries: list[str]) -> str:
        r = self.rnd
        roll = r.random()
        if roll < 0.2:
            return self.special(r.choice(["symlink-loop", "missing", "fifo", "long-path", "dangling-symlink",
                                          "newline-name", "path-through-file"]), "")
        if roll < 0.25:
            return self.file(list(CONTENTS), ".yaml")  # a file where a directory is expected
        name = self.new_name("d")
        kids = []
        for i in range(r.choice([1, 1, 2, 3])):
            kind = r.choice(entries + entries + ["yaml-malformed", "yaml-bomb", "deep-yaml", "yaml-python",
                                                 "yaml-dup", "binary", "empty", "big"])
            kids.append(FileSpec(f"e{i}.yaml", kind, CONTENTS[kind](r)))
        if r.random() < 0.2:
            kids.append(FileSpec(f"e{len(kids)}.yaml", "fifo"))
        if r.random() < 0.1:
            kids.append(FileSpec(f"loop{len(kids)}.yaml", "symlink-loop"))
        self.files.append(FileSpec(name, "dir", children=kids))
        return name

    def value(self, kind: str, flag: str) -> str:
        r = self.rnd
        hostile = r.random() < 0.6
        if kind in ("count", "float", "frac"):
            return r.choice(HOSTILE_NUMBERS) if hostile else r.choice(["1", "2", "8", "8K", "0.5", "0.9", "32"])
        if kind == "ctxlist":
            return ",".join(r.choice(HOSTILE_NUMBERS + ["8K", "128K"]) for _ in range(r.choice([1, 2, 3])))
        if kind == "batches":
            return r.choice(["1", "1,2", "2", "1,-1", "1,0", "1," + "9" * 5000, "", "1,,2", "1,1e9", "1,nan"])
        if hostile:
            return r.choice(HOSTILE_TEXT)
        pools = {"model": MODELS, "gpu": GPUS, "gpulist": GPUS, "quant": QUANTS, "format": FORMATS,
                 "text": ["true", "false", ""]}
        if kind.startswith("enum:"):
            return r.choice(ENUMS[kind[5:]])
        if kind == "model" and r.random() < 0.5:
            return self.file(["config", "config-mutated"], ".json")
        return r.choice(pools[kind])

    def path_value(self, kind: str, command: str, flag: str) -> str:
        r = self.rnd
        if kind == "in":
            preferred = {"--workload": ["workload", "workload-mutated", "yaml-dup"],
                         "--calibration": ["calibration", "calibration-mutated"],
                         "--policy": ["policy", "policy-mutated"],
                         "@paths": ["manifest", "manifest-mutated"]}.get(flag, ["config", "config-mutated"])
            if command == "verify" and flag == "--calibration" and r.random() < 0.5:
                name = self.new_name(".json")  # verify writes its calibration there
                self.writes.append(name)
                return name
            return self.file(preferred, ".yaml" if flag in ("--workload", "--policy", "@paths") else ".json")
        if kind == "out":
            roll = r.random()
            if roll < 0.4:
                name = self.new_name(".svg")
                self.writes.append(name)
                return name
            if roll < 0.6:
                name = self.file(["empty"], ".svg")
                self.writes.append(name)  # with --force it may be overwritten
                return name
            name = self.special(r.choice(SPECIALS), ".svg")
            self.writes.append(name)  # the path named may be written (never what a link points to)
            return name
        if kind == "dir":
            return self.directory(["spec-yaml", "spec-mutated"] if "specs" in flag.lower()
                                  else ["catalog-yaml", "catalog-mutated"])
        if kind == "cachedir":
            roll = r.random()
            if roll < 0.4:
                return "{d}/" + self.new_name("c")
            if roll < 0.7:
                return r.choice(["", "rel/dir", "/proc", "/dev/null", "/" + "y" * 5000, "{d}/missing/deeper",
                                 "/nonexistent-llamasize-dir", "{d}/a\nb"])
            return "{d}/" + self.special(r.choice(SPECIALS), "")
        raise AssertionError(kind)


def query(rnd: random.Random) -> bytes:
    """A terraform-external query: mostly a JSON object of plan's keys with a hostile value or two."""
    roll = rnd.random()
    if roll < 0.2:
        return rnd.choice(list(CONTENTS.values()))(rnd)[:2_000_000]
    q: dict = {"model": "scout", "ctx": "8K"}
    keys = ["model", "quant", "ctx", "batch", "gpu", "exclude_gpu", "max_gpus", "max_nodes", "budget", "engine",
            "kv_layout", "kv_dtype", "headroom", "objective", "mau", "gpu_memory_utilization", "text_only",
            "layouts", "alternatives", "prompt_tokens", "output_tokens", "price", "calibration", "workload",
            "specs_dir", "engine_version", "hybrid_kv_cache", "kv_cache_free_gpu_mem_fraction", "unknown", "a\nb"]
    for _ in range(rnd.choice([1, 2, 3])):
        key = rnd.choice(keys)
        q[key] = rnd.choice([rnd.choice(HOSTILE_NUMBERS), rnd.choice(HOSTILE_TEXT), rnd.choice(HOSTILE_JSON)])
    text = json.dumps(q, ensure_ascii=rnd.random() < 0.5)
    if rnd.random() < 0.1:
        text = text.replace('"8K"', rnd.choice(["9" * 4301, "1e400", "NaN", "[" * 1000, "8192"]))
    return text.encode("utf-8", "surrogatepass")


def case_of(seed: int, index: int) -> Case:
    """Case ``index`` of the run seeded ``seed`` (independent of the order cases run in)."""
    return make_case(random.Random(f"{seed}:{index}"), index)


def make_case(rnd: random.Random, index: int = 0, command: str | None = None) -> Case:
    """A random case (of ``command``, else of a random command)."""
    command = command or rnd.choice(COMMANDS)
    b = _Builder(rnd, index)
    argv = [command, *BASE[command]]
    env: dict[str, str] = {}
    stdin: bytes | str | None = None
    if command == "check":
        b.files.append(FileSpec("manifest.yaml", "manifest", CONTENTS["manifest"](rnd)))
    if command == "terraform-external":
        stdin = query(rnd) if rnd.random() < 0.85 else rnd.choice(["/dev/zero", "/dev/urandom", "/dev/null"])
    slots = {**COMMON, **SLOTS[command]} if command not in ("terraform-external", "schema") else dict(SLOTS[command])
    for _ in range(rnd.choice([1, 1, 2, 3])):
        roll = rnd.random()
        if roll < 0.15:
            var = rnd.choice(list(ENV_SLOTS))
            kind = ENV_SLOTS[var]
            if kind in ("in", "cachedir", "dir"):
                v = b.path_value(kind, command, "--specs-dir" if "SPECS" in var else var)
                env[var] = v if v.startswith(("{d}", "/")) or v == "" or kind == "cachedir" else "{d}/" + v
            else:
                env[var] = b.value(kind, var)
            continue
        if roll < 0.2:
            argv.append(rnd.choice(["--bogus", "--format", "-x", "extra-arg", "--ctx=8K", "--", "--help"]))
            continue
        if not slots:
            continue
        flag = rnd.choice(list(slots))
        kind = slots[flag]
        if flag == "@stdin":
            stdin = query(rnd)
            continue
        if kind == "flag":
            argv.append(flag)
            continue
        value = b.path_value(kind, command, flag) if kind in ("in", "out", "dir") else b.value(kind, flag)
        value = value.replace("\x00", "")  # argv cannot hold NUL
        if flag.startswith("@"):
            pos = 1 if command in ("params", "schema") else len(argv)
            if command in ("params", "schema") and len(argv) > 1:
                argv[1] = value
            else:
                argv.insert(pos, value)
        elif flag in argv[:-1] and rnd.random() < 0.7:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    if rnd.random() < 0.5 and command not in ("terraform-external", "schema"):
        argv += ["--format", "json"]
    if command in ("verify",) and "--no-save" not in argv:
        b.writes.append("{cache}/llamasize/calibration.json")
    case = Case(index, command, argv, env, stdin, b.files, b.writes)
    case.expensive = command in ("verify", "run")
    return case


# ----------------------------------------------------------------------------------- scratch dir ---
def materialize(case: Case, d: Path) -> None:
    """Make the case's files in the scratch directory ``d``."""
    for spec in case.files:
        _make(spec, d)


def _make(spec: FileSpec, where: Path) -> None:
    path = where / spec.name
    path.parent.mkdir(parents=True, exist_ok=True) if "/" in spec.name and spec.kind != "path-through-file" else None
    kind = spec.kind
    try:
        if kind == "dir":
            path.mkdir()
            for child in spec.children:
                _make(child, path)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "directory":
            path.mkdir()
        elif kind == "symlink-loop":
            path.symlink_to(path.name + ".other")
            (where / (path.name + ".other")).symlink_to(path.name)
        elif kind == "dangling-symlink":
            path.symlink_to("nowhere-at-all")
        elif kind == "symlink-to-file":  # a victim beside it, so a write through the link shows
            (where / (path.name + ".victim")).write_bytes(spec.data)
            path.symlink_to(path.name + ".victim")
        elif kind == "unreadable":
            path.write_bytes(spec.data)
            path.chmod(0)
        elif kind == "path-through-file":
            (where / spec.name.split("/")[0]).write_bytes(b"x")
        else:
            path.write_bytes(spec.data)
    except OSError:
        pass  # e.g. a name too long: the case then names a path that does not exist


def snapshot(d: Path) -> dict[str, tuple]:
    """Every entry under ``d`` (not following links): relative path -> (type, size, mtime_ns)."""
    seen: dict[str, tuple] = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            p = os.path.join(root, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            seen[os.path.relpath(p, d)] = (stat.S_IFMT(st.st_mode), st.st_size if stat.S_ISREG(st.st_mode) else 0,
                                           st.st_mtime_ns if stat.S_ISREG(st.st_mode) else 0)
    return seen


def outside_snapshot() -> set[str]:
    """Places outside the scratch directory a stray write would land: the root and the repository."""
    names = set()
    for top in ("/", str(REPO)):
        try:
            names |= {os.path.join(top, n) for n in os.listdir(top)}
        except OSError:
            pass
    return {n for n in names if not n.endswith((".pyc", "__pycache__", ".pytest_cache", ".hypothesis"))}


# ---------------------------------------------------------------------------------------- verdict ---
@dataclass
class Outcome:
    code: int | None  # None: killed at the time limit
    out: str
    err: str
    changed: list[str] = field(default_factory=list)  # scratch paths created or modified
    outside: list[str] = field(default_factory=list)  # new entries outside the scratch dir


#: Exit codes each command documents (README "Exit codes"); 74 (stdout unwritable) for every command.
DOCUMENTED = {"check": {0, 1, 2}, "verify": {0, 2, 4}, "calibrate": {0, 2, 4}, "frontier": {0, 2, 3}, "fit": {0, 2, 3}, "plan": {0, 2, 3}, "cost": {0, 2, 3},
              "terraform-external": {0, 2, 3}}
_BAD_CHARS = set(chr(c) for c in range(0x20) if c not in (9, 10)) | {chr(0x7f)} | {chr(c) for c in range(0x80, 0xa0)} \
    | set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def documented(command: str) -> set[int]:
    return DOCUMENTED.get(command, {0, 2}) | {74}


def _non_finite(text: str):
    bad = []

    def constant(c):
        bad.append(c)
        return 0

    data = json.loads(text, parse_constant=constant)
    return data, bad


def _fit_problems(node, where: str = "$") -> list[str]:
    """Deployments reported as fitting whose memory does not add up, and negative byte counts."""
    problems = []
    if isinstance(node, dict):
        per = node.get("per_gpu")
        if node.get("fits") is True and isinstance(per, dict):
            problems += [f"{where}.per_gpu.{k} = {v} (negative, in a deployment that fits)" for k, v in per.items()
                         if k.endswith("_bytes") and isinstance(v, (int, float)) and v < 0]
            used = sum(per.get(k) or 0 for k in ("weights_bytes", "kv_cache_bytes", "activation_bytes",
                                                 "overhead_bytes"))
            if (per.get("free_bytes") or 0) < 0 or used > (per.get("budget_bytes") or 0) \
                    or (per.get("budget_bytes") or 0) > (per.get("total_bytes") or 0):
                problems.append(f"{where}: fits but per_gpu uses {used} of budget {per.get('budget_bytes')} "
                                f"(total {per.get('total_bytes')}, free {per.get('free_bytes')})")
        for k, v in node.items():
            problems += _fit_problems(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            problems += _fit_problems(v, f"{where}[{i}]")
    return problems


def judge(case: Case, o: Outcome) -> list[tuple[str, str]]:
    """The failures of one run: ``[(class, detail), ...]`` (empty when the run behaved)."""
    found: list[tuple[str, str]] = []
    if o.code is None or o.code == -24:  # the wall-clock limit, or SIGXCPU (the CPU-time limit)
        return [("hang", "killed at the " + ("wall-clock" if o.code is None else "CPU-time") + " limit")]
    if o.code < 0:
        return [("internal", f"killed by signal {-o.code}: {o.err.strip()[-300:]}")]
    if "Traceback (most recent call last)" in o.err or "Exception ignored" in o.err:
        found.append(("internal", "a traceback on stderr: " + o.err.strip().splitlines()[-1][:300]))
    if o.code == 70 or o.code not in documented(case.command):
        found.append(("internal", f"exit {o.code}: {o.err.strip()[-300:]}"))
    lines = o.err.splitlines()
    errors = [ln for ln in lines if ln.startswith("llamasize: error: ")]
    bad = sorted({repr(c) for c in o.err if c in _BAD_CHARS})
    if bad:
        found.append(("messy", f"unescaped control characters on stderr: {' '.join(bad)}"))
    comments = "--emit" in case.argv  # plan --emit: the launch command's notes are shell comments ("# ...")
    stray = [ln for ln in lines if not ln.startswith("llamasize: ") and not (comments and ln.startswith("# "))]
    if stray:
        found.append(("messy", f"stderr line without the llamasize: prefix: {stray[0][:200]!r}"))
    is_json = "json" in [a.lower() for a in case.argv[case.argv.index("--format") + 1:][:1]] \
        if "--format" in case.argv else case.command == "terraform-external"
    if o.code in (2, 74):
        if len(errors) != 1:
            found.append(("messy", f"{len(errors)} 'llamasize: error:' lines on exit {o.code}: {o.err[:300]!r}"))
        if o.out:
            found.append(("messy", f"stdout not empty on exit {o.code}: {o.out[:200]!r}"))
    elif o.code == 3 and errors:  # nothing fits, said as an error (cost, terraform-external): the error rules
        if len(errors) != 1 or o.out:
            found.append(("messy", f"exit 3 with {len(errors)} error lines and {len(o.out)} characters on stdout"))
    elif o.code in (0, 1, 3, 4):
        if errors:
            found.append(("messy", f"an error line with exit {o.code}: {errors[0][:200]!r}"))
        if is_json and o.out.strip() and "--help" not in case.argv and "-h" not in case.argv:
            try:
                data, nonfinite = _non_finite(o.out)
            except ValueError as e:
                found.append(("wrong-success", f"invalid JSON on stdout with exit {o.code}: {e}"))
            else:
                if nonfinite:
                    found.append(("wrong-success", f"non-finite numbers in the JSON: {nonfinite[:3]}"))
                found += [("wrong-success", p) for p in _fit_problems(data)[:3]]
        elif not is_json:
            badout = sorted({repr(c) for c in o.out if c in _BAD_CHARS})
            if badout:
                found.append(("messy", f"unescaped control characters on stdout: {' '.join(badout)}"))
    allowed = {w for w in case.writes if not w.startswith("{cache}")}
    cache_ok = any(w.startswith("{cache}") for w in case.writes)
    for p in o.changed:
        if p in allowed or (cache_ok and p.endswith(os.path.join("llamasize", "calibration.json"))):
            continue
        if cache_ok and p.endswith("llamasize") and "calibration" not in p:
            continue  # the cache directory verify creates for its calibration
        found.append(("stray-write", f"wrote {p!r} (not named by the case)"))
    found += [("stray-write", f"created {p!r} outside the scratch directory") for p in o.outside]
    return found


def changed_paths(before: dict, after: dict) -> list[str]:
    """Paths created or modified between two snapshots (directories made only as parents ignored)."""
    return sorted(p for p, v in after.items() if before.get(p) != v and v[0] != stat.S_IFDIR
                  or (p not in before and v[0] == stat.S_IFDIR and not any(q.startswith(p + os.sep) for q in after)))


def remove_tree(top) -> None:
    """Remove a case's scratch tree, first making every directory writable again (a case may leave
    an unreadable or read-only entry, which must not stop the clean-up)."""
    import shutil

    for root, dirs, _ in os.walk(top):
        for name in dirs:
            try:
                os.chmod(os.path.join(root, name), 0o700)
            except OSError:
                pass
    shutil.rmtree(top, ignore_errors=True)


def finite_json(text: str) -> object:
    """Parse JSON and fail on NaN/Infinity (helper for tests)."""
    data, bad = _non_finite(text)
    assert not bad and all(math.isfinite(x) for x in _numbers(data)), bad
    return data


def _numbers(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _numbers(v)
    elif isinstance(node, list):
        for v in node:
            yield from _numbers(v)
    elif isinstance(node, float):
        yield node
