"""A key given twice in a data YAML file (a spec, a GPU entry, a workload) is an error naming the
file and line (issue 10): PyYAML alone keeps the last value without a word."""

from __future__ import annotations

import pytest

from llamasize.errors import DataError
from llamasize.files import read_yaml_file


@pytest.mark.parametrize("text,line", [
    ("a: 1\nb: 2\na: 3\n", 3),
    ("outer:\n  x: 1\n  x: 1\n", 3),       # equal values still count: the file is ambiguous
    ("m: {k: 1, k: 2}\n", 1),             # flow mappings, same line
    ("1: a\n1: b\n", 2),                  # non-string keys
])
def test_duplicate_keys_are_refused(tmp_path, text, line):
    p = tmp_path / "d.yaml"
    p.write_text(text)
    with pytest.raises(DataError) as e:
        read_yaml_file(p)
    msg = str(e.value)
    assert str(p) in msg and f"line {line}" in msg and "duplicate key" in msg and "\n" not in msg


def test_merge_keys_may_be_overridden(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("base: &b {ctx: 8K, batch: 1}\nw:\n  <<: *b\n  ctx: 16K\n")
    assert read_yaml_file(p)["w"] == {"ctx": "16K", "batch": 1}


def test_spec_with_a_key_twice_is_refused_by_the_cli(cli, tmp_path):
    src = (tmp_path / "specs")
    src.mkdir()
    from llamasize.files import bundled_dir

    text = (bundled_dir("model_specs") / "llama3.1-8b.yaml").read_text()
    text = text.replace("id: llama3.1-8b", "id: my-8b", 1) + "\nhidden_size: 4096\n"
    # a copy with a new id and names (the bundled ids and aliases must stay unique) and hidden_size twice
    import yaml

    data = yaml.safe_load(text.replace("\nhidden_size: 4096\n", "\n"))
    text = text.replace(f"name: {data['name']}", "name: My 8B", 1)
    for field in ("aliases", "hf_names"):
        text = "\n".join(line for line in text.splitlines() if not line.startswith(f"{field}:")) + "\n"
    text += "hidden_size: 4096\n"
    (src / "my.yaml").write_text(text)
    r = cli("models", "--specs-dir", str(src))
    assert r.code == 2 and r.out == ""
    assert r.err.count("llamasize: error:") == 1 and "duplicate key 'hidden_size'" in r.err and "my.yaml" in r.err


def test_workload_with_a_key_twice_is_refused(cli, tmp_path):
    w = tmp_path / "w.yaml"
    w.write_text("model: scout\nctx: 8K\nctx: 16K\n")
    r = cli("plan", "--workload", str(w))
    assert r.code == 2 and r.out == "" and "duplicate key 'ctx'" in r.err
