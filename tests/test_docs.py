"""docs/architecture.md carries the op table; it must match the code."""

from pathlib import Path

from dyngraph.ops.table import BEGIN, END, render

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_op_table_in_architecture_doc_is_current():
    text = DOC.read_text(encoding="utf-8")
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == render().strip(), (
        "docs/architecture.md's op table is stale: run "
        "`python -m dyngraph.ops.table --write docs/architecture.md`")


def test_readme_quickstart_runs(tmp_path, monkeypatch, capsys):
    import re
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## Quickstart\n\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # it writes model.safetensors and mlp.dgraph
    exec(compile(code, "README.md quickstart", "exec"), {})
    assert (tmp_path / "mlp.dgraph").exists()
    assert "tensor([2., 4.])" in capsys.readouterr().out
