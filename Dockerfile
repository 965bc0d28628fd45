# Build: the same script as `bun run build`, producing one self-contained executable. The Bun that CI and the
# benchmarks ran (the build uses --bytecode, and the executable carries this Bun's runtime).
FROM oven/bun:1.4.5 AS build
WORKDIR /app
COPY package.json bun.lock ./
# The patched dependency (package.json "patchedDependencies") is applied by bun install.
COPY patches ./patches
RUN bun install --frozen-lockfile
COPY . .
# The executable embeds the migrations, Swagger UI (swagger-ui-dist) and the chat client: nothing else is copied.
RUN bun run build && mkdir -p /app/dist/data

# Run: a small base with glibc, the executable, a non-root user.
FROM gcr.io/distroless/base-debian12:nonroot
# SQLite's default home, owned by the non-root user (WORKDIR alone would create it owned by root).
COPY --from=build --chown=65532:65532 /app/dist/data /data
WORKDIR /data
COPY --from=build /app/dist/chat-server /usr/local/bin/chat-server
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite:/data/chat.db
# SECRET_KEY (required), ACCESS_TOKEN_EXPIRE_MINUTES, CORS_ORIGINS, BCRYPT_COST, DATABASE_POOL_SIZE: see README.md
USER nonroot
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/chat-server", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/chat-server"]
CMD ["serve"]
