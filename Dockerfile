# syntax=docker/dockerfile:1
#
# One image with the four services: /usr/local/bin/ingest, /usr/local/bin/worker,
# /usr/local/bin/initiator and /usr/local/bin/webhooks, and /usr/local/bin/healthcheck (the container health check:
# the image has no shell, curl or wget). Kubernetes picks the command (deploy/k8s sets
# `command:`), docker compose its `entrypoint:` (deploy/compose/compose.yaml).
#
#   docker build -t epayflow:dev .        (make image passes VERSION and COMMIT from git)
#
# VERSION and COMMIT are what `<command> -version` prints (internal/version); the build
# context has no .git (.dockerignore), so they come in as build arguments.
#
# The build stage's Go must be at least the `go` line of go.mod (1.26.8): the build runs
# with GOTOOLCHAIN=local so it never downloads a toolchain. Pin both images by digest in
# your registry mirror for reproducible builds.
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
ARG VERSION=dev
ARG COMMIT=unknown
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    mkdir -p /out /data && \
    go build -trimpath \
        -ldflags="-s -w -X github.com/epayflow/epayflow/internal/version.version=${VERSION} -X github.com/epayflow/epayflow/internal/version.commit=${COMMIT}" \
        -o /out/ ./cmd/ingest ./cmd/worker ./cmd/initiator ./cmd/webhooks ./cmd/healthcheck

# distroless/static:nonroot: no shell, no package manager, CA certificates (for ePay's
# HTTPS) and tzdata, user nonroot = 65532:65532.
FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title=epayflow \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.licenses=Apache-2.0
COPY --from=build /out/ingest /out/worker /out/initiator /out/webhooks /out/healthcheck /usr/local/bin/
# The worker's data directory, owned by nonroot: a docker volume mounted here starts
# with this owner (Kubernetes gives the volume its fsGroup instead).
COPY --from=build --chown=65532:65532 /data /var/lib/epayflow
USER 65532:65532
# Ports: initiator 8080, ingest 8081, worker 8082, webhooks 8084 (each also serves /metrics, /livez, /readyz).
EXPOSE 8080 8081 8082 8084
ENTRYPOINT ["/usr/local/bin/ingest"]
