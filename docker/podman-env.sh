#!/usr/bin/env bash
# A self-contained podman set-up in one directory, for building and running the image where there is
# no Docker engine (CI, a VM without a registry). Not the user path: with Docker, `docker build -t
# shale .` is all it takes. See docs/deploy.md ("Without Docker or a registry").
#
#   eval "$(bash docker/podman-env.sh /some/work/dir)"
#   podman system service --time=0 "$DOCKER_HOST" &   # the Docker API, for the docker CLI
#   bash docker/local-base-images.sh                  # the Dockerfile's FROM images, from Debian
#   docker build -t shale .                           # unchanged, through podman's socket
#
# Writes DIR/containers.conf and DIR/storage.conf (images, containers, build caches and temporary
# files all under DIR) and prints the `export` lines that point podman, buildah and the docker CLI
# at them. Settings, each needed on this kind of machine (root in a VM, cgroups v1+v2 "hybrid"):
# runc (crun refuses hybrid cgroups), cgroupfs (no systemd), a file events log, and ulimits within
# the current hard limit (podman's defaults ask for more than a container may raise).
set -euo pipefail

dir="${1:?usage: podman-env.sh DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
mkdir -p "$dir/storage" "$dir/run" "$dir/tmp" "$dir/libpod" "$dir/networks" "$dir/volumes"

nofile="$(ulimit -Hn)"
[[ "$nofile" == unlimited ]] && nofile=1048576
nproc="$(ulimit -Hu)"
[[ "$nproc" == unlimited || "$nproc" -gt 32768 ]] && nproc=32768

cat >"$dir/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$dir/run"
EOF

cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$dir/libpod"
volume_path = "$dir/volumes"

[network]
network_config_dir = "$dir/networks"
EOF

cat <<EOF
export CONTAINERS_CONF='$dir/containers.conf'
export CONTAINERS_STORAGE_CONF='$dir/storage.conf'
export TMPDIR='$dir/tmp'
export BUILDAH_FORMAT=docker
export DOCKER_HOST='unix://$dir/podman.sock'
EOF
