# The Strata image: one `strata` binary on a distroless glibc base, run as uid/gid 65532, no shell.
#
#   docker build -t strata:0.1.0 .                  # release build from source (BuildKit or the legacy builder)
#   DOCKER_BUILDKIT=1 docker build -f Dockerfile --build-arg BINARY_SOURCE=prebuilt \
#     --build-arg RUNTIME_IMAGE=strata-runtime-base:local -t strata:test OVERLAY   # OVERLAY/usr/local/bin/strata
#
# The binary comes from the stage build-${BINARY_SOURCE}, whose /out/ is copied onto the runtime image's root:
# - `source` (default): `cargo build --release --locked -p strata-cli` in RUST_IMAGE, stripped, plus the shared
#   libraries ldd finds outside glibc and libgcc_s (libz: gcr.io/distroless/cc-debian12 has none).
# - `prebuilt`: the build context is a root-filesystem overlay holding a built binary at usr/local/bin/strata
#   (and any library the runtime image lacks); the Dockerfile is passed with -f from outside it. This is the test
#   suite's path (dev/docker.sh): a cold release build in a container takes ~30 min on 2 cores. It needs a builder
#   that skips unused stages (BuildKit: DOCKER_BUILDKIT=1, the default since Docker 23; buildah; kaniko with
#   --skip-unused-stages): the legacy builder runs every stage, so it would pull RUST_IMAGE and run cargo anyway.
#   The legacy builder does build the default `source` path: build-prebuilt's `COPY . /out/` then copies the
#   sources into a stage nothing uses, and cannot fail.
#
# The root filesystem can be mounted read-only: Strata writes only to its work dir (/var/lib/strata/work) and
# /tmp, which the Helm chart mounts as emptyDirs.

# The workspace's rust-version (Cargo.toml).
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG BINARY_SOURCE=source

FROM ${RUST_IMAGE} AS build-source
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p strata-cli --bin strata \
 && mkdir -p /out/usr/local/bin \
 && strip -o /out/usr/local/bin/strata target/release/strata \
 && for lib in $(ldd /out/usr/local/bin/strata | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do \
      case "${lib##*/}" in \
        libc.so.*|libm.so.*|libgcc_s.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) ;; \
        *) dir="/out/usr/lib/$(basename "$(dirname "$lib")")" && mkdir -p "$dir" && cp -L "$lib" "$dir/" ;; \
      esac; \
    done \
 && find /out -type f -exec ls -l {} +

FROM scratch AS build-prebuilt
COPY . /out/

FROM build-${BINARY_SOURCE} AS binary

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="strata" \
      org.opencontainers.image.description="Strata: a distributed batch dataflow engine (scheduler, executor, CLI)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binary /out/ /
USER 65532:65532
WORKDIR /var/lib/strata
ENTRYPOINT ["strata"]
CMD ["--help"]
