"""The one table of the agent's capabilities.

Each row names its config section (a field of ``AgentConfig``), its package, the contract
topics it publishes and the commands it serves. By convention a capability package has
``component.py`` (``build_components(config) -> list[Component]``), ``service.py`` (the
loop), ``commands`` (handlers) and, when it has one, ``cli.py`` (``register_cli(sub)``).
Capability modules are imported only when the config asks for them, so a gateway without
cameras never loads OpenCV or PyAV (memory on a 2 GB Pi).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract import topics

CORE_SECTIONS = ("gateway", "mqtt", "storage", "health")
CORE_TOPICS = (topics.STATUS, topics.HEALTH, topics.OUTBOX_DROPPED, topics.COMMAND_RESULT)
CORE_COMMANDS = ("ping", "config/get", "config/reload", "outbox/stats")


@dataclass(frozen=True, slots=True)
class Capability:
    name: str
    section: str  # the AgentConfig field that configures it
    package: str
    publishes: tuple[topics.TopicSpec, ...] = ()
    commands: tuple[str, ...] = ()  # contract command paths (after cmd/)
    has_cli: bool = False
    component_module: str | None = None  # default: {package}.component

    @property
    def component(self) -> str:
        return self.component_module or f"{self.package}.component"

    @property
    def cli(self) -> str | None:
        return f"{self.package}.cli" if self.has_cli else None


CAPABILITIES: tuple[Capability, ...] = (
    Capability("lighting", "lighting", "edge_agent.lighting", (topics.LIGHT_STATE,),
               ("light/{circuit}/override", "light/{circuit}/clear", "light/{circuit}/pulse"),
               has_cli=True),
    Capability("cameras", "cameras", "edge_agent.cameras",
               (topics.CAMERA_STATUS, topics.CAMERA_MOTION, topics.CAMERA_SNAPSHOT),
               ("camera/{camera}/arm", "camera/{camera}/disarm", "camera/{camera}/snapshot"),
               has_cli=True),
    Capability("hotspots", "hotspots", "edge_agent.hotspots", (topics.HOTSPOT_STATE,),
               ("hotspot/{hotspot}/probe",), has_cli=True),
    Capability("web", "http", "edge_agent.web"),
    # Home Assistant's own discovery topics live under its prefix, not in the contract
    Capability("homeassistant", "homeassistant", "edge_agent.web",
               component_module="edge_agent.web.ha_discovery"),
)
