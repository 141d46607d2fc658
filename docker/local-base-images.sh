#!/usr/bin/env bash
# Stand-ins for the Dockerfile's FROM images, made from Debian packages and this machine's own Rust
# toolchain, for building the image where no container registry can be reached (CI here, an offline
# machine). NOT the user path: with a registry, `docker build -t shale .` pulls the real images.
#
#   bash docker/local-base-images.sh [--force]
#
# Uses `podman` as configured in the environment (see docker/podman-env.sh) and tags the images with
# the Dockerfile's own names, so the Dockerfile builds unchanged with `--pull=never` (or through the
# docker CLI on podman's socket):
#   rust:RUST_VERSION-DEBIAN_RELEASE     Debian minbase (mmdebstrap) + gcc, g++, make, libc6-dev,
#                                        pkg-config and a copy of `$(rustc --print sysroot)` laid out
#                                        like the official image (CARGO_HOME=/usr/local/cargo, ...)
#   gcr.io/distroless/cc-debian12:nonroot  glibc, libgcc, libstdc++, libssl, tzdata, netbase, a CA
#                                        bundle and the `nonroot` user (65532): no shell, no apt
# Both carry this machine's CA bundle (/etc/ssl/certs/ca-certificates.crt), so a TLS-intercepting
# proxy that the host trusts is trusted inside too (`cargo fetch` reaches crates.io through it).
# The host toolchain must be the Dockerfile's RUST_VERSION; an image that exists is kept unless
# --force. Needs root (mmdebstrap), mmdebstrap and podman.
set -euo pipefail
cd "$(dirname "$0")/.."

force=false
[[ "${1:-}" == "--force" ]] && force=true

arg_default() { sed -n "s/^ARG $1=//p" Dockerfile | head -n1; }
rust_version="$(arg_default RUST_VERSION)"
debian="$(arg_default DEBIAN_RELEASE)"
[[ -n "$rust_version" && -n "$debian" ]] || { echo "Dockerfile has no RUST_VERSION/DEBIAN_RELEASE ARG" >&2; exit 1; }

# The FROM names, ARGs substituted, as written in the Dockerfile.
mapfile -t froms < <(sed -n 's/^FROM \([^ ]*\).*/\1/p' Dockerfile |
  sed "s/\${RUST_VERSION}/$rust_version/g; s/\${DEBIAN_RELEASE}/$debian/g")
builder_image="" runtime_image=""
for image in "${froms[@]}"; do
  case "$image" in
    rust:*) builder_image="docker.io/library/$image" ;;
    gcr.io/distroless/cc-*) runtime_image="$image" ;;
    *) echo "no stand-in for FROM $image" >&2; exit 1 ;;
  esac
done
[[ -n "$builder_image" && -n "$runtime_image" ]] || { echo "expected a rust: and a distroless FROM" >&2; exit 1; }

sysroot="$(rustc --print sysroot)"
host_version="$(rustc --version | awk '{print $2}')"
if [[ "$host_version" != "$rust_version" && "$host_version" != "$rust_version".* ]]; then
  echo "this machine's rustc is $host_version but the Dockerfile wants $rust_version: a stand-in named" >&2
  echo "$builder_image must hold that toolchain (change RUST_VERSION or the host toolchain)" >&2
  exit 1
fi
host_triple="$(rustc -vV | sed -n 's/^host: //p')"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -s "$ca_bundle" ]] || { echo "no CA bundle at $ca_bundle" >&2; exit 1; }

mirrors=(
  "deb http://deb.debian.org/debian $debian main"
  "deb http://deb.debian.org/debian $debian-updates main"
  "deb http://deb.debian.org/debian-security $debian-security main"
)

work="$(mktemp -d "${TMPDIR:-/tmp}/shale-base-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT

exists() { ! $force && podman image exists "$1"; }

if exists "$builder_image"; then
  echo "$builder_image: present (--force rebuilds it)"
else
  echo "$builder_image: Debian $debian minbase + build tools + Rust $host_version from $sysroot"
  root="$work/builder"
  toolchain="/usr/local/rustup/toolchains/$host_version-$host_triple"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates,gcc,g++,make,libc6-dev,pkg-config \
    --customize-hook="mkdir -p \"\$1$toolchain\" \"\$1/usr/local/cargo/bin\"" \
    --customize-hook="cp -a '$sysroot/bin' '$sysroot/lib' \"\$1$toolchain/\"" \
    --customize-hook="[ ! -d '$sysroot/libexec' ] || cp -a '$sysroot/libexec' \"\$1$toolchain/\"" \
    --customize-hook="for b in \"\$1$toolchain\"/bin/*; do ln -s \"$toolchain/bin/\${b##*/}\" \"\$1/usr/local/cargo/bin/\"; done" \
    --customize-hook="cp '$ca_bundle' \"\$1/etc/ssl/certs/ca-certificates.crt\"" \
    --customize-hook="rm -rf \"\$1\"/var/lib/apt/lists/* \"\$1\"/var/cache/apt/*" \
    "$debian" "$root" "${mirrors[@]}" </dev/null
  tar -C "$root" -c . | podman import --quiet \
    --change "ENV RUSTUP_HOME=/usr/local/rustup" \
    --change "ENV CARGO_HOME=/usr/local/cargo" \
    --change "ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV RUST_VERSION=$host_version" \
    --change "LABEL org.opencontainers.image.description=local-stand-in-made-by-docker/local-base-images.sh" \
    --change 'CMD ["bash"]' \
    - "$builder_image" >/dev/null
  rm -rf "$root"
fi

if exists "$runtime_image"; then
  echo "$runtime_image: present (--force rebuilds it)"
else
  echo "$runtime_image: Debian $debian libraries, no shell, user nonroot (65532)"
  root="$work/runtime"
  mmdebstrap --quiet --variant=extract \
    --include=base-files,netbase,tzdata,libc6,libgcc-s1,libstdc++6,libssl3 \
    "$debian" "$root" "${mirrors[@]}" </dev/null
  # Libraries and data only: no shell, no awk, no debconf (pulled in as dependencies).
  rm -rf "$root"/usr/share/{doc,man,info,lintian,locale,debconf,bash-completion} "$root"/var/lib/apt \
    "$root"/var/cache/apt "$root"/var/log/* "$root"/etc/update-motd.d \
    "$root"/bin/* "$root"/sbin/* "$root"/usr/bin/* "$root"/usr/sbin/*
  mkdir -p "$root/etc/ssl/certs" "$root/home/nonroot" "$root/tmp" "$root/root"
  cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
  chmod 1777 "$root/tmp"
  chmod 700 "$root/root"
  chown 65532:65532 "$root/home/nonroot"
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
tty:x:5:
staff:x:50:
nobody:x:65534:
nonroot:x:65532:
EOF
  tar -C "$root" -c . | podman import --quiet \
    --change "USER 65532" \
    --change "WORKDIR /home/nonroot" \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
    --change "LABEL org.opencontainers.image.description=local-stand-in-made-by-docker/local-base-images.sh" \
    - "$runtime_image" >/dev/null
  rm -rf "$root"
fi

podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -F -e "${builder_image#docker.io/library/}" -e "$runtime_image" || true
