# Worker and starter images. Build: docker build --target worker -t promoflow-worker .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The binaries carry the commit they were built from (buildinfo) when the
# context is a git clone (.dockerignore keeps .git); from a tarball or a git
# worktree (whose .git points outside the context) they are built without
# and say so.
RUN vcs=false; git rev-parse HEAD >/dev/null 2>&1 && vcs=true; \
    CGO_ENABLED=0 go build -trimpath -buildvcs=$vcs -o /out/worker ./worker && \
    CGO_ENABLED=0 go build -trimpath -buildvcs=$vcs -o /out/starter ./starter

FROM gcr.io/distroless/static-debian12:nonroot AS worker
COPY --from=build /out/worker /worker
ENTRYPOINT ["/worker"]

FROM gcr.io/distroless/static-debian12:nonroot AS starter
COPY --from=build /out/starter /starter
ENTRYPOINT ["/starter"]
