# syntax=docker/dockerfile:1
# Pushkeep image. Build and run it the way the official Pushgateway image is used:
#   docker build -t pushkeep .
#   docker run -d -p 9091:9091 -v pushkeep-data:/data pushkeep --web.enable-admin-api
# Arguments after the image name are Pushkeep flags.

# better-sqlite3 has no prebuilt binary for every platform and compiles from source when it
# cannot fetch one, so every stage that runs `npm ci` has a toolchain.
FROM node:20-slim AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./

FROM toolchain AS build
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY scripts ./scripts
# Compiles src/ to dist/src and migrations/ to dist/migrations.
RUN npm run build

FROM toolchain AS prod-deps
RUN npm ci --omit=dev && npm cache clean --force

FROM node:20-slim
ENV NODE_ENV=production \
    PUSHKEEP_STORAGE_PATH=/data/pushkeep.db
WORKDIR /app
# package.json is needed at run time: it declares "type": "module" for dist/.
COPY --from=prod-deps /app/package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The protobuf schema is loaded at run time, not compiled in.
COPY proto ./proto
# The official image's user is nobody; node:*-slim ships an unprivileged `node` user (uid 1000).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 9091
# slim has no curl or wget; Node 20 has fetch. Assumes the default listen port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9091/-/healthy',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The database path comes from PUSHKEEP_STORAGE_PATH, so `docker run pushkeep --some.flag` adds
# flags without dropping the volume's database, and --storage.path or --storage.url still win.
# One malloc arena: glibc gives each thread that allocates (V8's compiler and GC workers) an
# arena of its own, which keeps what a burst of optimising compilations freed resident
# (docs/performance.md, memory). An operator's own value wins.
ENV MALLOC_ARENA_MAX=1
ENTRYPOINT ["node", "dist/src/main.js"]
