# syntax=docker/dockerfile:1
# Multi-stage build of the issuer: a static binary (CGO_ENABLED=0, -trimpath,
# stripped) built by `make build`, the same target cmd/issuer's
# TestStaticBuild checks, on a distroless image as a non-root user.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN make build BIN=/out/issuer VERSION=${VERSION} COMMIT=${COMMIT} \
 && /out/issuer version \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/issuer /usr/local/bin/issuer
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
# Without --config the embedded development issuer (http://localhost:8080,
# memory store) starts; mount a configuration for anything else:
#   docker run -v $PWD/config.yaml:/etc/issuer/config.yaml issuer serve --config /etc/issuer/config.yaml
ENV ISSUER_LISTEN=:8080 \
    ISSUER_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/issuer", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/issuer"]
CMD ["serve"]
