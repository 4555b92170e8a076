# syntax=docker/dockerfile:1
# One image with tempstream's three programs: linkd (the default command), linkctl and botd.
# compose.yaml runs it twice, as linkd (user tempstream) and as botd (user tempstream-bot,
# in group tempstream so that it can open linkd's socket).
#
# Build: docker build -t tempstream:local .   (or: docker compose build)

FROM rust:1-bookworm AS build
# libpq-dev: linkd's PostgreSQL backend (DATABASE_URL) links libpq.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and target caches only speed up rebuilds; the lockfile pins every crate.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p linkd -p botd \
    && install -D -m 0755 -t /out target/release/linkd target/release/linkctl target/release/botd

FROM debian:bookworm-slim AS runtime
# ca-certificates: botd talks HTTPS to Telegram (it brings OpenSSL's libssl3 along);
# libpq5: linkd and linkctl on PostgreSQL (DATABASE_URL).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libpq5 \
    && rm -rf /var/lib/apt/lists/*
# Fixed ids so that volume ownership survives image rebuilds; 10001:10001 is also the Go
# service's, so its tempstream_data volume is linkd's as it is. The directories are the mount
# points of compose's volumes; a new volume takes their owner and mode: the database
# directory (/data, as in the Go image) is linkd's alone, the socket directory admits group
# tempstream.
RUN groupadd --system --gid 10001 tempstream \
    && useradd --system --uid 10001 --gid tempstream --no-create-home \
        --home-dir /data --shell /usr/sbin/nologin tempstream \
    && groupadd --system --gid 10002 tempstream-bot \
    && useradd --system --uid 10002 --gid tempstream-bot --groups tempstream --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin tempstream-bot \
    && install -d -m 0700 -o tempstream -g tempstream /data \
    && install -d -m 0750 -o tempstream -g tempstream /run/tempstream
COPY --from=build /out/ /usr/local/bin/
ENV DB_PATH=/data/db.sqlite \
    RPC_SOCKET=/run/tempstream/linkd.sock
USER tempstream
EXPOSE 8080
CMD ["linkd"]
