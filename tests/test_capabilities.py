"""The capability table is the one place a capability is declared: it must agree with the
config model, the contract and the modules it names."""

from __future__ import annotations

import importlib

from contract import COMMANDS, TOPICS
from edge_agent.capabilities import CAPABILITIES, CORE_COMMANDS, CORE_SECTIONS, CORE_TOPICS
from edge_agent.config.model import AgentConfig


def test_every_config_section_is_core_or_one_capability() -> None:
    sections = [c.section for c in CAPABILITIES]
    assert len(sections) == len(set(sections)), "a section claimed twice"
    assert set(AgentConfig.model_fields) == set(CORE_SECTIONS) | set(sections)


def test_every_contract_topic_and_command_has_one_owner() -> None:
    published = [spec for c in CAPABILITIES for spec in c.publishes] + list(CORE_TOPICS)
    assert sorted(s.pattern for s in published) == sorted(s.pattern for s in TOPICS)
    served = [path for c in CAPABILITIES for path in c.commands] + list(CORE_COMMANDS)
    assert sorted(served) == sorted(c.path for c in COMMANDS)


def test_named_modules_exist_with_their_entry_points() -> None:
    for capability in CAPABILITIES:
        assert callable(importlib.import_module(capability.component).build_components)
        if capability.cli is not None:
            assert callable(importlib.import_module(capability.cli).register_cli)
