"""`iocgw provision`: CA, certificates, passwords and the broker's config. Prints paths, never key or password text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from hub.provision.acl import AclPlan
from hub.provision.ca import CA_DAYS, PkiDir, create_ca, load_ca
from hub.provision.certs import CLIENT_DAYS, SERVER_DAYS, Issued, check_identity, issue_hub, issue_node, issue_server
from hub.provision.files import ProvisionError
from hub.provision.identities import load_identities
from hub.provision.mosquitto_conf import BrokerSettings, hand_over, service_user, used_in_place, write_bundle
from hub.provision.passwords import set_password
from hub.provision.revoke import CRL_DAYS, revoke, write_crl
from plumbing.configfile import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _pki_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", required=True, type=Path, help="PKI folder (holds the CA key: keep it off the broker)")


def _force_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true", help="replace existing files (rotation)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="provision_cmd", required=True, metavar="STEP")

    ca = sub.add_parser("ca", help="the local certificate authority")
    ca_sub = ca.add_subparsers(dest="ca_cmd", required=True, metavar="ACTION")
    init = ca_sub.add_parser("init", help="create the CA key (0600) and self-signed certificate")
    _pki_arg(init)
    init.add_argument("--cn", default="iocgw local CA", help="the CA's common name")
    init.add_argument("--days", type=int, default=CA_DAYS, help=f"validity (default {CA_DAYS})")
    _force_arg(init)
    init.set_defaults(step=_ca_init)

    node = sub.add_parser("node", help="a node's client certificate (CN = node id)")
    node.add_argument("node_id")
    _pki_arg(node)
    node.add_argument("--days", type=int, default=CLIENT_DAYS, help=f"validity (default {CLIENT_DAYS})")
    _force_arg(node)
    node.set_defaults(step=_node)

    server = sub.add_parser("server", help="the broker's server certificate")
    _pki_arg(server)
    server.add_argument("--host", action="append", default=[], help="DNS name clients dial (repeatable)")
    server.add_argument("--ip", action="append", default=[], help="IP address clients dial (repeatable)")
    server.add_argument("--days", type=int, default=SERVER_DAYS, help=f"validity (default {SERVER_DAYS})")
    _force_arg(server)
    server.set_defaults(step=_server)

    hub = sub.add_parser("hub", help="a hub's client certificate")
    _pki_arg(hub)
    hub.add_argument("--name", default="iocgw-hub", help="the CN; one per hub process (default iocgw-hub)")
    hub.add_argument("--days", type=int, default=CLIENT_DAYS, help=f"validity (default {CLIENT_DAYS})")
    _force_arg(hub)
    hub.set_defaults(step=_hub)

    pw = sub.add_parser("password", help="a password login for a logger that cannot do TLS client certificates")
    pw.add_argument("node_id", help="the user name (a node id, or an alert publisher's identity)")
    _pki_arg(pw)
    _force_arg(pw)
    pw.set_defaults(step=_password)

    ak = sub.add_parser("actuation-key", help="a node's key for signed actuator commands (sirens, loudspeakers)")
    ak.add_argument("node_id")
    _pki_arg(ak)
    _force_arg(ak)
    ak.set_defaults(step=_actuation_key)

    rv = sub.add_parser("revoke", help="revoke a node's or hub's certificates and re-sign the CRL")
    rv.add_argument("name", help="the certificate CN (node id or hub name)")
    _pki_arg(rv)
    rv.add_argument(
        "--keep-current", action="store_true", help="revoke only the replaced ones, not the one now in its file"
    )
    rv.set_defaults(step=_revoke)

    crl = sub.add_parser("crl", help="re-sign the CRL without a change (before it runs out)")
    _pki_arg(crl)
    crl.add_argument("--days", type=int, default=CRL_DAYS, help=f"until the next update (default {CRL_DAYS})")
    crl.set_defaults(step=_crl)

    mq = sub.add_parser("mosquitto", help="mosquitto.conf, ACL and certificates for the broker, from the registry")
    mq.add_argument(
        "--registry", nargs="+", required=True, help="node config files (globs) and/or a hub.db (registered nodes)"
    )
    _pki_arg(mq)
    mq.add_argument("--out", required=True, type=Path, help="folder for the bundle")
    mq.add_argument("--prefix", action="append", default=[], help="topic prefix for hub.db nodes and the hubs")
    mq.add_argument("--hub", action="append", default=[], help="hub identity (repeatable; default iocgw-hub)")
    mq.add_argument("--alerts-publisher", action="append", default=[], help="identity of an MQTT alert notifier")
    mq.add_argument("--port", type=int, default=8883, help="TLS listener port (default 8883)")
    mq.add_argument("--bind", default="0.0.0.0", help="listener address (default 0.0.0.0)")
    mq.add_argument("--password-port", type=int, help="also open a password listener on this port")
    pw_mode = mq.add_mutually_exclusive_group()
    pw_mode.add_argument(
        "--password-plaintext",
        action="store_true",
        help="password listener over plain TCP: passwords cross the network readable (default: server-side TLS)",
    )
    # TLS is the default now; the old switch still parses so existing scripts keep working.
    pw_mode.add_argument("--password-tls", action="store_true", help=argparse.SUPPRESS)
    mq.add_argument("--conf-dir", type=Path, help="where the bundle will live on the broker host (default: --out)")
    mq.add_argument("--data-dir", type=Path, default=Path("/var/lib/mosquitto"), help="persistence location")
    mq.add_argument("--run-as", help="Mosquitto's 'user' option")
    mq.add_argument("--log-file", type=Path, help="log to this file instead of stderr")
    mq.set_defaults(step=_mosquitto)


def _issued(what: str, issued: Issued) -> None:
    print(f"{what}: {issued.cert_path} (valid until {issued.not_after:%Y-%m-%d}), key {issued.key_path} (0600)")


def _ca_init(args: argparse.Namespace) -> int:
    pki = PkiDir(args.dir)
    ca = create_ca(pki, args.cn, args.days, overwrite=args.force)
    print(f"CA: {pki.ca_cert} (valid until {ca.cert.not_valid_after_utc:%Y-%m-%d}), key {pki.ca_key} (0600)")
    return EXIT_OK


def _node(args: argparse.Namespace) -> int:
    pki = PkiDir(args.dir)
    check_identity(args.node_id)
    _issued(f"node {args.node_id}", issue_node(load_ca(pki), pki, args.node_id, args.days, overwrite=args.force))
    return EXIT_OK


def _server(args: argparse.Namespace) -> int:
    pki = PkiDir(args.dir)
    issued = issue_server(load_ca(pki), pki, tuple(args.host), tuple(args.ip), args.days, overwrite=args.force)
    _issued("broker", issued)
    return EXIT_OK


def _hub(args: argparse.Namespace) -> int:
    pki = PkiDir(args.dir)
    check_identity(args.name, "hub name")
    _issued(f"hub {args.name}", issue_hub(load_ca(pki), pki, args.name, args.days, overwrite=args.force))
    return EXIT_OK


def _password(args: argparse.Namespace) -> int:
    pki = PkiDir(args.dir)
    check_identity(args.node_id)
    set_password(pki.passwd, pki.node_password(args.node_id), args.node_id, overwrite=args.force)
    print(f"password for {args.node_id}: {pki.node_password(args.node_id)} (0600); hash added to {pki.passwd}")
    return EXIT_OK


def _actuation_key(args: argparse.Namespace) -> int:
    from hub.provision.actuation import issue_actuation_key

    path = issue_actuation_key(PkiDir(args.dir), args.node_id, overwrite=args.force)
    print(f"actuation key for {args.node_id}: {path} (0600); copy it to the node and to the hub's siren key_dir")
    return EXIT_OK


def _revoke(args: argparse.Namespace) -> int:
    pki = PkiDir(args.dir)
    serials = revoke(load_ca(pki), pki, args.name, keep_current=args.keep_current)
    print(f"revoked {len(serials)} certificate(s) of {args.name}; CRL {pki.crl}")
    print("regenerate the broker bundle (iocgw provision mosquitto) and restart Mosquitto to apply it")
    return EXIT_OK


def _crl(args: argparse.Namespace) -> int:
    pki = PkiDir(args.dir)
    crl = write_crl(load_ca(pki), pki, args.days)
    print(f"CRL {pki.crl}: {len(list(crl))} revoked, next update {crl.next_update_utc:%Y-%m-%d}")
    return EXIT_OK


def _mosquitto(args: argparse.Namespace) -> int:
    prefixes = args.prefix or ["iocgw"]
    nodes = load_identities(args.registry, prefixes[0])
    plan = AclPlan(
        nodes=nodes, hubs=args.hub or ["iocgw-hub"], hub_prefixes=prefixes, alert_publishers=args.alerts_publisher
    )
    settings = BrokerSettings(
        tls_port=args.port,
        bind=args.bind,
        password_port=args.password_port,
        password_plaintext=args.password_plaintext,
        conf_dir=args.conf_dir,
        data_dir=args.data_dir,
        run_as=args.run_as,
        log_file=args.log_file,
    )
    for path in write_bundle(plan, settings, PkiDir(args.dir), args.out):
        print(path)
    summary = f"{len(nodes)} nodes, {len(plan.hubs)} hub identities"
    user = service_user(settings)
    if not used_in_place(settings, args.out):
        print(
            f"{summary}; install it as {args.conf_dir} with certs/server.key and passwd owned by {user} (0600) "
            f"and {args.data_dir} writable by {user} (the hub role does this, docs/ansible.md), "
            f"then start with: mosquitto -c {args.conf_dir / 'mosquitto.conf'}"
        )
        return EXIT_OK
    problems = hand_over(settings, args.out)
    for problem in problems:
        print(f"iocgw provision: {problem}", file=sys.stderr)
    if problems:
        print(
            f"{summary}; move the bundle (--out) and --data-dir where {user} can reach them (e.g. "
            f"/etc/mosquitto/iocgw), or fix the above, then start with: mosquitto -c {args.out / 'mosquitto.conf'}"
        )
    else:
        print(f"{summary}; start with: mosquitto -c {args.out / 'mosquitto.conf'}")
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    try:
        return int(args.step(args))
    except (ConfigError, ValidationError) as exc:
        print(f"iocgw provision: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ProvisionError as exc:
        print(f"iocgw provision: {exc}", file=sys.stderr)
        return EXIT_FAILED
