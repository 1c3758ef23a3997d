"""What a user finds by tab completion and --version: the lazily loaded estimators, the
datasets only, the installed version."""

import fastnn
from fastnn import cli


def test_dir_lists_the_lazily_loaded_estimators():
    names = dir(fastnn)
    assert {"FastMLPClassifier", "FastMLPRegressor", "Network", "load", "CompileWarning",
            "TrainingWarning"} <= set(names)
    assert set(fastnn.__all__) <= set(names)


def test_datasets_namespace_lists_only_datasets():
    assert dir(fastnn.datasets) == fastnn.datasets.__all__
    assert not {"np", "Path", "check_dtype", "numbers"} & set(dir(fastnn.datasets))
    for name in dir(fastnn.datasets):
        assert callable(getattr(fastnn.datasets, name))


def test_version_flag(capsys):
    try:
        cli.main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    else:
        raise AssertionError("--version should exit")
    assert capsys.readouterr().out.strip() == f"fastnn {fastnn.__version__}"
