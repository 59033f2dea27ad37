# syntax=docker/dockerfile:1
# netseg as one static binary (musl) on an empty base image, for pipelines that run containers:
#
#   docker build -t netseg .
#   docker run --rm -v "$PWD:/work" netseg audit deploy/
#
# docs/ci.md describes it and how it is tested.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# ring and mimalloc compile C for the target: with musl's compiler wrapper the binary links statically. No debug
# info in the image's binary (the workspace keeps it for profiling).
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CARGO_PROFILE_RELEASE_DEBUG=0
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p netseg

FROM scratch
# The CA bundle for API servers whose kubeconfig names no CA of its own (--cluster).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/netseg /usr/local/bin/netseg
USER 65534:65534
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/netseg"]
CMD ["--help"]
