# syntax=docker/dockerfile:1
# The bot's container image (ECS Fargate, linux/amd64). Build: docker build -t videobot .
# Runs TypeScript directly with tsx (a runtime dependency), so there is no build step.
# Node: the LTS major pinned in .nvmrc. Node 20 reached end of life in April 2026. Not Node 24 yet:
# from 24.19, node::ObjectWrap removes an environment cleanup hook in its destructor, and better-sqlite3 12
# (built on ObjectWrap) then aborts the process when a statement is collected (nodejs/node#65446; seen in
# our test suite). Node 22 is supported until April 2027; better-sqlite3 13 (Node-API) is reported to lift this.

FROM node:22-slim AS deps
WORKDIR /app
# better-sqlite3 downloads a prebuilt binary; the toolchain is the fallback when none fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

FROM node:22-slim
# ffmpeg re-encodes videos over Discord's upload limit (bot/chat/discord/shrink.ts); without it they go out as links.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    VIDEOBOT_HEALTH_PORT=8080 \
    VIDEOBOT_FFMPEG=/usr/bin/ffmpeg
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bot ./bot
# The model presets, limits and error codes are shared with the processing job; the bot imports these two files.
COPY processing/presets.json processing/limits.json ./processing/
USER node
# 3000: Slack HTTP mode (SLACK_PORT); 8080: /healthz. Socket Mode and Discord need neither inbound.
EXPOSE 3000 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--import", "tsx", "bot/main.ts"]
