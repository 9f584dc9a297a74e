import re

import pytest
from pydantic import SecretStr

from text2sql_cli.config import REPO_ENV_EXAMPLE, T2SSettings, env_names, settings_classes
from text2sql_cli.errors import ConfigError


class _Demo(T2SSettings):
    seed: int = 1
    token: SecretStr | None = None


def test_default_applies_when_nothing_is_given():
    assert _Demo.from_flags(seed=None).seed == 1


def test_dotenv_beats_default(tmp_path):
    (tmp_path / ".env").write_text("T2S_SEED=2\n")
    assert _Demo.from_flags().seed == 2


def test_env_beats_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("T2S_SEED=2\n")
    monkeypatch.setenv("T2S_SEED", "3")
    assert _Demo.from_flags().seed == 3


def test_flag_beats_env(tmp_path, monkeypatch):
    monkeypatch.setenv("T2S_SEED", "3")
    assert _Demo.from_flags(seed=4).seed == 4


def test_invalid_value_is_a_config_error_naming_the_field_and_its_variable(monkeypatch):
    monkeypatch.setenv("T2S_SEED", "many")
    with pytest.raises(ConfigError, match=r"--seed \(T2S_SEED\): Input should be a valid integer"):
        _Demo.from_flags()


def test_public_dump_leaves_secrets_out():
    dumped = _Demo.from_flags(token="sk-very-secret")
    assert "token" not in dumped.public_dump() and "sk-very-secret" not in repr(dumped)


def test_env_example_lists_every_variable_and_nothing_else():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", REPO_ENV_EXAMPLE.read_text(), flags=re.M))
    wanted = {
        name for cls in settings_classes() if not cls.__name__.startswith("_") for name in env_names(cls)
    }
    assert wanted, "no settings classes found"
    assert wanted - listed == set(), f".env.example misses {sorted(wanted - listed)}"
    assert listed - wanted == set(), (
        f".env.example lists variables no setting reads: {sorted(listed - wanted)}"
    )


def test_unparseable_dotenv_line_is_an_error_naming_file_and_line(tmp_path):
    (tmp_path / ".env").write_text("T2S_SEED=2\nthis is not valid\n")
    with pytest.raises(ConfigError, match=r"\.env:2: cannot parse"):
        _Demo.from_flags()


def test_misspelled_dotenv_variable_warns_once(tmp_path, capsys):
    (tmp_path / ".env").write_text("T2S_EVAL_WORKRS=2\n")
    _Demo.from_flags()
    _Demo.from_flags()
    err = capsys.readouterr().err
    assert err.count("T2S_EVAL_WORKRS is not a t2s setting") == 1 and ".env:1" in err


@pytest.mark.parametrize(
    "module, cls, field, value, named",
    [
        (
            "text2sql_cli.evaluation.execution",
            "ExecutionSettings",
            "mode",
            "fuzzy",
            "--mode (T2S_EVAL_MODE)",
        ),
        (
            "text2sql_cli.inference",
            "InferSettings",
            "max_new_tokens",
            0,
            "--max-new-tokens (T2S_INFER_MAX_NEW_TOKENS)",
        ),
        ("text2sql_cli.filtering", "FilterSettings", "on_llm_failure", "drop", "--on-llm-failure"),
        ("text2sql_cli.llm_client", "LLMSettings", "rpm", 0, "--rpm (T2S_LLM_RPM)"),
        ("text2sql_cli.training", "TrainSettings", "quant", "2bit", "--quant (T2S_TRAIN_QUANT)"),
    ],
)
def test_an_invalid_value_names_the_flag_and_its_variable(module, cls, field, value, named):
    import importlib

    settings = getattr(importlib.import_module(module), cls)
    with pytest.raises(ConfigError) as err:
        settings.from_flags(**{field: value})
    assert named in str(err.value)


def test_every_variable_is_named_after_its_command_or_shared_prefix():
    allowed = ("T2S_EVAL_", "T2S_FILTER_", "T2S_INFER_", "T2S_TRAIN_", "T2S_JUDGE_", "T2S_LLM_", "T2S_DATA_")
    names = {n for cls in settings_classes() if not cls.__name__.startswith("_") for n in env_names(cls)}
    odd = sorted(
        n for n in names if not n.startswith(allowed) and n not in ("OPENAI_API_KEY", "T2S_OPENAI_API_KEY")
    )
    assert odd == []
    assert all(
        cls.__name__.endswith("Settings") for cls in settings_classes() if not cls.__name__.startswith("_")
    )


def test_a_misspelled_t2s_variable_in_the_environment_is_warned_about(capsys):
    from text2sql_cli.config import check_environ

    check_environ(
        {"T2S_TRAIN_LRR": "0.1", "T2S_TRAIN_LR": "0.1", "T2S_TEST_MARIADB_URL": "x", "PATH": "/bin"}
    )
    err = capsys.readouterr().err
    assert "environment variable T2S_TRAIN_LRR is not a t2s setting (did you mean T2S_TRAIN_LR?)" in err
    assert "T2S_TRAIN_LR " not in err and "T2S_TEST_MARIADB_URL" not in err  # real and tooling names
