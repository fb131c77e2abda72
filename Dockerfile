# syntax=docker/dockerfile:1
# registry-token: exchanges an Authority access token for a short-lived registry token.
#   docker build -t registry-token .
#   docker run -p 8085:8085 -v "$PWD/etc/registry-token:/etc/registry-token:ro" registry-token
# Configuration comes from the mounted YAML file; REGISTRY_TOKEN_<SECTION>__<KEY> variables
# override single keys (e.g. REGISTRY_TOKEN_SIGNING__LIFETIMESECONDS=120).

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` would compile before src/ is copied (the
# dependencies have no install scripts). Manifests first, so this layer is cached until
# the lockfile changes.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# In a container the service must listen beyond loopback to be reachable at all.
# --max-semi-space-size: V8's young generation otherwise grows to 64 MiB per semi-space under
# load while little of it stays live; 16 keeps the peak RSS near 160 MiB (docs/performance.md).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=16 \
    REGISTRY_TOKEN_SERVER__HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only; --ignore-scripts again because `prepare` needs tsc.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY etc ./etc
# The file ledger and spool default to var/ under the working directory; give the
# unprivileged user that directory and nothing else. Mount a volume there to keep the
# issuance ledger across containers.
RUN mkdir -p /app/var /etc/registry-token && chown node:node /app/var
VOLUME ["/app/var"]
USER node
EXPOSE 8085
# Node's fetch: the slim image has no curl. The port follows REGISTRY_TOKEN_SERVER__PORT;
# HEALTHCHECK_URL (deliberately outside the REGISTRY_TOKEN_ namespace, which the
# configuration loader would reject as an unknown key) covers TLS or another path.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL || `http://127.0.0.1:${process.env.REGISTRY_TOKEN_SERVER__PORT || 8085}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/registry-token/registry-token.yaml"]
