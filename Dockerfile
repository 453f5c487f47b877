# syntax=docker/dockerfile:1
#
# The ekvplan container image: a release build on a distroless base with
# glibc (glibc's allocator keeps the parallel encoders fast; musl's would
# slow them), run as the non-root user `nonroot` (uid/gid 65532), with
# `ekvplan` as the entrypoint.
#
#   docker build -t ekvplan:0.1.0 .
#   docker run --rm -v "$PWD:/data" ekvplan:0.1.0 validate plan.toml
#
# The working directory is /data: mount the plan, its dumps and its outputs
# there (writable by uid 65532, or pass --user). Scratch and spill files go
# to /tmp unless the plan sets scratch_root.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# Cache the registry and target/ between builds; the binary is copied out
# of the cache mount before the step ends.
RUN --mount=type=cache,id=ekvplan-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=ekvplan-target,target=/src/target \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo cargo build --release --locked --bin ekvplan \
    && install -D -m 0755 target/release/ekvplan /out/ekvplan \
    && /out/ekvplan --version

# Debian 12's glibc, as in the build stage; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ekvplan /usr/local/bin/ekvplan
WORKDIR /data
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ekvplan"]
CMD ["--help"]
