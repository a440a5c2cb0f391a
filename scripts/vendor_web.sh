#!/usr/bin/env bash
# Re-creates hub/web/vendor/ from the npm registry: the operator page's charting (uPlot) and map (Leaflet) libraries.
# The files are committed, so the hub serves them itself: no CDN, no npm, no network at run time or in CI.
# npm pack checks each tarball against the registry's sha512 integrity; we check it again against the pinned value,
# so a changed upload under the same version is refused. Upgrade: change a version and its integrity, rerun, commit.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=hub/web/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {  # name version integrity
  local name=$1 version=$2 integrity=$3
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
  local tgz="$work/$name-$version.tgz"
  local got
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  [ "$got" = "$integrity" ] || { echo "vendor_web: $name@$version integrity $got, expected $integrity" >&2; exit 1; }
  mkdir -p "$work/$name" && tar xzf "$tgz" -C "$work/$name"
}

fetch uplot 1.6.32 'sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=='
fetch leaflet 1.9.4 'sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA=='

rm -rf "$dest" && mkdir -p "$dest/uplot" "$dest/leaflet/images"
cp "$work/uplot/package/dist/uPlot.iife.min.js" "$work/uplot/package/dist/uPlot.min.css" \
   "$work/uplot/package/LICENSE" "$dest/uplot/"
cp "$work/leaflet/package/dist/leaflet.js" "$work/leaflet/package/dist/leaflet.css" \
   "$work/leaflet/package/LICENSE" "$dest/leaflet/"
cp "$work/leaflet/package/dist/images/"*.png "$dest/leaflet/images/"
cat > "$dest/VERSIONS" <<VERSIONS
# Written by scripts/vendor_web.sh; the page's third-party code, from the npm registry.
uplot 1.6.32 MIT https://github.com/leeoniya/uPlot
leaflet 1.9.4 BSD-2-Clause https://github.com/Leaflet/Leaflet
VERSIONS
echo "vendor_web: $(find "$dest" -type f | wc -l) files in $dest"
