"""The README's Python examples run as written (a newcomer copies them)."""

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    for module in re.findall(r"^(?:import|from) (\w+)", BLOCKS[index], flags=re.M):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"README python block {index} needs {module}, which is not installed")
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {})


def test_readme_starts_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.S).group(1)
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert commands == [
        "python -m pip install -e . && fastnn train",
        'python -m pip install -e ".[test]" && python -m pytest',
    ]
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci
