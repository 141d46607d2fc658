# syntax=docker/dockerfile:1.7
#
# shale container image: an OpenAI-compatible gateway for Amazon Bedrock.
#
#   docker build -t shale .
#   docker run --rm -p 4000:4000 -v "$PWD/config.yaml:/app/config.yaml:ro" shale
#   docker run --rm -p 4000:4000 -v "$PWD/config.yaml:/config.yaml:ro" shale --config /config.yaml
#
# Stage 1 compiles `shale` and the demo Bedrock emulator `shale-emulator` with
# cache mounts (crates.io index, downloaded crates and the target dir survive
# between builds, so a source edit recompiles only the workspace crates). The
# mounts use the default sharing (cargo locks its registry and target dir
# itself): `sharing=locked` on several mounts of one RUN deadlocks buildah
# before 1.29 (podman 4.3, Debian bookworm).
# The binaries are built without debug info and stripped (~115 MB -> ~20 MB).
# Stage 2 is distroless: glibc + CA certificates, no shell, no package manager,
# running as the unprivileged `nonroot` user (uid/gid 65532).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src

ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    CARGO_NET_RETRY=5 \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=true

# Download dependencies into the registry cache mount; they are fetched again
# only when Cargo.lock changes, so the build step below can run --offline.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# `shale demo` compiles in its config (include_str! from outside crates/).
COPY config/demo.yaml ./config/demo.yaml
RUN --mount=type=cache,id=shale-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=shale-cargo-git,target=/usr/local/cargo/git \
    cargo fetch --locked

# Build both binaries; the target dir lives in a cache mount, so copy the
# results out of it within the same step.
RUN --mount=type=cache,id=shale-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=shale-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=shale-target,target=/src/target \
    cargo build --release --locked --offline -p shale -p shale-emulator \
    && mkdir -p /out \
    && cp target/release/shale target/release/shale-emulator /out/ \
    && /out/shale --version

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

LABEL org.opencontainers.image.title="shale" \
      org.opencontainers.image.description="OpenAI-compatible gateway for Amazon Bedrock" \
      org.opencontainers.image.source="https://github.com/shale-gateway/shale" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /out/shale /usr/local/bin/shale
COPY --from=builder /out/shale-emulator /usr/local/bin/shale-emulator

WORKDIR /app
# Mount the LiteLLM-style config at /app/config.yaml (or pass --config).
ENV SHALE_CONFIG=/app/config.yaml

USER 65532:65532
EXPOSE 4000

# distroless has no curl: the binary probes its own liveness route.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/shale", "healthcheck", "--url", "http://127.0.0.1:4000/health/liveliness"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/shale"]
CMD ["--config", "/app/config.yaml"]
