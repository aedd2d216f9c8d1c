import pytest

from translator.config import Config, ConfigError, load_config, preset_names


def test_every_preset_loads_and_validates():
    names = preset_names()
    assert {"dates", "reuters-headlines", "bbc-summary"} <= set(names)
    for name in names:
        config = load_config(name)
        assert config.name == name
        assert load_config(name).to_yaml() == config.to_yaml()


def test_yaml_round_trip(tmp_path):
    config = load_config("dates", ["model.cell=lstm", "train.learning_rate=0.01"])
    assert config.model.cell == "lstm" and config.train.learning_rate == 0.01
    path = tmp_path / "c.yaml"
    config.save(path)
    assert load_config(path) == config


def test_configs_are_frozen():
    config = Config()
    with pytest.raises(AttributeError):
        config.model.cell = "lstm"  # type: ignore[misc]


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.cell=transformer", "model.cell='transformer' is not allowed; choose one of"),
        ("model.decoder=attention", "['sutskever', 'cho', 'bahdanau', 'luong']"),
        ("model.celll=gru", "unknown config key 'model.celll'"),
        ("modle.cell=gru", "unknown config key 'modle.cell'"),
        ("train.batch_size=0", "train.batch_size=0 must be > 0"),
        ("train.batch_size=big", "train.batch_size='big' has the wrong type"),
        ("train.time_budget_minutes=0", "train.time_budget_minutes=0.0 must be > 0"),
        ("model.decoder=cho model.input_feeding=true", "needs model.decoder=luong"),
        ("tokenizer.kind=bpe", "tokenizer.kind='bpe' is not allowed"),
        ("novalue", "expected section.key=value"),
    ],
)
def test_bad_values_name_the_key_and_the_choices(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("dates", override.split(" "))
    assert message in str(err.value)


def test_copy_with_separate_subword_models_is_refused():
    with pytest.raises(ConfigError, match="joint"):
        load_config(
            "dates",
            [
                "tokenizer.kind=sentencepiece",
                "model.decoder=bahdanau",
                "model.pointer_generator=true",
            ],
        )


def test_unknown_preset_lists_presets(tmp_path):
    with pytest.raises(ConfigError, match="presets: "):
        load_config("nope")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
