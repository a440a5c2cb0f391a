"""Provisioning: a local certificate authority, node and hub identities, and the broker's TLS and ACL config."""
