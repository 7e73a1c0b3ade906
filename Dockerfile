# Quiver container image (README "Deployment"). Two stages: a Rust toolchain builds the binary,
# a small Debian runtime runs it as a non-root user. Paths follow Qdrant's image: working
# directory /qdrant, data in /qdrant/storage and /qdrant/snapshots (relative ./storage and
# ./snapshots from the working directory, so a mounted volume or QDRANT__STORAGE__STORAGE_PATH /
# QDRANT__STORAGE__SNAPSHOTS_PATH moves them), configuration in /qdrant/config/ (RUN_MODE picks
# config/production.yaml).
#
#   docker build -t quiver .
#   docker run -p 6333:6333 -p 6334:6334 -v quiver-storage:/qdrant/storage quiver

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p quiver \
    && strip target/release/quiver

FROM debian:bookworm-slim
# curl: the HEALTHCHECK; ca-certificates: snapshot recovery from https:// URLs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 1000 quiver \
    && useradd --system --uid 1000 --gid quiver --home-dir /qdrant --shell /usr/sbin/nologin quiver \
    && mkdir -p /qdrant/storage /qdrant/snapshots /qdrant/config \
    && chown -R quiver:quiver /qdrant
COPY --from=build /src/target/release/quiver /qdrant/quiver
WORKDIR /qdrant
ENV PATH=/qdrant:$PATH \
    RUN_MODE=production
USER quiver:quiver
EXPOSE 6333 6334 6335
VOLUME ["/qdrant/storage", "/qdrant/snapshots"]
# Ready: consensus caught up and local replicas healthy (see README "Health and readiness").
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:6333/readyz || exit 1
ENTRYPOINT ["/qdrant/quiver"]
