# syntax=docker/dockerfile:1
# hotcert: multi-stage build. Both stages use Node.js 24 (LTS), pinned by digest; bump the digests
# with Renovate or Dependabot. The runtime is distroless (no shell, no package manager) and runs as
# the numeric non-root user 65532.
ARG BUILD_IMAGE=docker.io/library/node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a

# npm may need to trust a TLS-intercepting proxy: pass its CA bundle as a build secret
# (--secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt). It never lands in a layer.

# Compile TypeScript with the full dependency set.
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca-bundle,required=false \
    NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only, without install scripts.
FROM ${BUILD_IMAGE} AS production-dependencies
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca-bundle,required=false \
    NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="hotcert" \
      org.opencontainers.image.description="HTTPS Socket.IO server that hot-swaps its TLS certificate without dropping a socket" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/hotcert/hotcert"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=production-dependencies /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY assets ./assets
USER 65532:65532
EXPOSE 8443 9090
# Exec form: Node.js is PID 1 and receives SIGTERM itself (hotcert drains on it). No HEALTHCHECK:
# Kubernetes probes /healthz and /readyz on the metrics port. --disable-sigusr1 (Node.js >= 22.14):
# SIGUSR1 never opens the inspector (code execution and the key in memory for anyone in the pod's
# network namespace); hotcert also ignores it itself, which covers Node.js 20.
ENTRYPOINT ["/nodejs/bin/node", "--disable-sigusr1", "/app/dist/cli.js"]
CMD ["serve", "--cert-dir", "/etc/hotcert/tls"]
