"""Model updates on the node: fetch from the hub, verify, swap atomically, self-test, roll back.

Layout under ``<data_dir>/models/<name>/``: one folder per version, and ``current``, a symlink to the version in
use. Cameras name ``<data_dir>/models/<name>/current/manifest.yaml`` as their model, so a swap is one
``os.replace`` of a symlink: a camera (re)loading at any moment sees the old model or the new one, never a mix.

A version folder only appears once every file arrived and matched its sha256 (downloaded into a hidden staging
folder first, then renamed). After the swap the new model must load in each backend the node uses and survive an
inference on a test frame; if not, ``current`` goes back to the previous version and the failure is reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wire.nodeconfig import ModelSource

log = logging.getLogger(__name__)

MANIFEST = "manifest.yaml"
MAX_FILE_BYTES = 1 << 30

Fetch = Callable[[str], bytes]


class ModelUpdateError(Exception):
    """An update that did not happen; the node keeps (or went back to) the model it had."""


def http_fetch(url: str, timeout: float = 60.0) -> bytes:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise ModelUpdateError(f"{url}: only http and https URLs are fetched")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read(MAX_FILE_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise ModelUpdateError(f"{url}: {getattr(exc, 'reason', exc)}") from None
    if len(body) > MAX_FILE_BYTES:
        raise ModelUpdateError(f"{url}: larger than {MAX_FILE_BYTES} bytes")
    return body


@dataclass(frozen=True)
class UpdateResult:
    name: str
    version: str
    changed: bool
    previous: str | None = None


def self_test(manifest_path: Path, backends: list[str]) -> None:
    """Load the model in each backend and run one inference on a plain frame; raises ModelError if it fails."""
    import numpy as np
    from pydantic import TypeAdapter

    from edge.inference import Detector, ModelError, load_manifest
    from wire.nodeconfig.inference import AnyBackendConfig

    manifest = load_manifest(manifest_path)
    frame = np.full((manifest.input.height, manifest.input.width, 3), 114, np.uint8)
    configs = TypeAdapter(AnyBackendConfig)
    for name in backends:
        try:
            config = configs.validate_python({"type": name})
        except ValueError:
            raise ModelError(f"{manifest_path}: no inference backend {name!r} on this node") from None
        detector = Detector.load(manifest, config)
        try:
            found = detector.detect(frame)
            if not np.all(np.isfinite(found)):
                raise ModelError(f"{manifest_path}: {name} gave non-finite outputs on the test frame")
        finally:
            detector.close()


class ModelStore:
    def __init__(self, root: Path, fetch: Fetch = http_fetch, tester: Callable[[Path, list[str]], None] = self_test):
        self.root = Path(root)
        self.fetch = fetch
        self.tester = tester

    def current_link(self, name: str) -> Path:
        return self.root / name / "current"

    def current(self, name: str) -> str | None:
        link = self.current_link(name)
        return os.readlink(link) if link.is_symlink() else None

    def installed(self) -> dict[str, str]:
        """Model name -> version in use, for the node's status."""
        if not self.root.is_dir():
            return {}
        found = {p.name: self.current(p.name) for p in sorted(self.root.iterdir()) if p.is_dir()}
        return {k: v for k, v in found.items() if v}

    # -- steps --------------------------------------------------------------------------------------------
    def install(self, source: ModelSource) -> Path:
        """Fetch and verify every file into a staging folder, then rename it into place."""
        from edge.inference import ModelError, load_manifest

        final = self.root / source.name / source.version
        if final.is_dir():
            return final
        staging = self.root / source.name / f".staging-{source.version}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            body = self.fetch(source.url)
            digest = hashlib.sha256(body).hexdigest()
            if digest != source.sha256:
                raise ModelUpdateError(f"{source.url}: sha256 is {digest}, the config says {source.sha256}")
            (staging / MANIFEST).write_bytes(body)
            manifest = load_manifest(staging / MANIFEST, verify=False)
            if (manifest.name, manifest.version) != (source.name, source.version):
                raise ModelUpdateError(
                    f"{source.url}: the manifest is {manifest.name}@{manifest.version}, "
                    f"the config asks for {source.name}@{source.version}"
                )
            for file in manifest.files:
                url = urllib.parse.urljoin(source.url, urllib.parse.quote(file))
                (staging / file).write_bytes(self.fetch(url))
            load_manifest(staging / MANIFEST, verify=True)  # every file against its sha256
            for path in staging.iterdir():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
            os.replace(staging, final)
        except ModelError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelUpdateError(str(exc)) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return final

    def activate(self, name: str, version: str | None) -> None:
        """Point ``current`` at ``version`` (None removes it) in one atomic rename."""
        link = self.current_link(name)
        if version is None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            return
        tmp = link.with_name(".current-next")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(version, target_is_directory=True)
        os.replace(tmp, link)

    def update(self, source: ModelSource) -> UpdateResult:
        """Bring ``source`` into use; on any failure ``current`` is what it was before and ModelUpdateError says why."""
        from edge.inference import ModelError

        previous = self.current(source.name)
        if previous == source.version:
            return UpdateResult(source.name, source.version, changed=False, previous=previous)
        self.install(source)
        self.activate(source.name, source.version)
        try:
            self.tester(self.current_link(source.name) / MANIFEST, source.backends)
        except (ModelError, RuntimeError, ValueError, OSError) as exc:
            self.activate(source.name, previous)
            log.error("model %s@%s failed its self-test, back on %s: %s", source.name, source.version, previous, exc)
            raise ModelUpdateError(
                f"model {source.name}@{source.version} failed its self-test ({exc}); rolled back to {previous}"
            ) from None
        log.info("model %s now %s (was %s)", source.name, source.version, previous)
        return UpdateResult(source.name, source.version, changed=True, previous=previous)
