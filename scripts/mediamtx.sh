#!/usr/bin/env bash
# Builds MediaMTX from its public source in a cache directory outside the
# repository (its code is never committed here) and writes the config the
# bench measures it with; prints the directory. `make bench-peers` uses it.
#
#   MEDIAMTX_TAG  release to build (default v1.20.1)
#   MEDIAMTX_SRC  git URL or local mirror to clone (default GitHub)
#   MEDIAMTX_DIR  where to build (default ~/.cache/onair-bench/mediamtx-TAG)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tag=${MEDIAMTX_TAG:-v1.20.1}
src=${MEDIAMTX_SRC:-https://github.com/bluenviron/mediamtx}
dir=${MEDIAMTX_DIR:-$HOME/.cache/onair-bench/mediamtx-$tag}

if [ ! -x "$dir/mediamtx" ]; then
	rm -rf "$dir.tmp"
	mkdir -p "$(dirname "$dir")"
	git clone -q --depth 1 --branch "$tag" "$src" "$dir.tmp" >&2
	(
		cd "$dir.tmp"
		# What `go generate` would download: the version, and hls.js for
		# MediaMTX's own player page (not measured; ours, or an empty file).
		echo "$tag" > internal/core/VERSION
		hlsjs=internal/servers/hls/hls.min.js
		[ -s "$hlsjs" ] || cp "$repo/web/node_modules/hls.js/dist/hls.min.js" "$hlsjs" 2>/dev/null || : > "$hlsjs"
		CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -o mediamtx . >&2
	)
	mv "$dir.tmp" "$dir"
fi

# Its defaults for HLS (7 segments of at least 1 s, 200 ms parts), LL-HLS,
# muxing every stream as it is published (as onair does), anyone may
# publish and read, loopback only, nothing else running.
cat > "$dir/bench.yml" <<'YAML'
logLevel: warn
logDestinations: [stdout]
authMethod: internal
authInternalUsers:
  - user: any
    pass:
    ips: []
    permissions:
      - action: publish
        path:
      - action: read
        path:
      - action: playback
        path:
api: false
metrics: false
pprof: false
playback: false
rtsp: false
srt: false
moq: false
rtmp: true
rtmpEncryption: "no"
rtmpAddress: 127.0.0.1:1935
hls: true
hlsAddress: 127.0.0.1:8888
hlsEncryption: false
hlsAlwaysRemux: true
hlsVariant: lowLatency
webrtc: true
webrtcAddress: 127.0.0.1:8889
webrtcEncryption: false
pathDefaults:
  source: publisher
paths:
  all_others:
YAML
echo "$dir"
