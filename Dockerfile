# idshift: one static binary in an otherwise empty image (FROM scratch): no shell, no package manager, no
# /etc/passwd; it runs as the numeric user 65532. Only the CA bundle is added, for the tenant's authority (JWKS),
# Graph and PostgreSQL with sslmode=verify-full.
#
# Two ways to build (docs/deploy.md):
#   from source, in a Go image (needs a registry; podman 4.3 wants the default spelled out):
#     docker build -t idshift .        podman build --build-arg BINARY=build -t idshift .
#   from a binary built on the host, nothing pulled (FROM scratch only):
#     CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o idshift ./cmd/idshift
#     podman build --build-arg BINARY=local --build-context certs=/etc/ssl/certs -t idshift:local .
# Secrets are never copied in: mount them at run time (deploy/).

ARG GO_VERSION=1.26.8
ARG BINARY=build

FROM docker.io/library/golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/idshift ./cmd/idshift \
 && mkdir -p /out/etc/ssl/certs && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/

# The host's binary (./idshift, CGO_ENABLED=0) and the host's CA bundle (the build context named certs).
FROM scratch AS local
COPY idshift /out/idshift
COPY --from=certs ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt

FROM ${BINARY} AS bin

FROM scratch
COPY --from=bin /out/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=bin /out/idshift /idshift
USER 65532:65532
# 8443: the public listener (Entra, harvest). 9090: admin (healthz, readyz, metrics), never published.
EXPOSE 8443 9090
ENTRYPOINT ["/idshift"]
CMD ["serve"]
