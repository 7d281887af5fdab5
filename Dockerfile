# Builds the switchboard binary and runs it on a slim Debian base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p switchboard

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/switchboard switchboard \
    && mkdir -p /var/lib/switchboard /etc/switchboard \
    && chown switchboard /var/lib/switchboard
COPY --from=build /src/target/release/switchboard /usr/local/bin/switchboard
COPY deploy/switchboard.example.toml /etc/switchboard/switchboard.toml
USER switchboard
EXPOSE 5060/udp 5060/tcp 8080/tcp 20000-29999/udp
ENTRYPOINT ["switchboard"]
CMD ["serve", "--config", "/etc/switchboard/switchboard.toml", "--sip-listen", "0.0.0.0:5060", "--http-listen", "0.0.0.0:8080", "--data-dir", "/var/lib/switchboard"]
