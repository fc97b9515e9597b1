# order-fulfillment: one image, three roles, chosen by the command (see docker-compose.yml):
#   node dist/workers/main.js     the Temporal worker (workflows + activities; scale it out)
#   node dist/api/server.js       the HTTP API and the remote codec      (PORT, default 3000)
#   node dist/providers/server.js the sandbox providers                  (PROVIDERS_PORT, default 4000)
#
# The worker bundles the workflows with webpack when it starts (`workflowsPath` resolves to
# dist/workflows/index.js), so dist/ is self-contained: no src/, no tsx and no TypeScript at run time.
#
# Build: docker build -t order-fulfillment:0.1.0 .

# Node 20.20.2 on Debian bookworm, slim: the same Node line as `engines` and the dev machines.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- build: every dependency, then tsc -p tsconfig.build.json → dist/ ------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only (the worker's webpack, swc and the native core bridge) -----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime -----------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the process; only DATA_DIR is writable (and stays empty when
# PAYLOAD_ENCRYPTION_KEY is set, as docker-compose.yml requires).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN mkdir -p /app/.data && chown node:node /app/.data
ENV DATA_DIR=/app/.data
# The `node` user (uid 1000) ships with the official Node images.
USER node
EXPOSE 3000 4000 9464
# The default role is the API; compose (or your orchestrator) picks the role per service.
CMD ["node", "dist/api/server.js"]
