# The Centaurus operator image: compiled JavaScript on a distroless Node.js runtime, non-root.
#   docker build -t centaurus:dev .
# Where the public base images cannot be pulled, hack/build-operator-image.sh builds local
# stand-ins with the same contents and passes them as BUILD_IMAGE and RUNTIME_IMAGE.
# Behind a TLS-inspecting proxy, pass its CA (PEM text) as NPM_CA_CERTS: it is used by the
# build stage's npm ci only and never reaches the final image.
ARG BUILD_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# 1. Build: install every dependency, compile TypeScript to dist/.
FROM ${BUILD_IMAGE} AS build
ARG NPM_CA_CERTS=""
WORKDIR /src
COPY package.json package-lock.json ./
RUN if [ -n "$NPM_CA_CERTS" ]; then printf '%s\n' "$NPM_CA_CERTS" >/tmp/npm-ca.pem && export NODE_EXTRA_CA_CERTS=/tmp/npm-ca.pem; fi \
 && npm ci --no-audit --no-fund && rm -f /tmp/npm-ca.pem
COPY tsconfig.json tsconfig.build.json ./
COPY pkg ./pkg
COPY controllers ./controllers
COPY cli ./cli
COPY bin ./bin
COPY hack/build-binaries.sh hack/versions.env ./hack/
COPY test/fixtures ./test/fixtures
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

# 2. Run: only the runtime dependencies and the compiled code.
FROM ${RUNTIME_IMAGE}
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/package.json ./
USER 65532:65532
ENV NODE_ENV=production NODE_OPTIONS=--max-semi-space-size=4
EXPOSE 8080 8081
ENTRYPOINT ["/nodejs/bin/node", "dist/bin/centaurus.js"]
CMD ["manager", "--leader-elect"]
