# syntax=docker/dockerfile:1
# The launch agent's image: the chart's default image (image.repository ghcr.io/launch-agent/launch-agent,
# tag = the chart's appVersion). Build from the repository root:
#   docker build -t ghcr.io/launch-agent/launch-agent:0.1.0 .
# The chart runs it with `start --config /home/launch_agent/.config/wandb/launch-config.yaml`; with
# no arguments it runs `start` with the default config path, which is the same file.
# See docs/agent.md ("The agent image").

# Node.js 24 LTS, the line scripts/versions.env pins (NODE_MAJOR).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# The pnpm version the repository pins (package.json packageManager), through corepack.
RUN corepack enable
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml tsconfig.base.json ./
COPY packages/config/package.json packages/config/
COPY packages/runtime/package.json packages/runtime/
COPY packages/cli/package.json packages/cli/
RUN pnpm install --frozen-lockfile --ignore-scripts
COPY schemas/ schemas/
COPY packages/ packages/
COPY scripts/bundle.mjs scripts/
COPY scripts/bundle-shims/ scripts/bundle-shims/
# The CLI and agent as one bundle (dist/bin.js and the chunks it loads on demand); the production
# install then holds only what the bundle leaves out: the cloud SDKs and dockerode, loaded when
# the config selects them.
RUN pnpm exec tsc -b packages/cli \
 && node scripts/bundle.mjs \
 && pnpm --filter launch-agent deploy --prod --legacy /out

FROM ${NODE_IMAGE}
# uid/gid 1000 (the base image's `node` user) with the home the chart mounts the config under.
# MALLOC_ARENA_MAX=2: glibc keeps two malloc arenas instead of one per thread (docs/benchmarks.md,
# "Footprint", measures it with the flags of the ENTRYPOINT).
ENV NODE_ENV=production \
    HOME=/home/launch_agent \
    LAUNCH_AGENT_LOG_FORMAT=json \
    MALLOC_ARENA_MAX=2
# git fetches source.git jobs; ca-certificates for https remotes and registries; util-linux's
# prlimit caps the size of every file git writes (launchjobs.max-source-bytes).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /home/launch_agent/.config/wandb \
 && chown -R 1000:1000 /home/launch_agent
COPY --from=build --chown=0:0 /out /app
USER 1000:1000
WORKDIR /home/launch_agent
EXPOSE 8080
# Node is PID 1 and the agent handles SIGTERM and SIGINT itself (hands its jobs back, exits 0),
# so no init wrapper is needed; exec form keeps the signal going to node.
STOPSIGNAL SIGTERM
# --max-opt=2: V8 optimizes with Maglev but not TurboFan, whose code pages (about 5 MB of RSS)
# the agent, waiting on the API server, has no use for; --max-semi-space-size=1: a 1 MB young
# generation, collected more often, so a burst of API answers does not grow the heap for good.
# Measured with and without in docs/benchmarks.md ("Footprint").
ENTRYPOINT ["node", "--max-opt=2", "--max-semi-space-size=1", "/app/dist/bin.js"]
CMD ["start"]
