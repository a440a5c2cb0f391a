"""The node config schema: one YAML file per node (firmware_configs/), read by the node and validated by the hub.

Part of the contract because both sides hold it: the node runs what it says, the hub checks it before pushing it
(remote config), provisions from it (credentials, ACLs) and learns each node's sensors from it. Every plugin setting
a node file can name (sensor drivers, inference backends, simulated signal models) is declared here; the code that
acts on them lives in edge/ and simulators/.
"""

from wire.nodeconfig.actuators import ACTUATOR_CONFIGS, ActuatorConfig
from wire.nodeconfig.camera import CameraConfig
from wire.nodeconfig.drivers import DRIVER_CONFIGS, DriverConfig, ModbusTcpConfig, SimulatedConfig
from wire.nodeconfig.inference import BACKEND_CONFIGS, BackendConfig, LiteRtConfig, OpenVinoConfig
from wire.nodeconfig.node import (
    ADMIN_CODE_PATTERN,
    ActuationSettings,
    Confirm,
    LocalAlarm,
    ModelSource,
    MqttSettings,
    NodeConfig,
    OutboxSettings,
    SensorConfig,
    Site,
    SiteKind,
    TlsSettings,
    WhenFull,
    check_admin_code,
    load_node_config,
    node_config_schema,
    validate_node_file,
)

__all__ = [
    "ACTUATOR_CONFIGS",
    "ADMIN_CODE_PATTERN",
    "BACKEND_CONFIGS",
    "DRIVER_CONFIGS",
    "ActuationSettings",
    "ActuatorConfig",
    "BackendConfig",
    "CameraConfig",
    "Confirm",
    "DriverConfig",
    "LiteRtConfig",
    "LocalAlarm",
    "ModbusTcpConfig",
    "ModelSource",
    "MqttSettings",
    "NodeConfig",
    "OpenVinoConfig",
    "OutboxSettings",
    "SensorConfig",
    "SimulatedConfig",
    "Site",
    "SiteKind",
    "TlsSettings",
    "WhenFull",
    "check_admin_code",
    "load_node_config",
    "node_config_schema",
    "validate_node_file",
]
