"""ansible-lint (production profile, offline) over playbooks, roles and the example inventory; syntax checks."""

from __future__ import annotations

import subprocess

from tests.ansible.playbook import ANSIBLE_DIR, BIN, ansible_env

PLAYBOOKS = ("site.yml", "edge.yml", "hub.yml")
LINT = ("--offline", "--profile", "production", "--nocolor", *PLAYBOOKS, "roles", "inventory")


def test_ansible_lint_production_profile_is_clean(tmp_path):
    proc = subprocess.run(
        [str(BIN / "ansible-lint"), *LINT],
        cwd=ANSIBLE_DIR,
        env=ansible_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Profile 'production' was required, and it passed" in output, output


def test_playbooks_parse_against_the_example_inventory(tmp_path):
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "--syntax-check", "-i", "inventory/example.yml", *PLAYBOOKS],
        cwd=ANSIBLE_DIR,
        env=ansible_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_example_inventory_lists_the_groups_the_playbooks_target(tmp_path):
    proc = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", "inventory/example.yml", "--graph"],
        cwd=ANSIBLE_DIR,
        env=ansible_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "@hub:" in proc.stdout and "@edge_nodes:" in proc.stdout, proc.stdout
