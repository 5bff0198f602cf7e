# jml's image: the API and the worker run from the same image with different commands.
# Node 22 LTS, pinned by digest so a rebuild gets the same base (README: "The image"). No registry
# is reachable from where this was written: the digest is the one independent public Dockerfiles
# pin for this image (dxw/towtruck: node:22.14.0-slim, techneg-it/ci-commitlint under Renovate:
# node:22-bookworm-slim, a tailor-cms Dockerfile: node:22.14.0-bookworm-slim, all @sha256:bac8ff0b...;
# 22.14.0 is the only 22.14 release and slim is bookworm-slim for Node 22, so they name one image).
ARG NODE_IMAGE=node:22.14.0-bookworm-slim@sha256:bac8ff0b5302b06924a5e288fb4ceecef9c8bb0bb92515985d2efdc3a2447052

# Build: every dependency, the Prisma client, TypeScript compiled to dist/ and the workflow bundle.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY workflows ./workflows
COPY src ./src
# --omit=optional too: npm keeps a dev dependency that is also an optional peer of a production one
# (the Prisma CLI and TypeScript, peers of @prisma/client) unless optional packages are omitted.
RUN DATABASE_URL=postgresql://build/jml npx prisma generate && node scripts/build.js && npm prune --omit=dev --omit=optional

# Run: compiled JavaScript and production dependencies only; no TypeScript loader, no test packages.
FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
# Two glibc malloc arenas instead of up to eight per core: the worker's threads left it tens of MiB
# larger otherwise (decision 020, src/temporal/worker-sizing.ts); read by glibc at start, so set here.
ENV MALLOC_ARENA_MAX=2
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma/migrations ./prisma/migrations
COPY bin ./bin
# The checkpoint folder (docker-compose.yml mounts a volume here): a new named volume takes this
# folder's owner, so the API, running as node, can publish to it.
RUN mkdir -p /var/lib/jml/checkpoints && chown node:node /var/lib/jml/checkpoints
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/cli/main.js", "start", "--role", "api"]
