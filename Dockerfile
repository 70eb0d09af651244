# authservice image: a multi-stage build, distroless at run time (no shell, no package manager).
#
#   docker build -t ghcr.io/authservice/authservice:0.1.0 .
#
# CI has no Docker engine: test/deploy/dockerfile.test.ts replays these stages (the same COPY
# sources, the same RUN commands, then CMD with the stage's ENV) in a clean directory, so a broken
# step fails the test suite. Keep RUN steps to plain commands it can replay.

# --- build: every dependency, compile TypeScript to dist/ ----------------------------------------
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- prod-deps: production dependencies only, from the same lockfile ------------------------------
FROM node:22-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: distroless Node.js, non-root (uid/gid 65532) ----------------------------------------
FROM gcr.io/distroless/nodejs22-debian12:nonroot AS runtime
WORKDIR /app
# No --enable-source-maps by default: parsing dist/'s source maps at every start cost ~90 ms of the
# ~0.5 s start-to-ready (npm run bench -- --only=startup). The maps ship in dist/; an operator
# who wants TypeScript lines in stack traces adds the flag to NODE_OPTIONS (README "Performance").
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-old-space-size=160 --max-semi-space-size=4"
# package.json carries "type": "module", which dist/ needs; files stay root-owned (read-only).
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
# 8080: the ext_authz check; 8081: /healthz, /readyz, /metrics.
EXPOSE 8080 8081
# The image's entrypoint is node (/nodejs/bin/node).
CMD ["dist/server.js"]
