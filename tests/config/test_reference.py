"""`fedhive config`: every field of the config models, with type, default and description."""

from __future__ import annotations

from pydantic import BaseModel

from fedhive.cli import main
from fedhive.config import Config
from fedhive.config.reference import config_reference, field_rows


def leaf_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every dotted key of the plain (non-list) config sections, walked independently."""
    keys = set()
    for name, field in model.model_fields.items():
        default = field.default_factory() if field.default_factory is not None else field.default
        if isinstance(default, BaseModel):
            keys |= leaf_keys(type(default), f"{prefix}{name}.")
        keys.add(f"{prefix}{name}")
    return keys


def test_every_field_is_listed_with_type_default_and_description():
    rows = {key: (kind, default, doc) for key, kind, default, doc in field_rows(Config)}
    assert leaf_keys(Config) <= set(rows)
    assert rows["rounds"][:2] == ("int", "100")
    assert rows["privacy.delta"][1] == "1e-05"
    assert rows["data.partition.name"][0].startswith("'iid' | 'dirichlet'")
    assert rows["evaluation.finetune_steps"][2] == "personalized evaluation: local SGD steps first (0 = off)"
    assert rows["system"][0] == "SystemConfig" and rows["system.trace"][0] == "str | None"
    assert rows["server[krum].f"][0] == "int"  # the list form of the server chain


def test_config_command_prints_one_section_and_run_help_points_to_it(capsys):
    assert main(["config", "privacy"]) == 0
    out = capsys.readouterr().out
    keys = [line.split()[0] for line in out.splitlines() if not line.startswith(" ")]
    assert keys and all(k == "privacy" or k.startswith("privacy.") for k in keys)
    assert "privacy.target_epsilon" in keys and out == config_reference("privacy") + "\n"
    assert main(["config", "nope"]) == 2
    assert "config: no section or field 'nope'" in capsys.readouterr().err
