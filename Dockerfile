# syntax=docker/dockerfile:1
# registry-token: exchanges an Authority access token for a short-lived registry token.
#
# Build it with deploy/image/build.sh (docs/operations.md, "Container image"): it makes the Debian
# base below with mmdebstrap (no registry of base images is needed) and mounts /opt/bootstrap,
# a Node.js and npm that exist only to run `npm ci`, for the build only.
#   deploy/image/build.sh                      # -> localhost/registry-token:<package.json version>
# Run it with a directory holding registry-token.yaml and the signing key that file names
# (e.g. `registry-token keygen --out conf/keys`, then signing.keyPath: /etc/registry-token/keys/signing-key.pem):
#   podman run --read-only -p 8085:8085 -v "$PWD/conf:/etc/registry-token:ro" \
#     -v registry-token-var:/app/var localhost/registry-token:0.1.0
# REGISTRY_TOKEN_<SECTION>__<KEY> variables override single keys (e.g. REGISTRY_TOKEN_SIGNING__LIFETIMESECONDS=120).

ARG BASE_IMAGE=localhost/debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
# Only for npm inside this stage: the CA bundle of an intercepting proxy (mounted by build.sh,
# so no layer holds it) and the registry npm is configured with on the building machine.
ARG NODE_EXTRA_CA_CERTS
ARG npm_config_registry
ENV PATH=/opt/bootstrap/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` would compile before src/ is copied. Then the one
# install script wanted: the pinned `node` devDependency fetches the Node 24 binary the image runs.
# Manifests first, so this layer is cached until the lockfile changes.
RUN npm ci --ignore-scripts && npm rebuild node && node_modules/.bin/node --version
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# npm puts node_modules/.bin first on the script's PATH: tsc runs on that Node 24.
RUN npm run build
# Keep the Node binary, then drop the dev dependencies (the `node` package is one of them).
RUN cp node_modules/node/bin/node /usr/local/bin/node && npm prune --omit=dev --ignore-scripts

FROM ${BASE_IMAGE} AS runtime
# In a container the service must listen beyond loopback to be reachable at all.
# --max-semi-space-size: V8's young generation otherwise grows to 64 MiB per semi-space under
# load while little of it stays live; 16 keeps the peak RSS near 160 MiB (docs/performance.md).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=16 \
    REGISTRY_TOKEN_SERVER__HOST=0.0.0.0
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
# package.json: "type": "module" makes dist/*.js ES modules, and --version reads it.
COPY package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# A numeric uid no host service uses (without user namespaces it is the same uid on the host),
# numeric in USER so Kubernetes' runAsNonRoot can check it. The file ledger and spool default to
# var/ under the working directory: the user owns that directory and nothing else. Mount a volume
# there to keep the issuance ledger across containers (with a read-only root filesystem, it is
# the one writable place besides the tmpfs mounts).
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /app --shell /usr/sbin/nologin registry-token \
 && mkdir -p /app/var /etc/registry-token && chown 10001:10001 /app/var
VOLUME ["/app/var"]
USER 10001:10001
EXPOSE 8085
# Node's fetch: the image has no curl. The port follows REGISTRY_TOKEN_SERVER__PORT;
# HEALTHCHECK_URL (deliberately outside the REGISTRY_TOKEN_ namespace, which the
# configuration loader would reject as an unknown key) covers TLS or another path.
# (Kept by `--format docker` images; OCI images and Kubernetes use their own probes.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL || `http://127.0.0.1:${process.env.REGISTRY_TOKEN_SERVER__PORT || 8085}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/registry-token/registry-token.yaml"]
