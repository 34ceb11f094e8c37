# The Centaurus operator image: compiled JavaScript on a distroless Node.js runtime, non-root.
#   docker build -t centaurus:dev .

# 1. Build: install every dependency, compile TypeScript to dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY pkg ./pkg
COPY controllers ./controllers
COPY cli ./cli
COPY bin ./bin
COPY hack/localcluster ./hack/localcluster
COPY hack/build-binaries.sh hack/versions.env ./hack/
COPY test/fixtures ./test/fixtures
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

# 2. Run: only the runtime dependencies and the compiled code.
FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/package.json ./
USER 65532:65532
ENV NODE_ENV=production NODE_OPTIONS=--max-semi-space-size=4
EXPOSE 8080 8081
ENTRYPOINT ["/nodejs/bin/node", "dist/bin/centaurus.js"]
CMD ["manager", "--leader-elect"]
