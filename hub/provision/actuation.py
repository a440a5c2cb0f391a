"""Per-node actuation keys: the shared secret a hub signs actuator commands with and the node checks them against.

A symmetric key, not the node's certificate: the node must verify what the hub says, and giving every node a hub
public key would let one stolen hub-side credential command every node at once. A key per node keeps "one stolen
node is one node" (docs/security.md): a thief who copies a node's key can forge commands to that node only, which
its own box could drive anyway.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from hub.provision.ca import PkiDir
from hub.provision.certs import check_identity
from hub.provision.files import write_secret

KEY_BYTES = 32  # as long as HMAC-SHA256's output: a longer key adds nothing


def actuation_key_path(pki: PkiDir, node_id: str) -> Path:
    """``<pki>/actuation/<node_id>.key``: the folder a hub's siren channel reads (its ``key_dir``) holds copies."""
    return pki.root / "actuation" / f"{node_id}.key"


def issue_actuation_key(pki: PkiDir, node_id: str, *, overwrite: bool = False) -> Path:
    check_identity(node_id)
    return write_secret(
        actuation_key_path(pki, node_id), (secrets.token_hex(KEY_BYTES) + "\n").encode(), overwrite=overwrite
    )
